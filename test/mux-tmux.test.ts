// The tmux backend against a real tmux on a private server (-L), plus its pure builders and parsers.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import type { Layout } from '../lib/config/load.ts';
import { UserError } from '../lib/cli/errors.ts';
import { buildTmuxCreate, joinTmuxCommands, PANE_HOLD_SCRIPT, parseTmuxPanes, parseTmuxVersion, tmuxCommandLine, tmuxPaneCommand, tmuxServerArgs, tmuxWindowNames } from '../lib/mux/tmux-commands.ts';
import { createTmux, tmuxSocketPath } from '../lib/mux/tmux.ts';
import { LANDER_ROWS, type MuxPlan } from '../lib/mux/types.ts';
import { tmpDir } from './helpers.ts';

const sh = (script: string) => ['sh', '-c', script];
/** What tmux is given for a pane running `argv`. */
const held = (argv: string[]) => ['sh', '-c', PANE_HOLD_SCRIPT, 'isollm-pane', ...argv];

function makePlan(n: number, layout: Layout = 'auto', over: Partial<MuxPlan> = {}): MuxPlan {
  return {
    session: 'isollm-test',
    cwd: '/tmp',
    layout,
    dashboard: { command: sh('echo dashboard-up; sleep 60'), size: '15%' },
    workers: Array.from({ length: n }, (_, i) => ({ name: `worker-${i + 1}`, command: sh(`echo worker-${i + 1}; sleep 60`) })),
    ...over,
  };
}

describe('builders and parsers', () => {
  test('server flags', () => {
    expect(tmuxServerArgs({ socketName: 'x', configFile: '/dev/null' })).toEqual(['-L', 'x', '-f', '/dev/null']);
    expect(tmuxServerArgs({ socketPath: '/s', socketName: 'ignored' })).toEqual(['-S', '/s']);
    expect(tmuxServerArgs()).toEqual([]);
  });
  test('argv goes through as separate arguments, after the pane`s hold (a lone one too: tmux never gets a command line)', () => {
    expect(tmuxPaneCommand(['lxc', 'exec', 'a b'])).toEqual(held(['lxc', 'exec', 'a b']));
    expect(tmuxPaneCommand(['/opt/my tool'])).toEqual(held(['/opt/my tool']));
  });
  test('the command list: options before any pane can die, exact targets, argv after --', () => {
    const cmds = buildTmuxCreate(makePlan(3));
    expect(cmds[0].slice(0, 4)).toEqual(['new-session', '-d', '-s', 'isollm-test']);
    expect(cmds[0].slice(cmds[0].indexOf('--') + 1)).toEqual(held(sh('echo dashboard-up; sleep 60')));
    expect(cmds[1]).toEqual(['set-option', '-w', '-t', '=isollm-test:=agents', 'remain-on-exit', 'on']);
    expect(cmds.filter((c) => c[0] === 'split-window')).toHaveLength(3);
    expect(cmds.at(-1)).toEqual(['select-window', '-t', '=isollm-test:=agents']);
    expect(joinTmuxCommands([['a'], ['b', 'c']])).toEqual(['a', ';', 'b', 'c']);
  });
  test('the dashboard height is set again whenever the window is resized', () => {
    const cmds = buildTmuxCreate(makePlan(3, 'auto', { dashboard: { command: ['x'], size: '12' } }));
    const resize = ['resize-pane', '-t', '=isollm-test:=agents.{top-left}', '-y', '12'];
    expect(cmds).toContainEqual(resize);
    expect(cmds).toContainEqual(['set-hook', '-w', '-t', '=isollm-test:=agents', 'window-resized', "'resize-pane' '-t' '=isollm-test:=agents.{top-left}' '-y' '12'"]);
    expect(tmuxCommandLine(resize)).toBe("'resize-pane' '-t' '=isollm-test:=agents.{top-left}' '-y' '12'");
    expect(() => tmuxCommandLine(["it's"])).toThrow(/quote/);
    expect(buildTmuxCreate(makePlan(3, 'auto', { dashboard: null })).some((c) => c[0] === 'set-hook')).toBe(false);
    expect(buildTmuxCreate(makePlan(3), { windowHooks: false }).some((c) => c[0] === 'set-hook')).toBe(false); // tmux < 3.2
  });
  test('the lander pane: split off the dashboard last, labelled, the focus given back; a worker cannot be called lander', async () => {
    const cmds = buildTmuxCreate(makePlan(2, 'auto', { lander: { command: ['isollm', 'land', '--follow'] } }));
    const i = cmds.findIndex((c) => c[0] === 'split-window' && c.includes('--follow'));
    expect(cmds[i]).toEqual(['split-window', '-h', '-t', '=isollm-test:=agents.{top-left}', '-l', '40%', '-c', '/tmp', '--', ...held(['isollm', 'land', '--follow'])]);
    expect(cmds.slice(i + 1, i + 4)).toEqual([
      ['set-option', '-p', '-t', '=isollm-test:=agents', '@isollm_title', 'lander'],
      ['select-pane', '-t', '=isollm-test:=agents', '-T', 'lander'],
      ['select-pane', '-t', '=isollm-test:=agents.{last}'],
    ]);
    await expect(createTmux().createDetached(makePlan(1, 'auto', { workers: [{ name: 'lander', command: ['x'] }] }))).rejects.toThrow(/not usable/);
    expect(buildTmuxCreate(makePlan(2)).flat()).not.toContain('lander');
  });
  test('windows: at most 6 workers each, spread evenly', () => {
    expect(tmuxWindowNames(6)).toEqual(['agents']);
    expect(tmuxWindowNames(7)).toEqual(['agents-1', 'agents-2']);
    const cmds = buildTmuxCreate(makePlan(32));
    expect(cmds.filter((c) => c[0] === 'new-window')).toHaveLength(5);
    expect(cmds.filter((c) => c[0] === 'split-window')).toHaveLength(32 + 1 - 6); // +dashboard, -first pane per window
  });
  test('parse list-panes output and the version', () => {
    const out = '0\t\tdashboard\tsh -c "sleep 60"\thost\n1\t7\tworker-1\tsleep "\\$HOME"\ttitle\twith tab\n1\t\t\tx\tfallback title\n';
    expect(parseTmuxPanes(out)).toEqual([
      { title: 'dashboard', command: 'sh -c "sleep 60"', dead: false, exitStatus: null },
      { title: 'worker-1', command: 'sleep "\\$HOME"', dead: true, exitStatus: 7 },
      { title: 'fallback title', command: 'x', dead: true, exitStatus: null },
    ]);
    expect(parseTmuxVersion('tmux 3.3a\n')).toEqual([3, 3]);
    expect(parseTmuxVersion('tmux next-3.5')).toEqual([3, 5]);
    expect(parseTmuxVersion('tmux master')).toBeNull();
  });
  test('the socket path tmux uses, for telling whether $TMUX is our server', () => {
    expect(tmuxSocketPath({}, { TMUX_TMPDIR: '/t' }, 1000)).toBe('/t/tmux-1000/default');
    expect(tmuxSocketPath({ socketName: 'iso' }, { TMUX_TMPDIR: '/t' }, 1000)).toBe('/t/tmux-1000/iso');
    expect(tmuxSocketPath({ socketPath: '/x/s' })).toBe('/x/s');
  });
});

describe('real tmux', () => {
  let socket = '';
  let counter = 0;
  const tmux = (...args: string[]) => spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
  const newMux = () => {
    socket = `isollm-test-${process.pid}-${++counter}`;
    return createTmux({ server: { socketName: socket, configFile: '/dev/null' } });
  };
  afterEach(() => {
    tmux('kill-server');
  });

  type Geometry = { window: string; title: string; active: boolean; top: number; left: number; width: number; height: number; id: string };
  const geometry = (): Geometry[] =>
    tmux('list-panes', '-s', '-t', '=isollm-test', '-F', '#{window_name} #{@isollm_title} #{pane_active} #{pane_top} #{pane_left} #{pane_width} #{pane_height} #{pane_id}')
      .stdout.trim()
      .split('\n')
      .map((l) => {
        const [window, title, active, top, left, width, height, id] = l.split(' ');
        return { window, title, active: active === '1', top: +top, left: +left, width: +width, height: +height, id };
      });

  /** capture-pane until `text` shows (the command may not have printed yet); a dead pane keeps it thanks to the pane`s hold (see tmuxPaneCommand). */
  async function waitForOutput(paneId: string, text: string, timeoutMs = 5_000): Promise<string> {
    const until = Date.now() + timeoutMs;
    let screen = '';
    while (Date.now() < until) {
      // -S -: from the start of the history (tmux scrolls a dead pane up a line for its "Pane is dead" note)
      screen = tmux('capture-pane', '-p', '-S', '-', '-t', paneId).stdout;
      if (screen.includes(text)) return screen;
      await new Promise((r) => setTimeout(r, 50));
    }
    return screen;
  }

  test('a session with a dashboard and 3 workers: titles, commands, output, remain-on-exit, kill', async () => {
    const mux = newMux();
    const plan = makePlan(3);
    plan.workers[2].command = sh('echo worker-3 done; exit 7');
    expect(await mux.exists('isollm-test')).toBe(false);
    expect(await mux.panes('isollm-test')).toEqual([]);

    await mux.createDetached(plan);
    expect(await mux.exists('isollm-test')).toBe(true);
    expect(await mux.exists('isollm-tes')).toBe(false); // exact match, not prefix

    const g = geometry();
    expect(g.map((p) => p.title)).toEqual(['dashboard', 'worker-1', 'worker-2', 'worker-3']);
    for (const p of g) expect(await waitForOutput(p.id, p.title === 'dashboard' ? 'dashboard-up' : p.title)).toContain(p.title === 'dashboard' ? 'dashboard-up' : p.title);

    // worker-3's output comes a moment before its shell exits: wait for the exit, not only the output.
    let panes = await mux.panes('isollm-test');
    for (const deadline = Date.now() + 10_000; !panes[3]?.dead && Date.now() < deadline; panes = await mux.panes('isollm-test')) await new Promise((r) => setTimeout(r, 100));
    expect(panes.map((p) => p.title)).toEqual(['dashboard', 'worker-1', 'worker-2', 'worker-3']);
    expect(panes[1].command).toContain('echo worker-1; sleep 60');
    expect(panes[0].dead).toBe(false);
    // worker-3 exited: its pane is kept, dead, with the status
    expect(panes[3]).toMatchObject({ title: 'worker-3', dead: true, exitStatus: 7 });
    expect(await waitForOutput(g[3].id, 'worker-3 done')).toContain('worker-3 done');

    // layout: dashboard strip across the top; auto with 3 = grid of 2 + 1; focus on worker-1
    const [dash, w1, w2, w3] = g;
    expect(dash.top).toBeLessThan(w1.top);
    expect(dash.height).toBeLessThan(w1.height);
    expect(dash.width).toBe(240);
    expect(w1.top).toBe(w2.top);
    expect(w1.left).toBeLessThan(w2.left);
    expect(w3.top).toBeGreaterThan(w1.top);
    expect(w3.width).toBe(240);
    expect(g.filter((p) => p.active).map((p) => p.title)).toEqual(['worker-1']);
    expect(tmux('show-options', '-w', '-t', '=isollm-test:', 'pane-border-status').stdout.trim()).toBe('pane-border-status top');

    await expect(mux.createDetached(plan)).rejects.toThrow(/already running/);
    await mux.kill('isollm-test');
    expect(await mux.exists('isollm-test')).toBe(false);
    expect(await mux.panes('isollm-test')).toEqual([]);
    await mux.kill('isollm-test'); // idempotent
  });

  test('the dashboard keeps its rows when the window shrinks or grows (as when a client attaches)', async () => {
    const mux = newMux();
    await mux.createDetached(makePlan(2, 'auto', { dashboard: { command: sh('sleep 60'), size: '11' } }));
    const dashboardHeight = () => geometry().find((p) => p.title === 'dashboard')!.height;
    expect(dashboardHeight()).toBe(11);
    for (const rows of [50, 24, 64]) {
      tmux('resize-window', '-t', '=isollm-test:', '-y', String(rows));
      const until = Date.now() + 5000; // the hook runs after the resize
      while (dashboardHeight() !== 11 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      expect(dashboardHeight(), `window of ${rows} rows`).toBe(11);
      const workers = geometry().filter((p) => p.title !== 'dashboard');
      expect(workers.every((p) => p.top + p.height === rows), `workers fill the rest of ${rows} rows`).toBe(true);
    }
  });

  test('multiplexer.tmux_conf is sourced into the session: its options and key bindings are in effect, isollm`s pane options still hold', async () => {
    const dir = tmpDir();
    const conf = path.join(dir, 'my tmux.conf');
    fs.writeFileSync(conf, 'set -g status-left "[from my conf]"\nbind-key F12 display-message "hello from my conf"\nset -g remain-on-exit off\nset -g pane-border-status off\n');
    socket = `isollm-test-${process.pid}-${++counter}`;
    const mux = createTmux({ server: { socketName: socket, configFile: '/dev/null' }, conf });
    await mux.createDetached(makePlan(2));
    expect(tmux('show-options', '-gv', 'status-left').stdout.trim()).toBe('[from my conf]');
    expect(tmux('list-keys', '-T', 'prefix', 'F12').stdout).toContain('hello from my conf');
    expect(tmux('show-options', '-wv', '-t', '=isollm-test:', 'remain-on-exit').stdout.trim()).toBe('on');
    expect(tmux('show-options', '-wv', '-t', '=isollm-test:', 'pane-border-status').stdout.trim()).toBe('top');
  });

  test('a tmux_conf tmux refuses: a UserError with tmux`s file:line, and no half session left', async () => {
    const dir = tmpDir();
    const conf = path.join(dir, 'tmux.conf');
    fs.writeFileSync(conf, 'set -g status-left ok\nno-such-command here\n');
    socket = `isollm-test-${process.pid}-${++counter}`;
    const mux = createTmux({ server: { socketName: socket, configFile: '/dev/null' }, conf });
    const err = await mux.createDetached(makePlan(1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).detail).toContain(`${conf}:2`);
    expect(await mux.exists('isollm-test')).toBe(false);
  });

  test('max_panes_per_tab and the dashboard in every window', async () => {
    const mux = newMux();
    const plan = makePlan(5, 'auto', { maxPerTab: 2 });
    plan.dashboard!.everyTab = true;
    await mux.createDetached(plan);
    const perWindow: Record<string, string[]> = {};
    for (const p of geometry()) (perWindow[p.window] ??= []).push(p.title);
    expect(perWindow).toEqual({
      'agents-1': ['dashboard', 'worker-1', 'worker-2'],
      'agents-2': ['dashboard', 'worker-3', 'worker-4'],
      'agents-3': ['dashboard', 'worker-5'],
    });
  });

  // The program exits at once: its output must still be there (tmux < 3.7 dropped it now and then; see tmuxPaneCommand).
  test('argv reaches the program untouched: never a command line', async () => {
    const mux = newMux();
    const nasty = ['a b', '$HOME', "it's", '`id`', '"q"', '*', 'x;y'];
    await mux.createDetached(makePlan(1, 'auto', { dashboard: null, workers: [{ name: 'w', command: ['printf', '[%s]', ...nasty] }] }));
    const [pane] = geometry();
    const screen = await waitForOutput(pane.id, '[x;y]');
    expect(screen).toContain(nasty.map((a) => `[${a}]`).join(''));
  });

  test('a one-word command with a space in its path runs (quoted for tmux`s shell)', async () => {
    const dir = tmpDir();
    const script = path.join(dir, 'my tool');
    fs.writeFileSync(script, '#!/bin/sh\necho "tool ran in $(pwd)"\nsleep 60\n', { mode: 0o755 });
    const mux = newMux();
    await mux.createDetached(makePlan(1, 'auto', { cwd: dir, dashboard: null, workers: [{ name: 'w', command: [script] }] }));
    const [pane] = geometry();
    expect(await waitForOutput(pane.id, 'tool ran')).toContain(`tool ran in ${fs.realpathSync(dir)}`);
  });

  test.each([
    ['vertical', (g: Geometry[]) => new Set(g.map((p) => p.left)).size === 1 && new Set(g.map((p) => p.top)).size === 3],
    ['horizontal', (g: Geometry[]) => new Set(g.map((p) => p.top)).size === 1 && new Set(g.map((p) => p.left)).size === 3],
  ] as const)('layout %s', async (layout, shape) => {
    const mux = newMux();
    await mux.createDetached(makePlan(3, layout, { dashboard: null }));
    const g = geometry();
    expect(g.map((p) => p.title)).toEqual(['worker-1', 'worker-2', 'worker-3']);
    expect(shape(g)).toBe(true);
    expect(Math.max(...g.map((p) => p.width + p.height)) - Math.min(...g.map((p) => p.width + p.height))).toBeLessThanOrEqual(2); // even split
  });

  test('13 workers: three windows (5 + 4 + 4), the dashboard only in the first, every worker once', async () => {
    const mux = newMux();
    await mux.createDetached(makePlan(13, 'grid', { dashboard: { command: sh('sleep 60'), size: '8' } }));
    const g = geometry();
    const perWindow: Record<string, Geometry[]> = {};
    for (const p of g) (perWindow[p.window] ??= []).push(p);
    expect(Object.keys(perWindow)).toEqual(['agents-1', 'agents-2', 'agents-3']);
    expect(perWindow['agents-1']!.map((p) => p.title)).toEqual(['dashboard', 'worker-1', 'worker-2', 'worker-3', 'worker-4', 'worker-5']);
    expect(perWindow['agents-1']![0].height).toBe(8);
    expect(perWindow['agents-3']!.map((p) => p.title)).toEqual(['worker-10', 'worker-11', 'worker-12', 'worker-13']);
    for (const panes of Object.values(perWindow)) expect(panes!.filter((p) => p.active)[0].title).toBe(panes![0].title === 'dashboard' ? 'worker-1' : panes![0].title);
    expect((await mux.panes('isollm-test')).map((p) => p.title)).toEqual(['dashboard', ...makePlan(13).workers.map((w) => w.name)]);
  });

  test('the lander (land.auto): right of the dashboard in the first window`s strip, as tall, 40% wide; focus stays on worker-1; not in other windows', async () => {
    const mux = newMux();
    await mux.createDetached(makePlan(4, 'auto', { maxPerTab: 2, dashboard: { command: sh('echo dashboard-up; sleep 60'), size: '9' }, lander: { command: sh('echo lander-up; sleep 60') } }));
    const g = geometry();
    expect(g.map((p) => `${p.window}/${p.title}`)).toEqual(['agents-1/dashboard', 'agents-1/lander', 'agents-1/worker-1', 'agents-1/worker-2', 'agents-2/worker-3', 'agents-2/worker-4']);
    const [dash, lander, w1] = g;
    expect(await waitForOutput(lander.id, 'lander-up')).toContain('lander-up');
    expect(lander.top).toBe(dash.top);
    expect(lander.height).toBe(9);
    expect(dash.height).toBe(9);
    expect(lander.left).toBe(dash.left + dash.width + 1);
    expect(Math.abs(lander.width - 0.4 * 240)).toBeLessThanOrEqual(2);
    expect(w1.top).toBeGreaterThan(dash.top + dash.height);
    expect(g.filter((p) => p.window === 'agents-1' && p.active).map((p) => p.title)).toEqual(['worker-1']);
    expect((await mux.panes('isollm-test')).map((p) => p.title).slice(0, 3)).toEqual(['dashboard', 'lander', 'worker-1']);
    // The strip keeps its rows when the window is resized (the hook resizes the dashboard; the lander shares its row).
    tmux('resize-window', '-t', '=isollm-test:=agents-1', '-y', '40');
    const until = Date.now() + 5000;
    while (geometry().find((p) => p.title === 'lander')!.height !== 9 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(geometry().find((p) => p.title === 'lander')!.height).toBe(9);
  });

  test('the lander without a dashboard: a full-width strip of LANDER_ROWS on top', async () => {
    const mux = newMux();
    await mux.createDetached(makePlan(2, 'auto', { dashboard: null, lander: { command: sh('sleep 60') } }));
    const g = geometry();
    expect(g.map((p) => p.title)).toEqual(['lander', 'worker-1', 'worker-2']);
    expect(g[0]).toMatchObject({ left: 0, width: 240, height: LANDER_ROWS });
    expect(g[0].top).toBeLessThan(g[1].top);
    expect(g.filter((p) => p.active).map((p) => p.title)).toEqual(['worker-1']);
  });

  test('a session name tmux would rewrite is refused before tmux runs', async () => {
    const mux = newMux();
    await expect(mux.createDetached(makePlan(1, 'auto', { session: 'bad:name' }))).rejects.toBeInstanceOf(UserError);
    expect(tmux('list-sessions').stdout).toBe('');
  });
});
