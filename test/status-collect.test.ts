// The status model collected from a real queue daemon (started through the CLI) and a real hub.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadConfig } from '../lib/config/load.ts';
import { QueueClient } from '../lib/queue/client.ts';
import { missingClientError } from '../lib/runtime/client.ts';
import { collectStatus, type RuntimeWorker } from '../lib/status/collect.ts';
import { checkAgainstSchema } from '../lib/status/schema.ts';
import { commitFiles, workerPush } from './hub-fixtures.ts';
import { cliProject } from './helpers.ts';

/** A project with its own queue port and a hub in a temp dir; the queue started with `queue start`. */
async function runningProject() {
  const { root, hub, port, cli } = await cliProject();
  const started = cli('queue', 'start');
  expect(started.code, started.stderr).toBe(0);
  return { root, hub, port, cli, config: loadConfig(root) };
}

const fakeRuntime = () => ({ kind: 'lxd' as const, bin: 'lxc' as const, group: 'lxd' as const });

describe('collectStatus', () => {
  it('joins containers, claims, counts and the hub; the model conforms to the schema', async () => {
    const { root, hub, port, cli, config } = await runningProject();
    expect(cli('sync', 'push').code).toBe(0);
    workerPush(hub, 'isollm/t-1', { 'a.txt': 'a\n' }, 'task one');
    commitFiles(root, { 'h.txt': 'h\n' }, 'host work'); // host base one ahead of the hub

    const host = new QueueClient(`http://127.0.0.1:${port}`, 'demo');
    onTestFinished(() => host.close());
    const a = await host.createTask({ title: 'Build the thing' });
    await host.createTask({ title: 'Second' });
    const b = await host.createTask({ title: 'Blocked one' });
    await host.claim(b.id);
    await host.block(b.id, 'waiting');
    const { path: sock } = await host.addSocket('w1');
    const w1 = new QueueClient(`unix:${sock}`, 'demo', { agent: 'ignored' });
    onTestFinished(() => w1.close());
    await w1.claim(a.id);
    await w1.reportState('w1', { state: 'waiting', detail: 'permission: Bash', source: 'claude:PermissionRequest' });
    const resumes = new Date(Date.now() + 3600_000).toISOString();
    await host.reportState('w2', { state: 'limited', until: resumes });

    const workers: RuntimeWorker[] = [
      { name: 'w1', container: 'demo-w1', status: 'Running', ipv4: null },
      { name: 'w2', container: 'demo-w2', status: 'Stopped', ipv4: null },
    ];
    const now = new Date(Date.now() + 90_000);
    const m = await collectStatus(root, config, { runtime: fakeRuntime, workers: async () => workers, base: async () => null, now: () => now });
    expect(checkAgainstSchema(m)).toEqual([]);
    expect(m.errors).toEqual({});
    expect(m.tasks).toEqual({ open: 1, in_progress: 1, blocked: 1, done: 0, ready: 1, total: 3 });
    expect(m.workers).toHaveLength(2);
    expect(m.workers![0]).toMatchObject({ name: 'w1', state: 'running', task: { id: a.id, title: 'Build the thing', branch: `isollm/${a.id}` } });
    expect(m.workers![0].task!.age_seconds).toBeGreaterThanOrEqual(89);
    expect(m.workers![0].agent).toMatchObject({ state: 'waiting', detail: 'permission: Bash', source: 'claude:PermissionRequest', until: null, exit_status: null });
    expect(m.workers![0].agent!.seconds).toBeGreaterThanOrEqual(89);
    expect(m.workers![1]).toMatchObject({ name: 'w2', state: 'stopped', task: null, agent: { state: 'limited', until: resumes } });
    expect(m.workers![1].agent!.resumes_in_seconds).toBeGreaterThan(3400);
    // t-1, plus the branches the queue made in the hub when a and b were claimed (their starts).
    expect(m.sync).toEqual({ hub, present: true, base_branch: 'main', ahead: 1, behind: 0, task_branches: 3 });
    expect(m.services.queue).toMatchObject({ mode: 'embedded', running: true, url: `http://127.0.0.1:${port}` });
    expect(m.services.queue.pid).toBeGreaterThan(0);
    expect(m.services.runtime).toEqual({ kind: 'lxd', bin: 'lxc', remote: null });

    // The same project through the CLI: valid JSON of the same shape.
    const json = cli('status', '--json');
    expect(json.code, json.stderr).toBe(0);
    const model = JSON.parse(json.stdout);
    expect(checkAgainstSchema(model)).toEqual([]);
    expect(model.tasks).toEqual(m.tasks);
    expect(model.sync).toEqual(m.sync);
    // The text views say who waits and when the limited one resumes.
    const brief = cli('status', '--brief');
    expect(brief.stdout).toMatch(/^demo: .* \(agents 1 waiting\) · tasks 1 ready/);
  }, 90_000); // a dozen CLI runs: slow on a loaded 2-core host

  it('a failing source is an error string in the model, the rest is still there', async () => {
    const { root, port, cli, config } = await runningProject();
    const host = new QueueClient(`http://127.0.0.1:${port}`, 'demo');
    onTestFinished(() => host.close());
    const t = await host.createTask({ title: 'Mine' });
    await host.claim(t.id); // claimed by the host: a claimer with no container

    // Runtime client missing: workers fall back to the claimers, state unknown; no hub yet is not an error.
    const m = await collectStatus(root, config, {
      runtime: () => {
        throw missingClientError('auto');
      },
    });
    expect(checkAgainstSchema(m)).toEqual([]);
    expect(m.errors).toEqual({ workers: 'Neither `incus` nor `lxc` (LXD) is installed. Run `isollm setup` to install it.' });
    expect(m.workers).toEqual([{ name: host.agent, container: null, state: 'unknown', ipv4: null, location: null, task: expect.objectContaining({ id: t.id }), agent: null }]);
    expect(m.services.runtime).toEqual({ kind: null, bin: null, remote: null });
    expect(m.sync).toMatchObject({ present: false, ahead: null, task_branches: 0 });
    expect(m.tasks?.in_progress).toBe(1);

    // Runtime fine, queue stopped, hub path taken by something that is not a repository.
    expect(cli('queue', 'stop').code).toBe(0);
    fs.mkdirSync(config.git.hub, { recursive: true });
    fs.writeFileSync(path.join(config.git.hub, 'junk'), 'x');
    const down = await collectStatus(root, config, { runtime: fakeRuntime, workers: async () => [], base: async () => null });
    expect(checkAgainstSchema(down)).toEqual([]);
    expect(down.tasks).toBeNull();
    expect(down.workers).toEqual([]);
    expect(down.sync).toBeNull();
    expect(down.services.queue.running).toBe(false);
    expect(down.errors.queue).toBe('The queue is not running. Start it with `isollm queue start` (or `isollm up`).');
    expect(down.errors.sync).toMatch(/is not a bare git repository/);
    expect(down.errors.workers).toBeUndefined();
  });

  it('with the real runtime client here: one list call, no containers of this project', async () => {
    const { root, config } = await runningProject();
    const m = await collectStatus(root, config);
    expect(checkAgainstSchema(m)).toEqual([]);
    // Either this machine's LXD/Incus answered (no containers tagged with this temp project), or its error is recorded.
    if (m.errors.workers) expect(m.workers).toBeNull();
    else expect(m.workers).toEqual([]);
    expect(m.base).toBeNull(); // no base built for it
    expect(m.errors.base).toBeUndefined();
  });
});
