import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ensureHub } from '../lib/hub/hub.ts';
import { describeQueue, formatSyncStatus, readSyncStatus, type TaskQueueInfo } from '../lib/hub/sync-status.ts';
import { alternatesList, checkStaleness, diffRefs, pullRefspec, pullTaskBranches, pushBranch, taskPrefix } from '../lib/hub/sync.ts';
import { quoteArg } from '../lib/cli/shell-quote.ts';
import { commitFiles, fixture, workerPush } from './hub-fixtures.ts';
import { git } from './helpers.ts';

const noQueue = async () => new Map<string, TaskQueueInfo>();
const ODD = "isollm/t$(touch${IFS}pwned);'\"&é+@x{}";

describe('sync push', () => {
  it('creates the hub, then fast-forwards, then says up to date', async () => {
    const { root, hub, config } = fixture();
    expect(await pushBranch(root, config)).toMatchObject({ result: 'new', hubCreated: true, from: null });
    const tip = commitFiles(root, { 'b.txt': 'b\n' }, 'second');
    expect(await pushBranch(root, config)).toMatchObject({ result: 'updated', hubCreated: false, to: tip });
    expect(git(hub, 'rev-parse', 'main')).toBe(tip);
    expect(await pushBranch(root, config)).toMatchObject({ result: 'up-to-date' });
  });

  it('refuses a non-fast-forward with the exact command, and --force overwrites', async () => {
    const { root, hub, config } = fixture();
    await pushBranch(root, config);
    const hubTip = workerPush(hub, 'main', { 'w.txt': 'w\n' }, 'pushed to main by someone');
    const hostTip = commitFiles(root, { 'h.txt': 'h\n' }, 'host work');
    await expect(pushBranch(root, config)).rejects.toThrow(/not a fast-forward\). Bring them in with `git pull .* main`, or overwrite the hub's with `isollm sync push --force`\.$/);
    expect(git(hub, 'rev-parse', 'main')).toBe(hubTip);
    expect(await pushBranch(root, config, { force: true })).toMatchObject({ result: 'forced', from: hubTip, to: hostTip });
    expect(git(hub, 'rev-parse', 'main')).toBe(hostTip);
  });

  it('pushes --branch with an unusual name and quotes it in the force command', async () => {
    const { root, hub, config } = fixture();
    await pushBranch(root, config);
    git(root, 'checkout', '-qb', ODD);
    commitFiles(root, { 'x.txt': 'x\n' }, 'x');
    expect(await pushBranch(root, config, { branch: ODD })).toMatchObject({ result: 'new' });
    workerPush(hub, ODD, { 'y.txt': 'y\n' }, 'y', ODD);
    commitFiles(root, { 'z.txt': 'z\n' }, 'z');
    await expect(pushBranch(root, config, { branch: ODD })).rejects.toThrow(`isollm sync push --branch ${quoteArg(ODD)} --force`);
    expect(fs.existsSync(path.join(root, 'pwned'))).toBe(false);
    await expect(pushBranch(root, config, { branch: 'no-such' })).rejects.toThrow(/No branch "no-such"/);
  });

  it('pushes the base branch from a detached HEAD, and refuses a repository without commits', async () => {
    const { root, hub, config } = fixture();
    git(root, 'checkout', '-q', '--detach');
    expect(await pushBranch(root, config)).toMatchObject({ result: 'new' });
    expect(git(hub, 'rev-parse', 'main')).toBe(git(root, 'rev-parse', 'main'));
    const empty = fixture({ commit: false });
    await expect(pushBranch(empty.root, empty.config)).rejects.toThrow(/"main" has no commits/);
    expect(fs.existsSync(empty.hub)).toBe(false);
  });
});

describe('sync pull', () => {
  it('brings task branches home as isollm/<id>, reporting new, updated and gone', async () => {
    const { root, hub, config } = fixture();
    await pushBranch(root, config);
    git(root, 'update-ref', 'refs/remotes/origin/keep', 'HEAD');
    // Settings that would widen a fetch or a push if isollm let them.
    git(root, 'tag', '-a', '-m', 'mine', 'v1');
    git(root, 'config', 'fetch.pruneTags', 'true');
    git(root, 'config', 'push.followTags', 'true');
    await pushBranch(root, config);
    workerPush(hub, 'isollm/ar-1', { 'a.txt': 'a\n' }, 'task 1');
    workerPush(hub, 'isollm/ar-2', { 'b.txt': 'b\n' }, 'task 2');
    workerPush(hub, 'unrelated', { 'c.txt': 'c\n' }, 'not a task');
    expect(await pullTaskBranches(root, config)).toEqual({ new: ['ar-1', 'ar-2'], updated: [], gone: [], unchanged: [] });

    const tip = workerPush(hub, 'isollm/ar-1', { 'a.txt': 'a2\n' }, 'task 1 again');
    git(hub, 'branch', '-D', 'isollm/ar-2');
    expect(await pullTaskBranches(root, config)).toEqual({ new: [], updated: ['ar-1'], gone: ['ar-2'], unchanged: [] });
    expect(git(root, 'for-each-ref', '--format=%(refname)', 'refs/remotes/')).toBe('refs/remotes/isollm/ar-1\nrefs/remotes/origin/keep');
    expect(await pullTaskBranches(root, config)).toEqual({ new: [], updated: [], gone: [], unchanged: ['ar-1'] });

    git(root, 'merge', '-q', '--no-edit', 'isollm/ar-1');
    expect(git(root, 'rev-parse', 'HEAD')).toBe(tip);
    expect(git(root, 'tag')).toBe('v1');
    expect(git(hub, 'tag')).toBe('');
  });

  it('honours another branch prefix and unusual task ids', async () => {
    const { root, hub, config } = fixture({ prefix: 'agent-' });
    await pushBranch(root, config);
    workerPush(hub, 'agent-7', { 'a.txt': 'a\n' }, 'seven');
    workerPush(hub, `agent-${ODD}`, { 'b.txt': 'b\n' }, 'odd');
    workerPush(hub, 'isollm/ar-1', { 'c.txt': 'c\n' }, 'default prefix, not ours');
    expect(pullRefspec('agent-')).toBe('+refs/heads/agent-*:refs/remotes/isollm/*');
    expect(await pullTaskBranches(root, config)).toMatchObject({ new: ['7', ODD].sort() });
    git(root, 'checkout', '-q', '--detach');
    git(root, 'merge', '-q', '--no-edit', 'isollm/7');
    expect(fs.readFileSync(path.join(root, 'a.txt'), 'utf8')).toBe('a\n');
    expect(fs.existsSync(path.join(root, 'pwned'))).toBe(false);
  });

  it('needs the hub, and a prefix that cannot widen the refspec', async () => {
    const { root, config } = fixture();
    await expect(pullTaskBranches(root, config)).rejects.toThrow(/No hub at/);
    expect(() => taskPrefix({ ...config, git: { ...config.git, branch_prefix: '' } })).toThrow(/branch_prefix/);
    expect(() => taskPrefix({ ...config, git: { ...config.git, branch_prefix: 'a*' } })).toThrow(/without "\*"/);
  });

  it('classifies ref snapshots', () => {
    const ns = 'refs/remotes/isollm/';
    const before = new Map([[`${ns}a`, '1'], [`${ns}b`, '2'], [`${ns}c`, '3']]);
    const after = new Map([[`${ns}a`, '1'], [`${ns}b`, '9'], [`${ns}d`, '4']]);
    expect(diffRefs(before, after, ns)).toEqual({ new: ['d'], updated: ['b'], gone: ['c'], unchanged: ['a'] });
  });
});

describe('sync status', () => {
  async function scene(prefix = 'isollm/') {
    const f = fixture({ prefix });
    commitFiles(f.root, { 'shared.txt': 'base\n' }, 'shared file');
    await pushBranch(f.root, f.config);
    workerPush(f.hub, `${prefix}clean`, { 'new.txt': 'new\n' }, 'adds new.txt');
    workerPush(f.hub, `${prefix}clash`, { 'shared.txt': 'theirs\n', 'sub/x y.txt': 'x\n' }, 'edits shared.txt');
    workerPush(f.hub, `${prefix}${ODD}`, { 'odd.txt': 'odd\n' }, 'odd one');
    git(f.hub, 'branch', `${prefix}empty`, 'main'); // no commits ahead of base: not listed
    commitFiles(f.root, { 'shared.txt': 'ours\n' }, 'host edits shared.txt');
    return f;
  }

  it('lists task branches ahead of base with queue state and merge preview, touching nothing', async () => {
    const { root, hub, config } = await scene();
    const hubObjectsBefore = git(hub, 'count-objects', '-v');
    const refsBefore = git(root, 'for-each-ref');
    const statusBefore = git(root, 'status', '--porcelain');
    const taskInfo = async (ids: string[]) => {
      expect(ids.sort()).toEqual(['clash', 'clean', ODD].sort());
      return new Map<string, TaskQueueInfo>([
        ['clean', { status: 'in_progress', claimed_by: 'worker-2' }],
        ['clash', { status: 'blocked', block_reason: 'needs a decision' }],
      ]);
    };
    const s = await readSyncStatus(root, config, { taskInfo });
    expect(s.hub).toBe(hub);
    expect(s.base).toMatchObject({ branch: 'main', ahead: 1, behind: 0 });
    const byId = Object.fromEntries(s.tasks.map((t) => [t.id, t]));
    expect(Object.keys(byId).sort()).toEqual(['clash', 'clean', ODD].sort());
    expect(byId.clean).toMatchObject({ branch: 'isollm/clean', merge_name: 'isollm/clean', ahead: 1, behind: 1, subject: 'adds new.txt', queue_word: 'in progress by worker-2', merge: { clean: true, conflicts: [] }, pulled: false });
    expect(byId.clash).toMatchObject({ queue_word: 'blocked: needs a decision', merge: { clean: false, conflicts: ['shared.txt'] } });
    expect(byId[ODD]).toMatchObject({ queue_word: 'unknown', merge: { clean: true } });
    expect(Date.now() - Date.parse(byId.clean.committed_at)).toBeLessThan(60_000);
    expect(git(root, 'for-each-ref')).toBe(refsBefore);
    expect(git(root, 'status', '--porcelain')).toBe(statusBefore);
    // The merge previews wrote their trees elsewhere: the hub holds no objects pointing into the host.
    expect(git(hub, 'count-objects', '-v')).toBe(hubObjectsBefore);
    git(hub, 'fsck', '--no-progress', '--no-dangling');

    const text = formatSyncStatus(s).join('\n');
    expect(text).toMatch(/main: 1 commit ahead of the hub → run `isollm sync push`/);
    expect(text).toMatch(/isollm\/clash \*.*blocked: needs a decision\s+✗ conflicts: shared\.txt\s+edits shared\.txt/);
    expect(text).toMatch(/isollm\/clean \*.*\d+s ago\s+in progress by worker-2\s+✓ merges cleanly/);
  });

  it('marks pulled branches, works on a detached HEAD and with another prefix', async () => {
    const { root, config } = await scene('work/');
    git(root, 'checkout', '-q', '--detach');
    await pullTaskBranches(root, config);
    const s = await readSyncStatus(root, config, { taskInfo: noQueue });
    expect(s.tasks.map((t) => t.merge_name).sort()).toEqual(['isollm/clash', 'isollm/clean', `isollm/${ODD}`].sort());
    expect(s.tasks.every((t) => t.pulled && t.branch.startsWith('work/'))).toBe(true);
  });

  it("shows an agent's commit subject and conflicting file names without their terminal control characters", async () => {
    const f = fixture();
    commitFiles(f.root, { 'shared.txt': 'base\n' }, 'shared file');
    await pushBranch(f.root, f.config);
    const escape = '\x1b]0;pwned\x07\x1b[2J';
    workerPush(f.hub, 'isollm/ar-1', { 'shared.txt': 'theirs\n', [`x${escape}.txt`]: 'x\n' }, `subject ${escape}end`);
    commitFiles(f.root, { 'shared.txt': 'ours\n', [`x${escape}.txt`]: 'ours\n' }, 'host edits');
    const text = formatSyncStatus(await readSyncStatus(f.root, f.config, { taskInfo: noQueue })).join('\n');
    expect(text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    expect(text).toContain('subject \ufffd]0;pwned\ufffd\ufffd[2Jend');
    expect(text).toContain('conflicts: shared.txt, x\ufffd]0;pwned\ufffd\ufffd[2J.txt');
  });

  it('says unknown for every task when the queue lookup fails', async () => {
    const { root, config } = await scene();
    const s = await readSyncStatus(root, config, { taskInfo: async () => { throw new Error('connection refused'); } });
    expect(s.queue_error).toBe('connection refused');
    expect(s.tasks.every((t) => t.queue_word === 'unknown')).toBe(true);
    expect(formatSyncStatus(s).join('\n')).toMatch(/Queue not reachable \(connection refused\)/);
  });

  it('works when the host repository path holds a colon', async () => {
    const f = fixture();
    const moved = path.join(path.dirname(f.root), 'with:colon "q"');
    fs.renameSync(f.root, moved);
    onTestFinished(() => fs.rmSync(moved, { recursive: true, force: true }));
    await pushBranch(moved, f.config);
    workerPush(f.hub, 'isollm/c', { 'c.txt': 'c\n' }, 'c');
    commitFiles(moved, { 'h.txt': 'h\n' }, 'host only');
    const s = await readSyncStatus(moved, f.config, { taskInfo: noQueue });
    expect(s.tasks).toMatchObject([{ id: 'c', merge: { clean: true } }]);
    expect(alternatesList(['/a', '/b:c'])).toBe('/a:"/b:c"');
  });

  it('words queue states', () => {
    expect(describeQueue(null)).toBe('unknown');
    expect(describeQueue({ status: 'done' })).toBe('done');
    expect(describeQueue({ status: 'open' })).toBe('open (not claimed)');
    expect(describeQueue({ status: 'blocked' })).toBe('blocked');
  });
});

describe('staleness check for up', () => {
  it('passes without a hub or when in step', async () => {
    const { root, config } = fixture();
    expect(await checkStaleness(root, config)).toEqual([]);
    await ensureHub(root, config);
    expect(await checkStaleness(root, config)).toEqual([]);
  });

  it('refuses when the host base is ahead unless forced', async () => {
    const { root, config } = fixture();
    await ensureHub(root, config);
    commitFiles(root, { 'b.txt': 'b\n' }, 'newer');
    await expect(checkStaleness(root, config)).rejects.toThrow(/has 1 commit the hub lacks.*Run `isollm sync push` first, or pass --force/);
    expect(await checkStaleness(root, config, { force: true })).toEqual([expect.stringMatching(/Starting anyway \(--force\)/)]);
  });

  it('warns, naming the commits, when the hub base is ahead', async () => {
    const { root, hub, config } = fixture();
    await ensureHub(root, config);
    const tip = workerPush(hub, 'main', { 'w.txt': 'w\n' }, 'hub-only commit');
    const warnings = await checkStaleness(root, config);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`has 1 commit this repository lacks: ${tip.slice(0, 7)}`);
    expect(warnings[0]).toContain('"hub-only commit"');
    expect(warnings[0]).toMatch(/git pull .* main/);
    // The lander's rebase strategy puts agents' commits on the base: their subjects come out tamed.
    workerPush(hub, 'main', { 'e.txt': 'e\n' }, 'rebased \x1b[2Jhere');
    expect((await checkStaleness(root, config))[0]).toContain('"rebased \ufffd[2Jhere"');
  });

  it('refuses a hub of another project', async () => {
    const a = fixture();
    await ensureHub(a.root, a.config);
    const b = fixture();
    await expect(checkStaleness(b.root, { ...b.config, git: { ...b.config.git, hub: a.hub } })).rejects.toThrow(/belongs to the project/);
  });
});
