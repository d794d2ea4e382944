// The command table: one entry per script in scripts/, loaded only when it runs.
export type CommandEntry = { summary: string; load: () => Promise<unknown> };

export const COMMANDS: Record<string, CommandEntry> = {
  init: { summary: 'create isollm.yaml in this git repository', load: () => import('../../scripts/init.mts') },
  up: { summary: 'start the queue, the workers and their agents, and show them', load: () => import('../../scripts/up.mts') },
  down: { summary: 'save unsaved work, release tasks, stop everything', load: () => import('../../scripts/down.mts') },
  status: { summary: 'workers, tasks, sync and services at a glance', load: () => import('../../scripts/status.mts') },
  task: { summary: 'add, list, show and change tasks in the queue', load: () => import('../../scripts/task.mts') },
  worker: { summary: 'create, inspect, enter, reset and remove workers', load: () => import('../../scripts/worker.mts') },
  land: { summary: 'land done tasks on the base branch: integrate, test in a container, advance when green', load: () => import('../../scripts/land.mts') },
  sync: { summary: 'move branches between this repository and the hub', load: () => import('../../scripts/sync.mts') },
  queue: { summary: 'start, stop and inspect the task queue server', load: () => import('../../scripts/queue.mts') },
  config: { summary: 'show or edit the resolved configuration', load: () => import('../../scripts/config.mts') },
  doctor: { summary: 'check every prerequisite and say how to fix what is missing', load: () => import('../../scripts/doctor.mts') },
  setup: { summary: 'install and initialise the container runtime and the image', load: () => import('../../scripts/setup.mts') },
  demo: { summary: 'watch scripted agents finish a small backlog in containers (no LLM account needed)', load: () => import('../../scripts/demo.mts') },
};

export function alignedList(): string[] {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  return Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
}
