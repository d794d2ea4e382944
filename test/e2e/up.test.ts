// `isollm up` end to end on real containers with the scripted demo agent (no LLM): loop mode without a
// multiplexer, a failing task, re-running and scaling `up`, then interactive mode in a private tmux
// server, and `down`. One project for the whole file (workers are reused to keep it to a few minutes).
// Needs `npm run test-env` (skips visibly without it; CI requires it).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listInstances } from '../../lib/runtime/client.ts';
import { sessionName } from '../../lib/mux/index.ts';
import { fullViewLines } from '../../lib/status/render.ts';
import { freePort, git } from '../helpers.ts';
import { e2eProject } from './project.ts';
import { e2eConfigYaml, e2eRuntime, TEST_IMAGE } from './runtime-available.ts';

const rt = await e2eRuntime('up');
// The demo agent works at once and, in interactive mode, stays in its pane until `down`.
const { project, work, root, hub, cli, isollm, tmux, commit, destroy } = e2eProject('up', { ISOLLM_DEMO_DELAY: '0', ISOLLM_DEMO_IDLE: '900' });
const session = sessionName(project);
const tmuxConf = path.join(work, 'my tmux.conf');
const UP_TIMEOUT_MS = 240_000;
const SETTLE_TIMEOUT_MS = 120_000;
const POLL_MS = 1_000;

type Task = { id: string; title: string; status: string; priority: number; block_reason?: string; claimed_by?: string };
type Audit = { action: string; field: string; new_value?: string; changed_at: string; changed_by: string };

function writeConfig(mode: 'loop' | 'interactive', port: number) {
  const agent = { preset: 'custom', command: 'isollm-demo-agent', mode, env: ['ISOLLM_DEMO_DELAY', 'ISOLLM_DEMO_IDLE'], loop: { poll_interval: 1 } };
  // The user's tmux config, sourced into the session (multiplexer.tmux_conf; --multiplexer picks tmux).
  fs.writeFileSync(path.join(root, 'isollm.yaml'), e2eConfigYaml({ project, hub, port, agent, multiplexer: { tmux_conf: tmuxConf } }));
}

function addTask(title: string, priority: string, depends: string[] = []): string {
  const out = isollm(['task', 'add', title, '-p', priority, ...depends.flatMap((d) => ['-d', d]), '--json']);
  return (JSON.parse(out) as Task).id;
}

/** Six tasks in mixed priorities, with the chain first → second → third; their ids by name. */
function addSixTasks(tag: string): Record<string, string> {
  const ids: Record<string, string> = {};
  ids.first = addTask(`${tag} first`, 'normal');
  ids.second = addTask(`${tag} second`, 'critical', [ids.first]);
  ids.third = addTask(`${tag} third`, 'high', [ids.second]);
  ids.low = addTask(`${tag} low`, 'low');
  ids.high = addTask(`${tag} high`, 'high');
  ids.lowest = addTask(`${tag} lowest`, 'lowest');
  return ids;
}

const listTasks = () => JSON.parse(isollm(['task', 'list', '--json'])) as Task[];
const history = (id: string) => (JSON.parse(isollm(['task', 'show', id, '--json'])) as { history: Audit[] }).history;
const statusOf = (h: Audit[]) => h.filter((e) => e.field === 'status');

/** Poll the queue until none of `ids` is open or in progress. */
async function settle(ids: string[]): Promise<Task[]> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    const tasks = listTasks().filter((t) => ids.includes(t.id));
    if (tasks.length === ids.length && tasks.every((t) => t.status === 'done' || t.status === 'blocked')) return tasks;
    if (Date.now() > deadline) throw new Error(`tasks did not settle in ${SETTLE_TIMEOUT_MS / 1000}s: ${JSON.stringify(tasks.map((t) => [t.id, t.status]))}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Each task claimed once and done once; a dependant claimed after its dependency was done. */
function expectDoneOnceInOrder(ids: Record<string, string>) {
  const when = (h: Audit[], action: string) => Date.parse(statusOf(h).find((e) => e.action === action)!.changed_at);
  const histories: Record<string, Audit[]> = {};
  for (const [name, id] of Object.entries(ids)) {
    histories[name] = history(id);
    expect(statusOf(histories[name]).map((e) => e.action).sort(), `${name} (${id})`).toEqual(['claim', 'done']);
  }
  for (const [dependant, dependency] of [['second', 'first'], ['third', 'second']]) {
    expect(when(histories[dependant], 'claim')).toBeGreaterThanOrEqual(when(histories[dependency], 'done'));
  }
}

/**
 * Every task's branch in the hub: the agent's one commit, writing notes/<id>.md, on top of the start
 * the queue made at the claim: the base for a task without parents; for second and third, a merge of
 * the base and the parent's branch (the parent was done, not landed), so they hold its work.
 */
function expectBranches(ids: Record<string, string>) {
  const base = git(hub, 'rev-parse', 'main');
  const parentOf: Record<string, string> = { second: 'first', third: 'second' };
  for (const [name, id] of Object.entries(ids)) {
    const branch = `isollm/${id}`;
    expect(git(hub, 'log', '-1', '--format=%s', branch)).toBe(`${id}: notes from the demo agent`);
    expect(git(hub, 'diff-tree', '--no-commit-id', '--name-only', '-r', branch)).toBe(`notes/${id}.md`);
    const parent = parentOf[name];
    if (!parent) {
      expect(git(hub, 'rev-list', '--count', `main..${branch}`), branch).toBe('1');
      expect(git(hub, 'rev-parse', `${branch}~1`)).toBe(base);
    } else {
      expect(git(hub, 'log', '-1', '--format=%P', `${branch}~1`).split(' '), `${branch} starts from main + its parent`).toEqual([base, git(hub, 'rev-parse', `isollm/${ids[parent]}`)]);
    }
  }
}

/** How many isollm-loop supervisors run in a worker (the image has no pgrep: read /proc). */
function loopCount(worker: string): number {
  // The script matches whole command lines, so its own (which contains the pattern) never counts.
  const script = `n=0; for f in /proc/[0-9]*/cmdline; do case "$(tr '\\0' ' ' <"$f" 2>/dev/null)" in "/bin/sh /usr/local/bin/isollm-loop ") n=$((n+1)) ;; esac; done; echo $n`;
  return Number(isollm(['worker', 'exec', worker, '--', 'sh', '-c', script]).trim());
}

const created = async () => new Map((await listInstances(rt!, project)).filter((i) => i.worker).map((i) => [i.worker, i.createdAt?.toISOString()]));

describe.skipIf(!rt)('isollm up on real containers with the demo agent', () => {
  let port = 0;

  beforeAll(async () => {
    port = await freePort();
    fs.mkdirSync(root);
    fs.writeFileSync(tmuxConf, 'set -g status-left "[e2e conf]"\nbind-key F12 display-message "e2e binding"\n');
    writeConfig('loop', port);
    commit({ 'README.md': '# e2e up\n' });
    isollm(['queue', 'start']);
  });

  afterAll(() => destroy(rt, UP_TIMEOUT_MS), UP_TIMEOUT_MS);

  let loopIds: Record<string, string> = {};

  it('loop mode, no multiplexer: two workers do six tasks once each, in dependency order; a failing one is blocked and its worker moves on', async () => {
    loopIds = addSixTasks('loop');
    const broken = addTask('loop broken [demo:fail]', 'critical');
    const r = cli(['up', '-n', '2', '--multiplexer', 'none'], UP_TIMEOUT_MS);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/✓ 2 agent\(s\) at work \(worker-1, worker-2\) in /);
    expect(r.stderr).toContain('Follow an agent: isollm worker logs worker-1 -f');

    const tasks = await settle([...Object.values(loopIds), broken]);
    expect(tasks.filter((t) => t.status === 'done').map((t) => t.id).sort()).toEqual(Object.values(loopIds).sort());
    const blocked = tasks.find((t) => t.id === broken)!;
    expect(blocked.status).toBe('blocked');
    expect(blocked.block_reason).toBe('the agent exited with status 3');
    expectDoneOnceInOrder(loopIds);
    // Both workers did work, and the one that met the failing task claimed another one after it.
    const claims = Object.values(loopIds).flatMap((id) => statusOf(history(id)).filter((e) => e.action === 'claim'));
    expect(new Set(claims.map((c) => c.changed_by))).toEqual(new Set(['worker-1', 'worker-2']));
    const block = statusOf(history(broken)).find((e) => e.action === 'block')!;
    expect(claims.some((c) => c.changed_by === block.changed_by && Date.parse(c.changed_at) >= Date.parse(block.changed_at))).toBe(true);

    expectBranches(loopIds);
    // The queue made its branch at the claim; the failing agent added nothing to it.
    expect(git(hub, 'rev-list', '--count', `main..isollm/${broken}`)).toBe('0');
    // The agent's output is in the log `worker logs` shows.
    expect(isollm(['worker', 'logs', block.changed_by])).toContain(`blocking ${broken}: the agent exited with status 3`);

    // Home: sync pull, then every branch merges without a conflict (on a side branch: main stays the hub's base).
    isollm(['sync', 'pull']);
    git(root, 'checkout', '-q', '-b', 'merged');
    for (const id of Object.values(loopIds)) git(root, 'merge', '-q', '--no-edit', `isollm/${id}`);
    expect(fs.readdirSync(path.join(root, 'notes')).sort()).toEqual(Object.values(loopIds).map((id) => `${id}.md`).sort());
    expect(fs.readFileSync(path.join(root, 'notes', `${loopIds.third}.md`), 'utf8')).toContain(`Task ${loopIds.third}: loop third`);
    git(root, 'checkout', '-q', 'main');
  }, UP_TIMEOUT_MS);

  it('up again changes nothing; up -n 3 adds exactly one worker', async () => {
    const before = await created();
    const logLines = (w: string) => isollm(['worker', 'logs', w]).match(/^==> /gm)?.length ?? 0;
    const starts = { 'worker-1': logLines('worker-1'), 'worker-2': logLines('worker-2') };
    expect(loopCount('worker-1')).toBe(1);
    expect(loopCount('worker-2')).toBe(1);

    const again = cli(['up', '-n', '2', '--multiplexer', 'none'], UP_TIMEOUT_MS);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toContain('Creating');
    expect(await created()).toEqual(before);
    expect(loopCount('worker-1')).toBe(1);
    expect(loopCount('worker-2')).toBe(1);
    expect({ 'worker-1': logLines('worker-1'), 'worker-2': logLines('worker-2') }).toEqual(starts);

    // worker-3 was left half-made by an interrupted run (tagged, never marked ready): made again.
    const init = spawnSync(rt!.bin, ['init', TEST_IMAGE, `${project}-worker-3`, '-c', `user.isollm.project=${project}`, '-c', 'user.isollm.worker=worker-3'], { encoding: 'utf8' });
    expect(init.status, init.stderr).toBe(0);
    const scaled = cli(['up', '-n', '3', '--multiplexer', 'none'], UP_TIMEOUT_MS);
    expect(scaled.code, scaled.stderr).toBe(0);
    expect(scaled.stderr).toContain('worker-3 was left half-made by an interrupted run; it is created again.');
    expect(scaled.stderr).toContain('Creating worker-3 from');
    const after = await created();
    expect([...after.keys()].sort()).toEqual(['worker-1', 'worker-2', 'worker-3']);
    expect(after.get('worker-1')).toBe(before.get('worker-1'));
    expect(after.get('worker-2')).toBe(before.get('worker-2'));
    for (const w of ['worker-1', 'worker-2', 'worker-3']) expect(loopCount(w), w).toBe(1);
  }, UP_TIMEOUT_MS);

  it('interactive mode in tmux: a dashboard and one agent pane per worker; the agents follow the protocol to the same end state; down ends the session', async () => {
    // Stop everything (the loops end with their containers), switch to interactive, start warm.
    isollm(['down', '--yes'], UP_TIMEOUT_MS);
    writeConfig('interactive', port);
    isollm(['queue', 'start']);
    const ids = addSixTasks('interactive');
    const broken = addTask('interactive broken [demo:fail]', 'high');

    const r = cli(['up', '-n', '3', '--multiplexer', 'tmux', '--detach'], UP_TIMEOUT_MS);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Watch them: tmux attach -t ${session}`);
    expect(tmux('show-options', '-gv', 'status-left').stdout.trim()).toBe('[e2e conf]');
    expect(tmux('list-keys', '-T', 'prefix', 'F12').stdout).toContain('e2e binding');
    const panes = () => tmux('list-panes', '-t', session, '-F', '#{pane_id} #{pane_pid} #{pane_dead} #{pane_start_command}').stdout.trim().split('\n');
    const first = panes();
    expect(first).toHaveLength(4);
    expect(first[0]).toMatch(/^%\d+ \d+ 0 .*isollm\.mts.* status --watch --project /);
    for (const [i, line] of first.slice(1).entries()) {
      expect(line).toMatch(new RegExp(`^%\\d+ \\d+ 0 sh -c .* isollm-pane "?${rt!.bin}"? .*exec"? "?${project}-worker-${i + 1}"? .*--force-interactive.* "?--"? "?isollm-agent"?$`));
    }

    const tasks = await settle([...Object.values(ids), broken]);
    expect(tasks.filter((t) => t.status === 'done').map((t) => t.id).sort()).toEqual(Object.values(ids).sort());
    expect(tasks.find((t) => t.id === broken)!.block_reason).toBe('demo agent: cannot do this one');
    expectDoneOnceInOrder(ids);
    expectBranches(ids);

    // The dashboard shows the live status.
    const deadline = Date.now() + 30_000;
    let screen = '';
    while (Date.now() < deadline && !/3\/3 workers running/.test(screen)) {
      screen = tmux('capture-pane', '-p', '-t', first[0].split(' ')[0]).stdout;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    expect(screen).toContain(`isollm · ${project} · 3/3 workers running`);
    expect(screen).toMatch(/Tasks +.*blocked/);
    // The dashboard pane is as tall as its full view for 3 workers: fullViewLines(3), 10 lines + one per worker, also
    // after the window shrinks to 50 rows (tmux used to take those rows from the dashboard first).
    const dashboardHeight = () => Number(tmux('display-message', '-p', '-t', first[0].split(' ')[0], '#{pane_height}').stdout.trim());
    expect(dashboardHeight()).toBe(fullViewLines(3));
    expect(tmux('resize-window', '-t', session, '-y', '50').status).toBe(0);
    const resized = Date.now() + 10_000;
    while (Date.now() < resized && dashboardHeight() !== fullViewLines(3)) await new Promise((r) => setTimeout(r, 100));
    expect(dashboardHeight()).toBe(fullViewLines(3));
    // While tmux shrinks the pane and the hook grows it back, a frame can scroll; the next redraw
    // (every 2 s, from the top) puts the whole view back: wait for a frame that starts with the header.
    const redrawn = () => /^isollm · /.test(screen) && /^ +runtime /m.test(screen);
    screen = '';
    while (Date.now() < resized + 20_000 && !redrawn()) {
      screen = tmux('capture-pane', '-p', '-t', first[0].split(' ')[0]).stdout;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    expect(screen.split('\n')[0]).toContain(`isollm · ${project} · 3/3 workers running`);
    for (const w of ['worker-1', 'worker-2', 'worker-3']) expect(screen).toMatch(new RegExp(`^${w} `, 'm'));
    expect(screen).toMatch(/^ +runtime /m); // the last line of the full view: nothing cut off
    // An agent pane shows the agent at work.
    expect(tmux('capture-pane', '-p', '-t', first[1].split(' ')[0]).stdout).toContain('demo-agent: interactive: following the isollm-task protocol');

    // up again: the same session, the same panes and processes.
    const again = cli(['up', '-n', '3', '--multiplexer', 'tmux', '--detach'], UP_TIMEOUT_MS);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`The tmux session ${session} was already running.`);
    expect(panes()).toEqual(first);

    // A worker reset under its pane: the pane ends. up makes the session again, and every worker's
    // new pane runs its agent (none finds an old one still there and leaves).
    const reset = cli(['worker', 'reset', 'worker-2'], UP_TIMEOUT_MS);
    expect(reset.code, reset.stderr).toBe(0);
    const ended = Date.now() + 30_000;
    while (Date.now() < ended && panes()[2].split(' ')[2] !== '1') await new Promise((r) => setTimeout(r, 200));
    expect(panes()[2].split(' ')[2]).toBe('1');
    const remade = cli(['up', '-n', '3', '--multiplexer', 'tmux', '--detach'], UP_TIMEOUT_MS);
    expect(remade.code, remade.stderr).toBe(0);
    expect(remade.stderr).toContain('No agent runs in the pane of worker-2 any more');
    const agentsUp = Date.now() + 30_000;
    const working = () => panes().slice(1).map((line) => tmux('capture-pane', '-p', '-t', line.split(' ')[0]).stdout.includes('following the isollm-task protocol'));
    while (Date.now() < agentsUp && working().includes(false)) await new Promise((r) => setTimeout(r, POLL_MS));
    expect(working()).toEqual([true, true, true]);
    await new Promise((r) => setTimeout(r, 3_000)); // an agent that found another would have left by now
    expect(panes().map((line) => line.split(' ')[2])).toEqual(['0', '0', '0', '0']);

    const down = cli(['down', '--destroy', '--yes'], UP_TIMEOUT_MS);
    expect(down.code, down.stderr).toBe(0);
    expect(tmux('has-session', '-t', session).status).not.toBe(0);
    expect(await listInstances(rt!, project)).toEqual([]);
  }, 2 * UP_TIMEOUT_MS);
});

describe.skipIf(!rt)('isollm up whose queue cannot start', () => {
  const p = e2eProject('up-port');
  afterAll(() => p.destroy(rt, UP_TIMEOUT_MS), UP_TIMEOUT_MS);

  it('stops the base build it started meanwhile early, leaving no container and no base', async () => {
    // The queue's port is taken; the base build (started next to the queue) would take two minutes.
    const squatter = net.createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    try {
      fs.mkdirSync(p.root);
      const agent = { preset: 'custom', command: 'isollm-demo-agent', mode: 'loop' };
      p.commit({ 'README.md': '# e2e up-port\n', 'isollm.yaml': `${e2eConfigYaml({ project: p.project, hub: p.hub, port, agent })}setup_script: sleep 120\n` });
      const t0 = Date.now();
      const r = p.cli(['up', '-n', '1'], UP_TIMEOUT_MS);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`Port ${port} is in use`);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(Date.now() - t0).toBeLessThan(60_000);
      expect(await listInstances(rt!, p.project)).toEqual([]);
    } finally {
      squatter.close();
    }
  }, UP_TIMEOUT_MS);
});
