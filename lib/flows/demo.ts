// `isollm demo` (`npm run demo` in a checkout): from a fresh machine to agents finishing tasks, with no LLM account. Setup (the same
// steps as `isollm setup`), a throwaway sample project with a backlog, `isollm up` with the scripted
// demo agent in loop mode, progress from the queue, then the task branches and how to merge one.
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { $ } from 'zx/core';
import { loadConfig, type MultiplexerKind } from '../config/load.ts';
import { addBacklog, createSampleRepo, defaultDemoDir, isDemoDir, pickPort, removeDemo, type DemoConfigOptions } from './demo-repo.ts';
import { finished, watchTasks } from './demo-watch.ts';
import { stepPrinter } from './down.ts';
import { UserError } from '../cli/errors.ts';
import { PACKAGE_ROOT } from '../cli/package-files.ts';
import { setupHost } from '../runtime/host-setup.ts';
import { findOnPath, type Multiplexer } from '../mux/index.ts';
import { sessionTarget } from '../mux/tmux-commands.ts';
import { queueClient } from '../queue/daemon.ts';
import type { Task } from '../queue/types.ts';
import type { RuntimeName } from '../runtime/detect.ts';
import { formatSyncStatus, readSyncStatus } from '../hub/sync-status.ts';
import { remoteName } from '../hub/sync.ts';
import { ce } from '../cli/ui.ts';
import type { Reporter } from '../cli/report.ts';
import { up } from './up.ts';

/** tmux detach-client from outside the attached terminal. */
const TMUX_TIMEOUT = '20s';
/** How long the finished panes stay on screen before the demo detaches and prints the summary. */
const LINGER_MS = 4000;

export type DemoOptions = {
  dir: string;
  name: string;
  image: string;
  runtime?: RuntimeName;
  workers: number;
  delay: number;
  timeoutMs: number;
  /** Asked once before the host is changed, with the plan (see SetupOptions.confirm). */
  confirm: (plan: string[]) => Promise<boolean>;
  /** none: agents in the background; undefined: a multiplexer on a terminal, none elsewhere. */
  multiplexer?: MultiplexerKind;
  /** Attach to the multiplexer (a person is watching). */
  attach: boolean;
};

export type DemoResult = { root: string; tasks: Task[]; session: string | null };

/** Every line it shows goes to `report`, as it happens. */
export async function runDemo(o: DemoOptions, report: Reporter): Promise<DemoResult> {
  report.info(ce.bold('1/4 Host: container runtime and image'));
  const setup = await setupHost({ runtime: o.runtime, image: o.image, log: report.info, confirm: o.confirm });
  if (setup.steps.some((r) => r.status === 'done' && r.title.includes(' group'))) {
    throw new UserError(`You were just added to the runtime group: log in again (or run \`newgrp lxd\`), then run \`${demoCommand()}\` again.`, { exitCode: 0 });
  }

  report.info(ce.bold(`2/4 Sample project in ${o.dir}`));
  if (fs.existsSync(o.dir) && isDemoDir(o.dir)) {
    report.info('A previous demo is there: removing it to start over.');
    await removeDemo(o.dir, stepPrinter(report));
  }
  const config: DemoConfigOptions = { name: o.name, image: o.image, runtime: setup.runtime, workers: o.workers, port: await pickPort(), delay: o.delay };
  const root = await createSampleRepo(o.dir, config);
  const projectConfig = loadConfig(root);
  const backlog = await addBacklog(root, projectConfig);
  report.ok(`git repository with README.md and greet.sh; ${backlog.length} tasks in the queue:`);
  for (const t of backlog) report.info(`    ${t.id}  ${t.title}`);

  report.info(ce.bold(`3/4 isollm up -n ${o.workers}: agents at work`));
  const result = await up(root, projectConfig, { count: o.workers, force: false, multiplexer: o.multiplexer }, report);
  const session = result.mux && result.session ? { mux: result.mux, name: result.session } : null;
  if (session) report.info(`Watch them: ${session.mux.kind === 'tmux' ? `tmux attach -t ${session.name}` : `zellij attach ${session.name}`}`);

  const client = queueClient(root, projectConfig);
  let tasks: Task[];
  try {
    const ids = backlog.map((t) => t.id);
    if (session && o.attach) tasks = await watchAttached(client, ids, session, o.timeoutMs, report);
    else tasks = await follow(client, ids, o.timeoutMs, report);
  } finally {
    client.close();
  }

  report.info(ce.bold('4/4 Task branches in the hub'));
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const status = await readSyncStatus(root, result.config, {
    taskInfo: async (ids) => new Map(ids.filter((id) => byId.has(id)).map((id) => [id, { status: byId.get(id)!.status, claimed_by: byId.get(id)!.claimed_by, block_reason: byId.get(id)!.block_reason }])),
  });
  for (const line of formatSyncStatus(status)) report.out(line);
  const done = tasks.filter((t) => t.status === 'done');
  report.out('');
  if (done.length) {
    report.out('Merge a finished task into the sample project:');
    report.out(`  cd ${root} && ${isollmCommand()} sync pull && git merge ${remoteName(done[0].id)}`);
  }
  report.out('');
  report.out(`Left running: ${session ? `the ${session.mux.kind} session ${session.name}, ` : ''}${o.workers} workers and the queue. Look around with \`${isollmCommand()} status --project ${root}\`.`);
  report.out(`Remove everything: ${demoCommand(`--clean${o.dir === defaultDemoDir() ? '' : ` --dir ${o.dir}`}`)}`);
  return { root, tasks, session: session?.name ?? null };
}

type Client = ReturnType<typeof queueClient>;

/** Follow the tasks with one line per transition on stderr; a timeout is an error naming the logs. */
async function follow(client: Client, ids: string[], timeoutMs: number, report: Reporter, initial: Task[] = []): Promise<Task[]> {
  const r = await watchTasks(client, { ids, onLine: report.info, timeoutMs, initial });
  if (r.timedOut) throw notFinished(r.tasks, timeoutMs);
  return r.tasks;
}

function notFinished(tasks: Task[], timeoutMs: number): UserError {
  const left = tasks.filter((t) => t.status !== 'done' && t.status !== 'blocked').map((t) => t.id);
  return new UserError(`The demo did not finish in ${Math.round(timeoutMs / 1000)}s (${left.join(', ')} not finished). See \`isollm worker logs worker-1\` and \`isollm status\` in the demo project.`);
}

/**
 * The user watches the panes; progress lines wait until they are back. With tmux the demo detaches
 * them itself once every task is finished; someone who detaches early sees the rest followed here.
 */
async function watchAttached(client: Client, ids: string[], session: { mux: Multiplexer; name: string }, timeoutMs: number, report: Reporter): Promise<Task[]> {
  const tmux = session.mux.kind === 'tmux';
  report.info(`Attaching to the ${session.mux.kind} session; ${tmux ? 'the demo detaches by itself when every task is finished (or detach with Ctrl-b d).' : 'detach with Ctrl-o d when the tasks are done.'}`);
  const lines: string[] = [];
  const stop = new AbortController();
  let seen: { tasks: Task[]; timedOut: boolean } | null = null;
  const watching = watchTasks(client, { ids, onLine: (l) => lines.push(l), timeoutMs, signal: stop.signal }).then(async (r) => {
    seen = r;
    if (stop.signal.aborted || !tmux) return;
    await new Promise((resolve) => setTimeout(resolve, LINGER_MS));
    // nothrow: no client attached any more is fine.
    await $({ quiet: true, nothrow: true, timeout: TMUX_TIMEOUT })`tmux detach-client -s ${sessionTarget(session.name)}`;
  });
  await session.mux.attach(session.name);
  if (!seen) stop.abort();
  await watching;
  for (const l of lines) report.info(l);
  const r = seen as unknown as { tasks: Task[]; timedOut: boolean };
  if (r.timedOut) throw notFinished(r.tasks, timeoutMs);
  return finished(r.tasks) ? r.tasks : follow(client, ids, timeoutMs, report, r.tasks);
}

/**
 * The demo as the user started it, with `args`: `npm run demo -- ARGS` (npm names the script it
 * runs), else `isollm demo ARGS`.
 */
export function demoCommand(args = '', env: NodeJS.ProcessEnv = process.env): string {
  if (env.npm_lifecycle_event === 'demo') return `npm run demo${args ? ` -- ${args}` : ''}`;
  return `${isollmCommand()} demo${args ? ` ${args}` : ''}`;
}

/** `isollm` when it is on PATH (npm link, npm i -g), else this package's bin by its full path. */
export function isollmCommand(): string {
  return findOnPath('isollm') ? 'isollm' : path.join(PACKAGE_ROOT, 'bin', 'isollm.mjs');
}

export async function cleanDemo(dir: string, report: Reporter): Promise<boolean> {
  if (!fs.existsSync(dir)) return false;
  await removeDemo(dir, stepPrinter(report));
  return true;
}

export const isTerminal = (): boolean => Boolean(process.stdin.isTTY && process.stdout.isTTY && !process.env.CI);
