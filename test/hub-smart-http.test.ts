// The hub over git's smart HTTP on a worker's own socket (the queue server's), with real git on both
// ends: a worker pushes its task branches and its salvage branches; it cannot push the base, a task
// it never held, another worker's salvage, a rewrite of history or a delete — and a refused push
// changes nothing in the hub. The host's TCP listener serves no hub at all.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import zlib from 'node:zlib';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startServer } from '../lib/queue/server.ts';
import { parseCommands, pktLine, refusedReport } from '../lib/hub/smart-http.ts';
import { refusal } from '../lib/hub/ref-policy.ts';
import { call } from './queue-helpers.ts';
import { commitFiles } from './hub-fixtures.ts';
import { freePort, git, gitRepo, NODE, ROOT, tmpDir } from './helpers.ts';

const ZERO = '0'.repeat(40);
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

/** git as a child process without blocking this process, which is also the server git talks to. */
function gitAsync(cwd: string, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('git', args, { cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
  });
}

/** A TCP port forwarding to a unix socket: what LXD's proxy device is for a worker. */
async function forward(socket: string): Promise<number> {
  const server = net.createServer((c) => {
    const up = net.connect(socket);
    c.pipe(up).pipe(c);
    up.on('error', () => c.destroy());
    c.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

async function setup() {
  const dir = tmpDir('isollm-smart-http-');
  const origin = gitRepo();
  const hub = path.join(dir, 'hub.git');
  git(dir, 'clone', '-q', '--bare', origin, hub);
  const server = await startServer({
    dbFile: path.join(dir, 'queue.db'),
    port: 0,
    socketsDir: path.join(dir, 'sockets'),
    hub: { dir: hub, project: 'demo', prefix: 'isollm/', base: 'main' },
  });
  onTestFinished(() => server.close());
  const ports: Record<string, number> = {};
  for (const w of ['worker-1', 'worker-2']) ports[w] = await forward((await server.addSocket(w)).path);
  const api = (w: string, method: string, p: string, body?: unknown) => call({ port: ports[w] }, method, `/v1/projects/demo${p}`, { body });
  const add = async (title: string) => (await call(server, 'POST', '/v1/projects/demo/tasks', { body: { title }, agent: 'host' })).json.id as string;
  const clone = (w: string) => {
    const c = path.join(tmpDir('isollm-clone-'), 'project');
    git(path.dirname(c), 'clone', '-q', hub, c);
    git(c, 'config', 'remote.origin.pushurl', `http://127.0.0.1:${ports[w]}/git/hub.git`);
    return c;
  };
  const push = (c: string, ...args: string[]) => gitAsync(c, ['push', '--porcelain', 'origin', ...args]);
  return { server, hub, ports, api, add, clone, push };
}

describe('ref policy (pure)', () => {
  const policy = { worker: 'worker-1', prefix: 'isollm/', base: 'main', held: (id: string) => id === 'ar-1' };
  it.each([
    [{ old: ZERO, new: A, ref: 'refs/heads/isollm/ar-1' }, null],
    [{ old: A, new: B, ref: 'refs/heads/isollm/ar-1' }, null],
    [{ old: ZERO, new: A, ref: 'refs/heads/isollm/salvage/worker-1-20261201-101010' }, null],
    [{ old: ZERO, new: A, ref: 'refs/heads/isollm/ar-2' }, 'worker-1 has never held task ar-2'],
    [{ old: A, new: B, ref: 'refs/heads/main' }, 'the base branch main moves only by `isollm land` or `isollm sync push`'],
    [{ old: A, new: ZERO, ref: 'refs/heads/isollm/ar-1' }, 'workers may not delete branches'],
    [{ old: ZERO, new: A, ref: 'refs/heads/feature' }, 'workers may push only task branches (isollm/<task>)'],
    [{ old: ZERO, new: A, ref: 'refs/heads/isollm/ar-1/x' }, 'workers may push only task branches (isollm/<task>)'],
    [{ old: ZERO, new: A, ref: 'refs/tags/v1' }, 'workers may push only branches'],
    [{ old: ZERO, new: A, ref: 'refs/heads/isollm/salvage/worker-2-x' }, 'salvage branches of worker-1 are isollm/salvage/worker-1-<YYYYMMDD-HHMMSS>…'],
    [{ old: ZERO, new: A, ref: 'refs/heads/isollm/salvage/worker-1-20261201-101010-ar-1' }, null],
    [{ old: ZERO, new: A, ref: 'refs/heads/isollm/salvage/worker-1-x' }, 'salvage branches of worker-1 are isollm/salvage/worker-1-<YYYYMMDD-HHMMSS>…'],
  ])('%j → %s', (update, expected) => expect(refusal(update, policy)).toBe(expected));

  it("a worker whose name begins another's cannot write that one's salvage branches", () => {
    const web = { worker: 'web', prefix: 'isollm/', base: 'main', held: () => false };
    expect(refusal({ old: ZERO, new: A, ref: 'refs/heads/isollm/salvage/web-20261201-101010' }, web)).toBeNull();
    expect(refusal({ old: A, new: B, ref: 'refs/heads/isollm/salvage/web-api-20261201-101010' }, web)).toMatch(/^salvage branches of web are/);
    expect(refusal({ old: ZERO, new: A, ref: 'refs/heads/isollm/salvage/web-api-20261201-101010-ar-1' }, web)).toMatch(/^salvage branches of web are/);
  });

  it('reads the commands of a push and answers a refusal as receive-pack would', () => {
    const body = Buffer.concat([pktLine(`${ZERO} ${A} refs/heads/isollm/ar-1\0report-status side-band-64k agent=git/2\n`), pktLine(`${A} ${B} refs/heads/main\n`), Buffer.from('0000PACK...')]);
    const { updates, caps } = parseCommands(body);
    expect(updates.map((u) => u.ref)).toEqual(['refs/heads/isollm/ar-1', 'refs/heads/main']);
    expect(caps).toEqual(['report-status', 'side-band-64k', 'agent=git/2']);
    const plain = refusedReport(updates, new Map([['refs/heads/main', 'no']]), ['report-status']).toString();
    expect(plain).toBe('000eunpack ok\n0041ng refs/heads/isollm/ar-1 refused with the rest of this push\n001ang refs/heads/main no\n0000');
    expect(() => parseCommands(Buffer.from('0010shallow abc\n0000'))).toThrow(/unexpected line/);
  });
});

describe('the hub over smart HTTP on a worker socket (real git)', () => {
  it('a worker pushes the branch of a task it holds, and its salvage; the rest is refused and changes nothing', async () => {
    const { hub, api, add, clone, push } = await setup();
    const mine = await add('mine');
    const theirs = await add('theirs');
    expect((await api('worker-1', 'POST', `/tasks/${mine}/claim`)).status).toBe(200);
    expect((await api('worker-2', 'POST', `/tasks/${theirs}/claim`)).status).toBe(200);
    const w1 = clone('worker-1');
    const w2 = clone('worker-2');
    commitFiles(w2, { 'theirs.txt': '2\n' }, 'theirs');
    expect((await push(w2, `HEAD:refs/heads/isollm/${theirs}`)).status).toBe(0);
    const before = git(hub, 'for-each-ref', '--format=%(refname) %(objectname)');

    const tip = commitFiles(w1, { 'mine.txt': '1\n' }, 'mine');
    const ok = await push(w1, `HEAD:refs/heads/isollm/${mine}`);
    expect(ok.status, ok.stderr).toBe(0);
    expect(git(hub, 'rev-parse', `isollm/${mine}`)).toBe(tip);
    expect((await push(w1, 'HEAD:refs/heads/isollm/salvage/worker-1-20261201-000000')).status).toBe(0);

    const refused = [
      [['HEAD:refs/heads/main'], 'the base branch main moves only by'],
      [[`HEAD:refs/heads/isollm/${theirs}`, '--force'], `worker-1 has never held task ${theirs}`],
      [[`:refs/heads/isollm/${theirs}`], 'workers may not delete branches'],
      [['HEAD:refs/heads/isollm/ar-ffff'], 'worker-1 has never held task ar-ffff'],
      [['HEAD:refs/heads/isollm/salvage/worker-2-x'], 'salvage branches of worker-1'],
      [['HEAD:refs/tags/v1'], 'workers may push only branches'],
    ] as const;
    for (const [args, why] of refused) {
      const r = await push(w1, ...args);
      expect(r.status).not.toBe(0);
      expect(r.stdout + r.stderr).toContain(why);
      expect(r.stdout).toMatch(/^!\t/m); // git's own "[remote rejected]" line
    }
    // History of a held task cannot be rewritten either (git's own receive.denyNonFastForwards).
    git(w1, 'reset', '-q', '--hard', 'HEAD~1');
    commitFiles(w1, { 'other.txt': 'x\n' }, 'rewrite');
    const rewrite = await push(w1, `HEAD:refs/heads/isollm/${mine}`, '--force');
    expect(rewrite.status).not.toBe(0);
    expect(git(hub, 'rev-parse', `isollm/${mine}`)).toBe(tip);

    const after = git(hub, 'for-each-ref', '--format=%(refname) %(objectname)').split('\n');
    expect(after.filter((l) => !before.includes(l)).map((l) => l.split(' ')[0]).sort()).toEqual([`refs/heads/isollm/${mine}`, 'refs/heads/isollm/salvage/worker-1-20261201-000000']);
    expect(spawnSync('git', ['fsck', '--no-progress'], { cwd: hub }).status).toBe(0);
  });

  it('a worker keeps pushing to a task it has held after giving it back (its salvage), and fetches over HTTP too', async () => {
    const { hub, api, add, clone, ports } = await setup();
    const id = await add('released');
    await api('worker-1', 'POST', `/tasks/${id}/claim`);
    await api('worker-1', 'POST', `/tasks/${id}/release`);
    const w1 = clone('worker-1');
    commitFiles(w1, { 'late.txt': 'x\n' }, 'late');
    expect((await gitAsync(w1, ['push', '-q', 'origin', `HEAD:refs/heads/isollm/${id}`])).status).toBe(0);
    // A remote worker has no mount: it clones over HTTP.
    const viaHttp = path.join(tmpDir('isollm-http-clone-'), 'c');
    const r = await gitAsync(path.dirname(viaHttp), ['clone', '-q', `http://127.0.0.1:${ports['worker-2']}/git/hub.git`, viaHttp]);
    expect(r.status, r.stderr).toBe(0);
    expect(git(viaHttp, 'rev-parse', `origin/isollm/${id}`)).toBe(git(hub, 'rev-parse', `isollm/${id}`));
  });

  it('serves no hub to the host listener, and nothing but git under /git', async () => {
    const { server, ports } = await setup();
    const host = await call(server, 'GET', '/git/hub.git/info/refs?service=git-upload-pack');
    expect(host.status).toBe(403);
    const other = await call({ port: ports['worker-1'] }, 'GET', '/git/hub.git/config');
    expect(other.status).toBe(404);
    expect(fs.existsSync(server.socketPath('worker-1'))).toBe(true);
  });

  it('a gzip body is inflated only up to the push limit: past it the push is refused (413) and the server goes on', async () => {
    const { ports } = await setup();
    // Gzip members concatenate: 1 KiB on the wire per MiB inflated, 600 MiB in all (the limit is 512);
    // a few MiB more of them would inflate to more than the host's memory.
    const member = zlib.gzipSync(Buffer.alloc(1024 * 1024, 'x'));
    const bomb = Buffer.concat(Array.from({ length: 600 }, () => member));
    const status = await new Promise<number>((resolve, reject) => {
      const headers = { 'Content-Type': 'application/x-git-receive-pack-request', 'Content-Encoding': 'gzip', 'Content-Length': String(bomb.length) };
      const req = http.request({ host: '127.0.0.1', port: ports['worker-1'], method: 'POST', path: '/git/hub.git/git-receive-pack', headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(bomb);
    });
    expect(status).toBe(413);
    expect((await call({ port: ports['worker-1'] }, 'GET', '/v1/health')).status).toBe(200);
  });
});

/** Pids of the git http-backend processes serving repositories under `projectRoot` (read from /proc). */
function backendsOf(projectRoot: string): number[] {
  const pids: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('http-backend')) continue;
      const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      if (env.includes(`GIT_PROJECT_ROOT=${projectRoot}`)) pids.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

describe('the queue killed during a push', () => {
  // git http-backend (2.39) reads CONTENT_LENGTH bytes of a push and, at an early end of its input,
  // reads again forever: a backend orphaned before it had its body, by a queue killed -9 (the chaos
  // soak's queue-kill), spun a core until someone killed it.
  it('leaves no git http-backend behind', async () => {
    const dir = tmpDir('isollm-smart-http-kill-');
    const root = path.join(dir, 'project');
    fs.mkdirSync(path.join(root, '.isollm'), { recursive: true });
    const hub = path.join(dir, 'hub.git');
    git(dir, 'clone', '-q', '--bare', gitRepo(), hub);
    // git for the queue (its directory first on PATH, which the backend inherits): the backend of a
    // push's body starts at once (and says so), answering its headers, but gets its input 3 s later
    // (through cat): the queue is killed meanwhile, with more of the body unwritten than a socket holds.
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'git'), [
      '#!/bin/sh',
      'PATH=${PATH#*:}',
      'if [ "$1" = http-backend ] && [ "$REQUEST_METHOD" = POST ]; then',
      '  : >"${0%/*}/../started"',
      '  { sleep 3; cat; } | git http-backend',
      '  exit',
      'fi',
      'exec git "$@"',
      '',
    ].join('\n'), { mode: 0o755 });
    const started = path.join(dir, 'started');
    const port = await freePort();
    const queue = spawn(NODE, [path.join(ROOT, 'lib', 'queue', 'main.ts'), root, String(port), '--hub', hub, '--project', 'demo', '--prefix', 'isollm/', '--base', 'main'], {
      stdio: 'ignore',
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    onTestFinished(() => void queue.kill('SIGKILL'));
    onTestFinished(() => backendsOf(dir).forEach((pid) => process.kill(pid, 'SIGKILL')));
    for (let i = 0; ; i++) {
      try {
        if ((await call({ port }, 'GET', '/v1/health')).status === 200) break;
      } catch {
        if (i > 200) throw new Error('the queue did not start');
      }
      await sleep(50);
    }
    const socket = (await call({ port }, 'PUT', '/v1/isollm/sockets/worker-1', { agent: 'host' })).json.path as string;
    const worker = await forward(socket);
    const id = (await call({ port }, 'POST', '/v1/projects/demo/tasks', { body: { title: 'big' }, agent: 'host' })).json.id as string;
    expect((await call({ port: worker }, 'POST', `/v1/projects/demo/tasks/${id}/claim`)).status).toBe(200);
    const clone = path.join(dir, 'clone');
    git(dir, 'clone', '-q', hub, clone);
    fs.writeFileSync(path.join(clone, 'big.bin'), crypto.randomBytes(4 * 1024 * 1024)); // incompressible
    commitFiles(clone, {}, 'big');
    // One POST for the whole push (a body over http.postBuffer comes after a probe POST of its own).
    const pushed = gitAsync(clone, ['-c', 'http.postBuffer=64m', 'push', '-q', `http://127.0.0.1:${worker}/git/hub.git`, `HEAD:refs/heads/isollm/${id}`]);
    for (const deadline = Date.now() + 60_000; !fs.existsSync(started); await sleep(5)) {
      if (Date.now() > deadline) throw new Error('no git http-backend started for the push');
    }
    await sleep(1_500); // its headers sent (a backend that finds its queue gone there dies of SIGPIPE)
    queue.kill('SIGKILL');
    expect((await pushed).status).not.toBe(0);
    let left = backendsOf(dir);
    for (const deadline = Date.now() + 20_000; left.length && Date.now() < deadline; left = backendsOf(dir)) await sleep(200);
    expect(left, 'git http-backend processes still running 20 s after the queue died').toEqual([]);
  }, 120_000);
});
