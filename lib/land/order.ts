// Which done tasks the train takes, in what order: dependency order, then priority, then age (the
// queue's own list order). A task waits while a parent of it is neither landed nor ahead of it.
import { dependencyOrder } from '../queue/landing.ts';
import type { Task } from '../queue/types.ts';

export type Waiting = { task: Task; on: string[] };
export type LandingPlan = { queue: Task[]; waiting: Waiting[] };

/** Done and not landed yet. */
export const isUnlanded = (t: Task) => t.status === 'done' && !t.landed_commit;

/**
 * `tasks` in the queue's order (priority, age, insertion); `parentsOf` gives what a task waits on.
 * `only`: land just these ids (their unlanded parents are not pulled in: they must land first).
 */
export function planLanding(tasks: Task[], parentsOf: (id: string) => string[], only?: string[]): LandingPlan {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const wanted = only ? new Set(only) : null;
  const candidates = tasks.filter((t) => isUnlanded(t) && (!wanted || wanted.has(t.id)));
  const ordered = dependencyOrder(candidates, (t) => parentsOf(t.id));
  const queue: Task[] = [];
  const waiting: Waiting[] = [];
  const ahead = new Set<string>();
  for (const task of ordered) {
    const on = parentsOf(task.id).filter((p) => !byId.get(p)?.landed_commit && !ahead.has(p));
    if (on.length) waiting.push({ task, on });
    else {
      queue.push(task);
      ahead.add(task.id);
    }
  }
  return { queue, waiting };
}
