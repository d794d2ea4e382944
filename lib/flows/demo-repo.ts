// The demo's throwaway project: a tiny git repository with an isollm.yaml for the scripted demo
// agent, a backlog of small tasks, and its removal (containers, hub, directory).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import YAML from 'yaml';
import { $ } from 'zx/core';
import { resolveConfig, loadConfig, DEFAULT_PORT, type Config } from '../config/load.ts';
import { down, type StepReport } from './down.ts';
import { UserError } from '../cli/errors.ts';
import { HUB_PROJECT_KEY } from '../hub/hub.ts';
import { ignoreStateDir } from './init.ts';
import { CONFIG_FILE, STATE_DIR, writeFileAtomic } from '../project/root.ts';
import { ensureQueue, queueClient, stopQueue } from '../queue/daemon.ts';
import type { Task } from '../queue/types.ts';
import type { RuntimeName } from '../runtime/detect.ts';

export const DEMO_NAME = 'isollm-demo';
/** A local alias: the image server is often unreachable, and `lxc init images:…` would ask it. */
export const DEMO_IMAGE = 'isollm-demo';
/** First line of the demo's isollm.yaml: how --clean knows a directory is a demo it may delete. */
export const DEMO_MARKER = '# isollm demo project, made by `npm run demo`; `npm run demo -- --clean` removes it.';
const GIT_TIMEOUT = '30s';
/** The demo agent commits as this identity; the sample repository is made with it too. */
const IDENTITY = ['-c', 'user.name=isollm demo', '-c', 'user.email=demo@isollm.invalid'];

/** $XDG_CACHE_HOME/isollm/demo, else ~/.cache/isollm/demo. */
export function defaultDemoDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'isollm', 'demo');
}

export type DemoTask = { key: string; title: string; description: string; priority?: number; after?: string };

/** Five small tasks: one high priority, one waiting on another. */
export const DEMO_BACKLOG: DemoTask[] = [
  { key: 'french', title: 'Greet in French too', description: 'Add a French greeting to greet.sh (bonjour).', priority: 1 },
  { key: 'docs', title: 'Document the greetings in the README', description: 'List every greeting greet.sh knows.', after: 'french' },
  { key: 'test', title: 'Add a test for greet.sh', description: 'A shell test that checks the English greeting.' },
  { key: 'contrib', title: 'Write CONTRIBUTING.md', description: 'How to propose a new greeting.' },
  { key: 'notes', title: 'Draft release notes for 0.1', description: 'One paragraph, plain words.', priority: 3 },
];

export const SAMPLE_FILES: Record<string, string> = {
  'README.md': '# hello\n\nA tiny sample project for the isollm demo: `./greet.sh NAME` says hello.\n',
  'greet.sh': '#!/bin/sh\n# Say hello to someone.\nprintf "Hello, %s!\\n" "${1:-world}"\n',
  'notes/.gitkeep': '',
};

export type DemoConfigOptions = { name: string; image: string; runtime: RuntimeName; workers: number; port: number; delay: number };

/** isollm.yaml for the demo: the scripted agent in loop mode, quick polling, loops that end. */
export function demoConfigYaml(o: DemoConfigOptions): string {
  const config = {
    project: o.name,
    workers: o.workers,
    image: o.image,
    git: { base_branch: 'main' },
    agent: {
      preset: 'custom',
      command: 'isollm-demo-agent',
      args: ['--delay', String(o.delay)],
      mode: 'loop',
      // Stop a worker's loop once nothing has been ready for a while, so the demo ends by itself.
      loop: { poll_interval: 2, give_up_after: 45 },
    },
    queue: { port: o.port },
    runtime: { kind: o.runtime },
  };
  return `${DEMO_MARKER}\n${YAML.stringify(config)}`;
}

/** True when `dir` holds a project this demo made (and so may delete). */
export function isDemoDir(dir: string): boolean {
  try {
    return fs.readFileSync(path.join(dir, CONFIG_FILE), 'utf8').startsWith(DEMO_MARKER);
  } catch {
    return false;
  }
}

/** Make the sample repository with its config, one commit on main. `dir` must be absent or empty. */
export async function createSampleRepo(dir: string, options: DemoConfigOptions): Promise<string> {
  if (fs.existsSync(dir) && fs.readdirSync(dir).length) throw new UserError(`${dir} exists and is not an isollm demo. Pass --dir with a new directory.`);
  fs.mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(SAMPLE_FILES)) writeFileAtomic(path.join(dir, file), text, file.endsWith('.sh') ? 0o755 : 0o644);
  const yaml = demoConfigYaml(options);
  resolveConfig(yaml, dir); // the demo's own config must be valid
  writeFileAtomic(path.join(dir, CONFIG_FILE), yaml);
  fs.mkdirSync(path.join(dir, STATE_DIR), { recursive: true });
  ignoreStateDir(dir);
  const git = $({ cwd: dir, quiet: true, timeout: GIT_TIMEOUT });
  await git`git init -q -b main`;
  await git`git add -A`;
  await git`git ${IDENTITY} commit -q -m ${'A tiny project for the isollm demo'}`;
  return dir;
}

/** Start the queue and add the backlog; dependencies by the tasks' new ids. Returns the tasks in backlog order. */
export async function addBacklog(root: string, config: Config, backlog: DemoTask[] = DEMO_BACKLOG): Promise<Task[]> {
  await ensureQueue(root, config);
  const client = queueClient(root, config);
  try {
    const made = new Map<string, Task>();
    for (const t of backlog) {
      const task = await client.createTask({ title: t.title, description: t.description, priority: t.priority });
      if (t.after) await client.addDep(task.id, made.get(t.after)!.id);
      made.set(t.key, task);
    }
    return [...made.values()];
  } finally {
    client.close();
  }
}

/** The default queue port when it is free, else any free one (another project's queue may hold it). */
export async function pickPort(): Promise<number> {
  const net = await import('node:net');
  const tryListen = (port: number) =>
    new Promise<number | null>((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(null));
      server.listen(port, '127.0.0.1', () => {
        const got = (server.address() as import('node:net').AddressInfo).port;
        server.close(() => resolve(got));
      });
    });
  return (await tryListen(DEFAULT_PORT)) ?? (await tryListen(0))!;
}

/**
 * Remove a demo: its workers (destroyed; unsaved work dropped, it is a demo), its queue, its hub
 * (only when the hub records this directory) and the directory. Safe to repeat.
 */
export async function removeDemo(dir: string, report: (step: StepReport) => void): Promise<void> {
  if (!fs.existsSync(dir)) return;
  if (!isDemoDir(dir)) throw new UserError(`${dir} is not an isollm demo (its ${CONFIG_FILE} was not made by the demo); not removing it.`);
  const config = loadConfig(dir);
  const result = await down(
    dir,
    config,
    { save: false, destroy: true },
    { decide: async () => 'discard', confirmDestroy: async () => true, report },
  );
  const failed = result.steps.filter((s) => !s.ok);
  if (failed.length) throw new UserError(`Could not take the demo down (${failed.map((s) => s.step).join(', ')}); see above. Run the demo with --clean again.`);
  await stopQueue(dir, config).catch(() => undefined);
  const hub = config.git.hub;
  if (fs.existsSync(hub)) {
    // Only the hub this demo made: a same-named hub of another project stays.
    const owner = await $({ quiet: true, nothrow: true, timeout: GIT_TIMEOUT })`git -C ${hub} config --get ${HUB_PROJECT_KEY}`;
    if (owner.exitCode === 0 && samePath(owner.stdout.trim(), dir)) {
      fs.rmSync(hub, { recursive: true, force: true });
      report({ step: 'Hub removed', ok: true, detail: hub });
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  report({ step: 'Sample repository removed', ok: true, detail: dir });
}

function samePath(a: string, b: string): boolean {
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  return real(a) === real(b);
}
