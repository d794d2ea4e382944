import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureHub, gcHub, HUB_PROJECT_KEY, inspectHub, requireHub } from '../lib/hub/hub.ts';
import { fixture, workerPush } from './hub-fixtures.ts';
import { git, gitRepo, tmpDir } from './helpers.ts';

describe('hub', () => {
  it('creates a bare, group-shared hub seeded with the base branch and owned by the project', async () => {
    const { root, hub, config } = fixture();
    expect(await ensureHub(root, config)).toEqual({ hub, created: true });
    expect(git(hub, 'rev-parse', '--is-bare-repository')).toBe('true');
    expect(git(hub, 'config', 'gc.auto')).toBe('0');
    expect(git(hub, 'config', 'core.sharedRepository')).toBe('1'); // "group"
    expect(git(hub, 'config', '--bool', 'receive.denyNonFastForwards')).toBe('false');
    expect(git(hub, 'config', HUB_PROJECT_KEY)).toBe(fs.realpathSync(root));
    expect(git(hub, 'rev-parse', 'main')).toBe(git(root, 'rev-parse', 'main'));
    expect(git(hub, 'symbolic-ref', 'HEAD')).toBe('refs/heads/main');
    expect(await ensureHub(root, config)).toEqual({ hub, created: false });
  });

  it('keeps what a worker pushes group-writable', async () => {
    const { root, hub, config } = fixture();
    await ensureHub(root, config);
    workerPush(hub, 'isollm/t1', { 'a.txt': 'a\n' }, 'work');
    const ref = fs.statSync(path.join(hub, 'refs', 'heads', 'isollm', 't1'));
    expect(ref.mode & 0o060).toBe(0o060);
    const dir = fs.statSync(path.join(hub, 'refs', 'heads', 'isollm'));
    expect(dir.mode & 0o2070).toBe(0o2070); // setgid + group rwx
  });

  it('refuses to create a hub when the base branch has no commits, leaving nothing behind', async () => {
    const { root, hub, config } = fixture({ commit: false });
    await expect(ensureHub(root, config)).rejects.toThrow(/base branch "main" has no commits.*git\.base_branch/);
    expect(fs.existsSync(hub)).toBe(false);
    const other = fixture();
    await expect(ensureHub(other.root, { ...other.config, git: { ...other.config.git, base_branch: 'develop' } })).rejects.toThrow(/"develop"/);
  });

  it('refuses a project directory that is not a git repository', async () => {
    const { hub, config } = fixture();
    await expect(ensureHub(tmpDir(), config)).rejects.toThrow(/is not a git repository/);
    expect(fs.existsSync(hub)).toBe(false);
  });

  it('refuses a hub that belongs to another project with the same name', async () => {
    const a = fixture();
    await ensureHub(a.root, a.config);
    const b = gitRepo();
    const err = await ensureHub(b, a.config).catch((e: Error) => e);
    expect(String(err)).toMatch(new RegExp(`belongs to the project in ${fs.realpathSync(a.root)}\\. Set git\\.hub in isollm\\.yaml`));
    await expect(requireHub(b, a.config)).rejects.toThrow(/belongs to the project/);
    expect(git(a.hub, 'config', HUB_PROJECT_KEY)).toBe(fs.realpathSync(a.root));
  });

  it('says how to re-own the hub when its project moved away', async () => {
    const a = fixture();
    await ensureHub(a.root, a.config);
    git(a.hub, 'config', HUB_PROJECT_KEY, '/nonexistent/old/place');
    await expect(requireHub(a.root, a.config)).rejects.toThrow(/no longer there.*git -C .* config isollm\.project-path/);
  });

  it('refuses a path that is not a bare repository and adopts an unclaimed bare one', async () => {
    const { root, hub, config } = fixture();
    fs.mkdirSync(hub, { recursive: true });
    fs.writeFileSync(path.join(hub, 'notes.txt'), 'mine\n');
    expect(await inspectHub(hub, root)).toEqual({ kind: 'not-a-hub' });
    await expect(ensureHub(root, config)).rejects.toThrow(/not a bare git repository/);
    expect(fs.readFileSync(path.join(hub, 'notes.txt'), 'utf8')).toBe('mine\n');

    const bare = path.join(tmpDir(), 'mine.git');
    git(root, 'clone', '-q', '--bare', root, bare);
    expect(await inspectHub(bare, root)).toEqual({ kind: 'ours' });
    expect(git(bare, 'config', HUB_PROJECT_KEY)).toBe(fs.realpathSync(root));
  });

  it('tells the user how to create a missing hub', async () => {
    const { root, config } = fixture();
    await expect(requireHub(root, config)).rejects.toThrow(/No hub at .* Run `isollm sync push`/);
  });

  it('runs gc only when no worker runs', async () => {
    const { root, hub, config } = fixture();
    await ensureHub(root, config);
    workerPush(hub, 'isollm/t1', { 'a.txt': 'a\n' }, 'work');
    const loose = () => Number(/^count: (\d+)/m.exec(git(hub, 'count-objects', '-v'))![1]);
    expect(loose()).toBeGreaterThan(0);
    expect(await gcHub(hub, { workersRunning: true })).toBe(false);
    expect(loose()).toBeGreaterThan(0);
    expect(await gcHub(hub, { workersRunning: false })).toBe(true);
    expect(loose()).toBe(0);
    expect(git(hub, 'config', 'gc.auto')).toBe('0');
  });
});

describe('hub hooks never run on the host', () => {
  it('sync push and gc ignore hooks a worker planted in the hub', async () => {
    const { ensureHub, gcHub } = await import('../lib/hub/hub.ts');
    const { pushBranch } = await import('../lib/hub/sync.ts');
    const { defaults } = await import('../lib/config/load.ts');
    const root = gitRepo();
    const config = defaults('demo');
    config.git.hub = path.join(tmpDir(), 'hub.git');
    await ensureHub(root, config);
    const marker = path.join(tmpDir(), 'pwned');
    for (const hook of ['pre-receive', 'update', 'post-receive', 'reference-transaction', 'pre-auto-gc']) {
      fs.writeFileSync(path.join(config.git.hub, 'hooks', hook), `#!/bin/sh\necho ${hook} >> ${marker}\n`, { mode: 0o755 });
    }
    fs.writeFileSync(path.join(root, 'more.txt'), 'x\n');
    git(root, 'add', '.');
    git(root, 'commit', '-qm', 'more');
    expect((await pushBranch(root, config, {})).result).toBe('updated');
    expect(await gcHub(config.git.hub, { workersRunning: false })).toBe(true);
    expect(fs.existsSync(marker)).toBe(false);
  });
});
