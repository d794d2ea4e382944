// The audit trail: one task's history, and the project-wide log with filters.
import { Store, toAudit } from './store.ts';
import { errors, type AuditEntry, type Page } from './types.ts';
import type { PageQuery } from './tasks.ts';

/** Newest first. A deleted task still has its history; 404 only when there is neither. */
export function taskHistory(store: Store, project: string, id: string): AuditEntry[] {
  const rows = store.all('SELECT * FROM audit WHERE project = ? AND task_id = ? ORDER BY id DESC', project, id);
  if (!rows.length && !store.findTask(project, id)) throw errors.taskNotFound(id);
  return rows.map(toAudit);
}

export type AuditFilter = { action?: string; agent?: string; start?: string; end?: string };

export function auditLog(store: Store, project: string, filter: AuditFilter, q: PageQuery): Page<AuditEntry> {
  const where = ['project = ?'];
  const params: string[] = [project];
  if (filter.action) (where.push('action = ?'), params.push(filter.action));
  if (filter.agent) (where.push('changed_by = ?'), params.push(filter.agent));
  if (filter.start) (where.push('changed_at >= ?'), params.push(filter.start));
  if (filter.end) (where.push('changed_at <= ?'), params.push(filter.end));
  const clause = where.join(' AND ');
  const total = Number(store.get(`SELECT count(*) AS n FROM audit WHERE ${clause}`, ...params)?.n ?? 0);
  const rows = store.all(`SELECT * FROM audit WHERE ${clause} ORDER BY id DESC LIMIT ? OFFSET ?`, ...params, q.perPage, (q.page - 1) * q.perPage);
  return { data: rows.map(toAudit), pagination: { page: q.page, per_page: q.perPage, total, total_pages: Math.ceil(total / q.perPage) } };
}

/** Whether `worker` holds task `id` now or claimed it at some time (the hub's ref policy asks). */
export function hasHeld(store: Store, project: string, id: string, worker: string): boolean {
  return Boolean(
    store.get('SELECT 1 FROM tasks WHERE project = ? AND id = ? AND claimed_by = ?', project, id, worker) ??
      store.get("SELECT 1 FROM audit WHERE project = ? AND task_id = ? AND action = 'claim' AND changed_by = ? LIMIT 1", project, id, worker),
  );
}
