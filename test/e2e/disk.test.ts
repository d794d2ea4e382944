// A worker's own disk on real containers: `runtime.pool` puts the base and its workers on a pool of
// the test's own (btrfs on a loop file, so the quotas it turns on touch no other container), and
// `limits.disk` sizes each worker's root disk: writes beyond it fail inside, the clone stays sound,
// and space freed is space again. A pool that does not exist is one clear line.
// Needs `npm run test-env` (skips visibly without it; CI requires it).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteInstance, execIn, listInstances, runClient } from '../../lib/runtime/client.ts';
import { freePort, git, NODE, ROOT } from '../helpers.ts';
import { e2eRuntime, TEST_IMAGE } from './runtime-available.ts';

const rt = await e2eRuntime('disk');
const ISOLLM = path.join(ROOT, 'scripts', 'isollm.mts');
const TIMEOUT_MS = 300_000;
const id = crypto.randomBytes(3).toString('hex');

function cli(root: string, ...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    delete env.INIT_CWD;
    const child = spawn(NODE, [ISOLLM, ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: TIMEOUT_MS });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

describe.skipIf(!rt)("a worker's disk (limits.disk on runtime.pool)", () => {
  const runtime = rt!;
  const work = rt ? fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-e2e-disk-')) : '';
  const project = `e2e-disk-${id}`;
  const pool = project;
  const root = path.join(work, 'repo');
  const container = `${project}-worker-1`;
  let added = { code: -1, out: '' };

  beforeAll(async () => {
    const made = await runClient(runtime, ['storage', 'create', pool, 'btrfs', 'size=3GiB'], { timeout: 120_000 });
    if (made.exitCode !== 0) throw new Error(`storage create: ${made.stderr}`);
    fs.mkdirSync(root, { recursive: true });
    git(root, 'init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(root, 'README.md'), '# disk\n');
    fs.writeFileSync(path.join(root, '.gitignore'), '.isollm/\n');
    const yaml = `project: ${project}\nimage: ${TEST_IMAGE}\nqueue:\n  port: ${await freePort()}\ngit:\n  hub: ${path.join(work, 'hub.git')}\nlimits:\n  disk: 900MiB\nruntime:\n  pool: ${pool}\nagent:\n  install: false\n`; // no network here for the preset's CLI
    fs.writeFileSync(path.join(root, 'isollm.yaml'), yaml);
    git(root, 'add', '.');
    git(root, 'commit', '-qm', 'initial');
    added = await cli(root, 'worker', 'add');
  }, TIMEOUT_MS);

  afterAll(async () => {
    for (const i of await listInstances(runtime, project)) await deleteInstance(runtime, i.name).catch(() => undefined);
    await cli(root, 'queue', 'stop');
    await runClient(runtime, ['storage', 'delete', pool], { timeout: 120_000 }).catch(() => undefined);
    fs.rmSync(work, { recursive: true, force: true });
  }, TIMEOUT_MS);

  it('puts the worker on the pool with a root disk of that size; a write beyond it fails, the clone stays sound, and freed space is space again', async () => {
    expect(added.code, added.out).toBe(0);
    const worker = (await listInstances(runtime, project)).find((i) => i.name === container)!;
    expect(worker.devices.root).toMatchObject({ pool, size: '900MiB' });
    // The base's ~0.4 GiB count too (a worker's usage includes what it shares with the base).
    const fill = await execIn(runtime, container, ['sh', '-c', 'dd if=/dev/zero of=/var/tmp/fill bs=1M count=2000 2>&1; echo "rc=$?"'], { timeout: 120_000 });
    expect(fill.stdout).toMatch(/Disk quota exceeded|No space left on device/);
    const dev = { user: Number(worker.config['user.isollm.dev-uid']), group: Number(worker.config['user.isollm.dev-gid']), cwd: '/home/dev/project', env: { HOME: '/home/dev' } };
    const head = await execIn(runtime, container, ['git', 'rev-parse', 'HEAD'], dev);
    const commit = await execIn(runtime, container, ['sh', '-c', 'head -c 1048576 /dev/urandom > big; git add big && git commit -qm big'], { ...dev, timeout: 60_000 });
    expect(commit.exitCode).not.toBe(0);
    expect(commit.stderr).toMatch(/quota|space/i);
    expect((await execIn(runtime, container, ['git', 'rev-parse', 'HEAD'], dev)).stdout).toBe(head.stdout);
    const fsck = await execIn(runtime, container, ['git', '-c', 'safe.directory=*', '-C', '/home/dev/project', 'fsck', '--no-progress'], { timeout: 60_000 });
    expect(fsck.exitCode, fsck.stderr).toBe(0);
    await execIn(runtime, container, ['rm', '-f', '/var/tmp/fill', '/home/dev/project/big'], { timeout: 60_000 });
    const again = await execIn(runtime, container, ['sh', '-c', 'head -c 1048576 /dev/zero > /var/tmp/after && rm /var/tmp/after'], { timeout: 60_000 });
    expect(again.exitCode, again.stderr).toBe(0);
  }, TIMEOUT_MS);

  it('a runtime.pool that does not exist is one clear line', async () => {
    const other = path.join(work, 'other');
    fs.mkdirSync(other);
    git(other, 'init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(other, 'isollm.yaml'), `project: e2e-nopool-${id}\nimage: ${TEST_IMAGE}\nqueue:\n  port: ${await freePort()}\ngit:\n  hub: ${path.join(work, 'other.git')}\nruntime:\n  pool: no-such-pool-${id}\n`);
    fs.writeFileSync(path.join(other, 'README.md'), '# other\n');
    git(other, 'add', '.');
    git(other, 'commit', '-qm', 'initial');
    const r = await cli(other, 'worker', 'add');
    await cli(other, 'queue', 'stop');
    expect(r.code).toBe(1);
    expect(r.out).toContain(`runtime.pool: there is no storage pool "no-such-pool-${id}"`);
    expect(r.out).not.toMatch(/\n\s+at /);
    expect(await listInstances(runtime, `e2e-nopool-${id}`)).toEqual([]);
  }, TIMEOUT_MS);
});
