// `sync pull` bringing the hub's base (where `isollm land` puts finished work) into the host's base:
// a fast-forward only, never over local changes, a base checked out elsewhere, or local commits.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureHub } from '../lib/hub/hub.ts';
import { describeBasePull, hostFiles, pullBase } from '../lib/hub/sync.ts';
import { commitFiles, fixture, workerPush } from './hub-fixtures.ts';
import { git, tmpDir } from './helpers.ts';

async function landed() {
  const f = fixture();
  await ensureHub(f.root, f.config);
  const tip = workerPush(f.hub, 'main', { 'landed.txt': 'landed\n' }, 'landed work');
  return { ...f, tip };
}

describe('pullBase', () => {
  it('fast-forwards a clean, checked-out base and says so', async () => {
    const { root, hub, config, tip } = await landed();
    const before = git(root, 'rev-parse', 'main');
    const r = await pullBase(root, config, hub);
    expect(r).toMatchObject({ result: 'fast-forwarded', from: before, to: tip, commits: 1 });
    expect(git(root, 'rev-parse', 'main')).toBe(tip);
    expect(fs.readFileSync(path.join(root, 'landed.txt'), 'utf8')).toBe('landed\n');
    expect(describeBasePull(r)).toBe(`main: fast-forwarded ${before.slice(0, 7)} → ${tip.slice(0, 7)} (1 commit from the hub).`);
    expect((await pullBase(root, config, hub)).result).toBe('up-to-date');
  });

  it('never touches a working tree with local changes', async () => {
    const { root, hub, config } = await landed();
    const before = git(root, 'rev-parse', 'main');
    fs.writeFileSync(path.join(root, 'README.md'), 'my edit\n');
    const r = await pullBase(root, config, hub);
    expect(r.result).toBe('dirty');
    expect(describeBasePull(r)).toMatch(/uncommitted changes. Commit or stash them/);
    expect(git(root, 'rev-parse', 'main')).toBe(before);
    expect(fs.readFileSync(path.join(root, 'README.md'), 'utf8')).toBe('my edit\n');
    expect(fs.existsSync(path.join(root, 'landed.txt'))).toBe(false);
  });

  it('moves a base that is not checked out; leaves one checked out in another worktree', async () => {
    const { root, hub, config, tip } = await landed();
    git(root, 'checkout', '-q', '-b', 'feature');
    expect((await pullBase(root, config, hub)).result).toBe('fast-forwarded');
    expect(git(root, 'rev-parse', 'main')).toBe(tip);
    expect(git(root, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('feature');

    const other = await landed();
    git(other.root, 'checkout', '-q', '-b', 'feature');
    git(other.root, 'worktree', 'add', '-q', path.join(tmpDir(), 'wt'), 'main');
    expect((await pullBase(other.root, other.config, other.hub)).result).toBe('checked-out-elsewhere');
  });

  it('local commits the hub lacks: left alone (ahead or diverged)', async () => {
    const { root, hub, config } = await landed();
    const mine = commitFiles(root, { 'mine.txt': 'm\n' }, 'mine');
    const r = await pullBase(root, config, hub);
    expect(r.result).toBe('diverged');
    expect(describeBasePull(r)).toContain('git merge refs/isollm/hub/main');
    expect(git(root, 'rev-parse', 'main')).toBe(mine);
  });

  it('landed work that changes what runs on the host (isollm.yaml, a template or notify program it names) is left for the user to merge', async () => {
    for (const file of ['isollm.yaml', 'tools/layout.kdl', 'tools/notify.sh']) {
      const f = fixture();
      f.config.multiplexer.template = 'tools/layout.kdl';
      f.config.notify.command = ['./tools/notify.sh', '--quiet'];
      await ensureHub(f.root, f.config);
      const before = git(f.root, 'rev-parse', 'main');
      workerPush(f.hub, 'main', { [file]: 'changed by an agent\n', 'other.txt': 'x\n' }, 'landed work');
      const r = await pullBase(f.root, f.config, f.hub);
      expect(r).toMatchObject({ result: 'host-files-changed', detail: file });
      expect(git(f.root, 'rev-parse', 'main')).toBe(before);
      expect(describeBasePull(r)).toBe(`main: not updated: the hub's main changes ${file}, which decides what isollm runs on this machine. Look first (\`git diff main refs/isollm/hub/main -- ${file}\`), then \`git merge --ff-only refs/isollm/hub/main\`.`);
    }
    // A notify program found on PATH is no file of the repository.
    expect(hostFiles('/r', { ...fixture().config, notify: { command: ['notify-send'] } })).toEqual(['isollm.yaml']);
  });
});
