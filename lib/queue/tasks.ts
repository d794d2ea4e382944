// Task records: create, read (lists in a stable order), edit, delete, and the dashboard summary.
import { landedClause } from './landing.ts';
import { agentUsage } from './results.ts';
import { now, READY, Store, TASK_ORDER, toTask } from './store.ts';
import { errors, QueueError, STATUSES, type Page, type Status, type Summary, type Task } from './types.ts';

export type PageQuery = { page: number; perPage: number };
export type NewTask = { title: string; description?: string; priority: number; parent_id?: string; spec_id?: string };
export type TaskEdit = { title?: string; description?: string; priority?: number };

export function createTask(store: Store, project: string, agent: string, input: NewTask): Task {
  return store.tx(() => {
    if (input.spec_id !== undefined) {
      // Specs are not implemented yet, so no spec can exist (airyra answered 500 here).
      throw new QueueError('SPEC_NOT_FOUND', `Spec ${input.spec_id} not found`, { id: input.spec_id });
    }
    if (input.parent_id !== undefined && !store.findTask(project, input.parent_id)) throw errors.taskNotFound(input.parent_id);
    store.ensureProject(project);
    const id = store.newId(project);
    const at = now();
    store.run(
      `INSERT INTO tasks (project, id, parent_id, spec_id, title, description, status, priority, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)`,
      project, id, input.parent_id ?? null, input.spec_id ?? null, input.title, input.description ?? null, input.priority, at, at,
    );
    store.audit(project, agent, { task_id: id, action: 'create', field: 'title', new_value: input.title }, at);
    return store.requireTask(project, id);
  });
}

function paged(store: Store, where: string, params: string[], q: PageQuery): Page<Task> {
  const total = Number(store.get(`SELECT count(*) AS n FROM tasks t WHERE ${where}`, ...params)?.n ?? 0);
  const rows = store.all(`SELECT * FROM tasks t WHERE ${where} ${TASK_ORDER} LIMIT ? OFFSET ?`, ...params, q.perPage, (q.page - 1) * q.perPage);
  return {
    data: rows.map(toTask),
    pagination: { page: q.page, per_page: q.perPage, total, total_pages: Math.ceil(total / q.perPage) },
  };
}

/** `landed`: true = landed only, false = done and not landed (isollm extension). */
export function listTasks(store: Store, project: string, status: Status | undefined, q: PageQuery, landed?: boolean): Page<Task> {
  const filter = landedClause(landed);
  return status ? paged(store, `t.project = ? AND t.status = ?${filter}`, [project, status], q) : paged(store, `t.project = ?${filter}`, [project], q);
}

export function listReady(store: Store, project: string, q: PageQuery): Page<Task> {
  return paged(store, `t.project = ? AND ${READY}`, [project], q);
}

/** PATCH: sets only the given columns, so it cannot undo a concurrent claim or transition. */
export function updateTask(store: Store, project: string, agent: string, id: string, edit: TaskEdit): Task {
  return store.tx(() => {
    const before = store.requireTask(project, id);
    const at = now();
    let changed = false;
    for (const field of ['title', 'description', 'priority'] as const) {
      const value = edit[field];
      if (value === undefined || value === before[field]) continue;
      store.run(`UPDATE tasks SET ${field} = ?, updated_at = ? WHERE project = ? AND id = ?`, value, at, project, id);
      const old = before[field];
      store.audit(project, agent, { task_id: id, action: 'update', field, old_value: old === undefined ? undefined : String(old), new_value: String(value) }, at);
      changed = true;
    }
    return changed ? store.requireTask(project, id) : before;
  });
}

/** Delete a task, its subtasks (recursively) and every dependency touching them. */
export function deleteTask(store: Store, project: string, agent: string, id: string): void {
  store.tx(() => {
    store.requireTask(project, id);
    const ids = store
      .all(
        `WITH RECURSIVE sub(id) AS (SELECT ? UNION SELECT t.id FROM tasks t JOIN sub ON t.parent_id = sub.id WHERE t.project = ?)
         SELECT id FROM sub`,
        id, project,
      )
      .map((r) => String(r.id));
    const at = now();
    for (const tid of ids) {
      const task = store.findTask(project, tid);
      store.run('DELETE FROM deps WHERE project = ? AND (child_id = ? OR parent_id = ?)', project, tid, tid);
      store.run('DELETE FROM tasks WHERE project = ? AND id = ?', project, tid);
      store.audit(project, agent, { task_id: tid, action: 'delete', field: 'title', old_value: task?.title }, at);
    }
  });
}

/** isollm extension: counts per status, the ready count and who holds what, in one read. */
export function summarize(store: Store, project: string): Summary {
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>;
  for (const row of store.all('SELECT status, count(*) AS n FROM tasks WHERE project = ? GROUP BY status', project)) {
    counts[row.status as Status] = Number(row.n);
  }
  const ready = Number(store.get(`SELECT count(*) AS n FROM tasks t WHERE t.project = ? AND ${READY}`, project)?.n ?? 0);
  const inProgress = store.all(`SELECT * FROM tasks WHERE project = ? AND status = 'in_progress' ORDER BY claimed_at, seq`, project).map(toTask);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const since = new Date(Date.now() - 24 * 3600_000).toISOString();
  const land = store.get(
    `SELECT sum(status = 'done' AND landed_commit IS NULL) AS unlanded, sum(landed_at >= ?) AS landed_24h,
            sum(land_failure IS NOT NULL AND landed_commit IS NULL AND status != 'done') AS handed_back
     FROM tasks WHERE project = ?`,
    since, project,
  );
  const landing = { unlanded: Number(land?.unlanded ?? 0), landed_24h: Number(land?.landed_24h ?? 0), handed_back: Number(land?.handed_back ?? 0) };
  return { project, counts, total, ready, in_progress: inProgress, landing, agent_usage: agentUsage(store, project) };
}
