// Changes made through the daemon's API directly (lib/runtime/api.ts, used by client.ts): against a
// stand-in daemon on a unix socket, the requests sent (one copy with its devices, a file with its
// owner, a readiness probe's exit code), operations waited for, the daemon's refusals as the client's one-line errors, and the
// client asked when nothing answers on the socket. The same changes against real LXD and Incus: every
// e2e test that makes a worker (e2e/base.test.ts, e2e/workers.test.ts).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { copyInstance, pushText, setInstanceConfig, stopInstance, waitForExec, type Runtime } from '../lib/runtime/client.ts';

type Seen = { method: string; url: string; headers: http.IncomingHttpHeaders; body: string };

/** A daemon that answers each request as `answer` says; the requests it saw. */
async function standIn(socket: string, answer: (req: Seen) => { status?: number; body: unknown }): Promise<Seen[]> {
  const seen: Seen[] = [];
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(r);
      const a = answer(r);
      res.writeHead(a.status ?? 200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(a.body));
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

  beforeAll(() => {
    dir = fs.mkdtempSync('/tmp/isollm-api-write-');
    fs.mkdirSync(path.join(dir, 'conf'));
    fs.writeFileSync(path.join(dir, 'conf', 'config.yml'), 'default-remote: local\nremotes:\n');
    process.env.INCUS_CONF = path.join(dir, 'conf');
    // The client, should it be asked: records its arguments.
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.writeFileSync(path.join(dir, 'bin', 'incus'), `#!/bin/sh\necho "$@" >> ${path.join(dir, 'client.log')}\n`, { mode: 0o755 });
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
    expect(fs.readFileSync(path.join(dir, 'client.log'), 'utf8')).toBe('config set nobodyhere:p-worker-1 user.isollm.ready=true\n');
  });
});
