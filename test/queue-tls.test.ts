// The queue and hub for remote workers: HTTPS on 127.0.0.1 with the certificate isollm makes, one
// token per worker as its identity. Real curl (what the worker helper uses) and real git on the
// worker's side: pinned to the certificate's key, acting only as the worker whose token it holds.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { certCovers, certFingerprint, ensureCertificate, publicKeyPin, tlsFiles } from '../lib/queue/credentials.ts';
import { startServer } from '../lib/queue/server.ts';
import { QueueClient } from '../lib/queue/client.ts';
import { revokeStrayCredentials } from '../lib/worker/stray-credentials.ts';
import { GIT_PATH } from '../lib/hub/smart-http.ts';
import { commitFiles } from './hub-fixtures.ts';
import { git, gitRepo, tmpDir } from './helpers.ts';

// This machine's environment names its own CA bundle for git (GIT_SSL_CAINFO wins over
// http.sslCAInfo); a worker has no such variable.
const { GIT_SSL_CAINFO: _ca, ...hostEnv } = process.env;
const workerEnv = { ...hostEnv, GIT_TERMINAL_PROMPT: '0' };

function run(cmd: string, args: string[], cwd?: string): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: workerEnv });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
  });
}

async function setup() {
  const dir = tmpDir('isollm-tls-');
  const origin = gitRepo();
  const hub = path.join(dir, 'hub.git');
  git(dir, 'clone', '-q', '--bare', origin, hub);
  const files = tlsFiles(path.join(dir, '.isollm'));
  const { cert, key } = await ensureCertificate(files, ['127.0.0.1']);
  const server = await startServer({
    dbFile: path.join(dir, 'queue.db'),
    port: 0,
    socketsDir: path.join(dir, 'sockets'),
    hub: { dir: hub, project: 'demo', prefix: 'isollm/', base: 'main' },
    tls: { host: '127.0.0.1', port: 0, cert, key },
  });
  onTestFinished(() => server.close());
  const host = new QueueClient(server.url, 'demo');
  onTestFinished(() => host.close());
  const pin = publicKeyPin(cert);
  /** curl as a worker holding `token` (a header file, as the worker has it: never on a command line). */
  const curl = async (token: string | null, method: string, p: string, body?: unknown, extra: string[] = []) => {
    const args = ['-sS', '--cacert', files.cert, '--pinnedpubkey', pin, '-X', method, '-w', '\n%{http_code}', ...extra];
    if (token) {
      const headerFile = path.join(tmpDir('isollm-tok-'), 'auth');
      fs.writeFileSync(headerFile, `Authorization: Bearer ${token}\n`, { mode: 0o600 });
      args.push('-H', `@${headerFile}`);
    }
    if (body !== undefined) args.push('-H', 'Content-Type: application/json', '--data', JSON.stringify(body));
    const r = await run('curl', [...args, `${server.tlsUrl}${p}`]);
    const lines = r.stdout.split('\n');
    const status = Number(lines.pop());
    const text = lines.join('\n');
    return { status, json: text ? JSON.parse(text) : undefined, stderr: r.stderr, exit: r.status };
  };
  /** git as a worker holding `token`, pinned to the certificate. */
  const gitAs = (token: string, cwd: string, ...args: string[]) =>
    run('git', ['-c', `http.extraHeader=Authorization: Bearer ${token}`, '-c', `http.sslCAInfo=${files.cert}`, '-c', `http.pinnedPubkey=${pin}`, ...args], cwd);
  return { dir, hub, files, cert, server, host, curl, gitAs };
}

describe('TLS certificate for remote workers', () => {
  it('is made once with a 0600 key, names the hosts asked for, and keeps its key when re-issued', async () => {
    const files = tlsFiles(path.join(tmpDir('isollm-cert-'), '.isollm'));
    const first = await ensureCertificate(files, ['10.1.2.3']);
    expect(first.made).toBe(true);
    expect(fs.statSync(files.key).mode & 0o777).toBe(0o600);
    expect(fs.statSync(files.dir).mode & 0o777).toBe(0o700);
    expect(certCovers(first.cert, ['127.0.0.1', '10.1.2.3'])).toBe(true);
    expect(certCovers(first.cert, ['10.9.9.9'])).toBe(false);
    expect((await ensureCertificate(files, ['10.1.2.3'])).made).toBe(false);
    const second = await ensureCertificate(files, ['10.9.9.9']);
    expect(second.made).toBe(true);
    expect(certCovers(second.cert, ['10.9.9.9', '127.0.0.1'])).toBe(true);
    // The same key: workers pinned to it before keep working.
    expect(publicKeyPin(second.cert)).toBe(publicKeyPin(first.cert));
    expect(certFingerprint(second.cert)).not.toBe(certFingerprint(first.cert));
  });
});

describe('the queue over HTTPS with per-worker credentials (real curl and git)', () => {
  it('answers only a known token, as exactly that worker; revoked tokens stop working', async () => {
    const { host, curl } = await setup();
    const none = await curl(null, 'GET', '/v1/isollm/whoami');
    expect(none.status).toBe(401);
    expect(none.json.error.code).toBe('UNAUTHORIZED');
    expect((await curl('isollm_forged', 'GET', '/v1/isollm/whoami')).status).toBe(401);
    const { token } = await host.addCredential('worker-1');
    const other = (await host.addCredential('worker-2')).token;
    expect(token).toMatch(/^isollm_[A-Za-z0-9_-]{43}$/);
    const me = await curl(token, 'GET', '/v1/isollm/whoami', undefined, ['-H', 'X-Airyra-Agent: worker-2']);
    expect(me).toMatchObject({ status: 200, json: { worker: 'worker-1', agent: 'worker-1' } });
    // Acts only as itself: claims are its own whatever it says, and it cannot report another's state.
    const a = (await host.createTask({ title: 'a' })).id;
    const claim = await curl(token, 'POST', `/v1/projects/demo/tasks/${a}/claim`, undefined, ['-H', 'X-Airyra-Agent: worker-2']);
    expect(claim.status).toBe(200);
    expect(claim.json.claimed_by).toBe('worker-1');
    expect((await curl(other, 'POST', `/v1/projects/demo/tasks/${a}/done`)).status).toBe(403);
    expect((await curl(token, 'PUT', '/v1/isollm/agents/worker-2', { state: 'working' })).status).toBe(403);
    // No host powers: it cannot mint, list or revoke credentials, nor open sockets.
    expect((await curl(token, 'PUT', '/v1/isollm/credentials/worker-3')).status).toBe(403);
    expect((await curl(token, 'DELETE', '/v1/isollm/credentials/worker-2')).status).toBe(403);
    expect((await curl(token, 'GET', '/v1/isollm/credentials')).status).toBe(403);
    expect((await curl(token, 'PUT', '/v1/isollm/sockets/worker-1')).status).toBe(403);
    expect((await host.listCredentials()).map((c) => c.worker)).toEqual(['worker-1', 'worker-2']);
    // A new credential replaces the old one; revoking ends it.
    const again = (await host.addCredential('worker-1')).token;
    expect((await curl(token, 'GET', '/v1/isollm/whoami')).status).toBe(401);
    expect((await curl(again, 'GET', '/v1/isollm/whoami')).json.worker).toBe('worker-1');
    await host.removeCredential('worker-1');
    expect((await curl(again, 'GET', '/v1/isollm/whoami')).status).toBe(401);
    expect((await host.listCredentials()).map((c) => c.worker)).toEqual(['worker-2']);
  });

  it('a client pinned to another key refuses the server', async () => {
    const { curl, host } = await setup();
    const { token } = await host.addCredential('worker-1');
    const otherCert = (await ensureCertificate(tlsFiles(path.join(tmpDir('isollm-cert2-'), '.isollm')), [])).cert;
    const wrongPin = await curl(token, 'GET', '/v1/isollm/whoami', undefined, ['--pinnedpubkey', publicKeyPin(otherCert)]);
    expect(wrongPin.exit).not.toBe(0);
    expect(wrongPin.stderr).toMatch(/pinned|public key/i);
  });

  it('the hub over HTTPS: a worker clones, pushes its own task branch, and nothing else', async () => {
    const { hub, host, gitAs, curl, server } = await setup();
    const hubUrl = `${server.tlsUrl}${GIT_PATH}`;
    const mine = (await host.createTask({ title: 'mine' })).id;
    const theirs = (await host.createTask({ title: 'theirs' })).id;
    const t1 = (await host.addCredential('worker-1')).token;
    const t2 = (await host.addCredential('worker-2')).token;
    expect((await curl(t1, 'POST', `/v1/projects/demo/tasks/${mine}/claim`)).status).toBe(200);
    expect((await curl(t2, 'POST', `/v1/projects/demo/tasks/${theirs}/claim`)).status).toBe(200);
    const c1 = path.join(tmpDir('isollm-rclone-'), 'p');
    const clone = await gitAs(t1, path.dirname(c1), 'clone', '-q', hubUrl, c1);
    expect(clone.status, clone.stderr).toBe(0);
    const tip = commitFiles(c1, { 'mine.txt': '1\n' }, 'mine');
    const ok = await gitAs(t1, c1, 'push', '--porcelain', 'origin', `HEAD:refs/heads/isollm/${mine}`);
    expect(ok.status, ok.stderr).toBe(0);
    expect(git(hub, 'rev-parse', `isollm/${mine}`)).toBe(tip);
    const before = git(hub, 'for-each-ref', '--format=%(refname) %(objectname)');
    for (const [ref, why] of [
      ['HEAD:refs/heads/main', 'the base branch main moves only by'],
      [`HEAD:refs/heads/isollm/${theirs}`, `worker-1 has never held task ${theirs}`],
    ]) {
      const r = await gitAs(t1, c1, 'push', '--porcelain', 'origin', ref);
      expect(r.status).not.toBe(0);
      expect(r.stdout + r.stderr).toContain(why);
    }
    expect(git(hub, 'for-each-ref', '--format=%(refname) %(objectname)')).toBe(before);
    // A revoked credential reads nothing.
    await host.removeCredential('worker-1');
    const denied = await gitAs(t1, path.dirname(c1), 'ls-remote', hubUrl);
    expect(denied.status).not.toBe(0);
    expect(denied.stderr).toMatch(/401|Authentication|could not read Username/i);
  });
});


describe('credentials no worker holds (revokeStrayCredentials, run by `up`)', () => {
  it("revokes a base's credential left valid by its build, and keeps the workers'", async () => {
    const { host, curl } = await setup();
    const worker = (await host.addCredential('worker-1')).token;
    // A base build whose revoke failed (or that was killed while cloning) leaves its own.
    const base = (await host.addCredential('demo-base-1a2b3c')).token;
    expect((await curl(base, 'GET', '/v1/isollm/whoami')).status).toBe(200);
    expect(await revokeStrayCredentials(host, ['worker-1', 'worker-2'])).toEqual(['demo-base-1a2b3c']);
    expect((await curl(base, 'GET', '/v1/isollm/whoami')).status).toBe(401);
    expect((await curl(worker, 'GET', '/v1/isollm/whoami')).status).toBe(200);
    expect((await host.listCredentials()).map((c) => c.worker)).toEqual(['worker-1']);
    expect(await revokeStrayCredentials(host, ['worker-1'])).toEqual([]);
  });
});
