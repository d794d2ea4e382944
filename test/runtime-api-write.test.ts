// Changes made through the daemon's API directly (lib/runtime/api.ts, api-exec.ts, used by client.ts):
// against a stand-in daemon on a unix socket, the requests sent (one copy or launch with its devices,
// a device added, a file with its owner, an exec with its recorded output, a readiness probe's exit
// code), operations waited for, the daemon's refusals as the client's one-line errors, and the client
// asked when nothing answers on the socket. The same against real LXD and Incus: e2e/runtime.test.ts
// (each direct call side by side with the client's) and every e2e test that makes a worker
// (e2e/base.test.ts, e2e/workers.test.ts).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { addDevice, copyInstance, execIn, execOk, execStream, isIdmapUnsupported, launchInstance, listStoragePools, pushText, setInstanceConfig, stopInstance, waitForExec, withOutputKept, type Runtime } from '../lib/runtime/client.ts';

type Seen = { method: string; url: string; headers: http.IncomingHttpHeaders; body: string };

/** What the stand-in sends: a JSON envelope (`body`), or a file as it is (`raw`), with its headers. */
type Reply = { status?: number; body?: unknown; raw?: string; headers?: Record<string, string> };

/** A daemon that answers each request as `answer` says; the requests it saw. */
async function standIn(socket: string, answer: (req: Seen) => Reply): Promise<Seen[]> {
  const seen: Seen[] = [];
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(r);
      const a = answer(r);
      res.writeHead(a.status ?? 200, { 'Content-Type': a.raw === undefined ? 'application/json' : 'application/octet-stream', ...a.headers });
      res.end(a.raw ?? JSON.stringify(a.body));
    });
  });
  await new Promise<void>((resolve) => srv.listen(socket, resolve));
  onTestFinished(() => void srv.close());
  return seen;
}

const sync = (metadata: unknown = {}) => ({ body: { type: 'sync', status: 'Success', status_code: 200, metadata } });
const async = (id: string) => ({ status: 202, body: { type: 'async', status: 'Operation created', status_code: 100, operation: `/1.0/operations/${id}`, metadata: {} } });
const refused = (error: string, code = 404) => ({ status: code, body: { type: 'error', error, error_code: code } });

describe('changes made through the API directly', () => {
  let dir = '';
  /** Each test its own remote of the client, on its own socket (endpoints are worked out once per remote). */
  const remote = (name: string): { rt: Runtime; socket: string } => {
    const socket = path.join(dir, `${name}.sock`);
    fs.appendFileSync(path.join(dir, 'conf', 'config.yml'), `  ${name}:\n    addr: unix://${socket}\n    protocol: incus\n`);
    return { rt: { kind: 'incus', bin: 'incus', group: 'incus-admin', remote: name }, socket };
  };

  /** What the client was asked since the last look. */
  const takeClientLog = () => {
    const file = path.join(dir, 'client.log');
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    fs.rmSync(file, { force: true });
    return text;
  };

  beforeAll(() => {
    dir = fs.mkdtempSync('/tmp/isollm-api-write-');
    fs.mkdirSync(path.join(dir, 'conf'));
    fs.writeFileSync(path.join(dir, 'conf', 'config.yml'), 'default-remote: local\nremotes:\n');
    process.env.INCUS_CONF = path.join(dir, 'conf');
    // The client, should it be asked: records its arguments (and reads its input).
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.writeFileSync(path.join(dir, 'bin', 'incus'), `#!/bin/sh\necho "$@" >> ${path.join(dir, 'client.log')}\ncat >/dev/null\n`, { mode: 0o755 });
    process.env.PATH = `${path.join(dir, 'bin')}:${process.env.PATH}`;
    return () => fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a copy is one request with its config and devices, then its operation waited for; then the start', async () => {
    const { rt, socket } = remote('copyhere');
    const seen = await standIn(socket, (r) =>
      r.url.startsWith('/1.0/instances/p-base-1') ? sync({ name: 'p-base-1', profiles: ['default', 'gpu'] }) : r.method === 'GET' ? sync({ status: 'Success' }) : async(r.method === 'POST' ? 'op-copy' : 'op-start'),
    );
    await copyInstance(rt, { source: 'p-base-1', name: 'p-worker-1', config: { 'user.isollm.worker': 'worker-1' }, devices: { queue: { type: 'disk', source: '/s/worker-1', path: '/var/lib/isollm/queue', readonly: true } }, target: 'm1' });
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /1.0/instances/p-base-1',
      'POST /1.0/instances?target=m1',
      'GET /1.0/operations/op-copy/wait?timeout=120',
      'PUT /1.0/instances/p-worker-1/state',
      'GET /1.0/operations/op-start/wait?timeout=120',
    ]);
    // The source's profiles go with it (LXD gives a copy asked for without profiles none: no NIC).
    expect(JSON.parse(seen[1].body)).toEqual({
      name: 'p-worker-1',
      source: { type: 'copy', source: 'p-base-1', instance_only: true },
      profiles: ['default', 'gpu'],
      config: { 'user.isollm.worker': 'worker-1' },
      devices: { queue: { type: 'disk', source: '/s/worker-1', path: '/var/lib/isollm/queue', readonly: 'true' } },
    });
    expect(JSON.parse(seen[3].body)).toEqual({ action: 'start' });
    expect(fs.existsSync(path.join(dir, 'client.log'))).toBe(false);
  });

  it('a copy whose source profiles the caller listed reads nothing first', async () => {
    const { rt, socket } = remote('copylisted');
    const seen = await standIn(socket, (r) => (r.method === 'GET' ? sync({ status: 'Success' }) : async(r.method === 'POST' ? 'op-copy' : 'op-start')));
    await copyInstance(rt, { source: 'p-base-1', name: 'p-worker-2', profiles: ['default', 'gpu'] });
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /1.0/instances',
      'GET /1.0/operations/op-copy/wait?timeout=120',
      'PUT /1.0/instances/p-worker-2/state',
      'GET /1.0/operations/op-start/wait?timeout=120',
    ]);
    expect(JSON.parse(seen[0].body).profiles).toEqual(['default', 'gpu']);
  });

  it('a file goes as the request body with its owner and mode; a refusal is the client’s one line', async () => {
    const { rt, socket } = remote('pushhere');
    const seen = await standIn(socket, (r) => (r.url.includes('missing') ? refused('Instance not found') : sync()));
    await pushText(rt, 'p-worker-1', '/etc/isollm/worker.env', 'ISOLLM_WORKER=worker-1\n', { uid: 0, gid: 0, mode: 0o600 });
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/1.0/instances/p-worker-1/files?path=%2Fetc%2Fisollm%2Fworker.env', body: 'ISOLLM_WORKER=worker-1\n' });
    expect(seen[0].headers).toMatchObject({ 'x-incus-uid': '0', 'x-incus-gid': '0', 'x-incus-mode': '0600', 'x-incus-type': 'file', 'x-incus-write': 'overwrite' });
    await expect(pushText(rt, 'missing', '/tmp/x', 'x')).rejects.toThrow(/^incus file push - failed: Instance not found$/);
  });

  it('a stop waits for its operation; forced, the daemon is told so', async () => {
    const { rt, socket } = remote('stophere');
    const seen = await standIn(socket, (r) => (r.method === 'GET' ? sync({ status: 'Success' }) : async('op-stop')));
    await stopInstance(rt, 'p-base-1', true);
    expect(seen.map((r) => `${r.method} ${r.url} ${r.body}`)).toEqual(['PUT /1.0/instances/p-base-1/state {"action":"stop","force":true,"timeout":-1}', 'GET /1.0/operations/op-stop/wait?timeout=120 ']);
  });

  it('an operation that fails is the daemon’s message', async () => {
    const { rt, socket } = remote('failhere');
    await standIn(socket, (r) => (r.method === 'GET' ? sync({ status: 'Failure', err: 'Failed to write backup file: disk full' }) : async('op-set')));
    await expect(setInstanceConfig(rt, 'p-worker-1', { 'user.isollm.ready': 'true' })).rejects.toThrow(/^incus config set failhere:p-worker-1 failed: Failed to write backup file: disk full$/);
  });

  it('a readiness probe runs without a websocket or a client, until it exits 0', async () => {
    const { rt, socket } = remote('probehere');
    let probes = 0;
    const seen = await standIn(socket, (r) => (r.method === 'POST' ? async(`op-${++probes}`) : sync({ status: 'Success', metadata: { return: probes < 2 ? 1 : 0 } })));
    await waitForExec(rt, 'p-worker-1', 10_000, ['sh', '-c', 'exit 0']);
    expect(seen.filter((r) => r.method === 'POST').map((r) => JSON.parse(r.body))).toEqual(
      Array(2).fill({ command: ['sh', '-c', 'exit 0'], 'wait-for-websocket': false, interactive: false, 'record-output': false }),
    );
    expect(seen.map((r) => r.url)).toContain('/1.0/instances/p-worker-1/exec');
  });

  it('nothing listening on the socket: the client is asked', async () => {
    const { rt } = remote('nobodyhere');
    await setInstanceConfig(rt, 'p-worker-1', { 'user.isollm.ready': 'true' });
    expect(takeClientLog()).toBe('config set nobodyhere:p-worker-1 user.isollm.ready=true\n');
  });

  /** An exec's operation: ended with `return`, its output in two logs of the instance. */
  const execDone = (id: string, code: number, status = 'Success', err = '') =>
    sync({ id, status, err, metadata: { return: code, output: { '1': `/1.0/instances/p-base-1/logs/exec-output/exec_${id}.stdout`, '2': `/1.0/instances/p-base-1/logs/exec-output/exec_${id}.stderr` } } });

  it('an exec without input: one request as the client sends it, its operation waited for, both logs read then deleted', async () => {
    const { rt, socket } = remote('exechere');
    const seen = await standIn(socket, (r) => {
      if (r.method === 'POST') return async('op-x');
      if (r.url.startsWith('/1.0/operations/op-x/wait')) return execDone('op-x', 3);
      if (r.method === 'DELETE') return sync();
      return { raw: r.url.endsWith('.stdout') ? 'out\nünïcode\n' : 'err\n' };
    });
    const term = process.env.TERM;
    process.env.TERM = 'xterm-test';
    onTestFinished(() => void (term === undefined ? delete process.env.TERM : (process.env.TERM = term)));
    const r = await execIn(rt, 'p-base-1', ['sh', '-c', 'exit 3'], { user: 1000, group: 1001, cwd: '/home/dev', env: { HOME: '/home/dev' } });
    expect(r).toEqual({ stdout: 'out\nünïcode\n', stderr: 'err\n', exitCode: 3 });
    expect(JSON.parse(seen[0].body)).toEqual({
      command: ['sh', '-c', 'exit 3'],
      // The client passes the caller's TERM on, then --env; the mark its processes are ended by at a timeout.
      environment: { TERM: 'xterm-test', HOME: '/home/dev', ISOLLM_EXEC_ID: expect.stringMatching(/^[0-9a-f]{16}$/) },
      user: 1000,
      group: 1001,
      cwd: '/home/dev',
      'wait-for-websocket': false,
      interactive: false,
      'record-output': true,
    });
    const log = '/1.0/instances/p-base-1/logs/exec-output/exec_op-x';
    expect(seen.map((r) => `${r.method} ${r.url}`).sort()).toEqual(
      ['POST /1.0/instances/p-base-1/exec', 'GET /1.0/operations/op-x/wait?timeout=120', `GET ${log}.stdout`, `GET ${log}.stderr`, `DELETE ${log}.stdout`, `DELETE ${log}.stderr`].sort(),
    );
    expect(takeClientLog()).toBe('');
  });

  it('an exec the daemon refuses is the client’s one line; a command that is not there is the client’s 127, its logs deleted', async () => {
    const { rt, socket } = remote('execrefused');
    const seen = await standIn(socket, (r) => {
      if (r.url.startsWith('/1.0/instances/p-gone/')) return refused('Failed to fetch instance "p-gone" in project "default": Instance not found');
      if (r.url.startsWith('/1.0/instances/p-stopped/')) return refused('Instance is not running', 400);
      if (r.method === 'POST') return async('op-nf');
      // Incus: the wait of a failed exec is an error; the operation itself says what happened.
      if (r.url.startsWith('/1.0/operations/op-nf/wait')) return refused('Command not found', 400);
      if (r.url === '/1.0/operations/op-nf') return execDone('op-nf', 127, 'Failure', 'Command not found');
      return r.method === 'DELETE' ? sync() : { raw: '' };
    });
    await expect(execIn(rt, 'p-gone', ['true'])).rejects.toThrow(/^incus exec p-gone failed: Instance not found$/);
    await expect(execOk(rt, 'p-stopped', ['true'])).rejects.toThrow(/^incus exec p-stopped failed: Instance is not running$/);
    expect(await execIn(rt, 'p-base-1', ['/nonexistent'])).toEqual({ stdout: '', stderr: 'Error: Command not found\n', exitCode: 127 });
    expect(seen.filter((r) => r.method === 'DELETE').map((r) => r.url)).toEqual(expect.arrayContaining(['/1.0/instances/p-base-1/logs/exec-output/exec_op-nf.stdout', '/1.0/instances/p-base-1/logs/exec-output/exec_op-nf.stderr']));
    expect(takeClientLog()).toBe('');
  });

  it('an exec still running at its timeout is the client’s timeout line, its processes ended by their mark, its logs deleted, and it is not run again by the client', async () => {
    const { rt, socket } = remote('execslow');
    let ended = false;
    const seen = await standIn(socket, (r) => {
      if (r.method === 'POST') return async(r.body.includes('isollm-end-exec') ? 'op-end' : 'op-slow');
      if (r.url.startsWith('/1.0/operations/op-end')) return (ended = true), sync({ id: 'op-end', status: 'Success', metadata: { return: 0 } });
      if (r.method === 'DELETE') return sync();
      return sync(ended ? execDone('op-slow', 143).body.metadata : { id: 'op-slow', status: 'Running', metadata: null });
    });
    await expect(execIn(rt, 'p-base-1', ['sleep', '600'], { timeout: 1_000 })).rejects.toThrow(/^`incus exec execslow:p-base-1` gave no answer within 1s/);
    const [run, end] = seen.filter((r) => r.method === 'POST').map((r) => JSON.parse(r.body));
    expect(run.command).toEqual(['sleep', '600']);
    // As root, no output kept: the mark of the timed-out exec, then tenths of a second between SIGTERM and SIGKILL.
    expect(end).toEqual({ command: ['sh', '-c', expect.stringContaining('kill -TERM'), 'isollm-end-exec', `ISOLLM_EXEC_ID=${run.environment.ISOLLM_EXEC_ID}`, '20'], 'wait-for-websocket': false, interactive: false, 'record-output': false });
    const log = '/1.0/instances/p-base-1/logs/exec-output/exec_op-slow';
    expect(seen.filter((r) => r.method === 'DELETE').map((r) => r.url).sort()).toEqual([`${log}.stderr`, `${log}.stdout`]);
    expect(takeClientLog()).toBe('');
  });

  it('an exec whose output is followed hands on each line as the daemon records it (read from where the last read ended), not only at the end', async () => {
    const { rt, socket } = remote('execfollow');
    const started = Date.now();
    // The command prints a line at once, half a line after 1.5 s, and ends after 2.5 s with the rest.
    const written = () => (Date.now() - started < 1_500 ? 'one\n' : Date.now() - started < 2_500 ? 'one\ntw' : 'one\ntwo\nthree');
    const ranges: string[] = [];
    const lines: [string, number][] = [];
    await standIn(socket, (r) => {
      if (r.method === 'POST') return async('op-f');
      if (r.method === 'DELETE') return sync();
      const log = '/1.0/instances/p-base-1/logs/exec-output/exec_op-f.stdout';
      if (r.url === log) {
        const range = String(r.headers.range ?? '');
        ranges.push(range);
        const from = Number(/^bytes=(\d+)-$/.exec(range)?.[1] ?? 0);
        const text = Buffer.from(written());
        return from >= text.length ? { status: 416, raw: '' } : { status: range ? 206 : 200, raw: text.subarray(from).toString() };
      }
      if (r.url.endsWith('exec_op-f.stderr')) return { raw: '' };
      if (r.url.startsWith('/1.0/instances/p-base-1/logs/')) return refused('not found');
      if (Date.now() - started < 2_500) return sync({ id: 'op-f', status: 'Running', metadata: null });
      return execDone('op-f', 0);
    });
    const r = await execStream(rt, 'p-base-1', ['sh', 'setup.sh'], {}, (line) => lines.push([line, Date.now() - started]));
    expect(r.exitCode).toBe(0);
    expect(lines.map(([l]) => l)).toEqual(['one', 'two', 'three']);
    // 'one' long before the end; a read after the first asks only for what is new, from the last byte
    // it has (a range past the end is a broken 416 on LXD 5.0.2).
    expect(lines[0][1]).toBeLessThan(2_000);
    expect(ranges[0]).toBe('');
    expect(ranges).toContain('bytes=3-');
    expect(ranges).not.toContain('bytes=4-');
    expect(takeClientLog()).toBe('');
  });

  it('an exec with input, or with nothing listening on the socket, is the client’s', async () => {
    const { rt, socket } = remote('execclient');
    const seen = await standIn(socket, () => refused('not for this test', 500));
    await execIn(rt, 'p-base-1', ['git', 'apply'], { input: 'diff\n' });
    expect(seen).toEqual([]);
    await execIn(remote('execnobody').rt, 'p-base-1', ['true'], { user: 1000 });
    // Through the client, the command starts late (withOutputKept).
    const kept = withOutputKept([]).join(' ');
    expect(takeClientLog()).toBe(`exec execclient:p-base-1 --force-noninteractive -- ${kept} git apply\nexec execnobody:p-base-1 --force-noninteractive --user 1000 -- ${kept} true\n`);
  });

  it('a launch from a local image is one request (by fingerprint, root disk on the pool, the devices), then the start; an image not held is the client’s', async () => {
    const { rt, socket } = remote('launchhere');
    const fingerprint = 'ab'.repeat(32);
    const seen = await standIn(socket, (r) => {
      if (r.url.startsWith('/1.0/images')) return sync([{ fingerprint, aliases: [{ name: 'isollm-test' }], properties: {} }]);
      if (r.url.startsWith('/1.0/operations/')) return sync({ status: 'Success' });
      return async(r.method === 'POST' ? 'op-create' : 'op-start');
    });
    const devices = { queue: { type: 'proxy' as const, listen: 'tcp:127.0.0.1:7432', connect: 'unix:/s/q.sock' } };
    await launchInstance(rt, { name: 'p-base-1', image: 'isollm-test', config: { 'user.isollm.project': 'p' }, devices, storage: 'isollm', target: 'm1' });
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /1.0/images?recursion=1',
      'POST /1.0/instances?target=m1',
      'GET /1.0/operations/op-create/wait?timeout=120',
      'PUT /1.0/instances/p-base-1/state',
      'GET /1.0/operations/op-start/wait?timeout=120',
    ]);
    expect(JSON.parse(seen[1].body)).toEqual({
      name: 'p-base-1',
      type: 'container',
      source: { type: 'image', fingerprint },
      config: { 'user.isollm.project': 'p' },
      devices: { queue: { type: 'proxy', listen: 'tcp:127.0.0.1:7432', connect: 'unix:/s/q.sock', bind: 'instance' }, root: { type: 'disk', path: '/', pool: 'isollm' } },
    });
    expect(takeClientLog()).toBe('');
    // An image on an image server (or the client's own, for a remote): the client fetches or copies it.
    await launchInstance(rt, { name: 'p-base-2', image: 'images:debian/12' });
    expect(takeClientLog()).toBe('init images:debian/12 launchhere:p-base-2\n');
    expect(seen.at(-2)?.url).toBe('/1.0/instances/p-base-2/state');
  });

  it('a device is added as `config device add` adds it: the others kept, the read ETag checked, a name taken refused', async () => {
    const { rt, socket } = remote('devicehere');
    const seen = await standIn(socket, (r) => {
      if (r.method === 'GET') return { ...sync({ name: 'p-base-1', devices: { root: { type: 'disk', path: '/', pool: 'isollm' } } }), headers: { ETag: '"e1"' } };
      // LXD 5.0 without idmapped mounts refuses the device as it starts.
      if (r.body.includes('"shift":"true"')) return refused('Failed to start device "hub": Required idmapping abilities not available', 500);
      return sync();
    });
    await addDevice(rt, 'p-base-1', 'hub', { type: 'disk', source: '/h/p.git', path: '/repo.git', readonly: true });
    expect(seen.slice(0, 2).map((r) => `${r.method} ${r.url}`)).toEqual(['GET /1.0/instances/p-base-1', 'PATCH /1.0/instances/p-base-1']);
    expect(JSON.parse(seen[1].body)).toEqual({ devices: { hub: { type: 'disk', source: '/h/p.git', path: '/repo.git', readonly: 'true' } } });
    expect(seen[1].headers['if-match']).toBe('"e1"');
    const shifted = await addDevice(rt, 'p-base-1', 'hub', { type: 'disk', source: '/h/p.git', path: '/repo.git', shift: true }).catch((e: unknown) => e);
    expect((shifted as Error).message).toBe('incus config device add failed: Failed to start device "hub": Required idmapping abilities not available');
    expect(isIdmapUnsupported(shifted)).toBe(true);
    await expect(addDevice(rt, 'p-base-1', 'root', { type: 'disk', source: '/x', path: '/x' })).rejects.toThrow(/^incus config device add failed: The device already exists$/);
    expect(seen.filter((r) => r.method === 'PATCH')).toHaveLength(2);
    await addDevice(remote('devicenobody').rt, 'p-base-1', 'hub', { type: 'disk', source: '/h', path: '/repo.git' });
    expect(takeClientLog()).toBe('config device add devicenobody:p-base-1 hub disk source=/h path=/repo.git\n');
  });

  it('storage pools are read directly', async () => {
    const { rt, socket } = remote('poolshere');
    await standIn(socket, () => sync(['/1.0/storage-pools/default', '/1.0/storage-pools/isollm']));
    expect(await listStoragePools(rt)).toEqual(['default', 'isollm']);
    expect(takeClientLog()).toBe('');
  });
});
