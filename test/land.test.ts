// Landing with real parts: a real hub (git), the real queue server over HTTP (a worker on its own
// socket), task branches started on the host side, and `land` integrating, testing and handing
// back. The test runner here is a host-side stand-in that reads the candidate's files with git (it
// runs no project code); the real container runner is in test/e2e/land.test.ts.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ensureHub } from '../lib/hub/hub.ts';
import { hubTaskStarts, taskStartConfig } from '../lib/hub/task-start.ts';
import { failureSummary, land, type LandEvent } from '../lib/land/land.ts';
import { landNowFile, readLandNow, type LandNow } from '../lib/land/now.ts';
import type { Tester } from '../lib/land/tester.ts';
import { QueueClient } from '../lib/queue/client.ts';
import { startServer } from '../lib/queue/server.ts';
import type { Config } from '../lib/config/load.ts';
import { fixture } from './hub-fixtures.ts';
import { git, tmpDir } from './helpers.ts';
import { call } from './queue-helpers.ts';

async function setup(edit: (c: Config) => void = () => {}) {
  const f = fixture();
  // The stand-in tester below ignores the argv; a non-empty land.test is what makes land test at all.
  f.config.land.test = ['stand-in'];
  edit(f.config);
  await ensureHub(f.root, f.config);
  const dir = tmpDir('isollm-land-queue-');
  const server = await startServer({ dbFile: path.join(dir, 'queue.db'), port: 0, socketsDir: path.join(dir, 'sockets'), prepareStart: hubTaskStarts(taskStartConfig(f.config)) });
  onTestFinished(() => server.close());
  const host = new QueueClient(server.url, 'demo', { agent: 'host:test' });
  const socket = (await server.addSocket('worker-1')).path;
  const worker = new QueueClient(`unix:${socket}`, 'demo');
  onTestFinished(() => (host.close(), worker.close()));
  const clone = path.join(tmpDir('isollm-land-worker-'), 'project');
  git(path.dirname(clone), 'clone', '-q', f.hub, clone);
  return { ...f, server, host, worker, socket, clone };
}
type Setup = Awaited<ReturnType<typeof setup>>;

/** What the loop does: claim next, check out the branch the hub has for it, change files, push, done. */
async function work(s: Setup, files: (tree: (p: string) => string | null) => Record<string, string>, options: { done?: boolean } = {}) {
  const task = await s.worker.claimNext();
  if (!task) throw new Error('nothing ready');
  const branch = `isollm/${task.id}`;
  git(s.clone, 'fetch', '-q', '--prune', 'origin');
  git(s.clone, 'checkout', '-q', '-f', '-B', branch, `origin/${branch}`);
  const read = (p: string) => (fs.existsSync(path.join(s.clone, p)) ? fs.readFileSync(path.join(s.clone, p), 'utf8') : null);
  for (const [p, text] of Object.entries(files(read))) fs.writeFileSync(path.join(s.clone, p), text);
  git(s.clone, 'add', '-A');
  git(s.clone, 'commit', '-qm', `${task.id}: ${task.title}`);
  git(s.clone, 'push', '-q', 'origin', `HEAD:refs/heads/${branch}`);
  if (options.done !== false) await s.worker.done(task.id);
  return task;
}

/** A stand-in tester: passes when `check` says so about the candidate's files (read with git show). */
function fileTester(hub: string, check: (read: (p: string) => string | null) => string | null) {
  const runs: string[] = [];
  const open = async (): Promise<Tester> => ({
    container: 'host-stand-in',
    async run(commit) {
      runs.push(commit);
      const read = (p: string) => {
        try {
          return git(hub, 'show', `${commit}:${p}`);
        } catch {
          return null;
        }
      };
      const problem = check(read);
      return { passed: problem === null, exitCode: problem === null ? 0 : 1, tail: problem ?? 'ok', seconds: 0 };
    },
    async close() {},
  });
  return { open, runs };
}

const hubFile = (hub: string, p: string) => git(hub, 'show', `main:${p}`);

describe('task branches start from their parents', () => {
  it('a chain A → B → C: each starts with its parents work; landed parents are simply the base', async () => {
    const s = await setup();
    const a = await s.host.createTask({ title: 'A' });
    const b = await s.host.createTask({ title: 'B' });
    const c = await s.host.createTask({ title: 'C' });
    await s.host.addDep(b.id, a.id);
    await s.host.addDep(c.id, b.id);
    const base = git(s.hub, 'rev-parse', 'main');

    await work(s, () => ({ 'a.txt': 'A\n' }));
    await work(s, (read) => ({ 'b.txt': `${read('a.txt')}B\n` }));
    const bTask = await s.host.getTask(b.id);
    expect(bTask.based_on).toBe(`main@${base.slice(0, 7)} + isollm/${a.id}@${git(s.hub, 'rev-parse', `isollm/${a.id}`).slice(0, 7)}`);
    expect(git(s.hub, 'merge-base', '--is-ancestor', `isollm/${a.id}`, `isollm/${b.id}`)).toBe('');

    // Land A before C starts: C starts from the base (which has A) plus B.
    const r = await land(s.root, s.config, { ids: [a.id] }, { queue: s.host, openTester: fileTester(s.hub, () => null).open });
    expect(r.landed.map((l) => l.id)).toEqual([a.id]);
    const cTask = await work(s, (read) => ({ 'c.txt': `${read('b.txt')}C\n` }));
    const cInfo = await s.host.getTask(cTask.id);
    expect(cInfo.based_on).toMatch(new RegExp(`^main@${git(s.hub, 'rev-parse', 'main').slice(0, 7)} \\+ isollm/${b.id}@`));
    expect(cInfo.based_on).not.toContain(a.id);
    expect(git(s.hub, 'show', `isollm/${c.id}:c.txt`)).toBe('A\nB\nC');
  });

  it('parents whose branches conflict: the child is blocked naming the files, the next task is given instead', async () => {
    const s = await setup();
    const p1 = await s.host.createTask({ title: 'P1', priority: 0 });
    const p2 = await s.host.createTask({ title: 'P2', priority: 0 });
    const child = await s.host.createTask({ title: 'child', priority: 0 });
    const other = await s.host.createTask({ title: 'other', priority: 4 });
    await s.host.addDep(child.id, p1.id);
    await s.host.addDep(child.id, p2.id);
    await work(s, () => ({ 'same.txt': 'one\n' }));
    await work(s, () => ({ 'same.txt': 'two\n' }));
    const next = await s.worker.claimNext();
    expect(next?.id).toBe(other.id);
    const blocked = await s.host.getTask(child.id);
    expect(blocked.status).toBe('blocked');
    expect(blocked.block_reason).toContain('same.txt');
    expect(blocked.block_reason).toContain(`isollm/${p1.id}, isollm/${p2.id}`);
    expect(git(s.hub, 'branch', '--list', `isollm/${child.id}`)).toBe('');
  });

  it('a branch that exists already is continued, not replaced', async () => {
    const s = await setup();
    const t = await s.host.createTask({ title: 'T' });
    const tip = git(s.hub, 'rev-parse', 'main');
    git(s.clone, 'checkout', '-q', '-b', `isollm/${t.id}`);
    fs.writeFileSync(path.join(s.clone, 'early.txt'), 'x\n');
    git(s.clone, 'add', '-A');
    git(s.clone, 'commit', '-qm', 'early');
    git(s.clone, 'push', '-q', 'origin', `HEAD:refs/heads/isollm/${t.id}`);
    const early = git(s.clone, 'rev-parse', 'HEAD');
    await s.worker.claimNext();
    expect(git(s.hub, 'rev-parse', `isollm/${t.id}`)).toBe(early);
    expect(git(s.hub, 'rev-parse', 'main')).toBe(tip);
    expect((await s.host.getTask(t.id)).based_on).toBeUndefined();
  });
});

describe('isollm land', () => {
  it('lands a chain in dependency order with a test that checks the files; the base holds A, B, C', async () => {
    const s = await setup();
    const a = await s.host.createTask({ title: 'A', priority: 3 });
    const b = await s.host.createTask({ title: 'B', priority: 0 });
    const c = await s.host.createTask({ title: 'C', priority: 0 });
    await s.host.addDep(b.id, a.id);
    await s.host.addDep(c.id, b.id);
    await work(s, () => ({ 'a.txt': 'A\n' }));
    await work(s, (read) => ({ 'b.txt': `${read('a.txt')}B\n` }));
    await work(s, (read) => ({ 'c.txt': `${read('b.txt')}C\n` }));
    const tester = fileTester(s.hub, (read) => (read('c.txt') === null || read('c.txt') === 'A\nB\nC' ? null : 'c.txt is wrong'));
    const dry = await land(s.root, s.config, { dryRun: true }, { queue: s.host, openTester: tester.open });
    expect(dry.plan.map((t) => t.id)).toEqual([a.id, b.id, c.id]);
    expect(git(s.hub, 'rev-parse', 'main')).toBe(dry.from);

    const events: LandEvent[] = [];
    const r = await land(s.root, s.config, {}, { queue: s.host, openTester: tester.open, event: (e) => events.push(e) });
    expect(r.landed.map((l) => l.id)).toEqual([a.id, b.id, c.id]);
    expect(r.test_runs).toBe(3);
    expect(events.map((e) => e.kind)).toContain('testing');
    expect([hubFile(s.hub, 'a.txt'), hubFile(s.hub, 'b.txt'), hubFile(s.hub, 'c.txt')]).toEqual(['A', 'A\nB', 'A\nB\nC']);
    const landed = await s.host.listLanded(true);
    expect(landed.map((t) => t.id).sort()).toEqual([a.id, b.id, c.id].sort());
    expect((await s.host.getTask(c.id)).landed_commit).toBe(git(s.hub, 'rev-parse', 'main'));
    expect(await s.host.listLanded(false)).toEqual([]);
    // Every task branch is untouched and contained in the base.
    for (const t of [a, b, c]) expect(git(s.hub, 'merge-base', '--is-ancestor', `isollm/${t.id}`, 'main')).toBe('');
  });

  it('two tasks editing the same line: the second is reopened with the conflict, fixed on its branch, and lands', async () => {
    const s = await setup();
    const first = await s.host.createTask({ title: 'first', priority: 1 });
    const second = await s.host.createTask({ title: 'second', priority: 2 });
    await work(s, () => ({ 'README.md': '# first\n' }));
    await work(s, () => ({ 'README.md': '# second\n' }));
    const tester = fileTester(s.hub, () => null);
    const r = await land(s.root, s.config, {}, { queue: s.host, openTester: tester.open });
    expect(r.landed.map((l) => l.id)).toEqual([first.id]);
    expect(r.handed_back).toMatchObject([{ id: second.id, reason: 'conflict in README.md', status: 'open', attempts: 1 }]);
    const reopened = await s.host.getTask(second.id);
    expect(reopened).toMatchObject({ status: 'open', land_attempts: 1 });
    expect(reopened.claimed_by).toBeUndefined();
    expect(reopened.land_failure).toMatch(/conflicted in: README\.md \(attempt 1 of 3\)/);
    const before = git(s.hub, 'rev-parse', `isollm/${second.id}`);

    // The next claim gets the same branch (and, in text, the note); the agent merges the base and resolves.
    const text = await call({ unix: s.socket }, 'POST', '/v1/projects/demo/tasks/next/claim', { headers: { Accept: 'text/plain' } });
    expect(text.text).toMatch(/^id: /);
    expect(text.text).toMatch(/description: Landing this task failed; fix it on this branch:\nLanding onto main@/);
    git(s.clone, 'fetch', '-q', 'origin');
    git(s.clone, 'checkout', '-q', '-f', '-B', `isollm/${second.id}`, `origin/isollm/${second.id}`);
    expect(spawnFails(() => git(s.clone, 'merge', '-q', 'origin/main'))).toBe(true);
    fs.writeFileSync(path.join(s.clone, 'README.md'), '# first and second\n');
    git(s.clone, 'commit', '-qam', 'resolve');
    git(s.clone, 'push', '-q', 'origin', `HEAD:refs/heads/isollm/${second.id}`);
    await s.worker.done(second.id);
    expect(git(s.hub, 'merge-base', '--is-ancestor', before, `isollm/${second.id}`)).toBe('');

    const again = await land(s.root, s.config, {}, { queue: s.host, openTester: tester.open });
    expect(again.landed.map((l) => l.id)).toEqual([second.id]);
    expect(hubFile(s.hub, 'README.md')).toBe('# first and second');
  });

  it('a task that breaks the test: reopened with the output, blocked after land.max_attempts; the base never has it', async () => {
    const s = await setup((c) => (c.land.max_attempts = 2));
    const bad = await s.host.createTask({ title: 'breaks it' });
    await work(s, () => ({ 'broken.txt': 'x\n' }));
    const tester = fileTester(s.hub, (read) => (read('broken.txt') ? 'FAIL: broken.txt must not exist\n1 failed' : null));
    const base = git(s.hub, 'rev-parse', 'main');
    const r1 = await land(s.root, s.config, {}, { queue: s.host, openTester: tester.open });
    expect(r1.handed_back).toMatchObject([{ id: bad.id, status: 'open', attempts: 1 }]);
    expect((await s.host.getTask(bad.id)).land_failure).toContain('FAIL: broken.txt must not exist');
    await work(s, () => ({ 'other.txt': 'still broken\n' }));
    const r2 = await land(s.root, s.config, {}, { queue: s.host, openTester: tester.open });
    expect(r2.handed_back).toMatchObject([{ id: bad.id, status: 'blocked', attempts: 2 }]);
    const t = await s.host.getTask(bad.id);
    expect(t.status).toBe('blocked');
    expect(t.block_reason).toMatch(/^landing failed 2 times/);
    expect(git(s.hub, 'rev-parse', 'main')).toBe(base);
    expect(tester.runs.length).toBe(2);
  });

  it.each(['merge', 'squash', 'rebase'] as const)('strategy %s: the base gets the work, task branches keep every commit', async (strategy) => {
    const s = await setup((c) => (c.land.strategy = strategy));
    await s.host.createTask({ title: 'one' });
    await s.host.createTask({ title: 'two' });
    const t1 = await work(s, () => ({ 'one.txt': '1\n' }));
    const t2 = await work(s, () => ({ 'two.txt': '2\n' }));
    const tips = [t1, t2].map((t) => git(s.hub, 'rev-parse', `isollm/${t.id}`));
    const r = await land(s.root, s.config, {}, { queue: s.host, openTester: fileTester(s.hub, () => null).open });
    expect(r.landed.length).toBe(2);
    expect([hubFile(s.hub, 'one.txt'), hubFile(s.hub, 'two.txt')]).toEqual(['1', '2']);
    expect([t1, t2].map((t) => git(s.hub, 'rev-parse', `isollm/${t.id}`))).toEqual(tips);
    const parents = git(s.hub, 'log', '--format=%p', '-1', 'main').split(' ').length;
    expect(parents).toBe(strategy === 'merge' ? 2 : 1);
    expect(git(s.hub, 'for-each-ref', 'refs/isollm/')).toBe('');
  });

  it('--batch 8 with one bad task: bisected within 1 + 2·log2 8 runs; the seven good ones land', async () => {
    const s = await setup();
    for (let i = 0; i < 8; i++) await s.host.createTask({ title: `t${i}` });
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await work(s, () => ({ [`f${i}.txt`]: i === 5 ? 'BAD\n' : 'ok\n' }))).id);
    const tester = fileTester(s.hub, (read) => (read('f5.txt') === 'BAD' ? 'f5.txt is BAD' : null));
    const r = await land(s.root, s.config, { batch: 8 }, { queue: s.host, openTester: tester.open });
    expect(r.test_runs).toBeLessThanOrEqual(7);
    expect(r.handed_back.map((h) => h.id)).toEqual([ids[5]]);
    expect(r.landed.map((l) => l.id).sort()).toEqual(ids.filter((_, i) => i !== 5).sort());
  });

  it('refuses to move the base when someone pushed to it meanwhile, and says to run it again', async () => {
    const s = await setup();
    await s.host.createTask({ title: 'one' });
    await work(s, () => ({ 'one.txt': '1\n' }));
    const tester = fileTester(s.hub, () => {
      // Someone pushes to the base while the test runs.
      git(s.clone, 'checkout', '-q', '-f', '-B', 'main', 'origin/main');
      fs.writeFileSync(path.join(s.clone, 'pushed.txt'), 'p\n');
      git(s.clone, 'add', '-A');
      git(s.clone, 'commit', '-qm', 'pushed meanwhile');
      git(s.clone, 'push', '-q', 'origin', 'main');
      return null;
    });
    await expect(land(s.root, s.config, {}, { queue: s.host, openTester: tester.open })).rejects.toThrow(/moved while landing.*Run `isollm land` again/);
    expect(hubFile(s.hub, 'pushed.txt')).toBe('p');
    expect(await s.host.listLanded(true)).toEqual([]);
  });
});

describe('failure lines on the terminal', () => {
  it("name an agent's conflicting files without their terminal control characters", () => {
    expect(failureSummary({ kind: 'conflict', files: ['a.txt', 'x\x1b]0;pwned\x07.txt'], base: 'f'.repeat(40) })).toBe('conflict in a.txt, x\ufffd]0;pwned\ufffd.txt');
  });
});

describe('what the train does now, for `isollm status`', () => {
  it('while land.test runs, land-now.json names the batch under test; gone when the run ends', async () => {
    const s = await setup();
    await s.host.createTask({ title: 'one' });
    await s.host.createTask({ title: 'two' });
    const one = await work(s, () => ({ 'one.txt': '1\n' }));
    const two = await work(s, () => ({ 'two.txt': '2\n' }));
    const stateDir = path.join(s.root, '.isollm');
    const seen: (LandNow | null)[] = [];
    const tester = async (): Promise<Tester> => ({
      container: 'host-stand-in',
      async run() {
        seen.push(readLandNow(stateDir));
        return { passed: true, exitCode: 0, tail: 'ok', seconds: 0 };
      },
      async close() {},
    });
    const r = await land(s.root, s.config, { batch: 2 }, { queue: s.host, openTester: tester });
    expect(r.landed.map((l) => l.id)).toEqual([one.id, two.id]);
    expect(seen).toEqual([{ step: 'testing', tasks: [one.id, two.id], since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) }]);
    expect(readLandNow(stateDir)).toBeNull();
    expect(fs.existsSync(landNowFile(stateDir))).toBe(false);
    // A file left by a run that was killed names a dead pid: not shown.
    fs.writeFileSync(landNowFile(stateDir), JSON.stringify({ pid: 2 ** 22 + 1, step: 'testing', tasks: ['x'], since: 'then' }));
    expect(readLandNow(stateDir)).toBeNull();
  });
});

describe('queue landing endpoints', () => {
  it('workers may not mark landed or reopen; bad input is refused with the contract errors', async () => {
    const s = await setup();
    const t = await s.host.createTask({ title: 'x' });
    const unix = { unix: s.socket };
    expect((await call(unix, 'POST', `/v1/projects/demo/tasks/${t.id}/landed`, { body: { commit: 'abcdef1' } })).json.error.code).toBe('FORBIDDEN');
    expect((await call(unix, 'POST', `/v1/projects/demo/tasks/${t.id}/reopen`, { body: { note: 'n' } })).json.error.code).toBe('FORBIDDEN');
    const tcp = { port: s.server.port };
    expect((await call(tcp, 'POST', `/v1/projects/demo/tasks/${t.id}/landed`, { body: { commit: 'abcdef1' } })).json.error).toMatchObject({ code: 'INVALID_TRANSITION', context: { from: 'open', to: 'landed' } });
    expect((await call(tcp, 'POST', `/v1/projects/demo/tasks/${t.id}/landed`, { body: { commit: 'main' } })).status).toBe(400);
    expect((await call(tcp, 'POST', `/v1/projects/demo/tasks/${t.id}/reopen`, { body: {} })).json.error.context.details).toEqual(['note is required']);
    expect((await call(tcp, 'GET', '/v1/projects/demo/tasks?landed=maybe')).status).toBe(400);
    // A task never tried keeps airyra's shape: no landing fields.
    expect(Object.keys((await call(tcp, 'GET', `/v1/projects/demo/tasks/${t.id}`)).json).sort()).toEqual(['created_at', 'id', 'priority', 'status', 'title', 'updated_at']);
  });
});

function spawnFails(f: () => void): boolean {
  try {
    f();
    return false;
  } catch {
    return true;
  }
}
