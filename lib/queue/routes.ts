// Routing of the airyra v1 API (plus isollm's extensions) onto the store: parse and validate the
// request, call one store function, say what to send. No I/O here beyond the store.
import { forgetAgentState, getAgentState, listAgentStates, parseStateReport, reportAgentState } from './agents.ts';
import { addDep, listDependents, listDeps, removeDep } from './deps.ts';
import { stateEvent, taskEvent, type Emit, FinishTracker } from './events.ts';
import { auditLog, taskHistory } from './history.ts';
import { markLanded, orderedParents, parseLanded, reopenTask, setBasedOn } from './landing.ts';
import { parseRunInput, recordRun, transcriptOf } from './results.ts';
import { Store } from './store.ts';
import { createTask, deleteTask, listReady, listTasks, summarize, updateTask, type PageQuery, type TaskEdit } from './tasks.ts';
import { blockTask, claimNext, claimTask, completeTask, releaseTask, retryTask, unblockTask } from './transitions.ts';
import { now } from './store.ts';
import { DEFAULT_PRIORITY, errors, PROJECT_RE, QueueError, STATUSES, WORKER_RE, type Status, type Task } from './types.ts';

export type Request = {
  method: string;
  /** Path segments after `/v1`, URL-decoded. */
  parts: string[];
  query: URLSearchParams;
  /** Who is asking: the worker's name on its socket, else the X-Airyra-Agent header, else `anonymous`. */
  agent: string;
  /** Set when the request came in on a worker socket. */
  worker: string | null;
  body: string;
  contentType: string;
};

export type Reply = { status: number; body?: unknown; /** block: the task was not blocked before. */ newlyBlocked?: boolean };

/** Worker-socket management, which the server (not the store) does; host-only. And where events go. */
export type Admin = {
  listSockets(): { worker: string; path: string }[];
  addSocket(worker: string): Promise<{ worker: string; path: string }>;
  removeSocket(worker: string): Promise<boolean>;
  /** A remote worker's credential: a new token (replacing any earlier one), shown only here. */
  addCredential(worker: string): { worker: string; token: string };
  removeCredential(worker: string): boolean;
  listCredentials(): { worker: string; created_at: string }[];
  /** Events for `notify.command` (optional: a bare server emits nowhere). */
  emit?: Emit;
  /** The project this server belongs to, named in agent events (tasks name their own). */
  project?: string | null;
  /** Remembers which projects have finished, so `all_done` is said once. */
  finish?: FinishTracker;
  /** After an agent's state was reported: the clock that ends limits at their reset time looks again. */
  limitsChanged?: () => void;
  /**
   * Make the branch a just-claimed task starts from (the base, with its done-but-unlanded parents'
   * branches merged in), on the host side, so workers never compute it. Absent: nothing is made.
   */
  prepareStart?: (project: string, task: Task, parents: Task[]) => Promise<StartResult>;
};

/** What prepareStart did: the branch is ready (based_on says on what, start_commit where it was made), or the parents conflict. */
export type StartResult = { based_on: string | null; start_commit?: string | null } | { conflict: string };

/** Who the queue names in the history for what it does itself (a start that cannot be made). */
export const QUEUE_AGENT = 'isollm';
/** Default land.max_attempts when the lander does not say. */
const DEFAULT_MAX_ATTEMPTS = 3;
/** Default max_runs of a retry (a run cut off by no fault of the task) when the worker does not say. */
const DEFAULT_MAX_RUNS = 3;

const DEFAULT_PER_PAGE = 50;
const MAX_PER_PAGE = 100;
/** Keeps OFFSET inside SQLite's integer range whatever page is asked for. */
const MAX_PAGE = 1_000_000_000;

const notFound = () => new QueueError('NOT_FOUND', 'No such endpoint');
const methodNotAllowed = (allowed: string[]) => new QueueError('METHOD_NOT_ALLOWED', `Method not allowed (use ${allowed.join(', ')})`);

export async function route(store: Store, admin: Admin, req: Request): Promise<Reply> {
  const [head, ...rest] = req.parts;
  if (head === 'health' && rest.length === 0) return only(req, ['GET'], () => ({ status: 200, body: { status: 'ok' } }));
  if (head === 'projects' && rest.length === 0) return only(req, ['GET'], () => ({ status: 200, body: store.listProjects() }));
  if (head === 'isollm') return routeIsollm(store, admin, req, rest);
  if (head !== 'projects') throw notFound();
  const [project, area, ...sub] = rest;
  if (!PROJECT_RE.test(project)) throw errors.validation([`Invalid project name: ${project}`]);
  if (area === 'tasks') {
    const reply = await routeTasks(store, admin, req, project, sub);
    if (req.method !== 'GET') afterChange(store, admin, req, project, sub, reply);
    return reply;
  }
  if (area === 'audit' && sub.length === 0) {
    return only(req, ['GET'], () => ({ status: 200, body: auditLog(store, project, auditFilter(req.query), pageQuery(req.query)) }));
  }
  if (area === 'summary' && sub.length === 0) return only(req, ['GET'], () => ({ status: 200, body: summarize(store, project) }));
  // isollm extension: a running agent's output as a transcript (the loop in a worker has no JSON parser).
  if (area === 'transcript' && sub.length === 0) return only(req, ['POST'], () => ({ status: 200, body: transcriptOf(bodyObject(req)) }));
  // Specs (epics) are part of airyra's API but not implemented here yet.
  if (area === 'specs') throw new QueueError('NOT_FOUND', 'Specs are not supported by this server');
  throw notFound();
}

function routeTasks(store: Store, admin: Admin, req: Request, project: string, sub: string[]): Reply | Promise<Reply> {
  const { agent } = req;
  const [id, action, extra] = sub;
  if (sub.length === 0) {
    if (req.method === 'POST') return { status: 201, body: createTask(store, project, agent, newTaskBody(req)) };
    return only(req, ['GET', 'POST'], () => ({ status: 200, body: listTasks(store, project, statusFilter(req.query), pageQuery(req.query), parseLanded(req.query.get('landed'))) }));
  }
  if (sub.length === 1 && id === 'ready') return only(req, ['GET'], () => ({ status: 200, body: listReady(store, project, pageQuery(req.query)) }));
  if (sub.length === 2 && id === 'next' && action === 'claim') {
    return only(req, ['POST'], async () => {
      // A task whose parents' branches conflict is blocked with the files named; take the next one.
      // On its own socket a worker gets back the task it holds (preparing it again changes nothing).
      for (;;) {
        const task = claimNext(store, project, agent, { resume: req.worker !== null });
        if (!task) return { status: 204 };
        const started = await prepare(store, admin, project, task);
        if (started) return { status: 200, body: started };
      }
    });
  }
  if (sub.length === 1) {
    if (req.method === 'GET') return { status: 200, body: store.requireTask(project, id) };
    if (req.method === 'PATCH') return (notAnothers(store, req, project, id), { status: 200, body: updateTask(store, project, agent, id, editBody(req)) });
    // A delete takes the subtasks with it, whoever holds them: the host's decision.
    return only(req, ['GET', 'PATCH', 'DELETE'], () => (hostOnly(req), deleteTask(store, project, agent, id), { status: 204 }));
  }
  if (sub.length === 2) {
    switch (action) {
      case 'claim':
        return only(req, ['POST'], async () => {
          // A worker takes only a ready task (isollm-task next picks one); the host may start any.
          const task = claimTask(store, project, agent, id, { ready: req.worker !== null });
          const started = await prepare(store, admin, project, task);
          if (!started) throw errors.invalidTransition('blocked', 'in_progress');
          return { status: 200, body: started };
        });
      case 'landed':
        return only(req, ['POST'], () => {
          hostOnly(req);
          const commit = stringField(bodyObject(req), 'commit');
          if (!commit || !/^[0-9a-f]{7,64}$/.test(commit)) throw errors.validation(['commit must be a commit id (hex)']);
          return { status: 200, body: markLanded(store, project, agent, id, commit) };
        });
      case 'reopen':
        return only(req, ['POST'], () => {
          hostOnly(req);
          const body = bodyObject(req);
          const note = stringField(body, 'note');
          if (!note?.trim()) throw errors.validation(['note is required']);
          const max = body.max_attempts ?? DEFAULT_MAX_ATTEMPTS;
          if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) throw errors.validation(['max_attempts must be a whole number of at least 1']);
          return { status: 200, body: reopenTask(store, project, agent, id, note, max) };
        });
      case 'done':
        return only(req, ['POST'], () => ({ status: 200, body: completeTask(store, project, agent, id) }));
      case 'result':
        return only(req, ['POST'], () => ({ status: 200, body: recordRun(store, project, agent, req.worker !== null, id, parseRunInput(bodyObject(req))) }));
      case 'release':
        return only(req, ['POST'], () => {
          const force = req.query.get('force') === 'true';
          if (force && req.worker) throw new QueueError('FORBIDDEN', 'Only the host may release a task someone else holds');
          return { status: 200, body: releaseTask(store, project, agent, id, force, releaseNote(req)) };
        });
      case 'retry':
        return only(req, ['POST'], () => {
          const body = bodyObject(req, true);
          const note = releaseNote(req);
          if (!note) throw errors.validation(['note is required (why the run was cut off)']);
          // A form sends the number as text.
          const raw = body.max_runs ?? DEFAULT_MAX_RUNS;
          const max = typeof raw === 'string' && /^\d{1,6}$/.test(raw) ? Number(raw) : raw;
          if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) throw errors.validation(['max_runs must be a whole number of at least 1']);
          const task = retryTask(store, project, agent, id, note, max);
          return { status: 200, body: task, newlyBlocked: task.status === 'blocked' };
        });
      case 'block':
        return only(req, ['POST'], () => {
          notAnothers(store, req, project, id);
          const before = store.findTask(project, id)?.status;
          const task = blockTask(store, project, agent, id, blockReason(req));
          return { status: 200, body: task, newlyBlocked: before !== undefined && before !== 'blocked' };
        });
      case 'unblock':
        // Blocked by a worker that gave up, or by the lander after its last attempt: back to work by the host's decision.
        return only(req, ['POST'], () => (hostOnly(req), { status: 200, body: unblockTask(store, project, agent, id) }));
      case 'history':
        return only(req, ['GET'], () => ({ status: 200, body: taskHistory(store, project, id) }));
      case 'dependents':
        return only(req, ['GET'], () => ({ status: 200, body: listDependents(store, project, id) }));
      case 'deps':
        if (req.method === 'POST') return { status: 201, body: addDep(store, project, agent, id, parentBody(req)) };
        return only(req, ['GET', 'POST'], () => ({ status: 200, body: listDeps(store, project, id) }));
    }
  }
  if (sub.length === 3 && action === 'deps') {
    return only(req, ['DELETE'], () => (removeDep(store, project, agent, id, extra), { status: 204 }));
  }
  throw notFound();
}

/** After a task change: the events it makes (done, blocked, all work finished). */
function afterChange(store: Store, admin: Admin, req: Request, project: string, sub: string[], reply: Reply): void {
  if (!admin.emit) return;
  const action = sub.length === 2 ? sub[1] : '';
  const task = reply.body as Task | undefined;
  if (action === 'done' && task) admin.emit(taskEvent('task_done', project, req.agent, task, task.updated_at));
  if ((action === 'block' || action === 'retry') && task && reply.newlyBlocked) admin.emit(taskEvent('task_blocked', project, req.agent, task, task.updated_at));
  const s = summarize(store, project);
  if (admin.finish?.update(project, { ready: s.ready, in_progress: s.counts.in_progress, total: s.total })) {
    const counts = { ...s.counts, ready: s.ready, total: s.total };
    admin.emit({ event: 'all_done', at: now(), project, worker: null, counts, summary: `isollm ${project}: all work finished (${s.counts.done} done, ${s.counts.blocked} blocked)` });
  }
}

async function routeIsollm(store: Store, admin: Admin, req: Request, rest: string[]): Promise<Reply> {
  if (rest[0] === 'whoami' && rest.length === 1) {
    return only(req, ['GET'], () => ({ status: 200, body: { agent: req.agent, worker: req.worker } }));
  }
  if (rest[0] === 'agents' && rest.length <= 2) return routeAgents(store, admin, req, rest[1]);
  if (rest[0] === 'credentials' && rest.length <= 2) return routeCredentials(admin, req, rest[1]);
  if (rest[0] !== 'sockets' || rest.length > 2) throw notFound();
  // A worker must not be able to open or close other workers' doors.
  if (req.worker) throw new QueueError('FORBIDDEN', 'Socket management is only allowed from the host');
  if (rest.length === 1) return only(req, ['GET'], () => ({ status: 200, body: admin.listSockets() }));
  const worker = rest[1];
  if (!WORKER_RE.test(worker)) throw errors.validation([`Invalid worker name: ${worker}`]);
  if (req.method === 'PUT') return { status: 200, body: await admin.addSocket(worker) };
  if (req.method === 'DELETE') {
    if (!(await admin.removeSocket(worker))) throw new QueueError('NOT_FOUND', `No socket for worker ${worker}`, { worker });
    return { status: 204 };
  }
  throw methodNotAllowed(['PUT', 'DELETE']);
}

/** Remote workers' credentials: host only (a worker must not mint or revoke anyone's, its own included). */
function routeCredentials(admin: Admin, req: Request, worker: string | undefined): Reply {
  if (req.worker) throw new QueueError('FORBIDDEN', 'Credential management is only allowed from the host');
  if (worker === undefined) return only(req, ['GET'], () => ({ status: 200, body: admin.listCredentials() }));
  if (!WORKER_RE.test(worker)) throw errors.validation([`Invalid worker name: ${worker}`]);
  if (req.method === 'PUT') return { status: 200, body: admin.addCredential(worker) };
  if (req.method === 'DELETE') {
    if (!admin.removeCredential(worker)) throw new QueueError('NOT_FOUND', `No credential for worker ${worker}`, { worker });
    return { status: 204 };
  }
  throw methodNotAllowed(['PUT', 'DELETE']);
}

/**
 * Agent state: GET the list or one worker's; PUT a worker's. On a worker socket only the worker's own
 * name may be PUT (the socket is the identity), so no worker can set another's state.
 */
function routeAgents(store: Store, admin: Admin, req: Request, worker: string | undefined): Reply {
  if (worker === undefined) return only(req, ['GET'], () => ({ status: 200, body: listAgentStates(store) }));
  if (!WORKER_RE.test(worker)) throw errors.validation([`Invalid worker name: ${worker}`]);
  if (req.method === 'GET') {
    const state = getAgentState(store, worker);
    if (!state) throw new QueueError('NOT_FOUND', `No state reported for worker ${worker}`, { worker });
    return { status: 200, body: state };
  }
  if (req.worker && req.worker !== worker) {
    throw new QueueError('FORBIDDEN', `A worker may report only its own state (this socket is ${req.worker}'s)`, { worker: req.worker });
  }
  if (req.method === 'PUT') {
    const change = reportAgentState(store, worker, parseStateReport(bodyObject(req), (s) => printable(s)));
    if (change.changed && admin.emit) {
      const event = stateEvent(admin.project ?? null, change.current, change.previous);
      if (event) admin.emit(event);
    }
    admin.limitsChanged?.();
    return { status: 200, body: { ...change.current, changed: change.changed, previous: change.previous } };
  }
  if (req.method === 'DELETE') {
    if (!forgetAgentState(store, worker)) throw new QueueError('NOT_FOUND', `No state reported for worker ${worker}`, { worker });
    return { status: 204 };
  }
  throw methodNotAllowed(['GET', 'PUT', 'DELETE']);
}

/** Landing decisions are the host's: a worker must not mark its own task landed or hand others' back. */
function hostOnly(req: Request): void {
  if (req.worker) throw new QueueError('FORBIDDEN', 'Only the host may do this');
}

/**
 * On a worker's socket (or credential), a task another worker holds or finished is not this worker's
 * to edit or block: blocking clears the claim, and a done task blocked goes round again. Open and
 * blocked tasks hold no claim. The handlers calling this are synchronous, so nothing runs between
 * this check and their change.
 */
function notAnothers(store: Store, req: Request, project: string, id: string): void {
  if (!req.worker) return;
  const task = store.requireTask(project, id);
  if (task.claimed_by && task.claimed_by !== req.worker) throw errors.notOwner(task.claimed_by);
}

/**
 * After a claim: have the task's start made (a fresh claim of a task whose branch does not exist yet).
 * Returns the task to answer with, or null when its parents conflict (it is then blocked).
 */
async function prepare(store: Store, admin: Admin, project: string, task: Task): Promise<Task | null> {
  if (!admin.prepareStart) return task;
  const result = await admin.prepareStart(project, task, orderedParents(store, project, task.id));
  if ('conflict' in result) {
    blockTask(store, project, QUEUE_AGENT, task.id, result.conflict);
    return null;
  }
  return result.based_on ? setBasedOn(store, project, QUEUE_AGENT, task.id, result.based_on, result.start_commit ?? null) : store.requireTask(project, task.id);
}

function only<T extends Reply | Promise<Reply>>(req: Request, methods: string[], handler: () => T): T {
  if (!methods.includes(req.method)) throw methodNotAllowed(methods);
  return handler();
}

// --- query and body parsing -------------------------------------------------------------------

function positiveInt(value: string | null, fallback: number): number {
  if (!value || !/^[+-]?\d{1,15}$/.test(value)) return fallback;
  const n = Number(value);
  return n > 0 ? n : fallback;
}

export function pageQuery(query: URLSearchParams): PageQuery {
  return {
    page: Math.min(positiveInt(query.get('page'), 1), MAX_PAGE),
    perPage: Math.min(positiveInt(query.get('per_page'), DEFAULT_PER_PAGE), MAX_PER_PAGE),
  };
}

/** An unknown status filter is ignored, as airyra does. */
function statusFilter(query: URLSearchParams): Status | undefined {
  const s = query.get('status');
  return s && (STATUSES as readonly string[]).includes(s) ? (s as Status) : undefined;
}

function auditFilter(query: URLSearchParams) {
  const time = (name: string) => {
    const v = query.get(name);
    if (!v) return undefined;
    const ms = Date.parse(v);
    if (Number.isNaN(ms)) throw errors.validation([`${name} must be an RFC3339 time`]);
    return new Date(ms).toISOString();
  };
  return { action: query.get('action') || undefined, agent: query.get('agent') || undefined, start: time('start'), end: time('end') };
}

/**
 * The body as an object. JSON (airyra's format) or, an isollm extension for sh clients,
 * `application/x-www-form-urlencoded` (curl --data-urlencode), which needs no escaping.
 */
const isForm = (req: Request) => req.contentType.startsWith('application/x-www-form-urlencoded');

function bodyObject(req: Request, optional = false): Record<string, unknown> {
  // curl -d sends JSON labelled as a form: a body that opens with `{` is JSON whatever the label.
  if (isForm(req) && !req.body.trimStart().startsWith('{')) return Object.fromEntries(new URLSearchParams(req.body));
  if (optional && req.body.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(req.body);
  } catch {
    throw errors.invalidJson();
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw errors.invalidJson();
  return value as Record<string, unknown>;
}


/** A string field; a wrong JSON type is a decode error, like Go's decoder reports it. */
function stringField(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw errors.invalidJson();
  return printable(v, key === 'description');
}

/**
 * Task text comes from agents and ends up on the user's terminal (task list, the dashboard): control
 * characters (escape sequences that could move the cursor, set the title or write the clipboard)
 * become U+FFFD. Descriptions keep their newlines and tabs.
 */
export function printable(text: string, multiline = false): string {
  const control = multiline ? /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g : /[\x00-\x1f\x7f-\x9f]/g;
  return text.replace(control, '\ufffd');
}

function priorityField(req: Request, body: Record<string, unknown>, details: string[]): number | undefined {
  let v = body.priority;
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'string' && isForm(req)) v = /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
  else if (typeof v !== 'number' || !Number.isInteger(v)) throw errors.invalidJson();
  if (!(Number(v) >= 0 && Number(v) <= 4)) details.push('priority must be between 0 and 4');
  return Number(v);
}

function newTaskBody(req: Request) {
  const body = bodyObject(req);
  const details: string[] = [];
  const title = stringField(body, 'title') ?? '';
  const description = stringField(body, 'description');
  const parentId = stringField(body, 'parent_id');
  const specId = stringField(body, 'spec_id');
  if (title.trim() === '') details.push('title is required');
  const priority = priorityField(req, body, details);
  if (details.length) throw errors.validation(details);
  return { title, description, priority: priority ?? DEFAULT_PRIORITY, parent_id: parentId || undefined, spec_id: specId || undefined };
}

function editBody(req: Request): TaskEdit {
  const body = bodyObject(req);
  const details: string[] = [];
  const title = stringField(body, 'title');
  const description = stringField(body, 'description');
  if (title !== undefined && title.trim() === '') details.push('title cannot be empty');
  const priority = priorityField(req, body, details);
  if (details.length) throw errors.validation(details);
  return { title, description, priority };
}

function parentBody(req: Request): string {
  const parent = stringField(bodyObject(req), 'parent_id');
  if (!parent) throw errors.validation(['parent_id is required']);
  return parent;
}

/** isollm extension: `{"note": "…"}` (or `?note=` / a form field): why the task was given back. */
function releaseNote(req: Request): string | undefined {
  const fromQuery = req.query.get('note');
  const note = stringField(bodyObject(req, true), 'note') ?? (fromQuery === null ? undefined : printable(fromQuery));
  return note?.trim() ? note : undefined;
}

/** isollm extension: `{"reason": "…"}` (or `?reason=` / a form field); the body stays optional. */
function blockReason(req: Request): string | undefined {
  const fromQuery = req.query.get('reason');
  const reason = stringField(bodyObject(req, true), 'reason') ?? (fromQuery === null ? undefined : printable(fromQuery));
  return reason?.trim() ? reason : undefined;
}
