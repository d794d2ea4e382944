// templates/isollm-loop (dash, with the real isollm-task and isollm-agent) against the real queue
// server on the host: a host stand-in for a worker, its clone of a bare hub, and a loop to start.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { onTestFinished } from 'vitest';
import { startServer, type ServerOptions } from '../lib/queue/server.ts';
import { freePort, git, ROOT, tmpDir } from './helpers.ts';
import { projectApi } from './queue-helpers.ts';

const TEMPLATES = path.join(ROOT, 'templates');
export const PROJECT = 'loopy';

/**
 * A host stand-in for a worker: its clone of the hub, its home with the agent's argv, a queue. With
 * `disk`, the clone and the home are on their own small disk: the loop runs in a mount namespace
 * where a tmpfs of that size holds them (a full one fails writes with ENOSPC, as a full root disk does).
 */
export async function worker(agentScript: string, options: { disk?: string } & Pick<ServerOptions, 'prepareStart'> = {}) {
  const dir = tmpDir('isollm-loop-');
  const hub = path.join(dir, 'hub.git');
  const seed = path.join(dir, 'seed');
  const disk = path.join(dir, 'disk');
  const clone = path.join(disk, 'project');
  const home = path.join(disk, 'home');
  fs.mkdirSync(path.join(home, '.isollm'), { recursive: true });
  fs.mkdirSync(seed);
  git(seed, 'init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(seed, 'README.md'), '# loop\n');
  git(seed, 'add', '.');
  git(seed, 'commit', '-qm', 'base');
  git(dir, 'clone', '-q', '--bare', seed, hub);
  git(dir, 'clone', '-q', hub, clone);
  const agent = path.join(dir, 'agent.sh');
  fs.writeFileSync(agent, agentScript, { mode: 0o755 });
  fs.writeFileSync(path.join(home, '.isollm', 'headless.argv'), `${agent}\n`);
  const port = await freePort();
  const db = path.join(dir, 'queue.db');
  let server = await startServer({ dbFile: db, port, socketsDir: path.join(dir, 'sockets'), prepareStart: options.prepareStart });
  onTestFinished(() => server.close());
  const env = {
    PATH: `${TEMPLATES}:${process.env.PATH}`,
    HOME: home,
    MARK: dir,
    GIT_AUTHOR_NAME: 'w', GIT_AUTHOR_EMAIL: 'w@localhost', GIT_COMMITTER_NAME: 'w', GIT_COMMITTER_EMAIL: 'w@localhost',
    ISOLLM_PROJECT: PROJECT,
    ISOLLM_AGENT: 'worker-1',
    ISOLLM_QUEUE_URL: `http://127.0.0.1:${port}`,
    ISOLLM_PROJECT_DIR: clone,
    ISOLLM_POLL_INTERVAL: '1',
    ISOLLM_RETRY_MAX: '1',
  };
  const loops: ChildProcess[] = [];
  onTestFinished(() => {
    for (const l of loops) if (l.pid) try { process.kill(-l.pid, 'SIGKILL'); } catch { /* gone */ }
  });
  return {
    dir, hub, clone,
    queueUrl: env.ISOLLM_QUEUE_URL,
    api: () => projectApi(server, PROJECT),
    /** The loop as `isollm-agent background` starts it: leading its own process group. */
    startLoop(extra: Record<string, string> = {}): { pid: number; exited: Promise<number>; log: () => string } {
      const loopArgv = ['dash', path.join(TEMPLATES, 'isollm-loop')];
      // The disk: a tmpfs over `disk`, filled with what was made there (copied aside first).
      if (options.disk) fs.cpSync(disk, `${disk}.seed`, { recursive: true });
      const script = 'mount -t tmpfs -o "size=$1" tmpfs "$2" && cp -a "$2.seed/." "$2/" && shift 2 && exec "$@"';
      const argv = options.disk ? ['unshare', '--mount', '--map-root-user', 'sh', '-c', script, 'sh', options.disk, disk, ...loopArgv] : loopArgv;
      const child = spawn(argv[0], argv.slice(1), { env: { ...env, ...extra }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stderr!.on('data', (d) => (out += d));
      loops.push(child);
      // On exit, not close: an orphaned agent may hold the pipes open. Its output has a moment to arrive.
      const closed = new Promise((resolve) => child.on('close', resolve));
      const exited = new Promise<number>((resolve) => child.on('exit', (code) => void Promise.race([closed, sleep(300)]).then(() => resolve(code ?? -1))));
      return { pid: child.pid!, exited, log: () => out };
    },
    async stopQueue() { await server.close(); },
    async startQueue() { server = await startServer({ dbFile: db, port, socketsDir: path.join(dir, 'sockets'), prepareStart: options.prepareStart }); },
  };
}

export async function until(what: string, probe: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

