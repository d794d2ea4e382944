// A typed client for the queue's HTTP API, over TCP (`http://host:port`) or a unix socket
// (`unix:/path/to.sock`). isollm's own commands use it with the identity `host:<user>`.
import type { Agent } from 'node:http';
import os from 'node:os';
import { UserError } from '../cli/errors.ts';
import type { AgentState, StateReport } from './agents.ts';
import type { AuditEntry, Dependency, Page, Status, Summary, Task } from './types.ts';

// Not `import http from 'node:http'`: on Node 24 its ESM wrapper reads every export, and one of them
// loads undici (fetch): ~100 ms of every command that asks the queue. The CommonJS module is the same.
const http = process.getBuiltinModule('node:http');

/** How long one request may take before we call the queue unreachable. */
export const REQUEST_TIMEOUT_MS = 10_000;
const MAX_PER_PAGE = 100;

export const QUEUE_DOWN = 'The queue is not running. Start it with `isollm queue start` (or `isollm up`).';

/** An error answer from the queue, with the contract's code and context. */
export class QueueApiError extends UserError {
  status: number;
  code: string;
  context: Record<string, unknown>;
  constructor(status: number, code: string, message: string, context: Record<string, unknown> = {}) {
    super(describe(message, context));
    this.name = 'QueueApiError';
    this.status = status;
    this.code = code;
    this.context = context;
  }
}

function describe(message: string, context: Record<string, unknown>): string {
  if (Array.isArray(context.details)) return `${message}: ${context.details.join('; ')}`;
  if (Array.isArray(context.path)) return `${message}: ${context.path.join(' → ')}`;
  if (typeof context.claimed_by === 'string') return `${message} (${context.claimed_by})`;
  return message;
}

export function hostAgent(): string {
  let user = process.env.USER ?? '';
  try {
    user = os.userInfo().username;
  } catch {
    // no passwd entry (some containers): fall back to $USER
  }
  return `host:${user || 'unknown'}`;
}

export type NewTaskInput = { title: string; description?: string; priority?: number; parent_id?: string };

export class QueueClient {
  url: string;
  project: string;
  agent: string;
  /** What to say when nothing answers. */
  downMessage: string;
  private httpAgent: Agent = new http.Agent({ keepAlive: true });

  constructor(url: string, project: string, options: { agent?: string; downMessage?: string } = {}) {
    this.url = url;
    this.project = project;
    this.agent = options.agent ?? hostAgent();
    this.downMessage = options.downMessage ?? QUEUE_DOWN;
  }

  /** One request; resolves with the parsed JSON (undefined for 204), throws QueueApiError on 4xx/5xx. */
  request<T>(method: string, path: string, body?: unknown, retried = false): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { 'X-Airyra-Agent': this.agent, Accept: 'application/json' };
    if (payload !== undefined) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(payload)) });
    const target: { socketPath?: string; host?: string; port?: number; prefix?: string } = this.url.startsWith('unix:') ? { socketPath: this.url.slice(5) } : urlTarget(this.url);
    return new Promise<T>((resolve, reject) => {
      const req = http.request({ socketPath: target.socketPath, host: target.host, port: target.port, method, path: `${target.prefix ?? ''}${path}`, headers, agent: this.httpAgent, timeout: REQUEST_TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: any;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            return reject(new UserError(`The queue at ${this.url} answered ${res.statusCode} with something that is not JSON. Is queue.url / queue.port right?`));
          }
          const status = res.statusCode ?? 0;
          if (status >= 400) {
            const e = json?.error ?? {};
            return reject(new QueueApiError(status, String(e.code ?? 'HTTP_' + status), String(e.message ?? `HTTP ${status}`), e.context ?? {}));
          }
          resolve(json as T);
        });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => {
        // A kept-alive connection the server closed meanwhile (e.g. it restarted): try once more
        // on a fresh one, as Node's docs advise; the server never saw this request.
        if (req.reusedSocket && !retried && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
          return resolve(this.request<T>(method, path, body, true));
        }
        if (['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH'].includes(err.code ?? '')) {
          reject(new UserError(this.downMessage, { cause: err }));
        } else {
          // A mistyped queue.url host, a socket we may not open…: still one line, with the cause.
          reject(new UserError(`Cannot reach the queue (${err.code ?? err.message}). Check queue.url / queue.port in isollm.yaml, or \`isollm queue status\`.`, { cause: err }));
        }
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  private p(path: string): string {
    return `/v1/projects/${encodeURIComponent(this.project)}${path}`;
  }

  health = () => this.request<{ status: string }>('GET', '/v1/health');
  listProjects = () => this.request<string[]>('GET', '/v1/projects');

  createTask = (input: NewTaskInput) => this.request<Task>('POST', this.p('/tasks'), input);
  getTask = (id: string) => this.request<Task>('GET', this.p(`/tasks/${enc(id)}`));
  updateTask = (id: string, edit: { title?: string; description?: string; priority?: number }) => this.request<Task>('PATCH', this.p(`/tasks/${enc(id)}`), edit);
  deleteTask = (id: string) => this.request<void>('DELETE', this.p(`/tasks/${enc(id)}`));
  listPage = (page: number, perPage: number, status?: Status) =>
    this.request<Page<Task>>('GET', this.p(`/tasks?page=${page}&per_page=${perPage}${status ? `&status=${status}` : ''}`));
  readyPage = (page: number, perPage: number) => this.request<Page<Task>>('GET', this.p(`/tasks/ready?page=${page}&per_page=${perPage}`));

  /** Every task (all pages), optionally of one status. */
  async listTasks(status?: Status): Promise<Task[]> {
    return allPages((page) => this.listPage(page, MAX_PER_PAGE, status));
  }

  async listReady(): Promise<Task[]> {
    return allPages((page) => this.readyPage(page, MAX_PER_PAGE));
  }

  claim = (id: string) => this.request<Task>('POST', this.p(`/tasks/${enc(id)}/claim`));
  /** isollm extension: null when nothing is ready. */
  claimNext = async () => (await this.request<Task | undefined>('POST', this.p('/tasks/next/claim'))) ?? null;
  done = (id: string) => this.request<Task>('POST', this.p(`/tasks/${enc(id)}/done`));
  release = (id: string, force = false, note?: string) =>
    this.request<Task>('POST', this.p(`/tasks/${enc(id)}/release${force ? '?force=true' : ''}`), note ? { note } : undefined);
  block = (id: string, reason?: string) => this.request<Task>('POST', this.p(`/tasks/${enc(id)}/block`), reason ? { reason } : undefined);
  unblock = (id: string) => this.request<Task>('POST', this.p(`/tasks/${enc(id)}/unblock`));

  deps = (id: string) => this.request<Dependency[]>('GET', this.p(`/tasks/${enc(id)}/deps`));
  /** isollm extension: tasks waiting on `id`. */
  dependents = (id: string) => this.request<Dependency[]>('GET', this.p(`/tasks/${enc(id)}/dependents`));
  addDep = (child: string, parent: string) => this.request<Dependency>('POST', this.p(`/tasks/${enc(child)}/deps`), { parent_id: parent });
  removeDep = (child: string, parent: string) => this.request<void>('DELETE', this.p(`/tasks/${enc(child)}/deps/${enc(parent)}`));
  history = (id: string) => this.request<AuditEntry[]>('GET', this.p(`/tasks/${enc(id)}/history`));
  audit = (page = 1, perPage = 50) => this.request<Page<AuditEntry>>('GET', this.p(`/audit?page=${page}&per_page=${perPage}`));
  // isollm extensions, host only: landing.
  markLanded = (id: string, commit: string) => this.request<Task>('POST', this.p(`/tasks/${enc(id)}/landed`), { commit });
  /** A failed landing: back to open with `note` (blocked once `maxAttempts` is reached). */
  reopen = (id: string, note: string, maxAttempts: number) => this.request<Task>('POST', this.p(`/tasks/${enc(id)}/reopen`), { note, max_attempts: maxAttempts });
  /** Landed tasks (true) or done ones not landed yet (false). */
  async listLanded(landed: boolean): Promise<Task[]> {
    return allPages((page) => this.request<Page<Task>>('GET', this.p(`/tasks?page=${page}&per_page=${MAX_PER_PAGE}&landed=${landed}`)));
  }
  /** isollm extension: counts per status, ready count, in-progress tasks. */
  summary = () => this.request<Summary>('GET', this.p('/summary'));

  // isollm extension: agent state per worker.
  agentStates = () => this.request<AgentState[]>('GET', '/v1/isollm/agents');
  agentState = (worker: string) => this.request<AgentState>('GET', `/v1/isollm/agents/${enc(worker)}`);
  reportState = (worker: string, report: StateReport) =>
    this.request<AgentState & { changed: boolean; previous: string | null }>('PUT', `/v1/isollm/agents/${enc(worker)}`, report);

  // isollm extensions, host only: worker sockets.
  listSockets = () => this.request<{ worker: string; path: string }[]>('GET', '/v1/isollm/sockets');
  addSocket = (worker: string) => this.request<{ worker: string; path: string }>('PUT', `/v1/isollm/sockets/${enc(worker)}`);
  removeSocket = (worker: string) => this.request<void>('DELETE', `/v1/isollm/sockets/${enc(worker)}`);
  // Remote workers' credentials (host only): the token comes back once, at creation.
  listCredentials = () => this.request<{ worker: string; created_at: string }[]>('GET', '/v1/isollm/credentials');
  addCredential = (worker: string) => this.request<{ worker: string; token: string }>('PUT', `/v1/isollm/credentials/${enc(worker)}`);
  removeCredential = (worker: string) => this.request<void>('DELETE', `/v1/isollm/credentials/${enc(worker)}`);

  close(): void {
    this.httpAgent.destroy();
  }
}

const enc = encodeURIComponent;

async function allPages<T>(fetchPage: (page: number) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  for (let page = 1; ; page++) {
    const r = await fetchPage(page);
    items.push(...r.data);
    if (page >= r.pagination.total_pages || r.data.length === 0) return items;
  }
}

function urlTarget(url: string): { host: string; port: number; prefix: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(`queue.url "${url}" is not a URL. Use e.g. http://127.0.0.1:7432.`);
  }
  if (u.protocol !== 'http:') throw new UserError(`queue.url "${url}": only http:// is supported.`);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80), prefix: u.pathname.replace(/\/+$/, '') };
}
