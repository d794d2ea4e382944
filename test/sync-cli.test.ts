import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { commitFiles, workerPush } from './hub-fixtures.ts';
import { git, gitRepo, runCli, tmpDir } from './helpers.ts';

/** A project with isollm.yaml and a HOME of its own, so the default hub lands in a temp dir. */
function project(yaml = 'project: demo\n') {
  const root = gitRepo();
  fs.writeFileSync(path.join(root, 'isollm.yaml'), yaml);
  const home = tmpDir('isollm-home-');
  const hub = path.join(home, '.isollm', 'demo.git');
  const cli = (...args: string[]) => runCli([...args], { cwd: root, env: { HOME: home } });
  return { root, hub, cli };
}

describe('isollm sync (CLI)', () => {
  it('shows help for the group and rejects unknown flags', () => {
    const { cli } = project();
    const help = cli('sync', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^  status /m);
    expect(help.stdout).toMatch(/^  pull .*fast-forward the base branch/m);
    expect(help.stdout).toMatch(/^  push /m);
    const bad = cli('sync', 'push', '--frobnicate');
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('✗ unknown flag --frobnicate for `isollm sync push` (see `isollm sync push --help`)');
  });

  it('push creates the default hub under HOME; status and pull report task branches', () => {
    const { root, hub, cli } = project();
    const missing = cli('sync', 'status');
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe(`✗ No hub at ${hub} yet. Run \`isollm sync push\` (or \`isollm up\`) to create it.`);

    const push = cli('sync', 'push');
    expect(push.code).toBe(0);
    expect(push.stderr).toContain(`Created the hub at ${hub}.`);
    expect(push.stderr).toMatch(/main: sent to the hub/);
    expect(git(hub, 'rev-parse', 'main')).toBe(git(root, 'rev-parse', 'main'));

    workerPush(hub, 'isollm/ar-1', { 'a.txt': 'a\n' }, 'task one');
    const status = cli('sync', 'status', '--json');
    expect(status.code).toBe(0);
    const model = JSON.parse(status.stdout);
    expect(model.tasks).toHaveLength(1);
    expect(model.tasks[0]).toMatchObject({ id: 'ar-1', merge_name: 'isollm/ar-1', queue_word: 'unknown', merge: { clean: true } });

    const text = cli('sync', 'status');
    expect(text.stdout).toMatch(/isollm\/ar-1 \*\s+\+1\s+\d+s ago\s+unknown\s+✓ merges cleanly\s+task one/);

    const pull = cli('sync', 'pull');
    expect(pull.code).toBe(0);
    expect(pull.stdout.trim()).toBe('new: isollm/ar-1');
    git(root, 'merge', '-q', '--no-edit', 'isollm/ar-1');
    expect(fs.readFileSync(path.join(root, 'a.txt'), 'utf8')).toBe('a\n');
  });

  it('push refuses a non-fast-forward with one line naming --force, and --force overwrites', () => {
    const { root, hub, cli } = project();
    expect(cli('sync', 'push').code).toBe(0);
    workerPush(hub, 'main', { 'w.txt': 'w\n' }, 'someone else');
    commitFiles(root, { 'h.txt': 'h\n' }, 'mine');
    const refused = cli('sync', 'push');
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toContain('`isollm sync push --force`');
    const forced = cli('sync', 'push', '--force');
    expect(forced.code).toBe(0);
    expect(forced.stderr).toMatch(/main: overwritten in the hub \(forced\)/);
    expect(git(hub, 'rev-parse', 'main')).toBe(git(root, 'rev-parse', 'main'));
  });

  it('honours git.hub and git.branch_prefix from isollm.yaml', () => {
    const hub = path.join(tmpDir(), 'elsewhere.git');
    const { root, cli } = project(`project: demo\ngit:\n  hub: ${hub}\n  branch_prefix: task/\n`);
    expect(cli('sync', 'push').code).toBe(0);
    expect(fs.existsSync(hub)).toBe(true);
    workerPush(hub, 'task/42', { 'x.txt': 'x\n' }, 'forty-two');
    const pull = cli('sync', 'pull');
    expect(pull.stdout.trim()).toBe('new: isollm/42');
    git(hub, 'branch', '-D', 'task/42');
    expect(cli('sync', 'pull').stdout.trim()).toBe('gone: isollm/42');
    expect(git(root, 'for-each-ref', 'refs/remotes/')).toBe('');
  });
});

describe('isollm sync status with the queue', () => {
  it("shows the queue's word on each task branch", async () => {
    const { freePort } = await import('./helpers.ts');
    const port = await freePort();
    const { hub, cli } = project(`project: demo\nqueue:\n  port: ${port}\n`);
    expect(cli('queue', 'start').code).toBe(0);
    onTestFinished(() => void cli('queue', 'stop'));
    const add = (title: string) => cli('task', 'add', title, '--json').stdout;
    const ids = ['done one', 'blocked one', 'open one'].map((t) => JSON.parse(add(t)).id as string);
    expect(cli('task', 'done', ids[0]).code).toBe(0);
    expect(cli('task', 'block', ids[1], '--reason', 'needs a human').code).toBe(0);
    expect(cli('sync', 'push').code).toBe(0);
    for (const id of [...ids, 'ar-ffff']) workerPush(hub, `isollm/${id}`, { [`${id}.txt`]: 'x\n' }, `work on ${id}`);
    const status = JSON.parse(cli('sync', 'status', '--json').stdout);
    const word = (id: string) => status.tasks.find((t: { id: string }) => t.id === id)?.queue;
    expect(word(ids[0])).toMatchObject({ status: 'done' });
    expect(word(ids[1])).toMatchObject({ status: 'blocked', block_reason: 'needs a human' });
    expect(word(ids[2])).toMatchObject({ status: 'open' });
    expect(word('ar-ffff')).toBeNull();
    const text = cli('sync', 'status').stdout;
    expect(text).toContain('blocked: needs a human');
    expect(text).toContain('unknown');
  }, 90_000); // a dozen CLI runs: slow on a loaded 2-core host
});
