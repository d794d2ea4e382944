// A runtime on a remote (`runtime.remote`) and its cluster members (`runtime.targets`): every call of
// the gateway names `remote:…`, new containers get `--target` in turn. Checked with a stand-in client
// that records each argv (a real child process), and on the pure argv builders.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyArgs, initArgs, instanceRef, listArgs, queryArgs, targetFor } from '../lib/runtime/argv.ts';
import * as client from '../lib/runtime/client.ts';
import { onRemote, RUNTIMES, runtimeError, type Runtime } from '../lib/runtime/detect.ts';
import { runtimeOptions } from '../lib/runtime/choose.ts';
import { parseConfig } from '../lib/config/load.ts';
import { tmpDir } from './helpers.ts';

/** A stand-in for `lxc` that appends its argv (one call per line, args joined by TAB) and answers `[]`. */
function standIn(dir: string, remote: string, targets: string[] = []): Runtime {
  const stub = path.join(dir, 'client');
  fs.writeFileSync(stub, '#!/bin/sh\nshift\nIFS="\t"; printf "%s\\n" "$*" >> "$0.calls"\ncat >/dev/null\necho "[]"\n', { mode: 0o755 });
  return { ...onRemote(RUNTIMES.lxd, remote, targets), prefix: [stub] };
}

const calls = (dir: string) => fs.readFileSync(path.join(dir, 'client.calls'), 'utf8').trim().split('\n').map((l) => l.split('\t'));

describe('runtime on a remote', () => {
  it('names every instance, query and list on the remote', async () => {
    const dir = tmpDir();
    const rt = standIn(dir, 'far');
    await client.listInstances(rt, 'demo');
    await client.queryApi(rt, '/1.0');
    await client.listImages(rt);
    await client.listStoragePools(rt);
    await client.listSnapshots(rt, 'demo-worker-1');
    await client.copyInstance(rt, { source: 'demo-base-1', name: 'demo-worker-1', target: 'node2' });
    await client.launchInstance(rt, { name: 'demo-base-1', image: 'isollm-test', target: 'node1' });
    await client.startInstance(rt, 'demo-worker-1');
    await client.stopInstance(rt, 'demo-worker-1', true);
    await client.setInstanceConfig(rt, 'demo-worker-1', { 'user.x': 'y' });
    await client.addDevice(rt, 'demo-worker-1', 'p', { type: 'proxy', listen: 'tcp:127.0.0.1:1', connect: 'tcp:127.0.0.1:2' });
    await client.execIn(rt, 'demo-worker-1', ['true']);
    await client.pushText(rt, 'demo-worker-1', '/etc/x', 'x');
    await client.createSnapshot(rt, 'demo-worker-1', 's');
    await client.restoreSnapshot(rt, 'demo-worker-1', 's');
    await client.deleteInstance(rt, 'demo-worker-1');
    const got = calls(dir);
    expect(got).toEqual([
      ['list', 'far:', 'user.isollm.project=demo', '--format', 'json'],
      ['query', 'far:/1.0'],
      ['query', 'far:/1.0/images?recursion=1'],
      ['query', 'far:/1.0/storage-pools'],
      ['query', 'far:/1.0/instances/demo-worker-1/snapshots?recursion=1'],
      ['copy', 'far:demo-base-1', 'far:demo-worker-1', '--instance-only', '--target', 'node2'],
      ['start', 'far:demo-worker-1'],
      // The image is not on the remote (its list is empty): the client's own `isollm-test`, copied over.
      ['query', 'far:/1.0/images?recursion=1'],
      ['init', 'isollm-test', 'far:demo-base-1', '--target', 'node1'],
      ['start', 'far:demo-base-1'],
      ['start', 'far:demo-worker-1'],
      ['stop', 'far:demo-worker-1', '--force'],
      ['config', 'set', 'far:demo-worker-1', 'user.x=y'],
      ['config', 'device', 'add', 'far:demo-worker-1', 'p', 'proxy', 'listen=tcp:127.0.0.1:1', 'connect=tcp:127.0.0.1:2', 'bind=instance'],
      ['exec', 'far:demo-worker-1', '--force-noninteractive', '--', ...client.withOutputKept(['true'])],
      ['file', 'push', '-', 'far:demo-worker-1/etc/x'],
      ['snapshot', 'far:demo-worker-1', 's'],
      ['restore', 'far:demo-worker-1', 's'],
      ['delete', 'far:demo-worker-1', '--force'],
    ]);
    // Nothing reached the local daemon: every instance or path argument names the remote.
    for (const call of got) expect(call.some((a) => a.startsWith('far:')), call.join(' ')).toBe(true);
  });

  it('an image the remote has is named as the remote\'s', async () => {
    const dir = tmpDir();
    const stub = path.join(dir, 'client');
    const images = JSON.stringify([{ fingerprint: 'ab'.repeat(32), aliases: [{ name: 'isollm-test' }], properties: {} }]);
    fs.writeFileSync(stub, `#!/bin/sh\nshift\necho "$*" >> "$0.calls"\ncase "$1" in query) echo '${images}';; esac\n`, { mode: 0o755 });
    const rt = { ...onRemote(RUNTIMES.lxd, 'far'), prefix: [stub] };
    expect((await client.launchImage(rt, 'isollm-test')).image).toBe('far:isollm-test');
  });

  it('local is the local daemon; targets are taken in turn', () => {
    expect(onRemote(RUNTIMES.lxd, 'local').remote).toBeUndefined();
    expect(onRemote(RUNTIMES.lxd, null).remote).toBeUndefined();
    expect(instanceRef(RUNTIMES.lxd, 'a-b')).toBe('a-b');
    expect(instanceRef(onRemote(RUNTIMES.incus, 'c1'), 'a-b')).toBe('c1:a-b');
    expect(() => instanceRef(RUNTIMES.lxd, 'x:a')).toThrow(/must not name a remote/);
    const rt = onRemote(RUNTIMES.lxd, 'c1', ['m1', 'm2', 'm3']);
    expect([1, 2, 3, 4, 5].map((i) => targetFor(rt, i))).toEqual(['m1', 'm2', 'm3', 'm1', 'm2']);
    expect(targetFor(onRemote(RUNTIMES.lxd, 'c1'), 1)).toBeUndefined();
  });

  it('an unknown remote is one line with its fix', () => {
    const err = runtimeError(RUNTIMES.lxd, 'list far:', 'Error: The remote "far" doesn\'t exist\n');
    expect(err.message).toBe('The lxc client has no remote "far" (runtime.remote). Add it with `lxc remote add far <token>` (see `isollm doctor`).');
  });

  it('argv builders: remote list, query and --target', () => {
    expect(listArgs('p', 'r')).toEqual(['list', 'r:', 'user.isollm.project=p', '--format', 'json']);
    expect(queryArgs('/1.0', 'r')).toEqual(['query', 'r:/1.0']);
    expect(queryArgs('/1.0')).toEqual(['query', '/1.0']);
    expect(initArgs('img', 'r:n', {}, 'pool', 'm1')).toEqual(['init', 'img', 'r:n', '--storage', 'pool', '--target', 'm1']);
    expect(copyArgs('r:a', 'r:b', { k: 'v' }, 'm2')).toEqual(['copy', 'r:a', 'r:b', '--instance-only', '--target', 'm2', '--config', 'k=v']);
  });
});

describe('config: runtime.remote, runtime.targets, network', () => {
  it('reads them, with defaults', () => {
    const c = parseConfig('project: demo\nruntime:\n  remote: isollm-self\n  targets: [m1, m2]\nnetwork:\n  listen: 0.0.0.0:7433\n  advertise: 10.0.0.5:7433\n', '/tmp/x');
    expect(c.runtime).toEqual({ kind: 'auto', pool: null, remote: 'isollm-self', targets: ['m1', 'm2'] });
    expect(c.network).toEqual({ listen: '0.0.0.0:7433', advertise: '10.0.0.5:7433' });
    expect(runtimeOptions(c)).toMatchObject({ remote: 'isollm-self', targets: ['m1', 'm2'] });
    const d = parseConfig('project: demo\n', '/tmp/x');
    expect(d.runtime).toEqual({ kind: 'auto', pool: null, remote: null, targets: [] });
    expect(d.network).toEqual({ listen: null, advertise: null });
  });

  it('says what is wrong with each, with its line', () => {
    let message = '';
    try {
      parseConfig('project: demo\nruntime:\n  remote: "a:b"\n  targets: [ok, "no spaces"]\nnetwork:\n  listen: "host:port"\n', '/tmp/x');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/isollm\.yaml:3: runtime\.remote: must be a remote name/);
    expect(message).toMatch(/isollm\.yaml:4: runtime\.targets\[1\]: must be a cluster member name/);
    expect(message).toMatch(/isollm\.yaml:6: network\.listen: must be HOST:PORT/);
  });
});

describe('doctor: the remote', () => {
  /** A client whose `query` prints `answers[path]` (or fails with `error`). */
  function answering(dir: string, answers: Record<string, unknown>, error?: string): Runtime {
    const stub = path.join(dir, 'client');
    const cases = Object.entries(answers).map(([p, v]) => `  "far:${p}") cat <<'JSON'\n${JSON.stringify(v)}\nJSON\n;;`).join('\n');
    const fail = error ? `echo "Error: ${error}" >&2; exit 1` : 'echo "Error: not found" >&2; exit 1';
    fs.writeFileSync(stub, `#!/bin/sh\nshift\ncase "$2" in\n${cases}\n  *) ${fail};;\nesac\n`, { mode: 0o755 });
    return { ...onRemote(RUNTIMES.lxd, 'far'), prefix: [stub] };
  }

  it('fails an unknown remote, an untrusted one, and targets off a cluster; passes members online', async () => {
    const { checkRemote } = await import('../lib/flows/doctor.ts');
    const unknown = await checkRemote(answering(tmpDir(), {}, 'The remote "far" doesn\'t exist'));
    expect(unknown.rt).toBeNull();
    expect(unknown.checks[0]).toMatchObject({ id: 'remote', status: 'fail', detail: 'no such remote of this client' });
    expect(unknown.checks[0].fix).toMatch(/lxc remote add far/);
    const untrusted = await checkRemote(answering(tmpDir(), { '/1.0': { auth: 'untrusted' } }));
    expect(untrusted.checks[0]).toMatchObject({ status: 'fail' });
    expect(untrusted.checks[0].detail).toMatch(/does not trust this client/);
    const plain = { auth: 'trusted', environment: { server_version: '5.0.2', server_clustered: false } };
    const single = await checkRemote({ ...answering(tmpDir(), { '/1.0': plain }), targets: ['m1'] });
    expect(single.checks.map((c) => c.status)).toEqual(['ok', 'fail']);
    expect(single.checks[1].detail).toMatch(/not a cluster/);
    const cluster = { auth: 'trusted', environment: { server_version: '5.0.2', server_clustered: true } };
    const members = [{ server_name: 'm1', status: 'Online' }, { server_name: 'm2', status: 'Offline' }];
    const rt = answering(tmpDir(), { '/1.0': cluster, '/1.0/cluster/members?recursion=1': members });
    expect((await checkRemote({ ...rt, targets: ['m1'] })).checks.map((c) => c.status)).toEqual(['ok', 'ok']);
    const off = await checkRemote({ ...rt, targets: ['m1', 'm2', 'm9'] });
    expect(off.rt).toBeNull();
    expect(off.checks[1].detail).toBe('not members: m9; not online: m2');
  });
});
