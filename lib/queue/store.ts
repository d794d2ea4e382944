// The queue's SQLite store (node:sqlite, WAL): schema, row mapping, ids, transactions and audit rows.
// Every state change runs inside `tx` together with its audit row, so both commit or neither does.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { errors, type AuditEntry, type Task } from './types.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS projects (name TEXT PRIMARY KEY, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  project TEXT NOT NULL,
  id TEXT NOT NULL,
  parent_id TEXT,
  spec_id TEXT,
  title TEXT NOT NULL,
  description TEXT,
  status TEXT NOT NULL,
  priority INTEGER NOT NULL,
  claimed_by TEXT,
  claimed_at TEXT,
  block_reason TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (project, id)
);
CREATE INDEX IF NOT EXISTS tasks_order ON tasks (project, status, priority, created_at, seq);
CREATE INDEX IF NOT EXISTS tasks_parent ON tasks (project, parent_id);
CREATE TABLE IF NOT EXISTS deps (
  project TEXT NOT NULL, child_id TEXT NOT NULL, parent_id TEXT NOT NULL,
  PRIMARY KEY (project, child_id, parent_id)
);
CREATE INDEX IF NOT EXISTS deps_parent ON deps (project, parent_id);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  project TEXT NOT NULL, task_id TEXT NOT NULL, action TEXT NOT NULL,
  field TEXT, old_value TEXT, new_value TEXT,
  changed_at TEXT NOT NULL, changed_by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_task ON audit (project, task_id, id);
-- isollm extension: each worker's agent state (lib/queue/agents.ts).
CREATE TABLE IF NOT EXISTS agent_states (
  worker TEXT PRIMARY KEY, state TEXT NOT NULL, since TEXT NOT NULL, updated_at TEXT NOT NULL,
  detail TEXT, until TEXT, exit_status INTEGER, source TEXT
);
-- isollm extension: every headless agent run the loop recorded (lib/queue/results.ts); the last one
-- per task is also on the task (agent_result).
CREATE TABLE IF NOT EXISTS agent_runs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL, task_id TEXT NOT NULL, worker TEXT NOT NULL,
  format TEXT, exit_status INTEGER NOT NULL, duration_ms INTEGER NOT NULL, tokens_in INTEGER, tokens_out INTEGER,
  cost_usd REAL, turns INTEGER, last_message TEXT, recorded_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS agent_runs_task ON agent_runs (project, task_id, seq);
-- Worker sockets the server should listen on; re-created at every start.
CREATE TABLE IF NOT EXISTS sockets (worker TEXT PRIMARY KEY, created_at TEXT NOT NULL);
-- Remote workers' credentials (lib/queue/credentials.ts): only a hash of each token is kept.
CREATE TABLE IF NOT EXISTS credentials (worker TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);
`;

/** Columns added after the first release: a database made before them gets them at open. */
const LATER_COLUMNS: Record<string, string> = {
  based_on: 'TEXT',
  start_commit: 'TEXT',
  landed_commit: 'TEXT',
  landed_at: 'TEXT',
  land_attempts: 'INTEGER NOT NULL DEFAULT 0',
  land_failure: 'TEXT',
  agent_result: 'TEXT',
};

/** Ordering everywhere: priority, then age, then insertion (seq) so ties are stable. */
export const TASK_ORDER = 'ORDER BY priority, created_at, seq';

/** An open task whose every dependency is done. `t` is the tasks alias. */
export const READY = `t.status = 'open' AND NOT EXISTS (
  SELECT 1 FROM deps d JOIN tasks p ON p.project = d.project AND p.id = d.parent_id
  WHERE d.project = t.project AND d.child_id = t.id AND p.status != 'done')`;

const ID_WIDTH = 4;
/** Retries at one width before widening the hex part. */
const ID_TRIES_PER_WIDTH = 3;

type Row = Record<string, unknown>;
export type Audit = Omit<AuditEntry, 'id' | 'changed_at' | 'changed_by' | 'task_id'> & { task_id: string };

export function now(): string {
  return new Date().toISOString();
}

export class Store {
  db: DatabaseSync;
  private statements = new Map<string, StatementSync>();

  constructor(file: string) {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new DatabaseSync(file);
    // WAL: readers never wait for the writer. synchronous=NORMAL survives a killed process
    // (what the queue must survive); only an OS crash can lose the last commits.
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = OFF;');
    this.db.exec(SCHEMA);
    const have = new Set(this.db.prepare('PRAGMA table_info(tasks)').all().map((r) => String((r as Row).name)));
    for (const [column, type] of Object.entries(LATER_COLUMNS)) {
      if (!have.has(column)) this.db.exec(`ALTER TABLE tasks ADD COLUMN ${column} ${type}`);
    }
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  /** A cached prepared statement. */
  sql(text: string): StatementSync {
    let s = this.statements.get(text);
    if (!s) {
      s = this.db.prepare(text);
      this.statements.set(text, s);
    }
    return s;
  }

  get(text: string, ...params: SQLInputValue[]): Row | undefined {
    return this.sql(text).get(...params) as Row | undefined;
  }

  all(text: string, ...params: SQLInputValue[]): Row[] {
    return this.sql(text).all(...params) as Row[];
  }

  run(text: string, ...params: SQLInputValue[]): number {
    return Number(this.sql(text).run(...params).changes);
  }

  /** Run `work` in one write transaction (BEGIN IMMEDIATE takes the write lock up front). */
  tx<T>(work: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.db.exec('COMMIT');
      return result;
    } catch (err) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
  }

  audit(project: string, agent: string, entry: Audit, at = now()): void {
    this.run(
      'INSERT INTO audit (project, task_id, action, field, old_value, new_value, changed_at, changed_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      project, entry.task_id, entry.action, entry.field ?? null, entry.old_value ?? null, entry.new_value ?? null, at, agent,
    );
  }

  findTask(project: string, id: string): Task | undefined {
    const row = this.get('SELECT * FROM tasks WHERE project = ? AND id = ?', project, id);
    return row ? toTask(row) : undefined;
  }

  requireTask(project: string, id: string): Task {
    const task = this.findTask(project, id);
    if (!task) throw errors.taskNotFound(id);
    return task;
  }

  projectExists(project: string): boolean {
    return Boolean(this.get('SELECT 1 AS x FROM projects WHERE name = ?', project));
  }

  listProjects(): string[] {
    return this.all('SELECT name FROM projects ORDER BY name').map((r) => String(r.name));
  }

  /** Only creating a task creates its project: reads never do. */
  ensureProject(project: string): void {
    this.run('INSERT OR IGNORE INTO projects (name, created_at) VALUES (?, ?)', project, now());
  }

  /**
   * A fresh `ar-<hex>` id. Starts at 4 hex digits and widens when the project is crowded (more
   * than a quarter of the space used) or after repeated collisions, so ids never run out.
   */
  newId(project: string): string {
    const count = Number(this.get('SELECT count(*) AS n FROM tasks WHERE project = ?', project)?.n ?? 0);
    let width = ID_WIDTH;
    while (count * 4 > 16 ** width) width++;
    for (let attempt = 0; ; attempt++) {
      const w = width + Math.floor(attempt / ID_TRIES_PER_WIDTH);
      const id = `ar-${randomBytes(Math.ceil(w / 2)).toString('hex').slice(0, w)}`;
      if (!this.get('SELECT 1 AS x FROM tasks WHERE project = ? AND id = ?', project, id)) return id;
    }
  }

  // Worker sockets the server re-creates at start.
  listSockets(): string[] {
    return this.all('SELECT worker FROM sockets ORDER BY worker').map((r) => String(r.worker));
  }

  addSocket(worker: string): void {
    this.run('INSERT OR IGNORE INTO sockets (worker, created_at) VALUES (?, ?)', worker, now());
  }

  removeSocket(worker: string): boolean {
    return this.run('DELETE FROM sockets WHERE worker = ?', worker) > 0;
  }

  // Remote workers' credentials, by the hash of their token.
  setCredential(worker: string, tokenSha256: string): void {
    this.run('INSERT OR REPLACE INTO credentials (worker, token_sha256, created_at) VALUES (?, ?, ?)', worker, tokenSha256, now());
  }

  credentialWorker(tokenSha256: string): string | null {
    const row = this.get('SELECT worker FROM credentials WHERE token_sha256 = ?', tokenSha256);
    return row ? String(row.worker) : null;
  }

  listCredentials(): { worker: string; created_at: string }[] {
    return this.all('SELECT worker, created_at FROM credentials ORDER BY worker').map((r) => ({ worker: String(r.worker), created_at: String(r.created_at) }));
  }

  removeCredential(worker: string): boolean {
    return this.run('DELETE FROM credentials WHERE worker = ?', worker) > 0;
  }
}

const TASK_KEYS = ['id', 'parent_id', 'spec_id', 'title', 'description', 'status', 'priority', 'claimed_by', 'claimed_at', 'block_reason',
  'based_on', 'start_commit', 'landed_commit', 'landed_at', 'land_attempts', 'land_failure', 'created_at', 'updated_at'];

/** A task row as the wire shape: null columns left out. */
export function toTask(row: Row): Task {
  const task: Record<string, unknown> = {};
  for (const key of TASK_KEYS) {
    const v = row[key];
    if (v !== null && v !== undefined) task[key] = key === 'priority' || key === 'land_attempts' ? Number(v) : v;
  }
  // Left out until the lander has tried, so a never-landed task keeps airyra's shape.
  if (task.land_attempts === 0) delete task.land_attempts;
  if (typeof row.agent_result === 'string') task.result = JSON.parse(row.agent_result);
  return task as Task;
}

export function toAudit(row: Row): AuditEntry {
  const entry: Record<string, unknown> = {};
  for (const key of ['id', 'task_id', 'action', 'field', 'old_value', 'new_value', 'changed_at', 'changed_by']) {
    const v = row[key];
    if (v !== null && v !== undefined) entry[key] = key === 'id' ? Number(v) : v;
  }
  return entry as AuditEntry;
}
