// Workers on a remote (`runtime.remote`), for real: this machine's own daemon reached over HTTPS as
// the remote `isollm-self` (trust token), the workers reaching this machine's hub and queue over
// TLS at the bridge's address with their own credentials. Asserted: no host-path disk and no proxy
// device on them; they clone, claim, push and finish tasks over the network; a worker's credential
// cannot push the base or another's task branch, nor act as another worker; `down` salvages their
// unsaved work and revokes every credential.
// The agent is a quiet one (`sleep infinity`): the test drives the helper as an agent would.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statePaths } from '../../lib/project/root.ts';
import { deleteInstance, listInstances, onRemote, type Runtime } from '../../lib/runtime/client.ts';
import { freePort, git, runCli } from '../helpers.ts';
import { e2eRuntime, TEST_IMAGE } from './runtime-available.ts';
import { bridgeAddress, ensureSelfRemote } from './remote-available.ts';

const local = await e2eRuntime('remote');
const STEP_MS = 240_000;

type Task = { id: string; title: string; status: string; claimed_by?: string | null };

describe.skipIf(!local)('workers on a remote over TLS', () => {
  let rt: Runtime;
  const name = `e2e-rmt-${crypto.randomBytes(3).toString('hex')}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-remote-'));
  const root = path.join(dir, 'repo');
  const hub = path.join(dir, 'hub.git');
  let tlsUrl = '';
  const cli = (args: string[], timeout = STEP_MS) => runCli(args, { cwd: root, timeout });
  const ok = (args: string[], timeout?: number) => {
    const r = cli(args, timeout);
    if (r.code !== 0) throw new Error(`isollm ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  /** A constant script run as dev in the worker's clone; its exit code and output. */
  const sh = (worker: string, script: string, ...args: string[]) => cli(['worker', 'exec', worker, '--', 'sh', '-c', script, 'sh', ...args]);
  const tasks = () => JSON.parse(ok(['task', 'list', '--json'])) as Task[];
  const hubRefs = () => git(hub, 'for-each-ref', '--format=%(refname) %(objectname)');
  const credentials = () => {
    const db = new DatabaseSync(statePaths(root).queueDb, { readOnly: true });
    try {
      return db.prepare('SELECT worker FROM credentials').all().map((r) => String(r.worker));
    } finally {
      db.close();
    }
  };

  beforeAll(async () => {
    const remote = ensureSelfRemote(local!);
    rt = onRemote(local!, remote);
    const host = bridgeAddress(local!);
    const tlsPort = await freePort();
    tlsUrl = `https://${host}:${tlsPort}`;
    fs.mkdirSync(root);
    git(root, 'init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(root, 'README.md'), '# e2e remote\n');
    fs.writeFileSync(path.join(root, '.gitignore'), '.isollm/\n');
    const config = {
      project: name,
      workers: 2,
      image: TEST_IMAGE,
      git: { base_branch: 'main', hub },
      agent: { preset: 'custom', command: 'sleep', args: ['infinity'], mode: 'interactive' },
      queue: { port: await freePort() },
      multiplexer: { kind: 'none' },
      runtime: { remote },
      network: { listen: `${host}:${tlsPort}` },
    };
    fs.writeFileSync(path.join(root, 'isollm.yaml'), YAML.stringify(config));
    git(root, 'add', '.');
    git(root, 'commit', '-qm', 'initial');
  }, 120_000);

  afterAll(async () => {
    if (!rt) return;
    for (const i of await listInstances(rt, name).catch(() => [])) await deleteInstance(rt, i.name).catch(() => undefined);
    runCli(['queue', 'stop'], { cwd: root });
    fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('doctor checks the remote; up makes the workers there, with no host path and no proxy', async () => {
    const doctor = cli(['doctor']);
    expect(doctor.stdout).toMatch(/✓ remote isollm-self: trusted/);
    expect(doctor.stdout).toMatch(/✓ image isollm-test: present on remote isollm-self/);
    ok(['up'], 480_000);
    const instances = await listInstances(rt, name);
    const workers = instances.filter((i) => i.worker);
    expect(workers.map((w) => w.worker).sort()).toEqual(['worker-1', 'worker-2']);
    for (const w of instances) {
      const devices = Object.values(w.devices);
      expect(devices.filter((d) => d.type === 'proxy'), w.name).toEqual([]);
      expect(devices.filter((d) => d.type === 'disk' && d.path !== '/'), w.name).toEqual([]);
    }
    expect(workers.every((w) => w.ipv4)).toBe(true);
    // Each running worker holds a credential; the base's was revoked once it had cloned.
    expect(credentials().sort()).toEqual(['worker-1', 'worker-2']);
    const env = sh('worker-1', 'cat /etc/isollm/worker.env; stat -c "%a %U" "$HOME/.config/isollm/queue.curlrc" "$HOME/.config/isollm/remote.gitconfig"; git remote get-url origin');
    expect(env.stdout).toContain(`ISOLLM_QUEUE_URL=${tlsUrl}`);
    expect(env.stdout).toContain('600 dev\n600 dev');
    expect(env.stdout).toContain(`${tlsUrl}/git/hub.git`);
  }, 600_000);

  it('they claim, push and finish tasks over the network; a credential acts only as its worker', () => {
    ok(['task', 'add', 'one']);
    ok(['task', 'add', 'two']);
    // worker-1 takes a task, commits, pushes its branch and finishes, as the instructions teach.
    const work = 'set -e; out=$(isollm-task next); id=$(printf "%s\\n" "$out" | sed -n "s/^id: //p"); branch=$(printf "%s\\n" "$out" | sed -n "s/^branch: //p"); git checkout -q -b "$branch"; echo "$1" > "$1.txt"; git add .; git commit -qm "$1"; git push -q origin "HEAD:refs/heads/$branch"; isollm-task done "$id" >/dev/null; echo "$id"';
    const one = sh('worker-1', work, 'from-worker-1');
    expect(one.code, one.stderr + one.stdout).toBe(0);
    const doneId = one.stdout.trim().split('\n').at(-1)!;
    expect(tasks().find((t) => t.id === doneId)).toMatchObject({ status: 'done', claimed_by: 'worker-1' });
    expect(git(hub, 'show', `isollm/${doneId}:from-worker-1.txt`)).toBe('from-worker-1');
    // worker-2 takes the other one and keeps it (its work stays unsaved for `down`).
    const claim = sh('worker-2', 'set -e; out=$(isollm-task next); printf "%s\\n" "$out" | sed -n "s/^id: //p"');
    expect(claim.code, claim.stderr).toBe(0);
    const held = claim.stdout.trim();
    expect(tasks().find((t) => t.id === held)).toMatchObject({ status: 'in_progress', claimed_by: 'worker-2' });

    const before = hubRefs();
    // worker-1's credential: no base branch, no task it never held, no delete.
    for (const ref of ['HEAD:refs/heads/main', `HEAD:refs/heads/isollm/${held}`, `:refs/heads/isollm/${doneId}`]) {
      const r = sh('worker-1', 'git push --porcelain origin "$1"', ref);
      expect(r.code, ref).not.toBe(0);
      expect(r.stdout + r.stderr, ref).toMatch(/rejected/);
    }
    expect(hubRefs()).toBe(before);
    // It cannot act as worker-2 on the queue: the header is ignored, the task is not its own.
    const asOther = sh('worker-1', 'curl -sS -K "$HOME/.config/isollm/queue.curlrc" -H "X-Airyra-Agent: worker-2" -X POST -o /dev/null -w "%{http_code}" "$1/v1/projects/$2/tasks/$3/done"', tlsUrl, name, held);
    expect(asOther.stdout.trim()).toBe('403');
    const whoami = sh('worker-1', 'curl -sS -K "$HOME/.config/isollm/queue.curlrc" -H "X-Airyra-Agent: worker-2" "$1/v1/isollm/whoami"', tlsUrl);
    expect(JSON.parse(whoami.stdout)).toMatchObject({ worker: 'worker-1' });
    expect(tasks().find((t) => t.id === held)).toMatchObject({ status: 'in_progress', claimed_by: 'worker-2' });
    // Without a credential nothing answers.
    const bare = sh('worker-1', 'curl -sS --cacert /etc/isollm/queue-ca.pem -o /dev/null -w "%{http_code}" "$1/v1/isollm/whoami"', tlsUrl);
    expect(bare.stdout.trim()).toBe('401');
  }, 300_000);

  it('down salvages the unsaved work of remote workers and revokes every credential', () => {
    const token = sh('worker-2', 'sed -n "s/^header = \\"Authorization: Bearer \\(.*\\)\\"$/\\1/p" "$HOME/.config/isollm/queue.curlrc"').stdout.trim();
    expect(token).toMatch(/^isollm_/);
    expect(sh('worker-2', 'echo unsaved > unsaved.txt').code).toBe(0);
    const down = cli(['down'], 300_000);
    expect(down.code, down.stderr + down.stdout).toBe(0);
    expect(down.stdout + down.stderr).toMatch(/Credentials revoked worker-1, worker-2/);
    const saved = git(hub, 'for-each-ref', '--format=%(refname)', 'refs/heads/isollm/');
    const withFile = saved.split('\n').filter((ref) => spawnSync('git', ['cat-file', '-e', `${ref}:unsaved.txt`], { cwd: hub }).status === 0);
    expect(withFile.length, saved).toBeGreaterThan(0);
    expect(credentials()).toEqual([]);
    // The queue up again: the old token opens nothing.
    ok(['queue', 'start']);
    const r = spawnSync('curl', ['-sS', '-k', '-H', `Authorization: Bearer ${token}`, '-o', '/dev/null', '-w', '%{http_code}', `${tlsUrl}/v1/isollm/whoami`], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('401');
  }, 400_000);
});
