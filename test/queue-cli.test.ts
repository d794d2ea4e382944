// `isollm queue …` and `isollm task …` as child processes against a real daemon in a temp project.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { freePort, runCli, tmpDir } from './helpers.ts';

async function project(extra = ''): Promise<{ dir: string; port: number; cli: (...args: string[]) => ReturnType<typeof runCli> }> {
  const dir = tmpDir('isollm-cli-');
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'isollm.yaml'), `project: clitest\nqueue:\n  port: ${port}\n${extra}`);
  const cli = (...args: string[]) => runCli(args, { cwd: dir });
  onTestFinished(() => void cli('queue', 'stop'));
  return { dir, port, cli };
}

describe('isollm queue', () => {
  it('starts once, reports status, detects a stale pid and stops cleanly', async () => {
    const { dir, port, cli } = await project();
    const down = cli('task', 'list');
    expect(down.code).toBe(1);
    expect(down.stderr.trim().split('\n')).toEqual(['✗ The queue is not running. Start it with `isollm queue start` (or `isollm up`).']);
    expect(cli('queue', 'status').code).toBe(1);

    const start = cli('queue', 'start');
    expect(start.stderr).toContain(`Queue running at http://127.0.0.1:${port}`);
    expect(start.code).toBe(0);
    const pid = Number(fs.readFileSync(path.join(dir, '.isollm/queue.pid'), 'utf8'));
    const twice = cli('queue', 'start');
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('already running');
    const status = cli('queue', 'status', '--json');
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ mode: 'embedded', running: true, healthy: true, pid, project: 'clitest' });

    const stop = cli('queue', 'stop');
    expect(stop.code).toBe(0);
    expect(stop.stderr).toContain(`Queue stopped (pid ${pid})`);
    expect(fs.existsSync(path.join(dir, '.isollm/queue.pid'))).toBe(false);
    expect(cli('queue', 'logs').stdout).toMatch(/SIGTERM: closing\n.*closed\n$/);
    expect(cli('queue', 'stop').stderr).toContain('not running');

    // A pid file left by a crash: noticed, removed, and start goes ahead.
    fs.writeFileSync(path.join(dir, '.isollm/queue.pid'), '999999\n');
    const again = cli('queue', 'start');
    expect(again.stderr).toContain('stale pid file');
    expect(again.code).toBe(0);
  });

  it('reports the log tail when the server dies at start (port taken)', async () => {
    const { port, cli } = await project();
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    onTestFinished(() => void blocker.close());
    const r = cli('queue', 'start');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Port ${port} is in use`);
    expect(r.stderr).toContain('EADDRINUSE');
  });

  it('leaves an external queue alone', async () => {
    const { cli } = await project('  url: http://127.0.0.1:9\n');
    const r = cli('queue', 'start');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('external queue');
    const t = cli('task', 'list');
    expect(t.code).toBe(1);
    expect(t.stderr).toContain('is not reachable');
  });
});

describe('isollm task', () => {
  it('adds, lists, shows, edits and moves tasks through their states', async () => {
    const { cli } = await project();
    expect(cli('queue', 'start').code).toBe(0);
    const a = cli('task', 'add', 'Write the parser', '-p', 'high', '-D', 'Parse it all');
    expect(a.code).toBe(0);
    const idA = a.stdout.trim();
    expect(idA).toMatch(/^ar-[0-9a-f]{4}$/);
    const idB = cli('task', 'add', 'Use the parser', '-d', idA).stdout.trim();
    expect(cli('task', 'add', 'bad', '-p', 'urgent').code).toBe(2);
    const missingDep = cli('task', 'add', 'x', '-d', 'ar-0000');
    expect(missingDep.code).toBe(1);
    expect(missingDep.stderr).toContain('Task ar-0000 not found');

    const ready = JSON.parse(cli('task', 'list', '--ready', '--json').stdout);
    expect(ready.map((t: { id: string }) => t.id)).toEqual([idA]);
    const list = cli('task', 'list').stdout.split('\n');
    expect(list[0]).toMatch(/^ID\s+PRIORITY\s+STATUS\s+WORKER\s+AGE\s+TITLE$/);
    expect(list[1]).toMatch(new RegExp(`^${idA}\\s+high\\s+open\\s+\\d+s\\s+Write the parser$`));

    expect(cli('task', 'edit', idB, '--title', 'Use it', '-p', 'low').code).toBe(0);
    expect(cli('task', 'edit', idB).code).toBe(2);
    const cycle = cli('task', 'dep', 'add', idA, idB);
    expect(cycle.code).toBe(1);
    expect(cycle.stderr).toContain(`${idA} → ${idB} → ${idA}`);

    expect(cli('task', 'done', idA).code).toBe(0);
    expect(cli('task', 'block', idB, '--reason', 'waiting for review').code).toBe(0);
    const show = cli('task', 'show', idB);
    expect(show.stdout).toContain('waiting for review');
    expect(show.stdout).toMatch(new RegExp(`Waits on\\n  ${idA}  done  Write the parser`));
    const shownA = JSON.parse(cli('task', 'show', idA, '--json').stdout);
    expect(shownA.dependents).toMatchObject([{ child_id: idB, task: { title: 'Use it' } }]);
    expect(shownA.history.map((e: { action: string }) => e.action)).toEqual(['done', 'claim', 'create']);
    expect(cli('task', 'unblock', idB).code).toBe(0);
    expect(cli('task', 'dep', 'rm', idB, idA).code).toBe(0);
    expect(cli('task', 'dep', 'rm', idB, idA).code).toBe(1);

    const inProgress = JSON.parse(cli('task', 'list', '--json').stdout).find((t: { id: string }) => t.id === idB);
    expect(inProgress.status).toBe('open');
    expect(cli('task', 'release', idB).stderr).toContain('Cannot transition from open to open');

    expect(cli('task', 'clear').stderr).toContain('Deleted 1 done task');
    const refused = cli('task', 'clear', '--all');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--yes');
    expect(cli('task', 'clear', '--all', '--yes').code).toBe(0);
    expect(JSON.parse(cli('task', 'list', '--json').stdout)).toEqual([]);
    // Some forty CLI runs one after the other: give a loaded machine (parallel e2e suites) room.
  }, 120_000);
});
