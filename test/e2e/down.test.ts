// `isollm down`, `worker reset/remove` and crash recovery on real containers, the CLI as a child
// process: no unsaved work is lost, tasks go back to the queue, and `up` recovers from a crash.
// The agent is a quiet one (`sleep infinity`): tasks and clones change only when the test says so.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statePaths } from '../../lib/project/root.ts';
import { deleteInstance, listInstances } from '../../lib/runtime/client.ts';
import { freePort, git, NODE, ROOT, runCli, type CliResult } from '../helpers.ts';
import { startTerminal } from '../tmux.ts';
import { e2eConfigYaml, e2eRuntime } from './runtime-available.ts';

const rt = await e2eRuntime('down');

/** Creating containers is the slow part (~30–50 s for two here, in parallel). */
const CREATE_MS = 300_000;
const STEP_MS = 120_000;
const ISOLLM = path.join(ROOT, 'scripts', 'isollm.mts');

type Task = { id: string; title: string; status: string; claimed_by?: string | null };

type Project = {
  name: string;
  root: string;
  hub: string;
  env: NodeJS.ProcessEnv;
  cli: (args: string[], timeout?: number) => CliResult;
  /** `isollm <args>` that must succeed; returns stdout. */
  ok: (args: string[], timeout?: number) => string;
  /** A shell script run as dev in the worker's clone (a constant script: no values interpolated). */
  sh: (worker: string, script: string) => string;
  tasks: () => Task[];
  hubRefs: () => string;
  containers: () => Promise<Record<string, string>>;
  cleanup: () => Promise<void>;
};

/** A git repo with isollm.yaml (quiet agent, test image, private hub and port), outside tmpDir: it outlives single tests. */
async function makeProject(tag: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Project> {
  const name = `e2e-${tag}-${crypto.randomBytes(3).toString('hex')}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `isollm-${tag}-`));
  const root = path.join(dir, 'repo');
  const hub = path.join(dir, 'hub.git');
  fs.mkdirSync(root);
  git(root, 'init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(root, 'README.md'), '# e2e\n');
  fs.writeFileSync(path.join(root, '.gitignore'), '.isollm/\n');
  // A quiet agent: clones and tasks change only when the test changes them.
  const agent = { preset: 'custom', command: 'sleep', args: ['infinity'], mode: 'interactive' };
  fs.writeFileSync(path.join(root, 'isollm.yaml'), e2eConfigYaml({ project: name, hub, port: await freePort(), agent }));
  git(root, 'add', '.');
  git(root, 'commit', '-qm', 'initial');
  const env = { ...extraEnv };
  const cli = (args: string[], timeout = STEP_MS) => runCli(args, { cwd: root, env, timeout });
  const ok = (args: string[], timeout?: number) => {
    const r = cli(args, timeout);
    if (r.code !== 0) throw new Error(`isollm ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  return {
    name,
    root,
    hub,
    env,
    cli,
    ok,
    sh: (worker, script) => ok(['worker', 'exec', worker, '--', 'sh', '-ec', script]),
    tasks: () => (JSON.parse(ok(['task', 'list', '--json'])) as Task[]).sort((a, b) => a.title.localeCompare(b.title)),
    hubRefs: () => git(hub, 'for-each-ref', '--format=%(refname) %(objectname)'),
    containers: async () => Object.fromEntries((await listInstances(rt!, name)).filter((i) => i.worker).map((i) => [i.worker, i.status])),
    cleanup: async () => {
      for (const i of await listInstances(rt!, name).catch(() => [])) await deleteInstance(rt!, i.name).catch(() => undefined);
      runCli(['queue', 'stop'], { cwd: root, env });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The claim's id, from `isollm-task next` output. */
const claimedId = (out: string) => /^id: (\S+)$/m.exec(out)![1];
const byTitle = (tasks: Task[]) => Object.fromEntries(tasks.map((t) => [t.title, { id: t.id, status: t.status, claimed_by: t.claimed_by ?? null }]));

// Work an agent leaves behind: a commit on the task branch (continued from the hub's, as agents do)
// that is not pushed, a modified and an untracked file.
const MAKE_WORK = `
  branch="isollm/$(isollm-task current)"
  git fetch -q origin
  git checkout -q -b "$branch" "$(git rev-parse -q --verify "origin/$branch" || echo HEAD)"
  echo 'from the agent' >> feature.txt
  git add feature.txt
  git commit -qm 'agent: unpushed feature'
  echo 'changed' >> README.md
  echo 'new' > untracked.txt
`;

describe.skipIf(!rt)('isollm down with unsaved work (real containers)', () => {
  let p: Project;
  let t1: string;

  beforeAll(async () => {
    p = await makeProject('dn');
    p.ok(['up', '-n', '2', '--multiplexer', 'none'], CREATE_MS);
    t1 = JSON.parse(p.ok(['task', 'add', 'first', '-p', 'high', '--json'])).id;
    p.ok(['task', 'add', 'second', '--json']);
    expect(claimedId(p.sh('worker-1', 'isollm-task next'))).toBe(t1);
    p.sh('worker-1', MAKE_WORK);
    p.sh('worker-2', 'isollm-task next');
  }, CREATE_MS + STEP_MS);

  afterAll(async () => p && (await p.cleanup()), STEP_MS);

  it('cancel at the terminal prompt changes nothing', async () => {
    const [refs, tasks] = [p.hubRefs(), p.tasks()];
    expect(tasks.map((t) => t.status)).toEqual(['in_progress', 'in_progress']);
    const term = startTerminal([NODE, ISOLLM, 'down'], { cwd: p.root });
    const screen = await term.waitFor(/What should happen to it\?/);
    expect(screen).toMatch(/worker-1 +isollm\/\S+ +2 uncommitted files, 1 unpushed commit/);
    term.keys('Down', 'Down', 'Enter'); // salvage, discard, cancel
    await term.waitFor(/Cancelled; nothing was changed\./);
    expect(await term.exitCode()).toBe(0);
    expect(await p.containers()).toEqual({ 'worker-1': 'Running', 'worker-2': 'Running' });
    expect(p.sh('worker-1', 'git status --porcelain')).toBe(' M README.md\n?? untracked.txt\n');
    expect(p.sh('worker-1', 'git log --format=%s origin/main..HEAD')).toBe('agent: unpushed feature\n');
    expect(p.tasks()).toEqual(tasks);
    expect(p.hubRefs()).toBe(refs);
    expect(fs.existsSync(path.join(p.root, '.isollm/session.json'))).toBe(true);
  }, STEP_MS);

  it('--discard without --yes and without a terminal refuses and changes nothing', async () => {
    const [refs, tasks] = [p.hubRefs(), p.tasks()];
    const r = p.cli(['down', '--discard']);
    expect(r.stderr).toContain('--discard drops the work listed above: add --yes to confirm.');
    expect(r.code).toBe(1);
    expect(await p.containers()).toEqual({ 'worker-1': 'Running', 'worker-2': 'Running' });
    expect(p.tasks()).toEqual(tasks);
    expect(p.hubRefs()).toBe(refs);
  }, STEP_MS);

  it('--discard --yes leaves the hub alone, gives the tasks back and stops the workers', async () => {
    const refs = p.hubRefs();
    const r = p.cli(['down', '--discard', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/Salvage/);
    expect(p.hubRefs()).toBe(refs);
    expect(await p.containers()).toEqual({ 'worker-1': 'Stopped', 'worker-2': 'Stopped' });
    expect(fs.existsSync(path.join(p.root, '.isollm/session.json'))).toBe(false);
    p.ok(['queue', 'start']);
    expect(p.tasks().map((t) => [t.status, t.claimed_by ?? null])).toEqual([
      ['open', null],
      ['open', null],
    ]);
  }, STEP_MS);

  it('down --destroy --yes saves uncommitted and unpushed work to the hub, deletes the workers and gives the tasks back', async () => {
    // Discarding only skipped the hub: the work still sits in the stopped worker. Back up, claim again.
    p.ok(['up', '--multiplexer', 'none'], CREATE_MS);
    expect(claimedId(p.sh('worker-1', 'isollm-task next'))).toBe(t1);
    p.sh('worker-2', 'isollm-task next');
    expect(p.sh('worker-1', 'git status --porcelain')).toBe(' M README.md\n?? untracked.txt\n');
    expect(fs.readdirSync(path.join(p.root, '.isollm/sockets')).sort()).toEqual(['worker-1', 'worker-1.sock', 'worker-2', 'worker-2.sock']);

    const r = p.cli(['down', '--destroy', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`✓ Salvage worker-1 isollm/${t1} → isollm/${t1}`));
    expect(r.stderr).toContain('Everything is down and the workers are gone.');
    const branch = `isollm/${t1}`;
    expect(git(p.hub, 'log', '--format=%s|%an', `main..${branch}`).split('\n')).toEqual([
      expect.stringMatching(/^isollm salvage: worker-1 \d{4}-\d\d-\d\dT[\d:]+Z\|worker-1$/),
      expect.stringMatching(/^agent: unpushed feature\|/),
    ]);
    expect(git(p.hub, 'show', `${branch}:feature.txt`)).toBe('from the agent');
    expect(git(p.hub, 'show', `${branch}:untracked.txt`)).toBe('new');
    expect(git(p.hub, 'show', `${branch}:README.md`)).toBe('# e2e\nchanged');
    expect(await p.containers()).toEqual({});
    expect(fs.readdirSync(path.join(p.root, '.isollm/sockets'))).toEqual([]);
    expect(fs.existsSync(path.join(p.root, '.isollm/session.json'))).toBe(false);
    expect(fs.existsSync(path.join(p.root, '.isollm/queue.pid'))).toBe(false);
    p.ok(['queue', 'start']);
    expect(p.tasks().map((t) => t.status)).toEqual(['open', 'open']);
  }, CREATE_MS);
});

describe.skipIf(!rt)('crash recovery, worker reset/remove, down twice (real containers)', () => {
  let p: Project;
  let tmuxDir: string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    // `up` with tmux uses the default tmux server: a private TMUX_TMPDIR keeps it away from the user's.
    tmuxDir = fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-tmux-'));
    p = await makeProject('cr', { TMUX_TMPDIR: tmuxDir, TMUX: undefined });
    p.ok(['up', '--multiplexer', 'none'], CREATE_MS);
    for (const [title, priority] of [['a-first', 'critical'], ['b-second', 'high'], ['c-blocked', 'normal'], ['d-open', 'low']]) {
      ids[title] = JSON.parse(p.ok(['task', 'add', title, '-p', priority, '--json'])).id;
    }
    expect(claimedId(p.sh('worker-1', 'isollm-task next'))).toBe(ids['a-first']);
    expect(claimedId(p.sh('worker-2', 'isollm-task next'))).toBe(ids['b-second']);
    p.ok(['task', 'block', ids['c-blocked'], '-r', 'waiting for a decision']);
  }, CREATE_MS + STEP_MS);

  afterAll(async () => {
    spawnSync('tmux', ['kill-server'], { env: { ...process.env, TMUX_TMPDIR: tmuxDir } });
    if (p) await p.cleanup();
    fs.rmSync(tmuxDir, { recursive: true, force: true });
  }, STEP_MS);

  const hasTmuxSession = () => spawnSync('tmux', ['has-session', '-t', `=isollm-${p.name}`], { env: { ...process.env, TMUX_TMPDIR: tmuxDir } }).status === 0;
  const lockFile = () => statePaths(p.root).lock;

  it('kill -9 of the queue, a stopped and a deleted worker, a stale lock and session: `up` recovers with every task intact', async () => {
    const before = byTitle(p.tasks());
    expect(before['b-second']).toMatchObject({ status: 'in_progress', claimed_by: 'worker-2' });
    const pid = Number(fs.readFileSync(path.join(p.root, '.isollm/queue.pid'), 'utf8'));
    process.kill(pid, 'SIGKILL');
    spawnSync(rt!.bin, ['stop', '--force', `${p.name}-worker-1`]);
    spawnSync(rt!.bin, ['delete', '--force', `${p.name}-worker-2`]);
    // A lock left by an `up` that crashed: the pid of a process that has exited.
    const dead = spawnSync(NODE, ['-e', '']).pid!;
    expect(fs.existsSync(lockFile())).toBe(false);
    fs.writeFileSync(lockFile(), JSON.stringify({ pid: dead, command: 'up', since: new Date().toISOString() }));
    expect(fs.existsSync(path.join(p.root, '.isollm/session.json'))).toBe(true); // written by the `up` before the crash
    expect(await p.containers()).toEqual({ 'worker-1': 'Stopped' });

    const r = p.cli(['up', '--multiplexer', 'none'], CREATE_MS);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Released ${ids['b-second']}: it was claimed by worker-2, which is not running.`);
    expect(await p.containers()).toEqual({ 'worker-1': 'Running', 'worker-2': 'Running' });
    expect(fs.existsSync(lockFile())).toBe(false);
    // Same ids and statuses; only the task of the worker that was gone is open again — the worker
    // re-created under its name does not inherit it.
    expect(byTitle(p.tasks())).toEqual({ ...before, 'b-second': { id: ids['b-second'], status: 'open', claimed_by: null } });
    // The restarted worker reaches the restarted queue through its socket, as itself.
    expect(p.sh('worker-1', 'isollm-task show')).toMatch(new RegExp(`^id: ${ids['a-first']}\\n[\\s\\S]*^claimed_by: worker-1$`, 'm'));
    expect(p.sh('worker-2', 'isollm-task list in_progress')).toMatch(new RegExp(`^${ids['a-first']}\\tin_progress\\t\\d\\tworker-1\\t`));
  }, CREATE_MS);

  it('a killed tmux session is re-created by `up`', async () => {
    p.ok(['up', '--multiplexer', 'tmux']);
    expect(hasTmuxSession()).toBe(true);
    spawnSync('tmux', ['kill-session', '-t', `=isollm-${p.name}`], { env: { ...process.env, TMUX_TMPDIR: tmuxDir } });
    expect(hasTmuxSession()).toBe(false);
    const r = p.cli(['up', '--multiplexer', 'tmux']);
    expect(r.code, r.stderr).toBe(0);
    expect(hasTmuxSession()).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(p.root, '.isollm/session.json'), 'utf8')).multiplexer).toEqual({ kind: 'tmux', session: `isollm-${p.name}` });
  }, STEP_MS);

  it('worker reset saves unsaved work to the hub first and gives the task back; --force drops it', async () => {
    const id = ids['a-first'];
    p.sh('worker-1', MAKE_WORK);
    const r = p.cli(['worker', 'reset', 'worker-1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`released ${id}`);
    expect(git(p.hub, 'log', '--format=%s', `main..isollm/${id}`).split('\n')).toEqual([expect.stringMatching(/^isollm salvage: worker-1 /), 'agent: unpushed feature']);
    expect(git(p.hub, 'show', `isollm/${id}:untracked.txt`)).toBe('new');
    expect(p.sh('worker-1', 'git status --porcelain; git branch --show-current')).toBe('main\n');
    expect(byTitle(p.tasks())['a-first']).toMatchObject({ status: 'open', claimed_by: null });

    const refs = p.hubRefs();
    p.sh('worker-1', 'echo scratch > scratch.txt');
    expect(p.cli(['worker', 'reset', 'worker-1', '--force']).code).toBe(0);
    expect(p.sh('worker-1', 'git status --porcelain')).toBe('');
    expect(p.hubRefs()).toBe(refs);
  }, STEP_MS);

  it('worker remove saves unsaved work to the hub first and gives the task back; --force drops it', async () => {
    const id = claimedId(p.sh('worker-2', 'isollm-task next'));
    p.sh('worker-2', MAKE_WORK);
    const r = p.cli(['worker', 'remove', 'worker-2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Removed worker-2; released ${id}.`);
    // (The id may be the task worker-1 just gave back: then these two sit on top of its salvaged work.)
    expect(git(p.hub, 'log', '-2', '--format=%s', `isollm/${id}`).split('\n')).toEqual([expect.stringMatching(/^isollm salvage: worker-2 /), 'agent: unpushed feature']);
    expect(byTitle(p.tasks())).toMatchObject({ [Object.keys(ids).find((t) => ids[t] === id)!]: { status: 'open', claimed_by: null } });
    expect(await p.containers()).toEqual({ 'worker-1': 'Running' });
    expect(fs.readdirSync(path.join(p.root, '.isollm/sockets')).sort()).toEqual(['worker-1', 'worker-1.sock']);

    const refs = p.hubRefs();
    p.sh('worker-1', 'echo scratch > scratch.txt');
    expect(p.cli(['worker', 'remove', 'worker-1', '--force']).code).toBe(0);
    expect(p.hubRefs()).toBe(refs);
    expect(await p.containers()).toEqual({});
  }, STEP_MS);

  it('`down` twice: the second has nothing to do', () => {
    expect(hasTmuxSession()).toBe(true); // panes of removed workers are gone, the session is still there
    const first = p.cli(['down']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain(`✓ Multiplexer session stopped isollm-${p.name}`);
    expect(hasTmuxSession()).toBe(false);
    expect(fs.existsSync(path.join(p.root, '.isollm/session.json'))).toBe(false);
    expect(fs.existsSync(path.join(p.root, '.isollm/queue.pid'))).toBe(false);
    const second = p.cli(['down']);
    expect(second.stderr.trim()).toBe('✓ Nothing to do: no worker is running, and no queue or multiplexer session is up.');
    expect(second.code).toBe(0);
  }, STEP_MS);
});

describe.skipIf(!rt)('isollm down on a project that never started', () => {
  it('exits 0 with nothing to do and creates nothing', async () => {
    const p = await makeProject('fresh');
    try {
      const r = p.cli(['down']);
      expect(r.stderr.trim()).toBe('✓ Nothing to do: no worker is running, and no queue or multiplexer session is up.');
      expect(r.code).toBe(0);
      expect(fs.existsSync(p.hub)).toBe(false);
      expect(fs.readdirSync(path.join(p.root, '.isollm'))).toEqual([]);
    } finally {
      await p.cleanup();
    }
  });
});

describe.skipIf(!rt)('worker reset/remove of a stopped worker (real containers)', () => {
  let p: Project;

  beforeAll(async () => {
    p = await makeProject('st');
    p.ok(['up', '-n', '1', '--multiplexer', 'none'], CREATE_MS);
  }, CREATE_MS);

  afterAll(async () => p && (await p.cleanup()), STEP_MS);

  it('saves the work a stopped worker holds before remaking or deleting it', async () => {
    for (const command of ['reset', 'remove'] as const) {
      const id = JSON.parse(p.ok(['task', 'add', command, '--json'])).id;
      expect(claimedId(p.sh('worker-1', 'isollm-task next'))).toBe(id);
      p.sh('worker-1', MAKE_WORK);
      p.ok(['worker', 'stop', 'worker-1']);
      expect(await p.containers()).toEqual({ 'worker-1': 'Stopped' });
      const r = p.cli(['worker', command, 'worker-1'], CREATE_MS);
      expect(r.code, r.stderr).toBe(0);
      expect(git(p.hub, 'log', '--format=%s', `main..isollm/${id}`).split('\n')).toEqual([expect.stringMatching(/^isollm salvage: worker-1 /), 'agent: unpushed feature']);
      expect(git(p.hub, 'show', `isollm/${id}:untracked.txt`)).toBe('new');
      expect(byTitle(p.tasks())[command]).toMatchObject({ status: 'open', claimed_by: null });
      // The claims of the next round go to a task of its own.
      p.ok(['task', 'block', id, '--reason', 'tested']);
    }
    expect(await p.containers()).toEqual({});
  }, CREATE_MS * 2);
});
