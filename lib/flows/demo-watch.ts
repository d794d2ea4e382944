// Following the demo's backlog through the queue: one line per task transition, until every task is
// finished (done or blocked) or time runs out.
import type { QueueClient } from '../queue/client.ts';
import type { Task } from '../queue/types.ts';
import { SYMBOLS } from '../cli/ui.ts';

export const WATCH_POLL_MS = 1000;

/** Lines for what changed between two looks at the queue (`before` empty: the first look). */
export function transitions(before: Map<string, Task>, now: Task[]): string[] {
  const lines: string[] = [];
  for (const t of now) {
    const was = before.get(t.id);
    if (was && was.status === t.status && was.claimed_by === t.claimed_by) continue;
    const who = t.claimed_by ? ` (${t.claimed_by})` : '';
    switch (t.status) {
      case 'in_progress':
        lines.push(`${SYMBOLS.running} ${t.id} claimed by ${t.claimed_by ?? '?'}: ${t.title}`);
        break;
      case 'done':
        lines.push(`${SYMBOLS.ok} ${t.id} done${was?.claimed_by ? ` (${was.claimed_by})` : who}: ${t.title}`);
        break;
      case 'blocked':
        lines.push(`${SYMBOLS.fail} ${t.id} blocked${t.block_reason ? `: ${t.block_reason}` : ''}`);
        break;
      case 'open':
        if (was) lines.push(`${SYMBOLS.stopped} ${t.id} back in the queue: ${t.title}`);
        break;
    }
  }
  // Within one look, what finished comes before what was claimed next (as it happened).
  return [...lines.filter((l) => !l.startsWith(SYMBOLS.running)), ...lines.filter((l) => l.startsWith(SYMBOLS.running))];
}

export const finished = (tasks: Task[]): boolean => tasks.length > 0 && tasks.every((t) => t.status === 'done' || t.status === 'blocked');

export type WatchOptions = {
  ids: string[];
  onLine: (line: string) => void;
  timeoutMs: number;
  pollMs?: number;
  /** Stop early (the caller's own reason); resolves with the tasks as last seen. */
  signal?: AbortSignal;
  /** Tasks as already seen (and reported) by an earlier watch. */
  initial?: Task[];
};

/** Poll until every task in `ids` is done or blocked; returns them as last seen, `timedOut` when time ran out. */
export async function watchTasks(client: QueueClient, options: WatchOptions): Promise<{ tasks: Task[]; timedOut: boolean }> {
  const wanted = new Set(options.ids);
  const seen = new Map<string, Task>((options.initial ?? []).map((t) => [t.id, t]));
  const deadline = Date.now() + options.timeoutMs;
  let tasks: Task[] = [];
  for (;;) {
    tasks = (await client.listTasks()).filter((t) => wanted.has(t.id));
    for (const line of transitions(seen, tasks.filter((t) => seen.has(t.id) || t.status !== 'open'))) options.onLine(line);
    for (const t of tasks) seen.set(t.id, t);
    if (finished(tasks)) return { tasks, timedOut: false };
    if (options.signal?.aborted) return { tasks, timedOut: false };
    if (Date.now() > deadline) return { tasks, timedOut: true };
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? WATCH_POLL_MS));
  }
}
