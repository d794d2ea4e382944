// How an agent's state reads: in the status table (single-width marks, so columns stay aligned), in
// the brief line, and in the multiplexer pane titles (`worker-3 ⏳ waiting 2m`).
import { formatAge } from '../cli/ui.ts';
import type { AgentInfo, StatusModel, WorkerStatus } from './collect.ts';
import type { RecoveredWorker } from '../project/session.ts';

/** Table marks: one column wide each. */
const MARKS: Record<AgentInfo['state'], string> = { working: '▶', waiting: '?', idle: '·', exited: '■', limited: '‖' };
/** Pane-title marks: the titles are free text, so these may be wide. */
export const TITLE_MARKS: Record<AgentInfo['state'], string> = { working: '▶', waiting: '⏳', idle: '💤', exited: '⏹', limited: '⏸' };

/** HH:MM (UTC) of an ISO time: the reset times CLIs name are wall-clock times. */
function hhmm(iso: string, local: boolean): string {
  const d = new Date(iso);
  const [h, m] = local ? [d.getHours(), d.getMinutes()] : [d.getUTCHours(), d.getUTCMinutes()];
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`;
}

/** `waiting 2m (permission: Bash)`, `limited until 15:00 (in 12m)`, `exited 1 3m`. */
export function agentWords(a: AgentInfo, options: { detail?: boolean; local?: boolean } = {}): string {
  const age = formatAge(a.seconds * 1000);
  let words: string;
  if (a.state === 'limited') {
    words = a.until ? `limited until ${hhmm(a.until, options.local ?? true)} (${a.resumes_in_seconds ? `in ${formatAge(a.resumes_in_seconds * 1000)}` : 'resuming'})` : `limited ${age}`;
  } else if (a.state === 'exited') {
    words = `exited${a.exit_status === null ? '' : ` ${a.exit_status}`} ${age}`;
  } else {
    words = `${a.state} ${age}`;
  }
  if (options.detail && a.detail && a.state === 'waiting') words += ` · ${a.detail}`;
  return words;
}

type Paint = (style: 'green' | 'yellow' | 'red' | 'dim' | 'bold', s: string) => string;

/** The AGENT cell of the workers table. */
export function agentCell(w: WorkerStatus, paint: Paint): string {
  const a = w.agent;
  if (!a) return paint('dim', '-');
  const text = `${MARKS[a.state]} ${agentWords(a, { detail: true })}`;
  switch (a.state) {
    case 'waiting':
      return paint('yellow', text);
    case 'limited':
      return paint('yellow', text);
    case 'working':
      return paint('green', text);
    case 'exited':
      return paint(a.exit_status ? 'red' : 'dim', text);
    default:
      return paint('dim', text);
  }
}

/** `2 working, 1 waiting, 1 limited`, or '' when no agent reported anything. */
export function agentCounts(m: StatusModel): string {
  const counts = new Map<string, number>();
  for (const w of m.workers ?? []) if (w.agent) counts.set(w.agent.state, (counts.get(w.agent.state) ?? 0) + 1);
  return (['waiting', 'limited', 'working', 'idle', 'exited'] as const)
    .filter((s) => counts.get(s))
    .map((s) => `${counts.get(s)} ${s}`)
    .join(', ');
}

/** A worker's pane title: its name, then the agent's state (`worker-3 ⏳ waiting 2m`). */
export function paneTitle(w: WorkerStatus): string {
  return w.agent ? `${w.name} ${TITLE_MARKS[w.agent.state]} ${agentWords(w.agent)}` : w.name;
}

/** `worker-2 (container started, restarted agent: claude --continue, resumed task ar-5)`. */
export function recoveredWords(w: RecoveredWorker): string {
  const how = w.mode === 'loop' ? 'restarted the loop' : w.resumed_with ? `restarted agent: ${w.resumed_with}` : 'restarted agent afresh (its CLI has no resume option)';
  const parts = [...(w.container_started ? ['container started'] : []), how, w.task ? `resumed task ${w.task}` : 'held no task'];
  return `${w.name} (${parts.join(', ')})`;
}
