// Salvage against real git: a bare hub and a clone playing the worker, driven through a host runner
// with the same contract as the container exec layer.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectWork, salvageWork, type GitRunner } from '../lib/worker/salvage-git.ts';
import { git, gitRepo, tmpDir } from './helpers.ts';

const NOW = new Date('2025-01-02T03:04:05Z');
const STAMP = '20250102-030405';
const OPTS = { baseBranch: 'main', branchPrefix: 'isollm/', worker: 'worker-1', now: NOW };

type Call = string[];

/** Runs `git <args>` in `cwd` like the container exec layer does; records every argv. */
function hostRunner(cwd: string, baseEnv: NodeJS.ProcessEnv = process.env): GitRunner & { calls: Call[] } {
  const calls: Call[] = [];
  const runner = (args: string[], options: { env?: Record<string, string>; input?: string } = {}) =>
    new Promise<{ stdout: string; stderr: string; exitCode: number }>((resolve, reject) => {
      calls.push(args);
      const child = spawn('git', args, { cwd, env: { ...baseEnv, ...options.env } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ stdout, stderr, exitCode: code ?? -1 }));
      // git may exit without reading stdin: a closed pipe is not a failure.
      child.stdin.on('error', () => {});
      child.stdin.end(options.input ?? '');
    });
  return Object.assign(runner, { calls });
}

/** A hub (bare, with `base` holding one commit) and a worker clone of it. */
function setup(base = 'main') {
  const src = gitRepo({ branch: base });
  const hub = path.join(tmpDir('isollm-hub-'), 'hub.git');
  git(path.dirname(hub), 'clone', '-q', '--bare', src, hub);
  const work = tmpDir('isollm-worker-');
  git(work, 'clone', '-q', hub, '.');
  return { hub, work, run: hostRunner(work), baseTip: git(hub, 'rev-parse', base) };
}

function write(dir: string, file: string, text = `${file}\n`): void {
  fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
  fs.writeFileSync(path.join(dir, file), text);
}

function commit(dir: string, file: string): string {
  write(dir, file);
  git(dir, 'add', '--', file);
  git(dir, 'commit', '-qm', `add ${file}`);
  return git(dir, 'rev-parse', 'HEAD');
}

function hubBranches(hub: string): Record<string, string> {
  const out = git(hub, 'for-each-ref', '--format=%(refname:strip=2) %(objectname)', 'refs/heads/');
  return Object.fromEntries(out.split('\n').filter(Boolean).map((l) => l.split(' ')));
}

function porcelain(dir: string): string {
  return git(dir, 'status', '--porcelain', '--untracked-files=all');
}

function filesAt(repo: string, rev: string): string[] {
  return git(repo, 'ls-tree', '-r', '-z', '--name-only', rev).split('\0').filter(Boolean).sort();
}

describe('inspectWork', () => {
  it('reports a fresh clone as clean, with nothing to push', async () => {
    const { work, run, hub } = setup();
    const r = await inspectWork(run, OPTS);
    expect(r).toMatchObject({ branch: 'main', taskId: null, clean: true, unpushed: [], detachedCommits: 0, stashes: [], fetchError: null });
    expect(r.tracked.count + r.untracked.count).toBe(0);
    expect(r.head).toBe(git(work, 'rev-parse', 'HEAD'));
    const before = hubBranches(hub);
    expect(await salvageWork(run, r, OPTS)).toEqual({ worker: 'worker-1', saved: [], failures: [], ok: true });
    expect(hubBranches(hub)).toEqual(before);
    expect(run.calls.filter((a) => a.includes('push') || a.includes('commit'))).toEqual([]);
  });

  it('sees tracked, untracked and unpushed work and the task id; fetches so a pushed branch counts as saved', async () => {
    const { work, run, hub } = setup();
    git(work, 'switch', '-qc', 'isollm/ar-1a2b');
    commit(work, 'one');
    commit(work, 'two');
    write(work, 'README.md', 'changed\n');
    write(work, 'new/file');
    let r = await inspectWork(run, OPTS);
    expect(r).toMatchObject({ branch: 'isollm/ar-1a2b', taskId: 'ar-1a2b', clean: false, unpushed: [{ branch: 'isollm/ar-1a2b', commits: 2 }] });
    expect(r.tracked).toEqual({ count: 1, paths: ['README.md'] });
    expect(r.untracked).toEqual({ count: 1, paths: ['new/file'] });
    // Pushed by URL, not through `origin`: no tracking ref moves, so only a fetch can tell it is saved.
    git(work, 'push', '-q', hub, 'isollm/ar-1a2b');
    git(work, 'checkout', '-q', '--', 'README.md');
    fs.rmSync(path.join(work, 'new'), { recursive: true });
    r = await inspectWork(run, OPTS);
    expect(r).toMatchObject({ clean: true, unpushed: [] });
  });
});

describe('salvageWork', () => {
  it('commits uncommitted work on the task branch, pushes it, and leaves the tree clean', async () => {
    const { work, hub, run } = setup();
    git(work, 'switch', '-qc', 'isollm/ar-1a2b');
    write(work, 'README.md', 'edited\n');
    write(work, 'staged.txt');
    git(work, 'add', 'staged.txt');
    write(work, 'src/untracked.ts');
    const report = await inspectWork(run, OPTS);
    const result = await salvageWork(run, report, OPTS);
    expect(result).toEqual({
      worker: 'worker-1',
      ok: true,
      failures: [],
      saved: [{ branch: 'isollm/ar-1a2b', commits: 1, kind: 'uncommitted', from: 'isollm/ar-1a2b', files: 3 }],
    });
    const tip = git(work, 'rev-parse', 'HEAD');
    expect(hubBranches(hub)['isollm/ar-1a2b']).toBe(tip);
    expect(git(work, 'log', '-1', '--format=%s|%an <%ae>|%P')).toBe(`isollm salvage: worker-1 2025-01-02T03:04:05Z|worker-1 <worker-1@isollm.local>|${report.head}`);
    expect(git(hub, 'show', `${tip}:README.md`)).toBe('edited');
    expect(filesAt(hub, tip)).toEqual(['README.md', 'src/untracked.ts', 'staged.txt']);
    expect(porcelain(work)).toBe('');
    expect(git(work, 'branch', '--show-current')).toBe('isollm/ar-1a2b');
    // Running it all again (`down` twice) finds nothing.
    expect((await inspectWork(run, OPTS)).clean).toBe(true);
  });

  it('pushes unpushed commits on a task branch, and a salvage commit on top of them', async () => {
    const { work, hub, run } = setup();
    git(work, 'switch', '-qc', 'isollm/ar-1');
    commit(work, 'a');
    git(work, 'push', '-q', 'origin', 'isollm/ar-1');
    commit(work, 'b');
    commit(work, 'c');
    let result = await salvageWork(run, await inspectWork(run, OPTS), OPTS);
    expect(result.saved).toEqual([{ branch: 'isollm/ar-1', commits: 2, kind: 'unpushed', from: 'isollm/ar-1' }]);
    expect(hubBranches(hub)['isollm/ar-1']).toBe(git(work, 'rev-parse', 'HEAD'));

    commit(work, 'd');
    write(work, 'e');
    result = await salvageWork(run, await inspectWork(run, OPTS), OPTS);
    expect(result.saved).toEqual([
      { branch: 'isollm/ar-1', commits: 1, kind: 'uncommitted', from: 'isollm/ar-1', files: 1 },
      { branch: 'isollm/ar-1', commits: 1, kind: 'unpushed', from: 'isollm/ar-1' },
    ]);
    expect(hubBranches(hub)['isollm/ar-1']).toBe(git(work, 'rev-parse', 'HEAD'));
  });

  it('never commits or pushes onto the base branch: changes there go to a salvage branch', async () => {
    const { work, hub, run, baseTip } = setup();
    commit(work, 'on-main');
    write(work, 'loose.txt');
    const report = await inspectWork(run, OPTS);
    expect(report.unpushed).toEqual([{ branch: 'main', commits: 1 }]);
    const result = await salvageWork(run, report, OPTS);
    const salvage = `isollm/salvage/worker-1-${STAMP}`;
    // The salvage branch starts at HEAD, so it carries main's unpushed commit too; main itself goes to
    // a salvage name as well, so the hub's main is never touched.
    expect(result.saved).toEqual([
      { branch: salvage, commits: 1, kind: 'uncommitted', from: salvage, files: 1 },
      { branch: salvage, commits: 1, kind: 'unpushed', from: salvage },
      { branch: `isollm/salvage/worker-1-${STAMP}-main`, commits: 1, kind: 'unpushed', from: 'main' },
    ]);
    const hubRefs = hubBranches(hub);
    expect(hubRefs.main).toBe(baseTip);
    expect(hubRefs[salvage]).toBe(git(work, 'rev-parse', 'HEAD'));
    expect(filesAt(hub, salvage)).toContain('loose.txt');
    expect(git(work, 'branch', '--show-current')).toBe(salvage);
    expect(git(work, 'rev-parse', 'main')).toBe(report.head);
    expect(porcelain(work)).toBe('');
  });

  it('saves commits made on a detached HEAD, with and without uncommitted changes', async () => {
    const { work, hub, run, baseTip } = setup();
    git(work, 'checkout', '-q', '--detach');
    commit(work, 'x');
    const tip = commit(work, 'y');
    let report = await inspectWork(run, OPTS);
    expect(report).toMatchObject({ branch: null, detachedCommits: 2, unpushed: [], clean: false });
    let result = await salvageWork(run, report, OPTS);
    expect(result.saved).toEqual([{ branch: `isollm/salvage/worker-1-${STAMP}-detached`, commits: 2, kind: 'unpushed', from: 'HEAD' }]);
    expect(hubBranches(hub)[`isollm/salvage/worker-1-${STAMP}-detached`]).toBe(tip);
    expect(hubBranches(hub).main).toBe(baseTip);

    const later = new Date('2025-01-02T04:00:00Z');
    git(work, 'checkout', '-q', '--detach', 'main');
    commit(work, 'z');
    write(work, 'w');
    report = await inspectWork(run, OPTS);
    result = await salvageWork(run, report, { ...OPTS, now: later });
    const salvage = 'isollm/salvage/worker-1-20250102-040000';
    expect(result.saved).toEqual([
      { branch: salvage, commits: 1, kind: 'uncommitted', from: salvage, files: 1 },
      { branch: salvage, commits: 1, kind: 'unpushed', from: salvage },
    ]);
    expect(filesAt(hub, salvage)).toEqual(['README.md', 'w', 'z']);
    expect(porcelain(work)).toBe('');
  });

  it('saves under a salvage name when the hub’s branch moved on, overwriting nothing', async () => {
    const { work, hub, run } = setup();
    git(work, 'switch', '-qc', 'isollm/ar-1');
    commit(work, 'base-of-task');
    git(work, 'push', '-q', 'origin', 'isollm/ar-1');
    const other = tmpDir();
    git(other, 'clone', '-q', '-b', 'isollm/ar-1', hub, '.');
    const theirs = commit(other, 'theirs');
    git(other, 'push', '-q', 'origin', 'isollm/ar-1');
    const mine = commit(work, 'mine');
    const result = await salvageWork(run, await inspectWork(run, OPTS), OPTS);
    const fallback = `isollm/salvage/worker-1-${STAMP}-ar-1`;
    expect(result).toMatchObject({ ok: true, failures: [], saved: [{ branch: fallback, commits: 1, kind: 'unpushed', from: 'isollm/ar-1' }] });
    expect(hubBranches(hub)['isollm/ar-1']).toBe(theirs);
    expect(hubBranches(hub)[fallback]).toBe(mine);
    for (const args of run.calls.filter((a) => a.includes('push'))) {
      expect(args.some((a) => a.startsWith('+') || a.startsWith('--force'))).toBe(false);
    }
  });

  it('works with another prefix and base branch', async () => {
    const { work, hub, run, baseTip } = setup('trunk');
    const opts = { ...OPTS, baseBranch: 'trunk', branchPrefix: 'agents/' };
    git(work, 'switch', '-qc', 'agents/t-9');
    write(work, 'task-file');
    let report = await inspectWork(run, opts);
    expect(report.taskId).toBe('t-9');
    expect((await salvageWork(run, report, opts)).saved.map((s) => s.branch)).toEqual(['agents/t-9']);
    git(work, 'switch', '-q', 'trunk');
    write(work, 'base-file');
    report = await inspectWork(run, opts);
    expect(report.taskId).toBeNull();
    expect((await salvageWork(run, report, opts)).saved.map((s) => s.branch)).toEqual([`agents/salvage/worker-1-${STAMP}`]);
    expect(Object.keys(hubBranches(hub)).sort()).toEqual(['agents/salvage/worker-1-20250102-030405', 'agents/t-9', 'trunk']);
    expect(hubBranches(hub).trunk).toBe(baseTip);
  });

  it('saves files whose names hold spaces, newlines and non-ASCII', async () => {
    const { work, hub, run } = setup();
    git(work, 'switch', '-qc', 'isollm/ar-2');
    const names = ['with space.txt', 'new\nline', 'ünïcödé/日本.md', '-leading-dash', 'quote"s'];
    for (const n of names) write(work, n);
    const report = await inspectWork(run, OPTS);
    expect(report.untracked).toEqual({ count: names.length, paths: [...report.untracked.paths] });
    expect([...report.untracked.paths].sort()).toEqual([...names].sort());
    const result = await salvageWork(run, report, OPTS);
    expect(result.saved[0]).toMatchObject({ files: names.length });
    expect(filesAt(hub, 'isollm/ar-2')).toEqual(['README.md', ...names].sort());
  });

  it('leaves gitignored files out (build output) and says so', async () => {
    const { work, hub, run } = setup();
    git(work, 'switch', '-qc', 'isollm/ar-3');
    write(work, '.gitignore', 'build/\n*.log\n');
    git(work, 'add', '.gitignore');
    git(work, 'commit', '-qm', 'ignore');
    write(work, 'build/out.js');
    write(work, 'build/deep/more.js');
    write(work, 'debug.log');
    write(work, 'kept.txt');
    // Files the worker layer keeps in the tree for itself are hidden the same way, via info/exclude.
    fs.appendFileSync(path.join(work, '.git', 'info', 'exclude'), '/.isollm-own\n');
    write(work, '.isollm-own');
    const report = await inspectWork(run, OPTS);
    expect(report.untracked).toEqual({ count: 1, paths: ['kept.txt'] });
    expect(report.ignored).toEqual({ count: 3, paths: ['.isollm-own', 'build/', 'debug.log'] });
    await salvageWork(run, report, OPTS);
    expect(filesAt(hub, 'isollm/ar-3')).toEqual(['.gitignore', 'README.md', 'kept.txt']);
    expect(fs.existsSync(path.join(work, 'build/out.js'))).toBe(true);
  });

  it('commits with the worker’s identity when git has none', async () => {
    const { work, hub } = setup();
    const home = tmpDir();
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: path.join(home, 'none') };
    git(work, 'config', 'user.useConfigOnly', 'true');
    git(work, 'switch', '-qc', 'isollm/ar-4');
    write(work, 'f');
    const run = hostRunner(work, env);
    // Without an identity a plain commit fails here, so the salvage below really relies on its own.
    expect((await run(['commit', '--allow-empty', '-qm', 'x'])).exitCode).not.toBe(0);
    const result = await salvageWork(run, await inspectWork(run, OPTS), OPTS);
    expect(result.ok).toBe(true);
    expect(git(hub, 'log', '-1', '--format=%an <%ae> / %cn <%ce>', 'isollm/ar-4')).toBe('worker-1 <worker-1@isollm.local> / worker-1 <worker-1@isollm.local>');
  });

  it('runs no hooks, so a failing pre-commit or pre-push cannot block it', async () => {
    const { work, hub, run } = setup();
    git(work, 'switch', '-qc', 'isollm/ar-5');
    const marker = path.join(work, '.git', 'hook-ran');
    for (const hook of ['pre-commit', 'commit-msg', 'post-commit', 'pre-push', 'reference-transaction']) {
      fs.writeFileSync(path.join(work, '.git', 'hooks', hook), `#!/bin/sh\necho ${hook} >> '${marker}'\nexit 1\n`, { mode: 0o755 });
    }
    write(work, 'f');
    const result = await salvageWork(run, await inspectWork(run, OPTS), OPTS);
    expect(result.ok).toBe(true);
    expect(hubBranches(hub)['isollm/ar-5']).toBe(git(work, 'rev-parse', 'HEAD'));
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('saves stashes, and a merge stopped on a conflict', async () => {
    const { work, hub, run } = setup();
    write(work, 'README.md', 'stashed\n');
    git(work, 'stash', '-q');
    const stash = git(work, 'rev-parse', 'stash@{0}');
    git(work, 'switch', '-qc', 'isollm/ar-6');
    commit(work, 'ours');
    git(work, 'switch', '-qc', 'side', 'main');
    write(work, 'ours', 'side\n');
    git(work, 'add', 'ours');
    git(work, 'commit', '-qm', 'side');
    git(work, 'switch', '-q', 'isollm/ar-6');
    expect(() => git(work, 'merge', '-q', 'side')).toThrow();
    const report = await inspectWork(run, OPTS);
    expect(report.stashes).toEqual([stash]);
    expect(report.tracked.paths).toEqual(['ours']);
    const result = await salvageWork(run, report, OPTS);
    expect(result.failures).toEqual([]);
    expect(result.saved).toContainEqual({ branch: `isollm/salvage/worker-1-${STAMP}-stash-0`, commits: 1, kind: 'stash', from: 'stash@{0}' });
    expect(result.saved).toContainEqual({ branch: `isollm/salvage/worker-1-${STAMP}-side`, commits: 1, kind: 'unpushed', from: 'side' });
    expect(hubBranches(hub)[`isollm/salvage/worker-1-${STAMP}-stash-0`]).toBe(stash);
    expect(git(hub, 'show', `isollm/ar-6:ours`)).toContain('<<<<<<<');
    expect((await inspectWork(run, OPTS)).clean).toBe(true);
  });

  it('reports an unreachable hub instead of throwing, and keeps the salvage commit locally', async () => {
    const { work, run } = setup();
    git(work, 'remote', 'set-url', 'origin', path.join(tmpDir(), 'gone.git'));
    git(work, 'switch', '-qc', 'isollm/ar-7');
    write(work, 'f');
    const report = await inspectWork(run, OPTS);
    expect(report.fetchError).toMatch(/^fatal: .*gone\.git/);
    const result = await salvageWork(run, report, OPTS);
    expect(result.ok).toBe(false);
    expect(result.saved).toEqual([]);
    expect(result.failures).toEqual([{ from: 'isollm/ar-7', error: expect.stringMatching(/^push to the hub failed/) }]);
    expect(git(work, 'log', '-1', '--format=%s')).toMatch(/^isollm salvage: worker-1/);
    expect(porcelain(work)).toBe('');
  });
});
