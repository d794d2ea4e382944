// What the queue tells the user about (isollm's `notify.command`): an agent waiting for them, a task
// done or blocked, a worker stopped by a usage limit, all work finished. Each is emitted once, when
// the thing happens (a state change, a transition), never per poll.
import type { AgentState } from './agents.ts';
import type { Task } from './types.ts';

export const EVENT_KINDS = ['agent_waiting', 'worker_limited', 'worker_resumed', 'task_done', 'task_blocked', 'all_done'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export type QueueEvent = {
  event: EventKind;
  /** RFC 3339. */
  at: string;
  project: string | null;
  worker: string | null;
  /** One line for a notification's text. */
  summary: string;
  agent?: AgentState;
  task?: Pick<Task, 'id' | 'title' | 'status'> & { block_reason?: string };
  counts?: Record<string, number>;
};

export type Emit = (event: QueueEvent) => void;

const prefix = (project: string | null) => (project ? `isollm ${project}: ` : 'isollm: ');

/**
 * The event for an agent's new state, if that state is one the user is told about; leaving
 * `limited` (the reset time passed, or the agent went on) is `worker_resumed`.
 */
export function stateEvent(project: string | null, agent: AgentState, previous: AgentState['state'] | null = null): QueueEvent | null {
  const base = { at: agent.since, project, worker: agent.worker, agent };
  if (previous === 'limited' && agent.state !== 'limited') {
    const resumed = { ...base, event: 'worker_resumed' as const, summary: `${prefix(project)}${agent.worker}'s usage limit is over; it is ${agent.state} again` };
    // Straight into waiting: the user is told that it waits, which says more.
    if (agent.state !== 'waiting') return resumed;
  }
  if (agent.state === 'waiting') {
    return { ...base, event: 'agent_waiting', summary: `${prefix(project)}${agent.worker} is waiting for you${agent.detail ? ` (${agent.detail})` : ''}` };
  }
  if (agent.state === 'limited') {
    const until = agent.until ? ` until ${agent.until.slice(11, 16)} UTC` : '';
    return { ...base, event: 'worker_limited', summary: `${prefix(project)}${agent.worker} hit a usage limit; paused${until}` };
  }
  return null;
}

export function taskEvent(kind: 'task_done' | 'task_blocked', project: string, worker: string, task: Task, at: string): QueueEvent {
  const what = kind === 'task_done' ? 'done' : `blocked${task.block_reason ? `: ${task.block_reason}` : ''}`;
  return {
    event: kind,
    at,
    project,
    worker,
    task: { id: task.id, title: task.title, status: task.status, ...(task.block_reason ? { block_reason: task.block_reason } : {}) },
    summary: `${prefix(project)}${task.id} ${what} (${task.title}) by ${worker}`,
  };
}

/**
 * Tells when a project's work is finished — nothing ready and nothing in progress — once per time it
 * becomes so: the flag is cleared when work appears again (a new task, an unblock, a release).
 */
export class FinishTracker {
  private finished = new Map<string, boolean>();

  /** Feed the counts after a change; returns true exactly when the project has just finished. */
  update(project: string, counts: { ready: number; in_progress: number; total: number }): boolean {
    const done = counts.total > 0 && counts.ready === 0 && counts.in_progress === 0;
    const was = this.finished.get(project) ?? false;
    this.finished.set(project, done);
    return done && !was;
  }
}
