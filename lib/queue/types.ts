// The airyra v1 wire contract: shapes, names and the error every layer of the queue throws.

export const STATUSES = ['open', 'in_progress', 'blocked', 'done'] as const;
export type Status = (typeof STATUSES)[number];

/** Priority names as the CLI shows them; the index is the wire value (0 critical … 4 lowest). */
export const PRIORITY_NAMES = ['critical', 'high', 'normal', 'low', 'lowest'] as const;
export type PriorityName = (typeof PRIORITY_NAMES)[number];
export const DEFAULT_PRIORITY = 2;

export const PROJECT_RE = /^[a-zA-Z0-9_-]{1,64}$/;
/** Worker names double as socket file names and identities. */
export const WORKER_RE = /^[a-zA-Z0-9_-]{1,64}$/;

export type Task = {
  id: string;
  parent_id?: string;
  spec_id?: string;
  title: string;
  description?: string;
  status: Status;
  priority: number;
  claimed_by?: string;
  claimed_at?: string;
  /** isollm extension: why the task was blocked (set by block, cleared by unblock). */
  block_reason?: string;
  /** isollm extension: what the task's branch started from (`main@1a2b3c4 + isollm/ar-1@5d6e7f8`). */
  based_on?: string;
  /** isollm extension: the commit the task's branch was made at (the base's tip, or its parents merged in): what the task's own work is counted from. */
  start_commit?: string;
  /** isollm extension: the base commit that brought this task's work in, and when. */
  landed_commit?: string;
  landed_at?: string;
  /** isollm extension: failed landings so far (left out while 0). */
  land_attempts?: number;
  /** isollm extension: why the last landing failed (conflicting files or the test's output tail). */
  land_failure?: string;
  /** isollm extension: what the agent CLI reported about the last headless run on this task. */
  result?: AgentResult;
  created_at: string;
  updated_at: string;
};

/**
 * isollm extension: one headless run of the agent on a task, as the loop records it. Exit status and
 * duration are the loop's; the rest is what the CLI reported (absent when it did not say).
 */
export type AgentResult = {
  worker: string;
  /** The CLI's output format read (claude, codex, gemini, opencode); absent for a custom agent. */
  format?: string;
  exit_status: number;
  duration_ms: number;
  tokens_in?: number;
  tokens_out?: number;
  cost_usd?: number;
  turns?: number;
  last_message?: string;
  recorded_at: string;
};

/** isollm extension: agent runs of a project, summed. Token and cost sums cover the runs that reported them. */
export type AgentUsage = { runs: number; tokens_in: number; tokens_out: number; cost_usd: number; duration_ms: number; turns: number };

export type AuditEntry = {
  id: number;
  task_id: string;
  action: string;
  field?: string;
  old_value?: string;
  new_value?: string;
  changed_at: string;
  changed_by: string;
};

export type Dependency = { child_id: string; parent_id: string };

export type Pagination = { page: number; per_page: number; total: number; total_pages: number };
export type Page<T> = { data: T[]; pagination: Pagination };

/** isollm extension: everything the dashboard needs in one request. */
export type Summary = {
  project: string;
  counts: Record<Status, number>;
  total: number;
  ready: number;
  in_progress: Task[];
  /** The merge train: done and not landed; landed in the last 24 hours; handed back and not landed since. */
  landing: { unlanded: number; landed_24h: number; handed_back: number };
  /** Every recorded agent run of the project, summed. */
  agent_usage: AgentUsage;
};

export const ERROR_STATUS = {
  TASK_NOT_FOUND: 404,
  DEPENDENCY_NOT_FOUND: 404,
  SPEC_NOT_FOUND: 404,
  NOT_FOUND: 404,
  ALREADY_CLAIMED: 409,
  UNAUTHORIZED: 401,
  NOT_OWNER: 403,
  FORBIDDEN: 403,
  INVALID_TRANSITION: 400,
  VALIDATION_FAILED: 400,
  CYCLE_DETECTED: 400,
  METHOD_NOT_ALLOWED: 405,
  PAYLOAD_TOO_LARGE: 413,
  SOCKET_FAILED: 500,
  INTERNAL_ERROR: 500,
} as const;
export type ErrorCode = keyof typeof ERROR_STATUS;

/** A contract error: becomes `{"error":{code,message,context}}` with the code's HTTP status. */
export class QueueError extends Error {
  code: ErrorCode;
  status: number;
  context?: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, context?: Record<string, unknown>) {
    super(message);
    this.name = 'QueueError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.context = context;
  }
}

export const errors = {
  taskNotFound: (id: string) => new QueueError('TASK_NOT_FOUND', `Task ${id} not found`, { id }),
  alreadyClaimed: (claimedBy: string, claimedAt: string) =>
    new QueueError('ALREADY_CLAIMED', 'Task already claimed by another agent', { claimed_by: claimedBy, claimed_at: claimedAt }),
  notOwner: (claimedBy: string) => new QueueError('NOT_OWNER', 'Task is claimed by another agent', { claimed_by: claimedBy }),
  invalidTransition: (from: string, to: string) =>
    new QueueError('INVALID_TRANSITION', `Cannot transition from ${from} to ${to}`, { from, to }),
  /** A worker's claim of an open task whose parents are not all done (INVALID_TRANSITION: its status may not change yet). */
  waitingOn: (parents: string[]) =>
    new QueueError('INVALID_TRANSITION', `Task waits on ${parents.join(', ')}, not done yet`, { from: 'open', to: 'in_progress', waiting_on: parents }),
  validation: (details: string[]) => new QueueError('VALIDATION_FAILED', 'Validation failed', { details }),
  invalidJson: () => new QueueError('VALIDATION_FAILED', 'Validation failed', { details: ['Invalid JSON body'] }),
  cycle: (path: string[]) => new QueueError('CYCLE_DETECTED', 'Adding this dependency would create a cycle', { path }),
  depNotFound: (child: string, parent: string) =>
    new QueueError('DEPENDENCY_NOT_FOUND', `Dependency from ${child} to ${parent} not found`, { child_id: child, parent_id: parent }),
  internal: () => new QueueError('INTERNAL_ERROR', 'An internal error occurred'),
};
