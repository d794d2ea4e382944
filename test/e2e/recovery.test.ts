// Recovery after a host reboot, on real containers with the scripted demo agent in loop mode, in tmux:
// two workers each mid-task (the demo agent wrote its notes and "thinks"), then what a reboot leaves —
// every container of the project stopped with `lxc stop --force`, the queue daemon killed, the tmux
// server gone. `isollm up` brings back the same workers holding the same tasks, the loops go on with
// them from the work the interrupted runs left (never released, never claimed by another), and
// `isollm status` says what was recovered. Needs `npm run test-env`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listInstances } from '../../lib/runtime/client.ts';
import { sessionName } from '../../lib/mux/index.ts';
import { checkAgainstSchema } from '../../lib/status/schema.ts';
import { freePort, git } from '../helpers.ts';
import { e2eProject } from './project.ts';
import { e2eConfigYaml, e2eRuntime } from './runtime-available.ts';

const rt = await e2eRuntime('recovery');
const { project, root, hub, cli, isollm, tmux, commit, destroy } = e2eProject('rec', { ISOLLM_DEMO_DELAY: '2' });
const session = sessionName(project);
const UP_TIMEOUT_MS = 300_000;

type Recovered = { name: string; container_started: boolean; mode: string; resumed_with: string | null; task: string | null };
type Model = { workers: { name: string; state: string; task: { id: string } | null }[]; recovered: { at: string; workers: Recovered[] } | null };
type Audit = { action: string; field: string; changed_by: string };

const status = (): Model => {
  const model = JSON.parse(isollm(['status', '--json']));
  expect(checkAgainstSchema(model)).toEqual([]);
  return model;
};
const task = (id: string) => JSON.parse(isollm(['task', 'show', id, '--json'])) as { task: { status: string; claimed_by: string | null }; history: Audit[] };

/** What the panes show (the loops' logs), for a failure's message. */
function panes(): string {
  const ids = tmux('list-panes', '-s', '-t', session, '-F', '#{pane_id} #{@isollm_title}').stdout.trim().split('\n').filter(Boolean);
  return ids.map((line) => `--- ${line}\n${tmux('capture-pane', '-p', '-S', '-60', '-t', line.split(' ')[0]).stdout.trim()}`).join('\n');
}

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 300_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${cli(['status']).stdout}\n${panes()}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

describe.skipIf(!rt)('recovery after a reboot', () => {
  beforeAll(async () => {
    const agent = { preset: 'custom', command: 'isollm-demo-agent', mode: 'loop', env: ['ISOLLM_DEMO_DELAY'], loop: { poll_interval: 1 } };
    commit({ 'README.md': '# e2e recovery\n', 'isollm.yaml': e2eConfigYaml({ project, hub, port: await freePort(), agent }) });
  });
  afterAll(() => destroy(rt, UP_TIMEOUT_MS), UP_TIMEOUT_MS);

  it('up brings back the same workers with the same tasks, the loops go on with them, status says so', async () => {
    isollm(['queue', 'start']);
    const ids = ['one', 'two'].map((n) => (JSON.parse(isollm(['task', 'add', `slow ${n} [demo:slow 900]`, '-p', 'critical', '--json'])) as { id: string }).id);
    const later = (JSON.parse(isollm(['task', 'add', 'after the reboot', '--json'])) as { id: string }).id;
    isollm(['up', '--multiplexer', 'tmux', '--detach'], UP_TIMEOUT_MS);
    const holders = await until('both workers on a slow task', () => {
      const held = new Map(status().workers.filter((w) => w.task && ids.includes(w.task.id)).map((w) => [w.task!.id, w.name]));
      return held.size === 2 && held;
    });
    await new Promise((r) => setTimeout(r, 5_000)); // the demo agents write their notes, then think

    // The reboot: containers stopped hard, the queue daemon and the tmux server gone.
    const started = Date.now();
    const running = (await listInstances(rt!, project)).filter((i) => i.status === 'Running').map((i) => i.name);
    expect(running).toHaveLength(2);
    const stop = spawnSync(rt!.bin, ['stop', '--force', ...running], { encoding: 'utf8' });
    expect(stop.status, stop.stderr).toBe(0);
    process.kill(Number(fs.readFileSync(path.join(root, '.isollm', 'queue.pid'), 'utf8')), 'SIGKILL');
    tmux('kill-server');
    await new Promise((r) => setTimeout(r, 500));
    expect(tmux('has-session', '-t', session).status).not.toBe(0);

    const up = cli(['up', '--multiplexer', 'tmux', '--detach'], UP_TIMEOUT_MS);
    expect(up.code, up.stderr + up.stdout).toBe(0);
    const upSeconds = (Date.now() - started) / 1000;
    for (const [id, name] of holders) expect(up.stdout + up.stderr).toContain(`Recovered ${name} (container started, restarted the loop, resumed task ${id})`);
    const model = status();
    expect(model.recovered?.workers.map((w) => [w.name, w.container_started, w.mode, w.task]).sort()).toEqual([...holders].map(([id, name]) => [name, true, 'loop', id]).sort());
    expect(isollm(['status'])).toMatch(/recovered \d\d:\d\d: worker-\d \(container started, restarted the loop, resumed task ar-\w+\); worker-\d/);

    // Each task is finished by the worker that held it, from the notes its interrupted run left.
    await until('the held tasks done', () => ids.every((id) => task(id).task.status === 'done'));
    const recoveredSeconds = (Date.now() - started) / 1000;
    for (const [id, name] of holders) {
      const statuses = task(id).history.filter((h) => h.field === 'status').reverse();
      expect(statuses.map((h) => [h.action, h.changed_by])).toEqual([['claim', name], ['done', name]]);
      expect(git(hub, 'log', '--format=%s', `isollm/${id}`).split('\n').slice(0, 2)).toEqual([`${id}: notes from the demo agent`, 'isollm-loop: work left by an interrupted run']);
      expect(git(hub, 'show', `isollm/${id}:notes/${id}.resumed`)).toBe('continued after an interrupted run');
    }
    await until('the later task done', () => task(later).task.status === 'done');
    console.log(`recovery: up after the reboot ${upSeconds.toFixed(0)} s, both held tasks done ${recoveredSeconds.toFixed(0)} s after it`);

    // A second `up` finds everything running: nothing restarted, and the recovery is still told.
    const again = cli(['up', '--multiplexer', 'tmux', '--detach'], UP_TIMEOUT_MS);
    expect(again.code).toBe(0);
    expect(again.stdout + again.stderr).not.toContain('Recovered');
    expect(status().recovered?.at).toBe(model.recovered!.at);
  }, 3 * UP_TIMEOUT_MS);
});
