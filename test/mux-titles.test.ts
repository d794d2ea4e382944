// Pane titles from agent state: the builders, and a real tmux (private server) showing
// `worker-2 ⏳ waiting 2m` in the pane border and title, changed only when the text changes.
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, test } from 'vitest';
import { tmuxTitleCommands, zellijTitleArgs } from '../lib/mux/titles.ts';
import { createTmux } from '../lib/mux/tmux.ts';
import type { MuxPlan } from '../lib/mux/types.ts';
import type { StatusModel } from '../lib/status/collect.ts';
import { paneTitles, retitlePanes } from '../lib/status/titles.ts';

describe('title builders', () => {
  test('tmux: the state text after the name, and only for panes whose text changed', () => {
    const list = '%0\tdashboard\t\n%1\tworker-1\t\n%2\tworker-2\twaiting 2m\n';
    const titles = new Map([['worker-1', 'worker-1 ▶ working 5m'], ['worker-2', 'worker-2 waiting 2m'], ['worker-9', 'worker-9 x']]);
    expect(tmuxTitleCommands(list, titles)).toEqual([
      ['set-option', '-p', '-t', '%1', '@isollm_state', '▶ working 5m'],
      ['select-pane', '-t', '%1', '-T', 'worker-1 ▶ working 5m'],
    ]);
  });
  test('zellij: rename-pane by id for the panes named after a worker', () => {
    const json = JSON.stringify([
      { id: 0, is_plugin: false, title: 'dashboard' },
      { id: 1, is_plugin: false, title: 'worker-1' },
      { id: 2, is_plugin: false, title: 'worker-2 ▶ working 1m' },
      { id: 3, is_plugin: false, title: 'worker-10' },
      { id: 0, is_plugin: true, title: 'worker-1' },
    ]);
    const titles = new Map([['worker-1', 'worker-1 ⏳ waiting 2m'], ['worker-2', 'worker-2 ▶ working 1m']]);
    expect(zellijTitleArgs('isollm-demo', json, titles)).toEqual([['--session', 'isollm-demo', 'action', 'rename-pane', '--pane-id', 'terminal_1', 'worker-1 ⏳ waiting 2m']]);
  });
});

describe('real tmux', () => {
  const socket = `isollm-titles-${process.pid}`;
  const tmux = (...args: string[]) => spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
  afterEach(() => void tmux('kill-server'));

  test('the dashboard retitles worker panes from the status model', async () => {
    const mux = createTmux({ server: { socketName: socket, configFile: '/dev/null' } });
    const sh = (s: string) => ['sh', '-c', s];
    const plan: MuxPlan = {
      session: 'isollm-titles',
      cwd: '/tmp',
      layout: 'auto',
      dashboard: { command: sh('sleep 60'), size: '15%' },
      workers: [1, 2].map((n) => ({ name: `worker-${n}`, command: sh('sleep 60') })),
    };
    await mux.createDetached(plan);
    const agent = (state: 'working' | 'waiting', seconds: number) => ({ state, since: '', seconds, detail: null, until: null, resumes_in_seconds: null, exit_status: null, source: null });
    const model = {
      workers: [
        { name: 'worker-1', container: 'p-worker-1', state: 'running', ipv4: null, task: null, agent: agent('working', 300) },
        { name: 'worker-2', container: 'p-worker-2', state: 'running', ipv4: null, task: null, agent: agent('waiting', 120) },
      ],
      services: { multiplexer: { kind: 'tmux', session: 'isollm-titles', running: true } },
    } as unknown as StatusModel;
    expect([...paneTitles(model).values()]).toEqual(['worker-1 ▶ working 5m', 'worker-2 ⏳ waiting 2m']);
    await retitlePanes(model, '/nonexistent', mux);
    const shown = () =>
      tmux('list-panes', '-s', '-t', '=isollm-titles', '-F', '#{pane_title}|#{T:pane-border-format}').stdout.replace(/\n$/, '').split('\n').slice(1);
    expect(shown()).toEqual(['worker-1 ▶ working 5m| worker-1 ▶ working 5m ', 'worker-2 ⏳ waiting 2m| worker-2 ⏳ waiting 2m ']);
    // An agent setting its own terminal title does not hide the state from the border.
    const pane = tmux('list-panes', '-s', '-t', '=isollm-titles', '-F', '#{pane_id}').stdout.trim().split('\n')[1];
    tmux('select-pane', '-t', pane, '-T', '✳ Claude Code');
    expect(shown()[0]).toBe('✳ Claude Code| worker-1 ▶ working 5m ');
    // Back to no state: the plain name.
    (model.workers![0] as { agent: unknown }).agent = null;
    await retitlePanes(model, '/nonexistent', mux);
    expect(shown()[0]).toBe('worker-1| worker-1 ');
  });
});
