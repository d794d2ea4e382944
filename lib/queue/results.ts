// isollm extension: what the agent did on a task. The loop sends the exit status, the duration and
// the tail of the CLI's machine-readable output after every headless run; the queue reads the
// output (lib/agent/results.ts), keeps the run (agent_runs) and puts the last one on the task.
import { OUTPUT_FORMATS, type OutputFormat } from '../agent/presets.ts';
import { parseRunOutput } from '../agent/results.ts';
import { renderTranscript, type Transcript } from '../agent/transcript.ts';
import { now, Store, toTask } from './store.ts';
import { errors, QueueError, type AgentResult, type AgentUsage, type Task } from './types.ts';

export type RunInput = { format?: OutputFormat; exit_status: number; duration_ms: number; output?: string };

/** Validate a result body (JSON numbers, or strings from a form). */
export function parseRunInput(body: Record<string, unknown>): RunInput {
  const details: string[] = [];
  const int = (key: string, min: number, max: number): number => {
    const raw = body[key];
    const v = typeof raw === 'string' && /^\s*-?\d{1,15}\s*$/.test(raw) ? Number(raw) : raw;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      details.push(`${key} must be a whole number from ${min} to ${max}`);
      return 0;
    }
    return v;
  };
  const exit_status = int('exit_status', -1, 255);
  const duration_ms = int('duration_ms', 0, 1e12);
  const format = body.format === undefined || body.format === '' ? undefined : body.format;
  if (format !== undefined && !(OUTPUT_FORMATS as readonly unknown[]).includes(format)) details.push(`format must be one of ${OUTPUT_FORMATS.join(', ')}`);
  if (body.output !== undefined && typeof body.output !== 'string') details.push('output must be text');
  if (details.length) throw errors.validation(details);
  return { format: format as OutputFormat | undefined, exit_status, duration_ms, output: body.output as string | undefined };
}

/** A short line for the history: `exit 0, 2468 tokens in, 112 out, $0.0121`. */
export function resultLine(r: Omit<AgentResult, 'worker' | 'recorded_at'>): string {
  const parts = [`exit ${r.exit_status}`, `${(r.duration_ms / 1000).toFixed(1)} s`];
  if (r.turns !== undefined) parts.push(`${r.turns} turn(s)`);
  if (r.tokens_in !== undefined) parts.push(`${r.tokens_in} tokens in`);
  if (r.tokens_out !== undefined) parts.push(`${r.tokens_out} out`);
  if (r.cost_usd !== undefined) parts.push(`$${r.cost_usd.toFixed(4)}`);
  return parts.join(', ');
}

/**
 * Record a run. From a worker only on the task it holds (the socket is the identity); the host may
 * record on any task.
 */
export function recordRun(store: Store, project: string, agent: string, fromWorker: boolean, id: string, input: RunInput): Task {
  return store.tx(() => {
    const before = store.requireTask(project, id);
    if (fromWorker && (before.status !== 'in_progress' || before.claimed_by !== agent)) {
      throw new QueueError('NOT_OWNER', 'Only the worker holding the task may record its agent run', { claimed_by: before.claimed_by ?? null });
    }
    const report = input.format && input.output !== undefined ? parseRunOutput(input.format, input.output) : {};
    // It ends up on the user's terminal: no control characters (escape sequences), newlines kept.
    if (report.last_message) report.last_message = report.last_message.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, '\ufffd');
    const at = now();
    const result: AgentResult = {
      worker: agent,
      ...(input.format ? { format: input.format } : {}),
      exit_status: input.exit_status,
      duration_ms: input.duration_ms,
      ...report,
      recorded_at: at,
    };
    store.run(
      `INSERT INTO agent_runs (project, task_id, worker, format, exit_status, duration_ms, tokens_in, tokens_out, cost_usd, turns, last_message, recorded_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      project, id, agent, result.format ?? null, result.exit_status, result.duration_ms, result.tokens_in ?? null, result.tokens_out ?? null,
      result.cost_usd ?? null, result.turns ?? null, result.last_message ?? null, at,
    );
    const row = store.get('UPDATE tasks SET agent_result = ? WHERE project = ? AND id = ? RETURNING *', JSON.stringify(result), project, id);
    store.audit(project, agent, { task_id: id, action: 'result', field: 'agent_result', new_value: resultLine(result) }, at);
    return toTask(row!);
  });
}

/** The project's recorded runs, summed. */
export function agentUsage(store: Store, project: string): AgentUsage {
  const r = store.get(
    `SELECT count(*) AS runs, total(tokens_in) AS tokens_in, total(tokens_out) AS tokens_out, total(cost_usd) AS cost_usd,
            total(duration_ms) AS duration_ms, total(turns) AS turns
     FROM agent_runs WHERE project = ?`,
    project,
  );
  return {
    runs: Number(r?.runs ?? 0),
    tokens_in: Number(r?.tokens_in ?? 0),
    tokens_out: Number(r?.tokens_out ?? 0),
    cost_usd: Math.round(Number(r?.cost_usd ?? 0) * 1e6) / 1e6,
    duration_ms: Number(r?.duration_ms ?? 0),
    turns: Number(r?.turns ?? 0),
  };
}

/**
 * A piece of a running agent's output as a transcript (lib/agent/transcript.ts): the loop sends what
 * the CLI wrote since the last call, prints `transcript` and sends the lines not used again.
 */
export function transcriptOf(body: Record<string, unknown>): { consumed_lines: number; transcript: string } {
  const details: string[] = [];
  if (!(OUTPUT_FORMATS as readonly unknown[]).includes(body.format)) details.push(`format must be one of ${OUTPUT_FORMATS.join(', ')}`);
  const output = body.output ?? '';
  if (typeof output !== 'string') details.push('output must be text');
  const final = body.final === undefined || body.final === '' ? false : body.final;
  if (![true, false, 'true', 'false', '1', '0'].includes(final as never)) details.push('final must be true or false');
  if (details.length) throw errors.validation(details);
  const t: Transcript = renderTranscript(body.format as OutputFormat, output as string, final === true || final === 'true' || final === '1');
  return { consumed_lines: t.lines, transcript: t.text };
}
