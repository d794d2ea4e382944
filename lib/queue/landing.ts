// isollm extensions for landing: what a task's branch was based on, landed (commit, when), and a
// failed landing handed back to the agents (reopened with a note, blocked after too many attempts).
// Host only: the routes refuse these on a worker socket.
import { now, Store, TASK_ORDER, toTask } from './store.ts';
import { errors, QueueError, type Task } from './types.ts';

/** Record where the task's branch started from, described and as a commit (set when its branch is made). */
export function setBasedOn(store: Store, project: string, agent: string, id: string, basedOn: string, startCommit: string | null = null): Task {
  return store.tx(() => {
    const before = store.requireTask(project, id);
    if (before.based_on === basedOn && (startCommit === null || before.start_commit === startCommit)) return before;
    const at = now();
    store.run('UPDATE tasks SET based_on = ?, start_commit = COALESCE(?, start_commit), updated_at = ? WHERE project = ? AND id = ?', basedOn, startCommit, at, project, id);
    store.audit(project, agent, { task_id: id, action: 'update', field: 'based_on', old_value: before.based_on, new_value: basedOn }, at);
    return store.requireTask(project, id);
  });
}

/** done → landed: its work is on the base at `commit`. The last failure is cleared. */
export function markLanded(store: Store, project: string, agent: string, id: string, commit: string): Task {
  return store.tx(() => {
    const at = now();
    const row = store.get(
      `UPDATE tasks SET landed_commit = ?, landed_at = ?, land_failure = NULL, updated_at = ?
       WHERE project = ? AND id = ? AND status = 'done' RETURNING *`,
      commit, at, at, project, id,
    );
    if (!row) throw errors.invalidTransition(store.requireTask(project, id).status, 'landed');
    store.audit(project, agent, { task_id: id, action: 'land', field: 'landed_commit', new_value: commit }, at);
    return toTask(row);
  });
}

/**
 * A landing failed (conflict or red test): done → open, unclaimed, with `note` as land_failure, so
 * the next agent continues the branch and fixes it. The `maxAttempts`-th failure blocks it instead
 * (a human looks). Only a done task that has not landed can be handed back.
 */
export function reopenTask(store: Store, project: string, agent: string, id: string, note: string, maxAttempts: number): Task {
  return store.tx(() => {
    const before = store.requireTask(project, id);
    if (before.status !== 'done' || before.landed_commit) throw errors.invalidTransition(before.landed_commit ? 'landed' : before.status, 'open');
    const attempts = (before.land_attempts ?? 0) + 1;
    const blocked = attempts >= maxAttempts;
    const status = blocked ? 'blocked' : 'open';
    const reason = blocked ? `landing failed ${attempts} times; last: ${note.split('\n')[0]}` : null;
    const at = now();
    const row = store.get(
      `UPDATE tasks SET status = ?, claimed_by = NULL, claimed_at = NULL, land_attempts = ?, land_failure = ?, block_reason = ?, updated_at = ?
       WHERE project = ? AND id = ? AND status = 'done' AND landed_commit IS NULL RETURNING *`,
      status, attempts, note, reason, at, project, id,
    );
    // Single-writer transaction: the row cannot have changed since the read above.
    if (!row) throw errors.internal();
    store.audit(project, agent, { task_id: id, action: blocked ? 'block' : 'reopen', field: 'status', old_value: 'done', new_value: status }, at);
    store.audit(project, agent, { task_id: id, action: blocked ? 'block' : 'reopen', field: 'land_failure', new_value: note }, at);
    return toTask(row);
  });
}

/**
 * The tasks `id` waits on, parents before the tasks that wait on them (among themselves), then by
 * priority, age and insertion: the order their branches are merged into its start.
 */
export function orderedParents(store: Store, project: string, id: string): Task[] {
  const parents = store
    .all(`SELECT t.* FROM deps d JOIN tasks t ON t.project = d.project AND t.id = d.parent_id WHERE d.project = ? AND d.child_id = ? ${TASK_ORDER}`, project, id)
    .map(toTask);
  const ids = new Set(parents.map((p) => p.id));
  const edges = new Map<string, string[]>();
  for (const p of parents) {
    edges.set(p.id, store.all('SELECT parent_id FROM deps WHERE project = ? AND child_id = ?', project, p.id).map((r) => String(r.parent_id)).filter((x) => ids.has(x)));
  }
  return dependencyOrder(parents, (t) => edges.get(t.id) ?? []);
}

/**
 * A stable topological order: repeatedly the first item (in the given order) whose `needs` are all
 * placed. Items in a cycle (the queue refuses those) keep their given order at the end.
 */
export function dependencyOrder<T extends { id: string }>(items: T[], needs: (item: T) => string[]): T[] {
  const present = new Set(items.map((i) => i.id));
  const placed = new Set<string>();
  const out: T[] = [];
  const left = [...items];
  while (left.length) {
    const i = left.findIndex((item) => needs(item).every((n) => placed.has(n) || !present.has(n)));
    const [next] = left.splice(i === -1 ? 0 : i, 1);
    placed.add(next.id);
    out.push(next);
  }
  return out;
}

/** `landed` filter of task lists: true = landed, false = done and not landed yet. */
export function landedClause(landed: boolean | undefined): string {
  if (landed === undefined) return '';
  return landed ? ' AND t.landed_commit IS NOT NULL' : " AND t.status = 'done' AND t.landed_commit IS NULL";
}

export function parseLanded(value: string | null): boolean | undefined {
  if (value === null || value === '') return undefined;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new QueueError('VALIDATION_FAILED', 'Validation failed', { details: ['landed must be true or false'] });
}
