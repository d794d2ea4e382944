// Workers on real containers, through the CLI as a user runs it: `worker add -n 2` in parallel, what
// each worker holds (dev, hub, clone, identity, queue identity), reset, remove, list, exec, shell,
// setup_script (once, in the base; rolled back on failure), two projects side by side, a project name at the
// length limit, and isollm run by a non-root user in the runtime's group.
// Needs `npm run test-env` (skips visibly without it; CI requires it).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PROJECT_NAME } from '../../lib/config/load.ts';
import { deleteInstance, listInstances, listSnapshots, type Runtime } from '../../lib/runtime/client.ts';
import { freePort, git, NODE, ROOT, runCliAsync, spawnAsync, type CliResult } from '../helpers.ts';
import { commitRepo } from './project.ts';
import { e2eRuntime, TEST_IMAGE } from './runtime-available.ts';

const rt = await e2eRuntime('workers');
const ISOLLM = path.join(ROOT, 'scripts', 'isollm.mts');
const CLI_TIMEOUT_MS = 180_000;
const id = crypto.randomBytes(3).toString('hex');

/** `isollm <args>` in project `root`, as this (root) user (awaited, so several `worker add` run at once). */
const cli = (root: string, ...args: string[]) => runCliAsync(args, { cwd: root, timeout: CLI_TIMEOUT_MS });

/** A project: a git repo on main with one commit and isollm.yaml. */
function makeProject(dir: string, yaml: string): string {
  commitRepo(dir, { 'README.md': '# e2e\n', 'isollm.yaml': yaml });
  return dir;
}

/** Branches in a hub (any owner: a non-root user's hub is "dubious" to root's git). */
const hubBranches = (hub: string) => git(hub, '-c', 'safe.directory=*', 'for-each-ref', '--format=%(refname:short)', 'refs/heads').split('\n');

async function cleanUp(runtime: Runtime, project: string): Promise<void> {
  await Promise.all((await listInstances(runtime, project)).map((i) => deleteInstance(runtime, i.name).catch(() => undefined)));
}

// The ordinary case: isollm run by a user in the runtime's group, with the hub in that user's home.
// Its first `worker add` runs alongside the others (in the first beforeAll) to keep the file quick.
const asRoot = process.getuid?.() === 0;
if (rt && !asRoot) console.warn('⚠ SKIPPED e2e workers as a non-root user: needs root to create the throwaway user.');
const nonRoot = {
  user: `isoe2e${id}`,
  project: `e2e-user-${id}`,
  home: '',
  root: '',
  hub: '',
  firstAdd: undefined as Promise<CliResult> | undefined,
};

/** `isollm <args>` as the throwaway user, with a clean environment (its HOME, no INIT_CWD). */
function cliAs(...args: string[]): Promise<CliResult> {
  const { user, home, root } = nonRoot;
  return spawnAsync('runuser', ['-u', user, '--', 'env', '-i', `HOME=${home}`, `USER=${user}`, `PATH=${process.env.PATH}`, 'NO_COLOR=1', `ISOLLM_RUNTIME=${rt!.kind}`, NODE, ISOLLM, ...args], { cwd: root, timeout: CLI_TIMEOUT_MS });
}

/** Create the user (in the runtime's group, home 0750) and its project, then start `worker add`. */
async function startNonRoot(runtime: Runtime): Promise<CliResult> {
  const { user, project } = nonRoot;
  const add = spawnSync('useradd', ['--create-home', '--groups', runtime.group, '--shell', '/bin/sh', user], { encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`useradd failed: ${add.stderr}`);
  nonRoot.home = path.join('/home', user);
  // A home others cannot enter (Ubuntu's default): the hub below it must still reach dev.
  fs.chmodSync(nonRoot.home, 0o750);
  const probe = spawnSync('runuser', ['-u', user, '--', NODE, '--version'], { encoding: 'utf8' });
  if (probe.status !== 0) throw new Error(`${user} cannot run ${NODE} (${probe.stderr.trim()}): its directories must be readable by others.`);
  nonRoot.root = makeProject(path.join(nonRoot.home, 'project'), `project: ${project}\nimage: ${TEST_IMAGE}\nqueue:\n  port: ${await freePort()}\nagent:\n  install: false\n`);
  spawnSync('chown', ['-R', `${user}:${user}`, nonRoot.root]);
  nonRoot.hub = path.join(nonRoot.home, '.isollm', `${project}.git`); // the default git.hub
  return cliAs('worker', 'add');
}

const SETUP_OK = 'setup_script: |\n  echo doing-setup\n  echo ran >> /etc/e2e-setup-marker\n';
const SETUP_BAD = 'setup_script: |\n  echo doing-setup\n  echo bad-thing >&2\n  exit 3\n';

describe.skipIf(!rt)('workers on real containers', () => {
  const runtime = rt!;
  // Not tmpDir(): these live for the whole file (containers hold mounts into them).
  const work = rt ? fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-e2e-wk-')) : '';
  const a = { project: `e2e-wk-${id}`, root: path.join(work, 'a'), hub: path.join(work, 'hubs', 'a.git') };
  // At the length limit, so its containers' names are 62 of LXD's 63 characters.
  const longName = `e2e-long-${id}-`.padEnd(MAX_PROJECT_NAME, 'x');
  const b = { project: longName, root: path.join(work, 'b'), hub: path.join(work, 'hubs', 'b.git') };
  const c = { project: `e2e-bad-${id}`, root: path.join(work, 'c'), hub: path.join(work, 'hubs', 'c.git') };
  const added: Record<'a' | 'b' | 'c', CliResult> = {} as never;
  const exec = (worker: string, ...command: string[]) => cli(a.root, 'worker', 'exec', worker, '--', ...command);
  const taskJson = async (root: string, taskId: string) => JSON.parse((await cli(root, 'task', 'show', taskId, '--json')).stdout);

  beforeAll(async () => {
    for (const p of [a, b, c]) {
      const setup = p === c ? SETUP_BAD : SETUP_OK;
      makeProject(p.root, `project: ${p.project}\nimage: ${TEST_IMAGE}\nqueue:\n  port: ${await freePort()}\ngit:\n  hub: ${p.hub}\nagent:\n  install: false\n${setup}`);
    }
    // All three at once, as a user with several projects might; a's two workers in parallel.
    if (asRoot) nonRoot.firstAdd = startNonRoot(runtime);
    [added.a, added.b, added.c] = await Promise.all([cli(a.root, 'worker', 'add', '-n', '2'), cli(b.root, 'worker', 'add'), cli(c.root, 'worker', 'add'), nonRoot.firstAdd]);
  }, CLI_TIMEOUT_MS);

  afterAll(async () => {
    await Promise.all([a, b, c].map(async (p) => {
      await cleanUp(runtime, p.project);
      await cli(p.root, 'queue', 'stop');
    }));
    fs.rmSync(work, { recursive: true, force: true });
  }, CLI_TIMEOUT_MS);

  it('creates two workers in parallel and lists them with their fields', async () => {
    expect(added.a.stderr).toContain('2 of 2 created');
    expect(added.a.code).toBe(0);
    // One base, built once; both workers were being copied from it before either got further.
    const lines = added.a.stderr.split('\n');
    expect(lines.filter((l) => l.includes("Building the project's base")).length).toBe(1);
    const firstIdentity = lines.findIndex((l) => l.includes('identity, queue, git fetch'));
    expect(lines.findIndex((l) => l.includes('worker-1 → copying'))).toBeLessThan(firstIdentity);
    expect(lines.findIndex((l) => l.includes('worker-2 → copying'))).toBeLessThan(firstIdentity);

    const r = await cli(a.root, 'worker', 'list', '--json');
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout);
    expect(rows.map((w: { name: string }) => w.name)).toEqual(['worker-1', 'worker-2']);
    for (const w of rows) {
      expect(Object.keys(w).sort()).toEqual(['container', 'created_at', 'ipv4', 'name', 'state', 'task']);
      expect(w).toMatchObject({ container: `${a.project}-${w.name}`, state: 'Running', task: null });
      expect(Date.now() - Date.parse(w.created_at)).toBeLessThan(10 * 60_000);
    }
  });

  it('gives each worker dev, the hub read-only at /repo.git, a clone on the base branch owned by dev that pushes through its socket, and its git identity', async () => {
    const hubMain = git(a.hub, 'rev-parse', 'main');
    const port = /port: (\d+)/.exec(fs.readFileSync(path.join(a.root, 'isollm.yaml'), 'utf8'))![1];
    for (const worker of ['worker-1', 'worker-2']) {
      const r = await exec(worker, 'sh', '-c', 'id -un; pwd; git branch --show-current; stat -c %U:%G .; git config user.name; git config user.email; findmnt -n -o TARGET /repo.git; git -C /repo.git rev-parse main; test -w /repo.git/refs || test -w /repo.git/objects || test -w /repo.git/config || test -w /repo.git || echo hub-read-only; git config remote.origin.pushurl');
      expect(r.stderr).toBe('');
      expect(r.stdout.split('\n')).toEqual(['dev', '/home/dev/project', 'main', 'dev:dev', worker, `${worker}@isollm.local`, '/repo.git', hubMain, 'hub-read-only', `http://127.0.0.1:${port}/git/hub.git`, '']);
    }
  });

  it("reaches the queue from inside, and the server knows which worker asked (whatever the worker claims)", async () => {
    // worker-1 claims to be worker-2 in the header; the socket it came through says otherwise.
    const added1 = await exec('worker-1', 'env', 'ISOLLM_AGENT=worker-2', 'isollm-task', 'add', 'from worker-1');
    expect(added1.code).toBe(0);
    const taskId = added1.stdout.trim();
    expect(taskId).toMatch(/^[a-z]+-[0-9a-f]+$/);
    const created = await taskJson(a.root, taskId);
    expect(created.history.map((h: { action: string; changed_by: string }) => [h.action, h.changed_by])).toEqual([['create', 'worker-1']]);

    const next = await exec('worker-2', 'isollm-task', 'next');
    expect(next.code).toBe(0);
    expect(next.stdout).toContain(`id: ${taskId}\nbranch: isollm/${taskId}\n`);
    expect((await taskJson(a.root, taskId)).task).toMatchObject({ status: 'in_progress', claimed_by: 'worker-2' });

    const list = await exec('worker-1', 'isollm-task', 'list');
    expect(list.code).toBe(0);
    expect(list.stdout).toBe(`${taskId}\tin_progress\t2\tworker-2\tfrom worker-1\n`);
    // worker-1 cannot take it off worker-2 (a block clears the claim): refused, and the claim stays.
    const steal = await exec('worker-1', 'isollm-task', 'block', taskId, 'mine now');
    expect([steal.code, steal.stderr.trim()]).toEqual([4, 'isollm-task: NOT_OWNER: Task is claimed by another agent']);
    expect((await taskJson(a.root, taskId)).task).toMatchObject({ status: 'in_progress', claimed_by: 'worker-2' });
    const rows = JSON.parse((await cli(a.root, 'worker', 'list', '--json')).stdout);
    expect(rows[1].task).toMatchObject({ id: taskId, branch: `isollm/${taskId}` });
  }, CLI_TIMEOUT_MS);

  it("a worker pushes the branch of the task it holds; the base, another's task, a task it never held, other branches and deletes are refused, and the hub stays as it was", async () => {
    const taskId = JSON.parse((await cli(a.root, 'worker', 'list', '--json')).stdout)[1].task.id as string;
    const refs = () => git(a.hub, '-c', 'safe.directory=*', 'for-each-ref', '--format=%(refname) %(objectname)');
    const mainBefore = git(a.hub, 'rev-parse', 'main');
    // Values go in as positional parameters, never into the script text.
    const own = await exec('worker-2', 'sh', '-c', 'git checkout -q -b "$1" && echo "$2" > owner.txt && git add owner.txt && git commit -qm "from $2" && git push -q -u origin "$1"', 'sh', `isollm/${taskId}`, 'worker-2');
    expect(own.stderr).toBe('');
    expect(own.code).toBe(0);
    expect(git(a.hub, 'log', '-1', '--format=%an <%ae> %s', `isollm/${taskId}`)).toBe('worker-2 <worker-2@isollm.local> from worker-2');
    const before = refs();
    const attempts: [string, string[], RegExp][] = [
      ['worker-2', ['HEAD:refs/heads/main', '--force'], /the base branch main moves only by/],
      ['worker-1', [`HEAD:refs/heads/isollm/${taskId}`, '--force'], new RegExp(`worker-1 has never held task ${taskId}`)],
      ['worker-1', [`:refs/heads/isollm/${taskId}`], /workers may not delete branches/],
      ['worker-1', ['HEAD:refs/heads/isollm/ar-ffff'], /worker-1 has never held task ar-ffff/],
      ['worker-1', ['HEAD:refs/heads/e2e/worker-1'], /workers may push only task branches/],
    ];
    for (const [worker, args, why] of attempts) {
      const r = await exec(worker, 'sh', '-c', 'git commit -q --allow-empty -m attempt && git push origin "$@"; s=$?; git reset -q --hard HEAD~1; exit $s', 'sh', ...args);
      expect(r.code, `${worker} ${args.join(' ')}`).not.toBe(0);
      expect(r.stderr).toMatch(why);
      expect(r.stderr).toContain('[remote rejected]');
    }
    expect(refs()).toBe(before);
    expect(git(a.hub, 'rev-parse', 'main')).toBe(mainBefore);
    expect((await taskJson(a.root, taskId)).task).toMatchObject({ status: 'in_progress', claimed_by: 'worker-2' });
  }, 120_000);

  it('passes the exit code of `worker exec` through; `worker shell -c` runs as dev in the project', async () => {
    expect((await exec('worker-1', 'sh', '-c', 'exit 7')).code).toBe(7);
    const shell = await cli(a.root, 'worker', 'shell', 'worker-1', '-c', 'id -un; pwd');
    expect(shell).toEqual({ code: 0, stdout: 'dev\n/home/dev/project\n', stderr: '' });
    const missing = await exec('worker-9', 'true');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('No worker "worker-9"');
  });

  it('ran setup_script once, in the base, with its output shown as it ran', async () => {
    expect(added.a.stderr.split('\n').filter((l) => l.includes('│ doing-setup')).length).toBe(1);
    for (const worker of ['worker-1', 'worker-2']) {
      expect((await exec(worker, 'cat', '/etc/e2e-setup-marker')).stdout).toBe('ran\n');
      // Its clean state is the base itself: no snapshot per worker.
      expect(await listSnapshots(runtime, `${a.project}-${worker}`)).toEqual([]);
    }
  });

  it('keeps two projects apart; a project name at the length limit works', async () => {
    expect(added.b.stderr).toContain('1 of 1 created');
    expect(added.b.code).toBe(0);
    const container = `${longName}-worker-1`;
    expect(container.length).toBe(62);
    const listB = JSON.parse((await cli(b.root, 'worker', 'list', '--json')).stdout);
    expect(listB.map((w: { container: string }) => w.container)).toEqual([container]);
    const listA = JSON.parse((await cli(a.root, 'worker', 'list', '--json')).stdout);
    expect(listA.map((w: { container: string }) => w.container)).toEqual([`${a.project}-worker-1`, `${a.project}-worker-2`]);
    // Same worker name, other project: its own container, its own queue.
    expect((await cli(b.root, 'worker', 'exec', 'worker-1', '--', 'grep', 'ISOLLM_PROJECT=', '/etc/isollm/worker.env')).stdout).toBe(`ISOLLM_PROJECT=${longName}\n`);
    const task = await cli(b.root, 'worker', 'exec', 'worker-1', '--', 'isollm-task', 'add', 'only in b');
    expect(task.code).toBe(0);
    expect((await taskJson(b.root, task.stdout.trim())).history[0].changed_by).toBe('worker-1');
    expect((await cli(a.root, 'task', 'list', '--json')).stdout).not.toContain('only in b');
    expect((await cli(b.root, 'worker', 'exec', 'worker-2', '--', 'true')).code).toBe(1);
  }, 120_000);

  it('rolls the base back when setup_script fails, makes no worker, and prints its output', async () => {
    expect(added.c.code).toBe(1);
    expect(added.c.stderr).toContain("setup_script failed in the project's base (exit 3)");
    expect(added.c.stderr).toContain('doing-setup');
    expect(added.c.stderr).toContain('bad-thing');
    expect(await listInstances(runtime, c.project)).toEqual([]);
    expect(fs.existsSync(path.join(c.root, '.isollm/sockets/worker-1.sock'))).toBe(false);
  });

  it('reset saves uncommitted work to the hub first, then copies the base again and releases the task', async () => {
    const taskId = JSON.parse((await cli(a.root, 'worker', 'list', '--json')).stdout)[1].task.id;
    expect((await exec('worker-2', 'touch', 'scratch.txt', '/home/dev/outside.txt')).code).toBe(0);

    const reset = await cli(a.root, 'worker', 'reset', 'worker-2');
    // worker-2 is on the branch of the task it holds: the work is committed there and pushed.
    const saved = new RegExp(`worker-2 +1 uncommitted file committed → (isollm/${taskId})`).exec(reset.stderr)?.[1];
    expect(saved, reset.stderr).toBeTruthy();
    expect(git(a.hub, '-c', 'safe.directory=*', 'show', '--name-only', '--format=%s', saved!).split('\n')).toEqual(expect.arrayContaining([expect.stringMatching(/^isollm salvage: worker-2 /), 'scratch.txt']));
    expect(reset.stderr).toContain(`worker-2 is back to the clean state of its base; released ${taskId}.`);
    expect(reset.code).toBe(0);
    const after = await exec('worker-2', 'sh', '-c', 'ls -A /home/dev; git branch --show-current; cat /etc/e2e-setup-marker');
    expect(after.stdout).not.toContain('outside.txt');
    expect(after.stdout.split('\n').slice(-3)).toEqual(['main', 'ran', '']);
    expect((await taskJson(a.root, taskId)).task.status).toBe('open');
    // The pushed branch is in the hub, not lost with the worker's clone.
    expect(hubBranches(a.hub)).toContain(`isollm/${taskId}`);
  }, 120_000);

  it('replaces a worker whose creation was interrupted (tagged, never marked ready)', async () => {
    const half = `${a.project}-worker-9`;
    const init = spawnSync(runtime.bin, ['init', TEST_IMAGE, half, '-c', `user.isollm.project=${a.project}`, '-c', 'user.isollm.worker=worker-9'], { encoding: 'utf8' });
    expect(init.status, init.stderr).toBe(0);
    const listed = JSON.parse((await cli(a.root, 'worker', 'list', '--json')).stdout) as { name: string; state: string }[];
    expect(listed.find((w) => w.name === 'worker-9')?.state).toBe('half-made');
    const added = await cli(a.root, 'worker', 'add', 'worker-9');
    expect(added.stderr).toContain('Removed worker-9: an interrupted run left it half-made.');
    expect(added.code).toBe(0);
    expect((await exec('worker-9', 'git', 'status', '--short', '--branch')).stdout).toMatch(/^## main/);
    expect((await cli(a.root, 'worker', 'rm', 'worker-9', '--force')).code).toBe(0);
  }, CLI_TIMEOUT_MS);

  it('remove leaves no container and no socket; --force drops unsaved work', async () => {
    const sockets = path.join(a.root, '.isollm', 'sockets');
    // Each socket in its own directory (mounted into its worker), and the older path a link to it.
    expect(fs.readdirSync(sockets).sort()).toEqual(['worker-1', 'worker-1.sock', 'worker-2', 'worker-2.sock']);
    // worker-1 is clean (its branch is pushed); worker-2 gets an uncommitted file meanwhile.
    const [removed, touched] = await Promise.all([
      cli(a.root, 'worker', 'remove', 'worker-1'),
      exec('worker-2', 'touch', 'unsaved.txt'),
    ]);
    expect(removed.stderr).toContain('Removed worker-1.');
    expect(removed.code).toBe(0);
    expect(touched.code).toBe(0);
    expect((await listInstances(runtime, a.project)).filter((i) => i.worker).map((i) => i.name)).toEqual([`${a.project}-worker-2`]);
    expect(fs.readdirSync(sockets).sort()).toEqual(['worker-2', 'worker-2.sock']);
    expect((await cli(a.root, 'worker', 'rm', 'worker-2', '--force')).code).toBe(0);
    expect(hubBranches(a.hub).filter((b) => b.startsWith('isollm/salvage/'))).toEqual([]);
    // No worker left: only the current base stays, for the next `worker add`.
    expect((await listInstances(runtime, a.project)).map((i) => i.config['user.isollm.role'])).toEqual(['base']);
    expect(fs.readdirSync(sockets)).toEqual([]);
  }, 120_000);
});

// The ordinary case, continued: the non-root user's own tests.
describe.skipIf(!rt || !asRoot)('workers as a non-root user in the runtime group', () => {
  const runtime = rt!;
  /** A task added, claimed by the worker (the best ready one) and a commit pushed on its branch; its id. */
  const push = async (worker: string) => {
    await cliAs('task', 'add', `from ${worker}`);
    const r = await cliAs('worker', 'exec', worker, '--', 'sh', '-c', 'id=$(isollm-task next | sed -n "s/^id: //p") && git checkout -q -b "isollm/$id" && git commit -q --allow-empty -m "$1" && git push -q origin "isollm/$id" && echo "$id"', 'sh', worker);
    return { ...r, id: r.stdout.trim() };
  };

  afterAll(async () => {
    await nonRoot.firstAdd?.catch(() => undefined);
    await cleanUp(runtime, nonRoot.project);
    if (nonRoot.root) await cliAs('queue', 'stop');
    spawnSync('userdel', ['--remove', nonRoot.user]);
  }, CLI_TIMEOUT_MS);

  it('creates a worker whose dev pushes to the hub in the user’s home, and the queue knows it', async () => {
    const r = await (nonRoot.firstAdd ??= startNonRoot(runtime));
    expect(r.stderr).toContain('1 of 1 created');
    expect(r.code).toBe(0);
    expect(fs.statSync(nonRoot.hub).uid).not.toBe(0);
    const first = await push('worker-1');
    expect(first.code, first.stderr).toBe(0);
    expect(hubBranches(nonRoot.hub)).toEqual([`isollm/${first.id}`, 'main']);
    const task = await cliAs('worker', 'exec', 'worker-1', '--', 'isollm-task', 'add', 'as a user');
    expect(task.code).toBe(0);
    const shown = JSON.parse((await cliAs('task', 'show', task.stdout.trim(), '--json')).stdout);
    expect(shown.history[0].changed_by).toBe('worker-1');
  }, 120_000);

  it('adds another worker after the hub holds files a worker pushed', async () => {
    // Files dev pushed belong to dev's host uid; the user may not change their ACLs, and need not.
    const r = await cliAs('worker', 'add');
    expect(r.stderr).toContain('1 of 1 created');
    expect(r.code).toBe(0);
    const second = await push('worker-2');
    expect(second.code, second.stderr).toBe(0);
    expect(hubBranches(nonRoot.hub).filter((b) => b !== 'main')).toHaveLength(2);
  }, 120_000);

  it('removes its workers and their sockets', async () => {
    const removed = await Promise.all(['worker-1', 'worker-2'].map((w) => cliAs('worker', 'remove', w, '--force')));
    expect(removed.map((r) => r.code)).toEqual([0, 0]);
    expect((await listInstances(runtime, nonRoot.project)).filter((i) => i.worker)).toEqual([]);
    expect(fs.readdirSync(path.join(nonRoot.root, '.isollm', 'sockets'))).toEqual([]);
  }, 120_000);
});
