// The demo's pieces that need no containers: the sample project and its config, the backlog in a real
// queue, the progress lines, and the script's refusals.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config/load.ts';
import { addBacklog, createSampleRepo, DEMO_BACKLOG, DEMO_MARKER, isDemoDir, removeDemo } from '../lib/flows/demo-repo.ts';
import { finished, transitions } from '../lib/flows/demo-watch.ts';
import { stopQueue } from '../lib/queue/daemon.ts';
import type { Task } from '../lib/queue/types.ts';
import { freePort, git, ROOT, runNode, tmpDir } from './helpers.ts';

const task = (id: string, status: Task['status'], extra: Partial<Task> = {}): Task => ({ id, title: `title ${id}`, status, priority: 2, created_at: '', updated_at: '', ...extra });

describe('demo progress lines', () => {
  it('says nothing about open tasks at first, then one line per change', () => {
    expect(transitions(new Map(), [task('a', 'open')])).toEqual([]);
    const before = new Map([['a', task('a', 'open')], ['b', task('b', 'in_progress', { claimed_by: 'worker-2' })]]);
    expect(
      transitions(before, [
        task('a', 'in_progress', { claimed_by: 'worker-1' }),
        task('b', 'done', { claimed_by: 'worker-2' }),
      ]),
    ).toEqual(['✓ b done (worker-2): title b', '● a claimed by worker-1: title a']); // finished first, as it happened
    expect(transitions(before, [task('a', 'open'), task('b', 'in_progress', { claimed_by: 'worker-2' })])).toEqual([]);
    expect(transitions(before, [task('b', 'blocked', { block_reason: 'the agent exited with status 3' })])).toEqual(['✗ b blocked: the agent exited with status 3']);
    expect(transitions(before, [task('b', 'open')])).toEqual(['○ b back in the queue: title b']);
  });

  it('is finished when every task is done or blocked', () => {
    expect(finished([])).toBe(false);
    expect(finished([task('a', 'done'), task('b', 'blocked')])).toBe(true);
    expect(finished([task('a', 'done'), task('b', 'open')])).toBe(false);
  });
});

describe('demo sample project', () => {
  it('is one clean commit with a valid config for the demo agent, and a backlog with a dependency and priorities', async () => {
    const dir = path.join(tmpDir(), 'sample');
    const port = await freePort();
    await createSampleRepo(dir, { name: 'demo-unit', image: 'isollm-demo', runtime: 'lxd', workers: 2, port, delay: 0 });
    expect(isDemoDir(dir)).toBe(true);
    expect(git(dir, 'status', '--porcelain')).toBe('');
    expect(git(dir, 'ls-files').split('\n').sort()).toEqual(['.gitignore', 'README.md', 'greet.sh', 'isollm.yaml', 'notes/.gitkeep']);
    const config = loadConfig(dir);
    expect(config.agent).toMatchObject({ preset: 'custom', command: 'isollm-demo-agent', args: ['--delay', '0'], mode: 'loop' });
    expect(config.agent.loop.give_up_after).toBeGreaterThan(0);
    expect(config.queue.port).toBe(port);

    try {
      const config = loadConfig(dir);
      const tasks = await addBacklog(dir, config);
      expect(tasks.map((t) => t.title)).toEqual(DEMO_BACKLOG.map((t) => t.title));
      const list = runNode([path.join(ROOT, 'scripts', 'isollm.mts'), 'task', 'list', '--ready', '--json'], { cwd: dir });
      const ready = (JSON.parse(list.stdout) as Task[]).map((t) => t.id);
      expect(ready).toHaveLength(4);
      expect(ready).not.toContain(tasks[1].id); // waits on the French greeting
      expect(tasks[0].priority).toBe(1);
    } finally {
      await stopQueue(dir, config);
    }
  });

  it('refuses to overwrite or remove a directory it did not make', async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'isollm.yaml'), 'project: mine\n');
    expect(isDemoDir(dir)).toBe(false);
    await expect(createSampleRepo(dir, { name: 'x', image: 'i', runtime: 'lxd', workers: 1, port: 1, delay: 0 })).rejects.toThrow('exists and is not an isollm demo');
    await expect(removeDemo(dir, () => {})).rejects.toThrow('is not an isollm demo');
    expect(fs.existsSync(path.join(dir, 'isollm.yaml'))).toBe(true);
    expect(DEMO_MARKER.startsWith('#')).toBe(true);
  });
});

describe('demo script', () => {
  it('--clean on a directory without a demo has nothing to do', () => {
    const dir = path.join(tmpDir(), 'none');
    const r = runNode([path.join(ROOT, 'scripts', 'demo.mts'), '--clean', '--dir', dir]);
    expect(r.stderr.trim()).toBe(`No demo in ${dir}: nothing to clean.`);
    expect(r.code).toBe(0);
  });

  it('rejects a bad flag value as a usage error', () => {
    const r = runNode([path.join(ROOT, 'scripts', 'demo.mts'), '--runtime', 'docker']);
    expect(r.stderr.trim()).toBe('✗ --runtime must be one of lxd, incus (got "docker")');
    expect(r.code).toBe(2);
  });
});
