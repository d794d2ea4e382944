// The land.auto lander as a service, with real processes: the queue daemon, a real hub, `isollm land
// --watch` started by ensureLander (integrate only: no land.test, so no container), and `isollm land
// --follow` (what the lander's multiplexer pane runs) reading its log. One lander at a time; a
// killed one is started again; stopLander stops it.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { DISPATCHER } from '../lib/cli/package-files.ts';
import { ensureLander, landerFiles, landerPid, stopLander } from '../lib/land/service.ts';
import { tailOffset } from '../lib/land/follow.ts';
import { QueueClient } from '../lib/queue/client.ts';
import { workerPush } from './hub-fixtures.ts';
import { freePort, git, gitRepo, runCli, tmpDir } from './helpers.ts';

const WAIT_MS = 60_000;

async function until(what: string, probe: () => boolean | Promise<boolean>, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

/** Every process on this machine running `isollm land --watch --project <root>`. */
function landersOf(root: string): number[] {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).flatMap((d) => {
    try {
      const argv = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      return argv[0] === process.execPath && argv[2] === 'land' && argv[3] === '--watch' && argv.includes(root) && alive(Number(d)) ? [Number(d)] : [];
    } catch {
      return [];
    }
  });
}

describe('the land.auto lander service', () => {
  it('lands by itself, shown live by `land --follow`; never two; restarted after a crash; stopped by stopLander', async () => {
    const root = gitRepo();
    const hub = path.join(tmpDir('isollm-hub-'), 'svc.git');
    const port = await freePort();
    fs.writeFileSync(path.join(root, 'isollm.yaml'), `project: svc\nqueue:\n  port: ${port}\ngit:\n  hub: ${hub}\nland:\n  auto: true\n`);
    const cli = (...args: string[]) => runCli(args, { cwd: root });
    expect(cli('sync', 'push').code).toBe(0);
    expect(cli('queue', 'start').code).toBe(0);
    const stateDir = path.join(root, '.isollm');
    onTestFinished(async () => {
      await stopLander(stateDir);
      cli('queue', 'stop');
    });
    const host = new QueueClient(`http://127.0.0.1:${port}`, 'svc');
    const worker = new QueueClient(`unix:${(await host.addSocket('worker-1')).path}`, 'svc');
    onTestFinished(() => (host.close(), worker.close()));

    const first = ensureLander(root, stateDir, 1);
    expect(first.started).toBe(true);
    expect(ensureLander(root, stateDir, 1)).toEqual({ pid: first.pid, started: false });

    // The pane's view: the log live, and the lander's state.
    const follow = spawn(process.execPath, [DISPATCHER, 'land', '--follow', '--project', root], { env: { ...process.env, NO_COLOR: '1' } });
    let shown = '';
    follow.stdout.on('data', (d) => (shown += d));
    onTestFinished(() => void follow.kill('SIGKILL'));
    await until('the follower to see the lander', () => shown.includes(`lander running (pid ${first.pid})`));

    // A task done: the lander integrates and lands it without any command.
    const id = cli('task', 'add', 'auto one').stdout.trim();
    expect((await worker.claimNext())?.id).toBe(id);
    workerPush(hub, `isollm/${id}`, { 'one.txt': 'one\n' }, 'one', `isollm/${id}`);
    await worker.done(id);
    await until('the task to land', async () => Boolean((await host.getTask(id)).landed_commit));
    expect(git(hub, 'show', 'main:one.txt')).toBe('one');
    await until('the follower to show the landing', () => new RegExp(`landed ${id} \\([0-9a-f]{7}\\)`).test(shown));
    expect(shown).toContain(`${id} integrating onto`);

    // Never two: a lander started by hand refuses while this one runs.
    const second = cli('land', '--watch', '--interval', '1');
    expect(second.code).toBe(1);
    expect(second.stderr.trim()).toBe(`✗ A lander already runs for this project (pid ${first.pid}). \`isollm land --follow\` shows what it does; \`isollm down\` stops it.`);
    // Nor when several start at once: exactly one gets the slot.
    await stopLander(stateDir);
    const racing = await Promise.all([1, 2, 3].map(() => new Promise<number>((resolve) => {
      const child = spawn(process.execPath, [DISPATCHER, 'land', '--watch', '--interval', '1', '--project', root], { stdio: 'ignore', detached: true });
      child.on('exit', (code) => resolve(code ?? -1));
      setTimeout(() => resolve(0), 8_000).unref(); // still running
    })));
    expect(racing.filter((c) => c === 1)).toHaveLength(2);
    expect(landersOf(root)).toHaveLength(1);
    expect(landerPid(stateDir)).toBe(landersOf(root)[0]);
    await stopLander(stateDir);
    expect(landersOf(root)).toEqual([]);

    // A crashed lander: the follower says so; ensureLander (what `up` runs) starts a new one.
    const again = ensureLander(root, stateDir, 1);
    expect(again.started).toBe(true);
    await until('the follower to see the new lander', () => shown.includes(`lander running (pid ${again.pid})`));
    process.kill(again.pid, 'SIGKILL');
    await until('the follower to see it gone', () => shown.lastIndexOf('lander not running') > shown.lastIndexOf(`lander running (pid ${again.pid})`));
    const restarted = ensureLander(root, stateDir, 1);
    expect(restarted).toMatchObject({ started: true });
    expect(restarted.pid).not.toBe(again.pid);
    expect(landersOf(root)).toEqual([restarted.pid]);

    expect(await stopLander(stateDir)).toBe(true);
    expect(fs.existsSync(landerFiles(stateDir).pid)).toBe(false);
    expect(landersOf(root)).toEqual([]);
    expect(await stopLander(stateDir)).toBe(false);
  }, 120_000);

  it('the follower starts with the last lines of the log', () => {
    const file = path.join(tmpDir(), 'log');
    fs.writeFileSync(file, 'a\nb\nc\nd\n');
    expect(fs.readFileSync(file, 'utf8').slice(tailOffset(file, 2))).toBe('c\nd\n');
    expect(tailOffset(file, 10)).toBe(0);
    expect(tailOffset(path.join(tmpDir(), 'none'), 5)).toBe(0);
  });
});
