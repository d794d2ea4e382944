// The gateway's process handling with a stand-in client (a real child process reading its stdin):
// what argv it gets and what reaches its stdin, for empty content too.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { deleteInstance, execIn, hasStoragePool, listInstances, listSnapshots, listStoragePools, lookupImage, pingRuntime, pushText, runClient, runtimeError, RUNTIMES, stdinOptions, withOutputKept, type Runtime } from '../lib/runtime/client.ts';
import { UserError } from '../lib/cli/errors.ts';
import { tmpDir } from './helpers.ts';

/** A stand-in for `lxc`: records its argv and copies its stdin (until EOF) to files in `dir`. */
function standIn(dir: string): Runtime {
  const stub = path.join(dir, 'client');
  fs.writeFileSync(stub, '#!/bin/sh\nprintf "%s\\n" "$@" > "$0.args"\ncat > "$0.stdin"\n', { mode: 0o755 });
  // The prefix runs before the client's name, so the stub sees `lxc file push …`.
  return { ...RUNTIMES.lxd, prefix: [stub] };
}

const read = (dir: string, what: 'args' | 'stdin') => fs.readFileSync(path.join(dir, `client.${what}`), 'utf8');

describe('runtime gateway: stdin of pushes and execs', () => {
  it('pushes an empty file at once: stdin reaches EOF instead of staying open', async () => {
    const dir = tmpDir();
    const started = Date.now();
    await pushText(standIn(dir), 'w1', '/home/dev/.isollm/agent.env', '', { uid: 1000, gid: 1000, mode: 0o600 });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(read(dir, 'args').split('\n').filter(Boolean)).toEqual([
      'lxc', 'file', 'push', '-', 'w1/home/dev/.isollm/agent.env', '--uid', '1000', '--gid', '1000', '--mode', '0600',
    ]);
    expect(read(dir, 'stdin')).toBe('');
  });

  it('pushes content through stdin, byte for byte', async () => {
    const dir = tmpDir();
    const content = 'A=1\nB=$(not run) `x`\n';
    await pushText(standIn(dir), 'w1', '/etc/x', content);
    expect(read(dir, 'stdin')).toBe(content);
  });

  it('an exec with empty input or none gets EOF too', async () => {
    for (const input of ['', undefined]) {
      const dir = tmpDir();
      const r = await execIn(standIn(dir), 'w1', ['cat'], { input, timeout: 5_000 });
      expect(r.exitCode).toBe(0);
      expect(read(dir, 'stdin')).toBe('');
    }
  });

  it('kills a client that does not answer in time, even one that passes SIGTERM on (as `lxc exec` does)', async () => {
    const dir = tmpDir();
    const stub = path.join(dir, 'deaf');
    fs.writeFileSync(stub, "#!/bin/sh\ntrap '' TERM\nsleep 30\n", { mode: 0o755 });
    const started = Date.now();
    // Several at once: the stub's child is killed before the stub, which then often exits 137 by
    // itself; that is still a client killed at its deadline, never an answer.
    const errors = await Promise.all(
      Array.from({ length: 8 }, () => runClient({ ...RUNTIMES.lxd, prefix: [stub] }, ['exec', 'w1', '--', 'true'], { timeout: 500 }).then((r) => r, (e: unknown) => e)),
    );
    for (const err of errors) expect((err as UserError).message).toMatch(/^`lxc exec w1` gave no answer within 0.5s/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('withOutputKept: the command starts late and exec`d (its own argv, stdin, exit code and pid)', () => {
    const argv = withOutputKept(['sh', '-c', 'cat; printf "[%s]" "$@"; echo " $$"; exit 3', 'x', 'a b', '$HOME']);
    const started = Date.now();
    const r = spawnSync(argv[0], argv.slice(1), { input: 'in\n', encoding: 'utf8' });
    expect(r.stdout).toBe(`in\n[a b][$HOME] ${r.pid}\n`);
    expect(r.status).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
  });

  it('wires stdin by one rule', () => {
    expect(stdinOptions(undefined)).toEqual({ stdio: ['ignore', 'pipe', 'pipe'] });
    expect(stdinOptions('')).toEqual({ stdio: ['ignore', 'pipe', 'pipe'] });
    expect(stdinOptions('x')).toEqual({ input: 'x' });
  });
});

/** A stand-in `incus` that answers with one captured output (stdout, stderr, exit code). */
function replay(dir: string, answer: { stdout?: string; stderr?: string; exitCode?: number }): Runtime {
  const stub = path.join(dir, 'replay');
  fs.writeFileSync(`${stub}.out`, answer.stdout ?? '');
  fs.writeFileSync(`${stub}.err`, answer.stderr ?? '');
  fs.writeFileSync(stub, `#!/bin/sh\ncat "$0.out"\ncat "$0.err" >&2\nexit ${answer.exitCode ?? 0}\n`, { mode: 0o755 });
  return { ...RUNTIMES.incus, prefix: [stub] };
}

const fixtures = path.join(import.meta.dirname, 'fixtures', 'runtime');
const captured = (name: string) => fs.readFileSync(path.join(fixtures, name), 'utf8');
// Incus 6.0.4's error outputs, captured on this machine (image server and resolver names replaced).
const incusErrors = JSON.parse(captured('incus-errors.json')) as Record<string, { stdout: string; stderr: string; exitCode: number }>;

describe('runtime gateway on captured Incus output', () => {
  it('a fresh daemon with no storage pool prints nothing: no pools, not a JSON error', async () => {
    const rt = replay(tmpDir(), { stdout: captured('incus-storage-pools-none.txt') });
    expect(await listStoragePools(rt)).toEqual([]);
    expect(await hasStoragePool(rt)).toBe(false);
    expect(await listStoragePools(replay(tmpDir(), { stdout: captured('incus-storage-pools.json') }))).toEqual(['default', 'isollm']);
  });

  it('no images, no instances: empty lists', async () => {
    expect(await lookupImage(replay(tmpDir(), { stdout: captured('incus-images-none.json') }), 'isollm-test')).toBeNull();
    expect(await listInstances(replay(tmpDir(), { stdout: captured('incus-list-none.json') }), 'fx-demo')).toEqual([]);
  });

  it('a daemon that is not started is told as such, with the fix', async () => {
    const rt = replay(tmpDir(), incusErrors['incus query /1.0 (daemon not started)']);
    await expect(pingRuntime(rt)).rejects.toThrow(/^The Incus daemon does not answer \(`incus query \/1\.0` failed\)\. To start it, run `(isollm setup|sudo systemctl start incus)`\.$/);
  });

  it('exec: a stopped or missing instance is a runtime failure; a missing command is the command’s exit code', async () => {
    const stopped = replay(tmpDir(), incusErrors['incus exec fx-demo-worker-2 --force-noninteractive -- true (stopped)']);
    await expect(execIn(stopped, 'fx-demo-worker-2', ['true'])).rejects.toThrow(/^incus exec fx-demo-worker-2 failed: Instance is not running$/);
    const missing = replay(tmpDir(), incusErrors['incus exec nope --force-noninteractive -- true']);
    await expect(execIn(missing, 'nope', ['true'])).rejects.toThrow(/^incus exec nope failed: Instance not found$/);
    const r = await execIn(replay(tmpDir(), incusErrors['incus exec fx-demo-worker-2 --force-noninteractive -- nosuchcmd']), 'fx-demo-worker-2', ['nosuchcmd']);
    expect(r.exitCode).toBe(127);
  });

  it('a failed read or launch is one line naming the call', async () => {
    const snaps = replay(tmpDir(), incusErrors['incus query /1.0/instances/nope/snapshots?recursion=1']);
    await expect(listSnapshots(snaps, 'nope')).rejects.toThrow(/^incus query \/1\.0\/instances\/nope\/snapshots\?recursion=1 failed: Instance not found$/);
    const del = replay(tmpDir(), incusErrors['incus delete nope --force']);
    await expect(deleteInstance(del, 'nope')).rejects.toThrow(/^incus delete nope --force failed: Instance not found$/);
    const info = replay(tmpDir(), incusErrors['incus image info images:debian/12 (no image server)']);
    const err = await runClient(info, ['image', 'info', 'images:debian/12'], { timeout: 5_000 }).then((r) => runtimeError(info, 'image info images:debian/12', r.stderr));
    expect(err.message).toBe('incus image info images:debian/12 failed: Failed getting image: Failed parsing stream: Get "https://IMAGE-SERVER/streams/v1/index.json": lookup IMAGE-SERVER on RESOLVER:53: no such host');
  });

  it('output a parser cannot read is a one-line error naming the call, not a bare JSON message', async () => {
    const rt = replay(tmpDir(), { stdout: '{"truncated": ' });
    const err = (await listInstances(rt, 'fx-demo').catch((e: unknown) => e)) as UserError;
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/^`incus list user\.isollm\.project=fx-demo --format json` printed 14 bytes isollm cannot read: .*\(--debug shows the output\)$/);
  });
});
