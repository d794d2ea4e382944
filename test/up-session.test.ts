// `isollm up` run again: when the multiplexer session it finds can stay, and when it is made again.
import { describe, expect, it } from 'vitest';
import { sessionToKeep } from '../lib/flows/up.ts';
import type { MuxPlan, PaneInfo } from '../lib/mux/index.ts';

const plan = (workers: string[], lander = false): MuxPlan => ({
  session: 'isollm-demo',
  cwd: '/p',
  dashboard: { command: ['status'], size: '8' },
  workers: workers.map((name) => ({ name, command: ['lxc', 'exec', name] })),
  lander: lander ? { command: ['land'] } : null,
  layout: 'auto',
});
const pane = (title: string, dead = false): PaneInfo => ({ title, command: 'x', dead, exitStatus: dead ? 130 : null });

describe('sessionToKeep', () => {
  it('keeps a session whose worker panes all still run', () => {
    expect(sessionToKeep([pane('dashboard'), pane('worker-1'), pane('worker-2')], plan(['worker-1', 'worker-2']), ['worker-1', 'worker-2'])).toEqual({ reuse: true, ended: [] });
  });

  it('makes it again when a worker pane ended (its container was reset under it), naming the worker', () => {
    const panes = [pane('dashboard'), pane('worker-1', true), pane('worker-2')];
    expect(sessionToKeep(panes, plan(['worker-1', 'worker-2']), ['worker-1', 'worker-2'])).toEqual({ reuse: false, ended: ['worker-1'] });
  });

  it('reads the worker from a zellij title that carries its state', () => {
    const panes = [pane('worker-1 ■ exited 130 1m', true), pane('worker-2 · idle 5s')];
    expect(sessionToKeep(panes, plan(['worker-1', 'worker-2']), ['worker-1', 'worker-2'])).toEqual({ reuse: false, ended: ['worker-1'] });
  });

  it('a dead pane that is no worker of the plan does not count', () => {
    expect(sessionToKeep([pane('dashboard', true), pane('worker-1')], plan(['worker-1']), ['worker-1']).reuse).toBe(true);
  });

  it('makes it again for other workers, or when land.auto changed', () => {
    const panes = [pane('dashboard'), pane('worker-1')];
    expect(sessionToKeep(panes, plan(['worker-1', 'worker-2']), ['worker-1']).reuse).toBe(false);
    expect(sessionToKeep(panes, plan(['worker-1'], true), ['worker-1']).reuse).toBe(false);
    expect(sessionToKeep([...panes, pane('lander')], plan(['worker-1']), ['worker-1']).reuse).toBe(false);
  });
});
