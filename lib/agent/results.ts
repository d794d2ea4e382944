// What an agent CLI reports about a headless run, read from its machine-readable output (the
// headless argv of each preset asks for it): tokens in and out, cost, turns and its last message.
// Only what the CLI says: a field it does not report is left out, never estimated. The output may be
// cut at the front (the loop sends its tail) and mixed with stderr lines: lines that are not JSON
// objects are skipped.
import type { OutputFormat } from './presets.ts';

export type RunReport = {
  /** Prompt tokens, cached ones included. */
  tokens_in?: number;
  tokens_out?: number;
  cost_usd?: number;
  /** As the CLI counts them (claude: model turns; opencode: steps; codex: turns of `exec`). */
  turns?: number;
  last_message?: string;
};

/** Longest last message kept (characters); longer ones are cut, with an ellipsis. */
export const LAST_MESSAGE_MAX = 2000;

type Json = Record<string, any>;

function events(output: string): Json[] {
  const out: Json[] = [];
  for (const line of output.split('\n')) {
    const text = line.trim();
    if (!text.startsWith('{')) continue;
    try {
      const value = JSON.parse(text);
      if (value && typeof value === 'object' && !Array.isArray(value)) out.push(value);
    } catch {
      // Cut at the front, or not JSON: skip.
    }
  }
  return out;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);

/** The sum of the numbers among `values`, or undefined when none is one. */
function sum(...values: unknown[]): number | undefined {
  const nums = values.map(num).filter((v): v is number => v !== undefined);
  return nums.length ? nums.reduce((a, b) => a + b, 0) : undefined;
}

export function truncateMessage(text: string, max = LAST_MESSAGE_MAX): string {
  const trimmed = text.trim();
  return trimmed.length <= max ? trimmed : `${trimmed.slice(0, max - 1)}…`;
}

function clean(report: RunReport): RunReport {
  const out: RunReport = {};
  for (const [k, v] of Object.entries(report) as [keyof RunReport, unknown][]) {
    if (v === undefined || v === '') continue;
    (out as Record<string, unknown>)[k] = k === 'last_message' ? truncateMessage(String(v)) : v;
  }
  if (out.cost_usd !== undefined) out.cost_usd = Math.round(out.cost_usd * 1e6) / 1e6;
  return out;
}

// claude -p --output-format stream-json --verbose: the last `result` event has the run's totals.
function claude(evs: Json[]): RunReport {
  const result = evs.filter((e) => e.type === 'result').at(-1);
  if (!result) {
    const last = evs.filter((e) => e.type === 'assistant').at(-1);
    const text = (last?.message?.content ?? []).filter((c: Json) => c?.type === 'text').map((c: Json) => c.text).join('\n');
    return { last_message: text };
  }
  const u = result.usage ?? {};
  return {
    tokens_in: sum(u.input_tokens, u.cache_creation_input_tokens, u.cache_read_input_tokens),
    tokens_out: num(u.output_tokens),
    cost_usd: num(result.total_cost_usd),
    turns: num(result.num_turns),
    last_message: typeof result.result === 'string' ? result.result : undefined,
  };
}

// codex exec --json: `turn.completed` events carry each turn's usage (input includes cached); the
// agent's messages are `item.completed` items of type agent_message.
function codex(evs: Json[]): RunReport {
  const turns = evs.filter((e) => e.type === 'turn.completed');
  const message = evs.filter((e) => e.type === 'item.completed' && e.item?.type === 'agent_message').at(-1);
  return {
    tokens_in: sum(...turns.map((t) => t.usage?.input_tokens)),
    tokens_out: sum(...turns.map((t) => t.usage?.output_tokens)),
    turns: turns.length || undefined,
    last_message: message?.item?.text,
  };
}

// gemini --output-format stream-json: the `result` event's stats; the last message is the assistant's
// text after the last tool call (it streams in deltas).
function gemini(evs: Json[]): RunReport {
  const result = evs.filter((e) => e.type === 'result').at(-1);
  const stats = result?.stats ?? {};
  let message = '';
  for (const e of evs) {
    if (e.type === 'message' && e.role === 'assistant' && typeof e.content === 'string') message = e.delta ? message + e.content : e.content;
    else if (e.type === 'tool_use' || e.type === 'tool_result') message = '';
  }
  return { tokens_in: num(stats.input_tokens), tokens_out: num(stats.output_tokens), last_message: message };
}

// opencode run --format json: each model step ends with `step_finish` (its tokens and cost); the
// text parts are the agent's messages.
function opencode(evs: Json[]): RunReport {
  const steps = evs.filter((e) => e.type === 'step_finish').map((e) => e.part ?? {});
  const text = evs.filter((e) => e.type === 'text' && typeof e.part?.text === 'string').at(-1);
  return {
    tokens_in: sum(...steps.flatMap((s) => [s.tokens?.input, s.tokens?.cache?.read, s.tokens?.cache?.write])),
    tokens_out: sum(...steps.flatMap((s) => [s.tokens?.output, s.tokens?.reasoning])),
    cost_usd: sum(...steps.map((s) => s.cost)),
    turns: steps.length || undefined,
    last_message: text?.part?.text,
  };
}

const PARSERS: Record<OutputFormat, (evs: Json[]) => RunReport> = { claude, codex, gemini, opencode };

/** What the CLI reported in `output` (its stdout, possibly only the tail, stderr mixed in). */
export function parseRunOutput(format: OutputFormat, output: string): RunReport {
  return clean(PARSERS[format](events(output)));
}
