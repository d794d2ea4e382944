import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { defaults, MAX_PROJECT_NAME } from '../lib/config/load.ts';
import { basesOf } from '../lib/worker/base.ts';
import { BASE_FORMAT, baseInputs, baseKey, baseLaunchConfig, baseName, baseReadyConfig, baseSources, changedInputs, INPUT_NAMES, workerCopyConfig } from '../lib/worker/base-plan.ts';
import type { Instance } from '../lib/runtime/client.ts';

const owner = { uid: 1000, gid: 1000 };
const configOf = (change: (c: ReturnType<typeof defaults>) => void = () => {}) => {
  const config = defaults('demo');
  config.git.hub = '/home/u/.isollm/demo.git';
  config.setup_script = 'apt-get install -y nodejs\n';
  change(config);
  return config;
};
const keyOf = (config = configOf(), image = 'f00d', hubOwner = owner) => baseKey(baseInputs(baseSources(config, image, hubOwner)));

describe('base key', () => {
  it('is the same for the same inputs', () => {
    expect(keyOf()).toBe(keyOf());
    expect(keyOf()).toMatch(/^[0-9a-f]{16}$/);
  });

  it('changes with the image, setup_script, the hub, its owner, the helpers and the queue port', () => {
    const key = keyOf();
    expect(keyOf(configOf(), 'beef')).not.toBe(key);
    expect(keyOf(configOf((c) => (c.setup_script = 'apt-get install -y nodejs npm\n')))).not.toBe(key);
    expect(keyOf(configOf((c) => (c.setup_script = null)))).not.toBe(key);
    expect(keyOf(configOf((c) => (c.git.hub = '/elsewhere/demo.git')))).not.toBe(key);
    expect(keyOf(configOf(), 'f00d', { uid: 1001, gid: 1001 })).not.toBe(key);
    const sources = baseSources(configOf(), 'f00d', owner);
    const helpers = sources.helpers.map((f, i) => (i === 0 ? { ...f, content: `${f.content}\n# newer\n` } : f));
    expect(baseKey(baseInputs({ ...sources, helpers }))).not.toBe(key);
    expect(baseKey(baseInputs({ ...sources, agentInstall: 'npm install -g some-cli@1.0.0' }))).not.toBe(key);
    expect(keyOf(configOf((c) => (c.runtime.pool = 'fast')))).not.toBe(key);
  });

  it('is what it was before runtime.pool existed while no pool is set (bases are not rebuilt for nothing)', () => {
    const inputs = baseInputs(baseSources(configOf(), 'f00d', owner));
    const { pool, ...before } = inputs;
    expect(pool).toBe('');
    const oldKey = (i: Omit<typeof inputs, 'pool'>) => createHash('sha256').update(INPUT_NAMES.filter((n) => n !== 'pool').map((n) => `${n}=${i[n as keyof typeof i]}`).join('\n')).digest('hex').slice(0, 16);
    expect(baseKey(inputs)).toBe(oldKey(before));
    expect(changedInputs(JSON.stringify(before), inputs)).toEqual([]);
  });

  it('changes with the queue port', () => {
    const key = keyOf();
    // The base's queue forwarder listens on queue.port.
    expect(keyOf(configOf((c) => (c.queue.port = 7999)))).not.toBe(key);
  });

  it('does not change with what is per worker or per run', () => {
    const key = keyOf();
    const perWorker = configOf((c) => {
      c.workers = 7;
      c.limits = { cpu: 2, memory: '4GiB', disk: null };
      c.ports = ['3000'];
      c.git.base_branch = 'develop';
      c.git.branch_prefix = 'tasks/';
      c.agent.mode = 'loop';
      c.multiplexer.kind = 'tmux';
    });
    expect(keyOf(perWorker)).toBe(key);
  });

  it('names what changed since an older base', () => {
    const old = baseInputs(baseSources(configOf(), 'f00d', owner));
    const now = baseInputs(baseSources(configOf((c) => (c.setup_script = 'echo v2\n')), 'beef', owner));
    expect(changedInputs(JSON.stringify(old), now)).toEqual(['image', 'setup_script']);
    expect(changedInputs(JSON.stringify(old), old)).toEqual([]);
    expect(changedInputs(JSON.stringify({ ...old, format: String(Number(BASE_FORMAT) - 1) }), old)).toEqual(['format']);
    // Everything, but a pool that is not set is no change.
    expect(changedInputs('not json', old)).toEqual(INPUT_NAMES.filter((n) => n !== 'pool'));
    expect(changedInputs(undefined, old)).toEqual(INPUT_NAMES.filter((n) => n !== 'pool'));
  });
});

describe('base plan', () => {
  it('names the base within the runtime limit, even for the longest project name', () => {
    expect(baseName('demo', 'a1b2c3')).toBe('demo-base-a1b2c3');
    const long = `p${'-x'.repeat(40)}`.slice(0, MAX_PROJECT_NAME);
    const name = baseName(long, 'a1b2c3');
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*-base-a1b2c3$/);
  });

  it('tags the base with the project and its role; a worker copy gets its own tags and where it came from', () => {
    const config = configOf((c) => (c.limits = { cpu: 2, memory: null, disk: null }));
    expect(baseLaunchConfig(config)).toEqual({ 'user.isollm.project': 'demo', 'user.isollm.role': 'base' });
    expect(workerCopyConfig(config, 'worker-3', 'demo-base-a1b2c3')).toEqual({
      'user.isollm.project': 'demo',
      'user.isollm.worker': 'worker-3',
      'user.isollm.role': 'worker',
      'user.isollm.base': 'demo-base-a1b2c3',
      'limits.cpu': '2',
    });
  });

  it('tells bases from workers, finished from half-made, newest first', () => {
    const inputs = baseInputs(baseSources(configOf(), 'f00d', owner));
    const instance = (name: string, config: Record<string, string>, createdAt: string): Instance => ({
      name, status: 'Stopped', project: 'demo', worker: config['user.isollm.worker'] ?? null, ipv4: null, createdAt: new Date(createdAt), image: null, config, devices: {}, location: null, profiles: ['default'],
    });
    const ready = { 'user.isollm.role': 'base', ...baseReadyConfig({ key: 'k1', inputs, queueLink: 'mount', commit: 'c0ffee', sizeBytes: 4096 }), 'user.isollm.dev-uid': '1001', 'user.isollm.dev-gid': '1002' };
    const bases = basesOf([
      instance('demo-base-old', ready, '2026-12-01T08:00:00Z'),
      instance('demo-base-half', { 'user.isollm.role': 'base' }, '2026-12-01T09:30:00Z'),
      instance('demo-base-new', { ...ready, 'user.isollm.base-key': 'k2' }, '2026-12-01T09:00:00Z'),
      // A copy inherits the base's keys; its worker tag makes it a worker.
      instance('demo-worker-1', { ...ready, 'user.isollm.worker': 'worker-1', 'user.isollm.role': 'worker' }, '2026-12-01T09:10:00Z'),
      instance('other', {}, '2026-12-01T09:10:00Z'),
    ]);
    expect(bases.map((b) => [b.name, b.key])).toEqual([['demo-base-half', null], ['demo-base-new', 'k2'], ['demo-base-old', 'k1']]);
    expect(bases[2]).toMatchObject({ devUid: 1001, devGid: 1002, inputs: JSON.stringify(inputs), queueLink: 'mount', commit: 'c0ffee', sizeBytes: 4096 });
    // A base from before the mount link: its copies get the proxy device.
    const older: Record<string, string> = { ...ready };
    delete older['user.isollm.queue-link'];
    expect(basesOf([instance('demo-base-older', older, '2026-12-01T08:00:00Z')])[0].queueLink).toBe('proxy');
  });
});
