// Status transitions. Each is one conditional UPDATE (the WHERE clause is the precondition) plus its
// audit row in one transaction; when the UPDATE matches nothing, the current row says which error.
import { now, READY, Store, TASK_ORDER, toTask } from './store.ts';
import { errors, type Status, type Task } from './types.ts';

function statusAudit(store: Store, project: string, agent: string, task: Task, action: string, from: Status, at: string): void {
  store.audit(project, agent, { task_id: task.id, action, field: 'status', old_value: from, new_value: task.status }, at);
}

function updated(store: Store, text: string, ...params: (string | null)[]): Task | undefined {
  const row = store.get(`${text} RETURNING *`, ...params);
  return row ? toTask(row) : undefined;
}

/**
 * open → in_progress. Claiming a task you already hold is a success. With `ready` (a worker asking)
 * only a task whose parents are all done: a child started early would miss their work.
 */
export function claimTask(store: Store, project: string, agent: string, id: string, options: { ready?: boolean } = {}): Task {
  return store.tx(() => {
    const at = now();
    const task = updated(
      store,
      `UPDATE tasks SET status = 'in_progress', claimed_by = ?, claimed_at = ?, updated_at = ? WHERE project = ? AND id = ? AND status = 'open'${options.ready ? ` AND ${PARENTS_DONE}` : ''}`,
      agent, at, at, project, id,
    );
    if (task) {
      statusAudit(store, project, agent, task, 'claim', 'open', at);
      return task;
    }
    const current = store.requireTask(project, id);
    if (current.status === 'in_progress') {
      if (current.claimed_by === agent) return current;
      throw errors.alreadyClaimed(current.claimed_by ?? 'unknown', current.claimed_at ?? '');
    }
    if (current.status === 'open' && options.ready) throw errors.waitingOn(waitingOn(store, project, id));
    throw errors.invalidTransition(current.status, 'in_progress');
  });
}

/** The claimed row's parents are all done (tasks.project, tasks.id: the row being updated). */
const PARENTS_DONE = `NOT EXISTS (SELECT 1 FROM deps d JOIN tasks p ON p.project = d.project AND p.id = d.parent_id
  WHERE d.project = tasks.project AND d.child_id = tasks.id AND p.status != 'done')`;

function waitingOn(store: Store, project: string, id: string): string[] {
  return store
    .all(`SELECT d.parent_id AS id FROM deps d JOIN tasks p ON p.project = d.project AND p.id = d.parent_id WHERE d.project = ? AND d.child_id = ? AND p.status != 'done' ORDER BY d.parent_id`, project, id)
    .map((r) => String(r.id));
}

/**
 * isollm extension: claim the best ready task (priority, age, insertion), or null. With `resume` (a
 * worker asking on its own socket) a task this agent already holds is given back instead: a worker
 * works on one task at a time, and a claim whose answer was lost (the queue killed mid-reply) is
 * retried without leaving that first task in progress with nobody on it.
 */
export function claimNext(store: Store, project: string, agent: string, options: { resume?: boolean } = {}): Task | null {
  return store.tx(() => {
    if (options.resume) {
      const held = store.get(`SELECT * FROM tasks WHERE project = ? AND status = 'in_progress' AND claimed_by = ? ORDER BY claimed_at, seq LIMIT 1`, project, agent);
      if (held) return toTask(held);
    }
    const at = now();
    const task = updated(
      store,
      `UPDATE tasks SET status = 'in_progress', claimed_by = ?, claimed_at = ?, updated_at = ?
       WHERE seq = (SELECT seq FROM tasks t WHERE t.project = ? AND ${READY} ${TASK_ORDER} LIMIT 1) AND status = 'open'`,
      agent, at, at, project,
    );
    if (!task) return null;
    statusAudit(store, project, agent, task, 'claim', 'open', at);
    return task;
  });
}

/** in_progress → done, only by the claimer. */
export function completeTask(store: Store, project: string, agent: string, id: string): Task {
  return store.tx(() => {
    const at = now();
    const task = updated(
      store,
      `UPDATE tasks SET status = 'done', updated_at = ? WHERE project = ? AND id = ? AND status = 'in_progress' AND claimed_by = ?`,
      at, project, id, agent,
    );
    if (task) {
      statusAudit(store, project, agent, task, 'done', 'in_progress', at);
      return task;
    }
    const current = store.requireTask(project, id);
    if (current.status !== 'in_progress') throw errors.invalidTransition(current.status, 'done');
    throw errors.notOwner(current.claimed_by ?? 'unknown');
  });
}

/**
 * in_progress → open, clearing the claim; someone else's claim needs `force`. A `note` (isollm
 * extension: why it was given back, e.g. a usage limit) goes into the history.
 */
export function releaseTask(store: Store, project: string, agent: string, id: string, force: boolean, note?: string): Task {
  return store.tx(() => {
    const at = now();
    const task = updated(
      store,
      `UPDATE tasks SET status = 'open', claimed_by = NULL, claimed_at = NULL, updated_at = ?
       WHERE project = ? AND id = ? AND status = 'in_progress' AND (claimed_by = ? OR ? = 'force')`,
      at, project, id, agent, force ? 'force' : '',
    );
    if (task) {
      statusAudit(store, project, agent, task, 'release', 'in_progress', at);
      if (note) store.audit(project, agent, { task_id: id, action: 'release', field: 'note', new_value: note }, at);
      return task;
    }
    const current = store.requireTask(project, id);
    if (current.status !== 'in_progress') throw errors.invalidTransition(current.status, 'open');
    throw errors.notOwner(current.claimed_by ?? 'unknown');
  });
}

/**
 * any → blocked (already blocked: no-op, or a new reason replaces the old). The claim is cleared:
 * whoever blocked it has stopped working on it; the audit trail keeps who and why.
 */
export function blockTask(store: Store, project: string, agent: string, id: string, reason?: string): Task {
  return store.tx(() => {
    const before = store.requireTask(project, id);
    const at = now();
    if (before.status === 'blocked') {
      if (reason === undefined || reason === before.block_reason) return before;
      store.run('UPDATE tasks SET block_reason = ?, updated_at = ? WHERE project = ? AND id = ?', reason, at, project, id);
    } else {
      const task = updated(
        store,
        `UPDATE tasks SET status = 'blocked', block_reason = ?, claimed_by = NULL, claimed_at = NULL, updated_at = ?
         WHERE project = ? AND id = ? AND status = ?`,
        reason ?? null, at, project, id, before.status,
      );
      // Single-writer transaction: the row cannot have changed since the read above.
      if (!task) throw errors.internal();
      statusAudit(store, project, agent, task, 'block', before.status, at);
    }
    if (reason !== undefined) store.audit(project, agent, { task_id: id, action: 'block', field: 'block_reason', old_value: before.block_reason, new_value: reason }, at);
    return store.requireTask(project, id);
  });
}

/** blocked → open. */
export function unblockTask(store: Store, project: string, agent: string, id: string): Task {
  return store.tx(() => {
    const at = now();
    const task = updated(
      store,
      `UPDATE tasks SET status = 'open', block_reason = NULL, updated_at = ? WHERE project = ? AND id = ? AND status = 'blocked'`,
      at, project, id,
    );
    if (task) {
      statusAudit(store, project, agent, task, 'unblock', 'blocked', at);
      return task;
    }
    const current = store.requireTask(project, id);
    throw errors.invalidTransition(current.status, 'open');
  });
}

/** Retries of a task since it was last unblocked (a human looking gives it fresh ones). */
function retriesSinceUnblock(store: Store, project: string, id: string): number {
  const row = store.get(
    `SELECT COUNT(*) AS n FROM audit WHERE project = ? AND task_id = ? AND action = 'retry' AND field = 'status'
     AND id > COALESCE((SELECT MAX(id) FROM audit WHERE project = ? AND task_id = ? AND action = 'unblock'), 0)`,
    project, id, project, id,
  );
  return Number(row?.n ?? 0);
}

/**
 * isollm extension: the run on a task was cut off by no fault of the task (its agent killed by a
 * signal): in_progress → open for another run, only by the claimer, with `note` in the history. The
 * `maxRuns`-th such run blocks it instead, with the reason: a task whose agent always gets killed
 * (out of memory, say) must not go round for ever. Runs are counted from the audit log, since the
 * last unblock.
 */
export function retryTask(store: Store, project: string, agent: string, id: string, note: string, maxRuns: number): Task {
  return store.tx(() => {
    const before = store.requireTask(project, id);
    if (before.status !== 'in_progress') throw errors.invalidTransition(before.status, 'open');
    if (before.claimed_by !== agent) throw errors.notOwner(before.claimed_by ?? 'unknown');
    const runs = retriesSinceUnblock(store, project, id) + 1;
    const blocked = runs >= maxRuns;
    const status = blocked ? 'blocked' : 'open';
    const reason = blocked ? `${runs} runs cut off; last: ${note.split('\n')[0]}` : null;
    const at = now();
    const task = updated(
      store,
      `UPDATE tasks SET status = ?, block_reason = ?, claimed_by = NULL, claimed_at = NULL, updated_at = ?
       WHERE project = ? AND id = ? AND status = 'in_progress' AND claimed_by = ?`,
      status, reason, at, project, id, agent,
    );
    // Single-writer transaction: the row cannot have changed since the read above.
    if (!task) throw errors.internal();
    // The status row says `retry` even when it blocks, so the count above finds every cut-off run.
    statusAudit(store, project, agent, task, 'retry', 'in_progress', at);
    store.audit(project, agent, { task_id: id, action: 'retry', field: 'note', new_value: `run ${runs} of at most ${maxRuns}: ${note}` }, at);
    if (reason) store.audit(project, agent, { task_id: id, action: 'block', field: 'block_reason', new_value: reason }, at);
    return task;
  });
}
