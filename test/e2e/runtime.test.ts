// Real containers through lib/runtime: launch, exec, push, a shifted disk with a bare repo, a proxy to
// a host unix socket, snapshots, delete. Needs `npm run test-env` (skips visibly without it; CI requires it).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../lib/cli/errors.ts';
import {
  addDevice,
  createSnapshot,
  deleteInstance,
  execIn,
  execOk,
  execStream,
  isIdmapUnsupported,
  launchInstance,
  listInstances,
  listSnapshots,
  pushFile,
  pushText,
  restoreSnapshot,
  waitForExec,
  PROJECT_KEY,
  WORKER_KEY,
} from '../../lib/runtime/client.ts';
import { apiGet, endpointOf } from '../../lib/runtime/api.ts';
import { git, ROOT } from '../helpers.ts';
import { e2eRuntime, TEST_IMAGE } from './runtime-available.ts';

const rt = await e2eRuntime('runtime');
const project = `e2e-rt-${crypto.randomBytes(3).toString('hex')}`;
const name = `${project}-worker-1`;
// Not tmpDir(): these live for the whole file (the container holds mounts into them).
const work = fs.mkdtempSync(path.join('/tmp', 'isollm-e2e-rt-'));

describe.skipIf(!rt)('runtime on real containers', () => {
  const runtime = rt!;
  let server: http.Server;
  const socket = path.join(work, 'queue.sock');

  beforeAll(async () => {
    server = http.createServer((req, res) => res.end(`hello from the host: ${req.method} ${req.url}`));
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    const started = Date.now();
    await launchInstance(runtime, {
      name,
      image: TEST_IMAGE,
      config: { [PROJECT_KEY]: project, [WORKER_KEY]: 'worker-1' },
      devices: { queue: { type: 'proxy', listen: 'tcp:127.0.0.1:7432', connect: `unix:${socket}`, bind: 'instance' } },
    });
    await waitForExec(runtime, name);
    console.info(`launch + ready: ${Date.now() - started}ms`);
  }, 180_000);

  afterAll(async () => {
    for (const i of await listInstances(runtime, project)) await deleteInstance(runtime, i.name);
    server?.close();
    fs.rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it('lists the container by its project tag, running', async () => {
    const list = await listInstances(runtime, project);
    expect(list.map((i) => [i.name, i.status, i.worker])).toEqual([[name, 'Running', 'worker-1']]);
    expect(await listInstances(runtime, `${project}-other`)).toEqual([]);
  });

  it("lists straight from the daemon's API as the client lists: the same instances, state and addresses", async () => {
    const endpoint = endpointOf(runtime);
    expect(endpoint?.kind).toBe('unix');
    // The direct read really answers (a failure would quietly fall back to the client).
    expect(await apiGet<{ api_version?: string }>(endpoint!, '/1.0', 10_000)).toMatchObject({ api_version: '1.0' });
    const direct = await listInstances(runtime, project);
    process.env.ISOLLM_RUNTIME_API = '0';
    try {
      expect(await listInstances(runtime, project)).toEqual(direct);
    } finally {
      delete process.env.ISOLLM_RUNTIME_API;
    }
    expect(direct.map((i) => [i.name, i.status])).toEqual([[name, 'Running']]);
  });

  it('execs an argv with user, cwd, env and stdin; returns stdout, stderr and the exit code', async () => {
    const r = await execIn(runtime, name, ['sh', '-c', 'id -u; pwd; echo "$GREETING"; cat; echo oops >&2; exit 3'], {
      user: 65534,
      group: 65534,
      cwd: '/tmp',
      env: { GREETING: 'a b; $(not run)' },
      input: 'from stdin\n',
    });
    expect(r).toEqual({ exitCode: 3, stdout: '65534\n/tmp\na b; $(not run)\nfrom stdin\n', stderr: 'oops\n' });
  });

  it("execs without input straight through the daemon's API, as the client does, and leaves no recorded output behind", async () => {
    const endpoint = endpointOf(runtime)!;
    const cases: [string, string[], Parameters<typeof execIn>[3]][] = [
      [name, ['sh', '-c', 'id -u; id -g; pwd; echo "$GREETING"; echo oops >&2; exit 3'], { user: 65534, group: 65534, cwd: '/tmp', env: { GREETING: 'a b; $(not run)' } }],
      [name, ['sh', '-c', 'printf "no newline"; cat; kill -9 $$'], {}],
      [name, ['/nonexistent'], {}],
    ];
    const both = async (...[n, command, options]: (typeof cases)[number]) => {
      const direct = await execIn(runtime, n, command, options).catch((e: Error) => e.message);
      process.env.ISOLLM_RUNTIME_API = '0';
      try {
        return { direct, client: await execIn(runtime, n, command, options).catch((e: Error) => e.message) };
      } finally {
        delete process.env.ISOLLM_RUNTIME_API;
      }
    };
    const results = [];
    for (const c of cases) results.push(await both(...c));
    // Through the client a command starts late under a shell (its output kept: runtime/client.ts),
    // whose own line on a missing command comes before the client's.
    for (const r of results) expect(r.direct).toEqual(typeof r.client === 'string' || r.client.exitCode !== 127 ? r.client : { ...r.client, stderr: r.client.stderr.replace(/^isollm-exec: .*not found\n/, '') });
    expect(results.map((r) => r.direct)).toEqual([
      { exitCode: 3, stdout: '65534\n65534\n/tmp\na b; $(not run)\n', stderr: 'oops\n' },
      { exitCode: 137, stdout: 'no newline', stderr: '' },
      { exitCode: 127, stdout: '', stderr: 'Error: Command not found\n' },
    ]);
    expect((await both(`${name}-nope`, ['true'], {})).direct).toBe(`${runtime.bin} exec ${name}-nope failed: Instance not found`);
    // Incus records into the instance's own volume (its copies would carry them), LXD into its log dir.
    const logs = await apiGet<string[]>(endpoint, `/1.0/instances/${name}/logs${runtime.kind === 'incus' ? '/exec-output' : ''}`, 10_000);
    expect(logs.filter((l) => /\/exec_[^/]*$/.test(l))).toEqual([]);
  });

  it('ends a direct exec past its timeout in the container: SIGTERM, then SIGKILL for what ignores it; its logs deleted', async () => {
    const endpoint = endpointOf(runtime)!;
    const commands = async () => (await execOk(runtime, name, ['sh', '-c', 'for c in /proc/[0-9]*/cmdline; do tr "\\0" " " <"$c"; echo; done'])).split('\n').map((l) => l.trim());
    const slow = execIn(runtime, name, ['sleep', '1000'], { timeout: 3_000 }).catch((e: Error) => e.message);
    const stubborn = execIn(runtime, name, ['sh', '-c', 'trap "" TERM; sleep 1001'], { timeout: 3_000 }).catch((e: Error) => e.message);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await commands()).toEqual(expect.arrayContaining(['sleep 1000', 'sleep 1001']));
    expect(await slow).toMatch(/gave no answer within 3s/);
    expect(await stubborn).toMatch(/gave no answer within 3s/);
    const left = await commands();
    expect(left.filter((c) => /^sleep 100[01]$|trap "" TERM/.test(c))).toEqual([]);
    const logs = await apiGet<string[]>(endpoint, `/1.0/instances/${name}/logs${runtime.kind === 'incus' ? '/exec-output' : ''}`, 10_000);
    expect(logs.filter((l) => /\/exec_[^/]*$/.test(l))).toEqual([]);
  });

  it("streams a command's output as it comes through the daemon's API, no client started (setup_script's progress)", async () => {
    const started = Date.now();
    const lines: [string, number][] = [];
    // No client on PATH: the API answers alone.
    const pathWas = process.env.PATH;
    process.env.PATH = work;
    const r = await execStream(runtime, name, ['sh', '-c', 'echo first; sleep 4; printf "second\\nno newline"'], { cwd: '/tmp' }, (line) => lines.push([line, Date.now() - started])).finally(() => (process.env.PATH = pathWas));
    expect(r).toEqual({ exitCode: 0, stdout: 'first\nsecond\nno newline', stderr: '' });
    expect(lines.map(([l]) => l)).toEqual(['first', 'second', 'no newline']);
    // The first line well before the command ended (4 s in).
    expect(lines[0][1]).toBeLessThan(lines[1][1] - 2_000);
    const logs = await apiGet<string[]>(endpointOf(runtime)!, `/1.0/instances/${name}/logs${runtime.kind === 'incus' ? '/exec-output' : ''}`, 10_000);
    expect(logs.filter((l) => /\/exec_[^/]*$/.test(l))).toEqual([]);
  });

  it('pushes text and files with owner and mode', async () => {
    await pushText(runtime, name, '/tmp/pushed.txt', 'line with \'quotes\' and $VARS\n', { uid: 65534, gid: 65534, mode: 0o640 });
    expect(await execOk(runtime, name, ['stat', '-c', '%u %g %a', '/tmp/pushed.txt'])).toBe('65534 65534 640\n');
    expect(await execOk(runtime, name, ['cat', '/tmp/pushed.txt'])).toBe("line with 'quotes' and $VARS\n");
    const host = path.join(work, 'tool.sh');
    fs.writeFileSync(host, '#!/bin/sh\necho tool ran\n');
    await pushFile(runtime, name, host, '/usr/local/bin/tool', { mode: 0o755 });
    expect(await execOk(runtime, name, ['tool'])).toBe('tool ran\n');
  });

  it('mounts a host bare repo (shift=true, or the fallback where idmapped mounts are missing): clone and push from inside reach the host', async () => {
    const src = path.join(work, 'src');
    fs.mkdirSync(src);
    git(src, 'init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(src, 'README.md'), 'hub\n');
    git(src, 'add', '.');
    git(src, 'commit', '-qm', 'init');
    const hub = path.join(work, 'hub.git');
    git(work, 'clone', '-q', '--bare', src, hub);
    try {
      await addDevice(runtime, name, 'hub', { type: 'disk', source: hub, path: '/repo.git', shift: true });
      console.info('hub mount: shift=true (idmapped)');
    } catch (err) {
      if (!isIdmapUnsupported(err)) throw err;
      // Fallback: a plain bind mount of a repository every uid may write (git keeps it group/world-shared).
      console.info('hub mount: idmapped mounts unsupported here; plain mount of a shared repository');
      git(hub, 'config', 'core.sharedRepository', 'world');
      spawnSync('chmod', ['-R', 'a+rwX', hub]);
      await addDevice(runtime, name, 'hub', { type: 'disk', source: hub, path: '/repo.git' });
    }
    // Added directly, the hub kept the devices the container was launched with (one request with the launch).
    const devices = (await listInstances(runtime, project))[0].devices;
    expect(Object.keys(devices).sort()).toEqual(['hub', 'queue']);
    await expect(addDevice(runtime, name, 'hub', { type: 'disk', source: hub, path: '/elsewhere' })).rejects.toThrow(/config device add failed: The device already exists/);
    // Root inside is not root on the host: git would refuse a repo owned by someone else.
    await execOk(runtime, name, ['git', 'config', '--global', '--add', 'safe.directory', '*']);
    await execOk(runtime, name, ['git', 'clone', '-q', '/repo.git', '/root/project']);
    expect(await execOk(runtime, name, ['cat', '/root/project/README.md'])).toBe('hub\n');
    const gitIn = ['git', '-C', '/root/project', '-c', 'user.name=w1', '-c', 'user.email=w1@isollm.local'];
    await execOk(runtime, name, [...gitIn, 'checkout', '-q', '-b', 'isollm/t-1']);
    await execOk(runtime, name, [...gitIn, 'commit', '-q', '--allow-empty', '-m', 'from the container']);
    await execOk(runtime, name, [...gitIn, 'push', '-q', 'origin', 'isollm/t-1']);
    expect(git(hub, 'log', '-1', '--format=%s', 'isollm/t-1')).toBe('from the container');
  });

  it('reaches a server on a host unix socket through the proxy device at 127.0.0.1 inside', async () => {
    const out = await execOk(runtime, name, ['curl', '-sS', '--max-time', '10', 'http://127.0.0.1:7432/tasks?x=1']);
    expect(out).toBe('hello from the host: GET /tasks?x=1');
  });

  it('snapshots and restores', async () => {
    await pushText(runtime, name, '/root/marker', 'before\n');
    await createSnapshot(runtime, name, 'isollm-clean');
    expect((await listSnapshots(runtime, name)).map((s) => s.name)).toContain('isollm-clean');
    await pushText(runtime, name, '/root/marker', 'after\n');
    await restoreSnapshot(runtime, name, 'isollm-clean');
    await waitForExec(runtime, name);
    expect(await execOk(runtime, name, ['cat', '/root/marker'])).toBe('before\n');
  }, 120_000);

  it('reports a missing container as a one-line error, not a command exit code', async () => {
    await expect(execIn(runtime, name + '-nope', ['true'])).rejects.toThrow(/exec .*failed: Instance not found/);
    const err = await execIn(runtime, name + '-nope', ['true']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
  });

  it('tells a dead daemon and a refused user apart (real client, real socket)', () => {
    const probe = path.join(work, 'probe.mts');
    fs.writeFileSync(
      probe,
      `import { listInstances, pingRuntime, RUNTIMES } from ${JSON.stringify(path.join(ROOT, 'lib/runtime/client.ts'))};\n` +
        `const rt = RUNTIMES[${JSON.stringify(runtime.kind)}];\n` +
        `await pingRuntime(rt).then(() => console.log('ok'), (e) => console.log(e.message));\n` +
        // A list (read from the API where it can be) fails with the same words.
        `await listInstances(rt, 'x').then(() => console.log('ok'), (e) => console.log(e.message));\n`,
    );
    fs.chmodSync(work, 0o755);
    fs.chmodSync(probe, 0o644);
    const home = path.join(work, 'home');
    fs.mkdirSync(home, { mode: 0o777 });
    fs.chmodSync(home, 0o777);
    const env = { PATH: process.env.PATH, HOME: home };
    const dirVar = runtime.kind === 'lxd' ? 'LXD_DIR' : 'INCUS_DIR';
    const dead = spawnSync(process.execPath, [probe], { env: { ...env, [dirVar]: path.join(work, 'no-daemon') }, encoding: 'utf8' });
    const lines = (out: string) => out.trim().split('\n');
    expect(lines(dead.stdout)).toEqual([expect.stringMatching(/daemon does not answer/), expect.stringMatching(/daemon does not answer/)]);
    if (process.getuid?.() !== 0) return; // only root can become another user here
    // A home of its own: the client keeps its config there (Incus writes ~/.config/incus as the first caller).
    const otherHome = path.join(work, 'home-nobody');
    fs.mkdirSync(otherHome);
    fs.chownSync(otherHome, 65534, 65534);
    const refused = spawnSync(process.execPath, [probe], { env: { ...env, HOME: otherHome }, uid: 65534, gid: 65534, encoding: 'utf8' });
    const denied = expect.stringMatching(/^User \S+ may not talk to the (LXD|Incus) daemon .*usermod -aG/);
    expect(lines(refused.stdout)).toEqual([denied, denied]);
  });

  it('deletes', async () => {
    await deleteInstance(runtime, name);
    expect(await listInstances(runtime, project)).toEqual([]);
  });
});
