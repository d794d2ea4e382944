// The project's base on real containers, through the CLI: built once (setup_script's output shown),
// later workers copied from it without running setup_script, each with its own identity (hostname,
// queue socket, settings, git identity) and brought up to date by one fetch; a changed setup_script
// rebuilds it exactly once while older workers keep their work; reset moves a worker onto the new
// base after saving its work; an old base goes once no worker uses it; `worker rebuild` forces one.
// Needs `npm run test-env` (skips visibly without it; CI requires it).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteInstance, listInstances, startInstance } from '../../lib/runtime/client.ts';
import { BASE_SIZE_KEY } from '../../lib/worker/base-plan.ts';
import { freePort, git, runCliAsync } from '../helpers.ts';
import { commitRepo } from './project.ts';
import { e2eRuntime, TEST_IMAGE } from './runtime-available.ts';

const rt = await e2eRuntime('base');
// Several base builds, each with a setup_script: on a loaded 2-core machine one test can take minutes.
const CLI_TIMEOUT_MS = 420_000;
const id = crypto.randomBytes(3).toString('hex');

const run = (args: string[], cwd: string) => runCliAsync(args, { cwd, timeout: CLI_TIMEOUT_MS });

const setup = (version: string) => `setup_script: |\n  echo building-${version}\n  echo ${version} >> /etc/e2e-base-marker\n`;
const count = (text: string, needle: string) => text.split('\n').filter((l) => l.includes(needle)).length;

describe.skipIf(!rt)('the project base on real containers', () => {
  const runtime = rt!;
  const work = rt ? fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-e2e-base-')) : '';
  const project = `e2e-base-${id}`;
  const root = path.join(work, 'project');
  const hub = path.join(work, 'hub.git');
  let yaml = '';
  const cli = (...args: string[]) => run(args, root);
  const exec = (worker: string, ...command: string[]) => cli('worker', 'exec', worker, '--', ...command);
  const bases = async () => (await listInstances(runtime, project)).filter((i) => i.config['user.isollm.role'] === 'base').map((i) => i.name).sort();
  const baseOf = async (worker: string) => (await listInstances(runtime, project)).find((i) => i.worker === worker)?.config['user.isollm.base'];
  let first = '';

  beforeAll(async () => {
    yaml = `project: ${project}\nimage: ${TEST_IMAGE}\nqueue:\n  port: ${await freePort()}\ngit:\n  hub: ${hub}\nagent:\n  install: false\n`;
    commitRepo(root, { 'README.md': '# e2e base\n', 'isollm.yaml': yaml + setup('v1') });
  });

  afterAll(async () => {
    for (const i of await listInstances(runtime, project).catch(() => [])) await deleteInstance(runtime, i.name).catch(() => undefined);
    await cli('queue', 'stop');
    fs.rmSync(work, { recursive: true, force: true });
  }, CLI_TIMEOUT_MS);

  it('builds the base on the first `worker add`, showing setup_script’s output', async () => {
    const r = await cli('worker', 'add');
    expect(r.code, r.stderr).toBe(0);
    expect(count(r.stderr, "Building the project's base")).toBe(1);
    expect(r.stderr).toMatch(/Building the project's base \S+ \(no base yet\)/);
    expect(r.stderr).toContain('│ building-v1');
    [first] = await bases();
    expect(first).toMatch(new RegExp(`^${project}-base-[0-9a-f]{6}$`));
    expect(await baseOf('worker-1')).toBe(first);
    // The base is kept stopped: a still source for later copies (the first one was made while it
    // still ran, right after its build), its size measured meanwhile.
    const built = (await listInstances(runtime, project)).find((i) => i.name === first);
    expect(built?.status).toBe('Stopped');
    expect(Number(built?.config[BASE_SIZE_KEY])).toBeGreaterThan(50 * 1024 * 1024);
  }, CLI_TIMEOUT_MS);

  it('copies later workers from it without running setup_script, up to date with the hub', async () => {
    // The hub moves on after the base was built: the new workers fetch it.
    fs.writeFileSync(path.join(root, 'later.txt'), 'later\n');
    git(root, 'add', 'later.txt');
    git(root, 'commit', '-qm', 'later');
    expect((await cli('sync', 'push')).code).toBe(0);
    // As if a build's command died before it stopped the base: the next command stops it first.
    await startInstance(runtime, first);
    const r = await cli('worker', 'add', '-n', '2');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('Building');
    expect(r.stderr).not.toContain('setup_script');
    expect(r.stderr).toContain(`worker-2 → copying ${first}`);
    expect(r.stderr).toContain(`worker-3 → copying ${first}`);
    for (const w of ['worker-2', 'worker-3']) {
      expect(await baseOf(w)).toBe(first);
      const head = await exec(w, 'git', 'log', '-1', '--format=%s %D');
      expect(head.stdout).toBe('later HEAD -> main, origin/main, origin/HEAD\n');
    }
    expect((await listInstances(runtime, project)).find((i) => i.name === first)?.status).toBe('Stopped');
  }, CLI_TIMEOUT_MS);

  it("gives every copy its own identity: hostname, settings, git identity, queue socket", async () => {
    for (const w of ['worker-1', 'worker-2', 'worker-3']) {
      const container = `${project}-${w}`;
      const r = await exec(w, 'sh', '-c', 'hostname; grep ISOLLM_WORKER= /etc/isollm/worker.env; git config user.name; git config user.email; cat /etc/e2e-base-marker; git status --short');
      expect(r.stdout).toBe(`${container}\nISOLLM_WORKER=${w}\n${w}\n${w}@isollm.local\nv1\n`);
      // Its queue link: its own socket's directory, read-only, and nothing else of the host's sockets.
      const queue = (await listInstances(runtime, project)).find((i) => i.worker === w)?.devices.queue;
      expect(queue).toMatchObject({ type: 'disk', source: path.join(root, '.isollm', 'sockets', w), path: '/var/lib/isollm/queue', readonly: 'true' });
      const look = await exec(w, 'sh', '-c', 'ls -A /var/lib/isollm/queue; grep -c " /var/lib/isollm/queue " /proc/self/mounts; grep -c isollm/sockets /proc/self/mountinfo; sudo touch /var/lib/isollm/queue/x 2>/dev/null || echo read-only');
      expect(look.stdout).toBe('queue.sock\n1\n1\nread-only\n');
      // The queue knows who asked from the socket the request came through.
      const task = await exec(w, 'isollm-task', 'add', `from ${w}`);
      expect(task.code, task.stderr).toBe(0);
      const shown = JSON.parse((await cli('task', 'show', task.stdout.trim(), '--json')).stdout);
      expect(shown.history[0].changed_by).toBe(w);
    }
    // A copy keeps the base's profiles, and with them the NIC its agent reaches the network by.
    expect((await exec('worker-1', 'ls', '/sys/class/net')).stdout.split('\n')).toContain('eth0');
    // The base masked maintenance timers, block-device boot work and what a copy's boot has no use
    // for (no module loads, no console login); nothing failed for want of them; the journal works (in /run).
    const boot = await exec('worker-1', 'sh', '-c', 'sudo systemctl is-enabled apt-daily.timer e2scrub_reap.service modprobe@loop.service console-getty.service; readlink /etc/systemd/system-generators/systemd-gpt-auto-generator; sudo systemctl --failed --no-legend --plain | wc -l; sudo systemctl is-active systemd-journald.service');
    expect(boot.stdout).toBe('masked\nmasked\nmasked\nmasked\n/dev/null\n0\nactive\n');
  }, CLI_TIMEOUT_MS);

  it('rebuilds exactly once when setup_script changes; older workers keep their work', async () => {
    expect((await exec('worker-1', 'sh', '-c', 'echo mine > wip.txt')).code).toBe(0);
    const fresh = JSON.parse((await cli('status', '--json')).stdout).base;
    // Built before the hub got `later`: each new worker fetches that one commit.
    expect(fresh).toMatchObject({ name: first, stale: false, changed: [], workers: 3, commits_behind: 1, building: false });
    expect(fresh.size_bytes).toBeGreaterThan(50 * 1024 * 1024);
    fs.writeFileSync(path.join(root, 'isollm.yaml'), yaml + setup('v2'));
    // status says the base is stale, and why, before anything rebuilds it.
    const stale = await cli('status', '--json');
    expect(JSON.parse(stale.stdout).base, stale.stderr).toMatchObject({ name: first, stale: true, changed: ['setup_script'] });
    expect((await cli('status')).stdout).toMatch(/base +\S+ · image [0-9a-f]{12} · .* · 3 workers · hub 1 commit ahead · stale \(setup_script changed\): the next `isollm up` rebuilds it/);
    const r = await cli('worker', 'add');
    expect(r.code, r.stderr).toBe(0);
    expect(count(r.stderr, "Building the project's base")).toBe(1);
    expect(r.stderr).toMatch(/Building the project's base \S+ \(setup_script changed\)/);
    expect(r.stderr).toContain('│ building-v2');
    expect(r.stderr).toContain('worker-1, worker-2, worker-3 keep their work on the older base');
    const all = await bases();
    expect(all).toHaveLength(2);
    const second = all.find((b) => b !== first)!;
    expect(await baseOf('worker-4')).toBe(second);
    expect((await exec('worker-4', 'cat', '/etc/e2e-base-marker')).stdout).toBe('v2\n');
    expect((await exec('worker-1', 'cat', 'wip.txt')).stdout).toBe('mine\n');
    // The key is unchanged now: no second rebuild.
    const again = await cli('worker', 'add');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toContain('Building');
    expect(await baseOf('worker-5')).toBe(second);
  }, CLI_TIMEOUT_MS);

  it('reset saves the work, then makes the worker again from the new base; the old base goes with its last worker', async () => {
    const [, second] = [first, (await bases()).find((b) => b !== first)!];
    const reset = await cli('worker', 'reset', 'worker-1');
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stderr).toMatch(/worker-1 +1 uncommitted file committed → isollm\/salvage\/worker-1-\S+/);
    expect(reset.stderr).toContain(`worker-1 is made again from the new base ${second}.`);
    expect(await baseOf('worker-1')).toBe(second);
    const after = await exec('worker-1', 'sh', '-c', 'cat /etc/e2e-base-marker; ls; hostname');
    expect(after.stdout).toBe(`v2\nREADME.md\nisollm.yaml\nlater.txt\n${project}-worker-1\n`);
    expect(git(hub, 'for-each-ref', '--format=%(refname:short)', 'refs/heads/isollm/salvage')).toMatch(/^isollm\/salvage\/worker-1-/);
    expect(await bases()).toContain(first); // worker-2 and worker-3 still use it

    expect((await cli('worker', 'remove', 'worker-2', '--force')).code).toBe(0);
    const last = await cli('worker', 'reset', 'worker-3', '--force');
    expect(last.code, last.stderr).toBe(0);
    expect(await bases(), last.stderr).toEqual([second]);
    // A reset of a worker already on the current base copies that base again: its clean state.
    expect((await exec('worker-4', 'touch', 'scratch.txt')).code).toBe(0);
    const clean = await cli('worker', 'reset', 'worker-4', '--force');
    expect(clean.stderr).toContain('worker-4 is back to the clean state of its base.');
    expect((await exec("worker-4", "ls")).stdout).toBe("README.md\nisollm.yaml\nlater.txt\n");
  }, CLI_TIMEOUT_MS);

  it('`worker rebuild` builds a new base even when nothing changed', async () => {
    const [before] = await bases();
    const r = await cli('worker', 'rebuild');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Building the project's base \S+ \(rebuild asked for\)/);
    expect(r.stderr).toContain('│ building-v2');
    const now = await bases();
    expect(now).toHaveLength(2);
    expect(now).toContain(before); // still used by its workers
    const added = await cli('worker', 'add');
    expect(added.stderr).not.toContain('Building');
    expect(await baseOf('worker-2')).toBe(now.find((b) => b !== before));
  }, CLI_TIMEOUT_MS);
});

describe.skipIf(!rt)('`worker add` while another builds the base', () => {
  const runtime = rt!;
  const work = rt ? fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-e2e-baselock-')) : '';
  const project = `e2e-blk-${id}`;
  const root = path.join(work, 'project');

  beforeAll(async () => {
    // Long enough that the second add surely starts while the first is in setup_script.
    const yaml = `project: ${project}\nimage: ${TEST_IMAGE}\nqueue:\n  port: ${await freePort()}\ngit:\n  hub: ${path.join(work, 'hub.git')}\nagent:\n  install: false\nsetup_script: |\n  echo slow-setup\n  sleep 8\n`;
    commitRepo(root, { 'isollm.yaml': yaml });
  });

  afterAll(async () => {
    for (const i of await listInstances(runtime, project).catch(() => [])) await deleteInstance(runtime, i.name).catch(() => undefined);
    await run(['queue', 'stop'], root);
    fs.rmSync(work, { recursive: true, force: true });
  }, CLI_TIMEOUT_MS);

  it('waits for the base being built and copies it; the half-built base is never removed nor copied', async () => {
    const first = run(['worker', 'add', 'alpha'], root);
    // Once the first is inside setup_script, its base exists, unfinished (no key yet).
    const deadline = Date.now() + 120_000;
    let building: string | undefined;
    while (!building && Date.now() < deadline) {
      building = (await listInstances(runtime, project)).find((i) => i.config['user.isollm.role'] === 'base' && i.status === 'Running')?.name;
      if (!building) await new Promise((r) => setTimeout(r, 200));
    }
    expect(building, 'the first add never started its base').toBeDefined();
    const second = await run(['worker', 'add', 'beta'], root);
    const a = await first;
    expect(a.code, a.stderr).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/Waiting for `isollm worker add` \(pid \d+\), which is building or copying the project's base/);
    expect(count(a.stderr + second.stderr, "Building the project's base")).toBe(1);
    expect(second.stderr).not.toContain('slow-setup');
    const instances = await listInstances(runtime, project);
    expect(instances.filter((i) => i.config['user.isollm.role'] === 'base').map((i) => i.name)).toEqual([building]);
    for (const w of ['alpha', 'beta']) expect(instances.find((i) => i.worker === w)?.config['user.isollm.base']).toBe(building);
  }, CLI_TIMEOUT_MS);

  it('takes over the base lock of an isollm that was killed', async () => {
    const lock = path.join(root, '.isollm', 'base.lock');
    const dead = spawnSync('true').pid!;
    fs.writeFileSync(lock, JSON.stringify({ pid: dead, command: 'worker add', since: new Date().toISOString() }));
    const r = await run(['worker', 'add', 'gamma'], root);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('Waiting');
    expect(fs.existsSync(lock)).toBe(false);
  }, CLI_TIMEOUT_MS);
});
