// Agent state per worker (isollm extension): what the agent in each worker is doing, as its own hooks
// (Claude Code, Codex, Gemini…) or the loop report it through the worker's socket. One row per worker;
// `since` moves only when the state changes, so repeated reports (every tool call fires a hook) neither
// reset the age nor count as a change.
import { now, Store } from './store.ts';
import { errors } from './types.ts';

export const AGENT_STATES = ['working', 'waiting', 'idle', 'exited', 'limited'] as const;
export type AgentStateName = (typeof AGENT_STATES)[number];

export type AgentState = {
  worker: string;
  state: AgentStateName;
  /** When it entered this state (RFC 3339). */
  since: string;
  /** Last report, even one that changed nothing. */
  updated_at: string;
  /** What it waits for, why it is limited, which task it works on… (one line). */
  detail?: string;
  /** `limited`: when the limit resets and the worker resumes. */
  until?: string;
  /** `exited`: the exit status. */
  exit_status?: number;
  /** Who reported it: `claude`, `codex`, `gemini`, `loop`, `demo`… */
  source?: string;
};

export type StateReport = { state: AgentStateName; detail?: string; until?: string; exit_status?: number; source?: string };

/** The outcome of a report: the row now, the state before (null: first report), and whether the state changed. */
export type StateChange = { current: AgentState; previous: AgentStateName | null; changed: boolean };

export const MAX_DETAIL = 200;

function toState(row: Record<string, unknown>): AgentState {
  const s: Record<string, unknown> = {};
  for (const key of ['worker', 'state', 'since', 'updated_at', 'detail', 'until', 'exit_status', 'source']) {
    const v = row[key];
    if (v !== null && v !== undefined) s[key] = key === 'exit_status' ? Number(v) : v;
  }
  return s as AgentState;
}

export function getAgentState(store: Store, worker: string): AgentState | undefined {
  const row = store.get('SELECT * FROM agent_states WHERE worker = ?', worker);
  return row ? toState(row) : undefined;
}

export function listAgentStates(store: Store): AgentState[] {
  return store.all('SELECT * FROM agent_states ORDER BY worker').map(toState);
}

export function forgetAgentState(store: Store, worker: string): boolean {
  return store.run('DELETE FROM agent_states WHERE worker = ?', worker) > 0;
}

/**
 * Record a report. The same state again keeps `since` (a new `until`, detail or exit status is still
 * stored); another state starts a new `since`. Fields that do not belong to the state are dropped.
 */
export function reportAgentState(store: Store, worker: string, report: StateReport, at = now()): StateChange {
  return store.tx(() => {
    const before = getAgentState(store, worker);
    const changed = before?.state !== report.state;
    const since = changed ? at : before!.since;
    const until = report.state === 'limited' ? (report.until ?? null) : null;
    const exit = report.state === 'exited' ? (report.exit_status ?? null) : null;
    store.run(
      `INSERT INTO agent_states (worker, state, since, updated_at, detail, until, exit_status, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (worker) DO UPDATE SET state = excluded.state, since = excluded.since, updated_at = excluded.updated_at,
         detail = excluded.detail, until = excluded.until, exit_status = excluded.exit_status, source = excluded.source`,
      worker, report.state, since, at, report.detail ?? null, until, exit, report.source ?? null,
    );
    return { current: getAgentState(store, worker)!, previous: before?.state ?? null, changed };
  });
}

/**
 * A report from a request body (JSON or form fields): `state`, and `detail`, `until` (RFC 3339, or
 * Unix seconds — what `date +%s` gives a shell script), `exit_status`, `source`. Throws VALIDATION_FAILED.
 */
export function parseStateReport(body: Record<string, unknown>, clean: (s: string) => string): StateReport {
  const details: string[] = [];
  const text = (key: string): string | undefined => {
    const v = body[key];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') {
      details.push(`${key} must be a string`);
      return undefined;
    }
    return clean(v).slice(0, MAX_DETAIL);
  };
  const state = text('state');
  if (!state) details.push('state is required');
  else if (!(AGENT_STATES as readonly string[]).includes(state)) details.push(`state must be one of ${AGENT_STATES.join(', ')}`);
  const report: StateReport = { state: state as AgentStateName, detail: text('detail'), source: text('source') };
  const until = body.until;
  if (until !== undefined && until !== null && until !== '') {
    const ms = typeof until === 'number' || /^\d{1,12}$/.test(String(until)) ? Number(until) * 1000 : Date.parse(String(until));
    if (Number.isNaN(ms)) details.push('until must be an RFC 3339 time or Unix seconds');
    else report.until = new Date(ms).toISOString();
  }
  const exit = body.exit_status;
  if (exit !== undefined && exit !== null && exit !== '') {
    const n = Number(exit);
    if (!Number.isInteger(n) || n < 0 || n > 255) details.push('exit_status must be a whole number from 0 to 255');
    else report.exit_status = n;
  }
  if (state === 'limited' && !report.until && !details.some((d) => d.startsWith('until'))) details.push('until is required for limited (when the limit resets)');
  if (details.length) throw errors.validation(details);
  return report;
}

/** Who reports a limit's end when nothing else did by its reset time: the queue itself. */
export const LIMIT_RESET_SOURCE = 'isollm:limit-reset';

/** The earliest reset time of a limited worker (RFC 3339), or null when none is limited. */
export function nextLimitReset(store: Store): string | null {
  const row = store.get("SELECT MIN(until) AS until FROM agent_states WHERE state = 'limited' AND until IS NOT NULL");
  return (row?.until as string | null | undefined) ?? null;
}

/**
 * Workers whose limit has reset (`until` passed) and that said nothing since: back to `idle` — an
 * interactive agent is at its prompt again; a loop reports `working` itself when it takes a task.
 */
export function expireLimits(store: Store, at = now()): StateChange[] {
  const due = store.all("SELECT worker FROM agent_states WHERE state = 'limited' AND until IS NOT NULL AND until <= ?", at);
  return due.map((row) => reportAgentState(store, String(row.worker), { state: 'idle', detail: 'usage limit reset', source: LIMIT_RESET_SOURCE }, at));
}
