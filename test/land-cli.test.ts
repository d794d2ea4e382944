// `isollm land` and the landing bits of `isollm task`, as a user runs them: the CLI as a child
// process, the queue daemon started with `queue start` (so claims make branches through its real
// entry point), a real hub.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { QueueClient } from '../lib/queue/client.ts';
import { workerPush } from './hub-fixtures.ts';
import { cliProject, git } from './helpers.ts';

/** A dozen CLI runs of ~1 s each; far more on a machine busy with other test runs. */
const CLI_TIMEOUT_MS = 180_000;

async function project() {
  const { root, hub, port, cli } = await cliProject();
  expect(cli('sync', 'push').code).toBe(0);
  const started = cli('queue', 'start');
  expect(started.code, started.stderr).toBe(0);
  const host = new QueueClient(`http://127.0.0.1:${port}`, 'demo');
  const worker = new QueueClient(`unix:${(await host.addSocket('worker-1')).path}`, 'demo');
  onTestFinished(() => (host.close(), worker.close()));
  return { root, hub, cli, host, worker };
}

describe('isollm land (CLI)', () => {
  it('B starts from A; task show says so; land --dry-run, land, task list --landed/--unlanded', async () => {
    const { root, hub, cli, worker } = await project();
    const a = cli('task', 'add', 'A').stdout.trim();
    const b = cli('task', 'add', 'B', '-d', a).stdout.trim();
    expect((await worker.claimNext())?.id).toBe(a);
    workerPush(hub, `isollm/${a}`, { 'a.txt': 'A\n' }, 'A', `isollm/${a}`);
    await worker.done(a);
    expect((await worker.claimNext())?.id).toBe(b);
    const show = cli('task', 'show', b);
    expect(show.stdout).toMatch(new RegExp(`based on\\s+main@[0-9a-f]{7} \\+ isollm/${a}@[0-9a-f]{7}`));
    expect(git(hub, 'show', `isollm/${b}:a.txt`)).toBe('A');

    expect(cli('task', 'list', '--unlanded').stdout).toContain(a);
    expect(JSON.parse(cli('status', '--json').stdout).land).toEqual({ unlanded: 1, landed_24h: 0, handed_back: 0, landing_now: false, now: null });
    const dry = cli('land', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`Would land onto main@[0-9a-f]{7}, in this order:\\n  1\\. ${a}  A`));
    expect(git(hub, 'show', 'main:README.md')).toBe('# test');
    expect(() => git(hub, 'show', 'main:a.txt')).toThrow();

    const r = cli('land', '--json');
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.landed.map((l: { id: string }) => l.id)).toEqual([a]);
    expect(report.test_runs).toBe(0); // no land.test: integrate only
    expect(r.stderr).toContain(`landed ${a}`);
    expect(git(hub, 'show', 'main:a.txt')).toBe('A');
    expect(JSON.parse(cli('task', 'list', '--landed', '--json').stdout).map((t: { id: string }) => t.id)).toEqual([a]);
    expect(cli('task', 'show', a).stdout).toMatch(/landed\s+[0-9a-f]{12} at /);
    expect(cli('land').stdout).toBe('Nothing to land.\n');
    expect(JSON.parse(cli('status', '--json').stdout).land).toEqual({ unlanded: 0, landed_24h: 1, handed_back: 0, landing_now: false, now: null });
    expect(cli('status').stdout).toMatch(/^Tasks .* · land: 0 to go, 1 landed in 24 h, 0 handed back$/m);
    // sync pull brings the landed work into the user's clean, checked-out base.
    const pull = cli('sync', 'pull');
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stderr).toMatch(/✓ main: fast-forwarded [0-9a-f]{7} → [0-9a-f]{7} \(\d+ commits? from the hub\)\./);
    expect(fs.readFileSync(path.join(root, 'a.txt'), 'utf8')).toBe('A\n');
  }, CLI_TIMEOUT_MS);

  it('bad input: one line and the right exit code', async () => {
    const { cli } = await project();
    const unknown = cli('land', 'ar-ffff');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toBe('✗ No task ar-ffff in the queue. See `isollm task list --unlanded`.');
    const id = cli('task', 'add', 'open one').stdout.trim();
    expect(cli('land', id).stderr).toContain(`Task ${id} is open, not done: only done tasks land.`);
    const batch = cli('land', '--batch', '0');
    expect(batch.code).toBe(2);
    expect(batch.stderr).toContain('--batch must be a whole number from 1 to 64');
  }, CLI_TIMEOUT_MS);
});
