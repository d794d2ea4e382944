// Workers on a remote (`runtime.remote`), for real. On LXD: this machine's own daemon reached over
// HTTPS as the remote `isollm-self` (trust token), network.listen on its bridge's address. On Incus:
// a second daemon of this machine enabled as a one-member cluster (test/support/cluster-daemon.ts),
// the remote `isollm-cluster` with runtime.targets naming its member, network.advertise left for
// isollm to find. The workers reach this machine's hub and queue over TLS with their own credentials. Asserted: no host-path disk and no proxy
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
import { apiGet, endpointOf } from '../../lib/runtime/api.ts';
import { freePort, git, runCli } from '../helpers.ts';
import { e2eRuntime, TEST_IMAGE } from './runtime-available.ts';
import { bridgeAddress, ensureSelfRemote } from './remote-available.ts';
import { ensureClusterRemote, CLUSTER_BRIDGE } from '../support/cluster-daemon.ts';

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

  let cluster: { remote: string; member: string } | null = null;

  beforeAll(async () => {
    cluster = local!.kind === 'incus' ? await ensureClusterRemote() : null;
    const remote = cluster?.remote ?? ensureSelfRemote(local!);
    rt = onRemote(local!, remote, cluster ? [cluster.member] : []);
    // What the remote's containers reach this machine at: the bridge they are on (the remote is this machine).
    const host = cluster ? spawnSync('incus', ['network', 'get', `${remote}:${CLUSTER_BRIDGE}`, 'ipv4.address'], { encoding: 'utf8' }).stdout.trim().split('/')[0] : bridgeAddress(local!);
    expect(host).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
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
      // On the cluster the advertised address is left for isollm to find (listening on every address).
      runtime: cluster ? { remote, targets: [cluster.member] } : { remote },
      network: { listen: cluster ? `0.0.0.0:${tlsPort}` : `${host}:${tlsPort}` },
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
    const remote = rt.remote!;
    expect(doctor.stdout).toMatch(new RegExp(`✓ remote ${remote}: trusted; ${cluster ? 'a cluster' : 'a server'}`));
    expect(doctor.stdout).toMatch(new RegExp(`✓ image isollm-test: present on remote ${remote}`));
    if (cluster) expect(doctor.stdout).toMatch(new RegExp(`✓ cluster members: ${cluster.member}`));
    // From a throwaway container on the remote, to the address the workers will be given.
    const advertised = tlsUrl.replace('https://', '');
    expect(doctor.stdout).toContain(`✓ remote workers reach this machine: ${advertised} answers a throwaway container on ${remote}`);
    expect(doctor.code, doctor.stdout).toBe(0);
    // An address the containers cannot reach (their own loopback): one line that says so, and exit 1.
    const yaml = fs.readFileSync(path.join(root, 'isollm.yaml'), 'utf8');
    const port = tlsUrl.split(':').at(-1);
    fs.writeFileSync(path.join(root, 'isollm.yaml'), yaml + `  advertise: 127.0.0.1:${port}\n`);
    try {
      const unreachable = cli(['doctor']);
      expect(unreachable.code).toBe(1);
      expect(unreachable.stdout).toMatch(new RegExp(`✗ remote workers reach this machine: a throwaway container on ${remote} cannot reach 127\\.0\\.0\\.1:${port} \\(curl: \\(7\\) .*\\) → make 127\\.0\\.0\\.1:${port} reachable`));
    } finally {
      fs.writeFileSync(path.join(root, 'isollm.yaml'), yaml);
    }
    // No probe container is left behind.
    expect((await listInstances(rt)).filter((i) => i.name.startsWith(`${name}-probe-`))).toEqual([]);
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
    // Listed straight from the remote's API (client certificate, the server's pinned), as the client lists.
    const endpoint = endpointOf(rt);
    expect(endpoint?.kind).toBe('https');
    expect(await apiGet<{ auth?: string }>(endpoint!, '/1.0', 10_000)).toMatchObject({ auth: 'trusted' });
    process.env.ISOLLM_RUNTIME_API = '0';
    try {
      expect(await listInstances(rt, name)).toEqual(instances);
    } finally {
      delete process.env.ISOLLM_RUNTIME_API;
    }
    // Each running worker holds a credential; the base's was revoked once it had cloned.
    expect(credentials().sort()).toEqual(['worker-1', 'worker-2']);
    const env = sh('worker-1', 'cat /etc/isollm/worker.env; stat -c "%a %U" "$HOME/.config/isollm/queue.curlrc" "$HOME/.config/isollm/remote.gitconfig"; git remote get-url origin');
    expect(env.stdout).toContain(`ISOLLM_QUEUE_URL=${tlsUrl}`);
    expect(env.stdout).toContain('600 dev\n600 dev');
    expect(env.stdout).toContain(`${tlsUrl}/git/hub.git`);
  }, 600_000);

  it('status shows the cluster member each worker runs on (full, brief, json)', () => {
    const member = cluster?.member;
    const json = JSON.parse(ok(['status', '--json'])) as { workers: { name: string; location: string | null }[] };
    expect(json.workers.map((w) => [w.name, w.location]).sort()).toEqual([
      ['worker-1', member ?? null],
      ['worker-2', member ?? null],
    ]);
    const full = ok(['status']);
    const brief = ok(['status', '--brief']);
    if (member) {
      expect(full).toMatch(new RegExp(`WORKER\\s+STATE\\s+MEMBER`));
      expect(full).toMatch(new RegExp(`worker-1\\s+● running\\s+${member}`));
      expect(brief).toMatch(new RegExp(`2/2 workers running on ${member} `));
    } else {
      expect(full).not.toMatch(/MEMBER/);
      expect(brief).toMatch(/2\/2 workers running · /);
    }
  });

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
