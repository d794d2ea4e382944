// Dependencies: "child waits on parent". Adding is idempotent and refuses cycles with the path.
import { Store } from './store.ts';
import { errors, type Dependency } from './types.ts';

export function listDeps(store: Store, project: string, id: string): Dependency[] {
  store.requireTask(project, id);
  return store.all('SELECT child_id, parent_id FROM deps WHERE project = ? AND child_id = ? ORDER BY rowid', project, id) as Dependency[];
}

/** isollm extension: the tasks waiting on `id`. */
export function listDependents(store: Store, project: string, id: string): Dependency[] {
  store.requireTask(project, id);
  return store.all('SELECT child_id, parent_id FROM deps WHERE project = ? AND parent_id = ? ORDER BY rowid', project, id) as Dependency[];
}

export function addDep(store: Store, project: string, agent: string, child: string, parent: string): Dependency {
  return store.tx(() => {
    store.requireTask(project, child);
    store.requireTask(project, parent);
    if (child === parent) throw errors.validation(['Cannot add self-dependency']);
    const dep = { child_id: child, parent_id: parent };
    if (store.get('SELECT 1 AS x FROM deps WHERE project = ? AND child_id = ? AND parent_id = ?', project, child, parent)) return dep;
    const cycle = cyclePath(store, project, child, parent);
    if (cycle) throw errors.cycle(cycle);
    store.run('INSERT INTO deps (project, child_id, parent_id) VALUES (?, ?, ?)', project, child, parent);
    store.audit(project, agent, { task_id: child, action: 'add_dependency', new_value: parent });
    return dep;
  });
}

export function removeDep(store: Store, project: string, agent: string, child: string, parent: string): void {
  store.tx(() => {
    if (store.run('DELETE FROM deps WHERE project = ? AND child_id = ? AND parent_id = ?', project, child, parent) === 0) {
      throw errors.depNotFound(child, parent);
    }
    store.audit(project, agent, { task_id: child, action: 'remove_dependency', old_value: parent });
  });
}

/**
 * When `parent` already (transitively) waits on `child`, adding child→parent closes a cycle.
 * Breadth-first from parent; the path reads [child, …, parent, child] as airyra reports it.
 */
function cyclePath(store: Store, project: string, child: string, parent: string): string[] | null {
  const cameFrom = new Map<string, string>([[parent, '']]);
  const queue = [parent];
  while (queue.length) {
    const current = queue.shift()!;
    if (current === child) {
      const path = [current];
      for (let node = current; node !== parent; ) {
        node = cameFrom.get(node)!;
        path.push(node);
      }
      path.push(child);
      return path;
    }
    for (const row of store.all('SELECT parent_id FROM deps WHERE project = ? AND child_id = ?', project, current)) {
      const next = String(row.parent_id);
      if (!cameFrom.has(next)) {
        cameFrom.set(next, current);
        queue.push(next);
      }
    }
  }
  return null;
}
