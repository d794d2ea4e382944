// How agent states read in `isollm status` (full, brief) and in pane titles: exact strings.
import { describe, expect, it } from 'vitest';
import type { AgentInfo, StatusModel } from '../lib/status/collect.ts';
import { agentWords, paneTitle } from '../lib/status/agent-view.ts';
import { renderBrief, renderFull } from '../lib/status/render.ts';
import { checkAgainstSchema } from '../lib/status/schema.ts';

process.env.TZ = 'UTC';

const agent = (a: Partial<AgentInfo> & Pick<AgentInfo, 'state'>): AgentInfo => ({ since: '2025-03-01T12:00:00.000Z', seconds: 125, detail: null, until: null, resumes_in_seconds: null, exit_status: null, source: null, ...a });

function model(): StatusModel {
  return {
    version: 1,
    project: 'demo',
    root: '/home/me/demo',
    generated_at: '2025-03-01T12:04:05.000Z',
    workers: [
      { name: 'worker-1', container: 'demo-worker-1', state: 'running', ipv4: null, task: { id: 'ar-1a2b', title: 'Fix the login form', branch: 'isollm/ar-1a2b', claimed_at: '2025-03-01T11:52:00.000Z', age_seconds: 725 }, agent: agent({ state: 'working', seconds: 700 }) },
      { name: 'worker-2', container: 'demo-worker-2', state: 'running', ipv4: null, task: { id: 'ar-3c4d', title: 'Add a test', branch: 'isollm/ar-3c4d', claimed_at: '2025-03-01T12:00:00.000Z', age_seconds: 245 }, agent: agent({ state: 'waiting', detail: 'permission: Bash' }) },
      { name: 'worker-3', container: 'demo-worker-3', state: 'running', ipv4: null, task: null, agent: agent({ state: 'limited', until: '2025-03-01T15:00:00.000Z', resumes_in_seconds: 10_555, detail: 'usage limit; released ar-5e6f' }) },
      { name: 'worker-4', container: 'demo-worker-4', state: 'stopped', ipv4: null, task: null, agent: agent({ state: 'exited', exit_status: 130, seconds: 4000 }) },
      { name: 'worker-5', container: 'demo-worker-5', state: 'running', ipv4: null, task: null, agent: null },
    ],
    tasks: { open: 4, in_progress: 2, blocked: 0, done: 7, ready: 2, total: 13 },
    sync: { hub: '/home/me/.isollm/demo.git', present: true, base_branch: 'main', ahead: 0, behind: 0, task_branches: 2 },
    land: null,
    usage: null,
    recovered: null,
    base: null,
    services: {
      queue: { mode: 'embedded', running: true, url: 'http://127.0.0.1:7432', pid: 4242 },
      multiplexer: { kind: 'tmux', session: 'isollm-demo', running: true },
      runtime: { kind: 'lxd', bin: 'lxc', remote: null },
    },
    errors: {},
  };
}

describe('agent state in status', () => {
  it('conforms to the schema, and a wrong state does not', () => {
    expect(checkAgainstSchema(model())).toEqual([]);
    const bad = model();
    bad.workers![0].agent!.state = 'sleeping' as never;
    expect(checkAgainstSchema(bad)).toEqual(['$.workers[0].agent.state: "sleeping" is not one of ["working","waiting","idle","exited","limited"]']);
  });

  it('full: an AGENT column with the state, its age, what it waits for and when a limited one resumes', () => {
    const lines = renderFull(model(), { width: Infinity, color: false });
    expect(lines.slice(0, 8)).toEqual([
      'isollm · demo · 4/5 workers running · agents 1 waiting, 1 limited, 1 working, 1 exited',
      '',
      'WORKER    STATE      AGENT                            TASK     BRANCH          TIME  TITLE',
      'worker-1  ● running  ▶ working 11m                    ar-1a2b  isollm/ar-1a2b  12m   Fix the login form',
      'worker-2  ● running  ? waiting 2m · permission: Bash  ar-3c4d  isollm/ar-3c4d  4m    Add a test',
      'worker-3  ● running  ‖ limited until 15:00 (in 2h)    -                              idle',
      'worker-4  ○ stopped  ■ exited 130 1h                  -',
      'worker-5  ● running  -                                -                              idle',
    ]);
  });

  it('brief: the counts of agents by state', () => {
    expect(renderBrief(model())).toBe('demo: 4/5 workers running (agents 1 waiting, 1 limited, 1 working, 1 exited) · tasks 2 ready, 2 in progress, 0 blocked, 7 done · hub: base up to date');
    const none = model();
    for (const w of none.workers!) w.agent = null;
    expect(renderBrief(none)).toBe('demo: 4/5 workers running · tasks 2 ready, 2 in progress, 0 blocked, 7 done · hub: base up to date');
    // No agent reported: the table has no AGENT column at all.
    expect(renderFull(none, { width: Infinity, color: false })[2]).toMatch(/^WORKER +STATE +TASK/);
  });

  it('pane titles: name, mark, state and age', () => {
    const [w1, w2, w3, w4, w5] = model().workers!;
    expect([w1, w2, w3, w4, w5].map(paneTitle)).toEqual(['worker-1 ▶ working 11m', 'worker-2 ⏳ waiting 2m', 'worker-3 ⏸ limited until 15:00 (in 2h)', 'worker-4 ⏹ exited 130 1h', 'worker-5']);
    expect(agentWords(agent({ state: 'limited', until: '2025-03-01T15:00:00.000Z', resumes_in_seconds: 0 }))).toBe('limited until 15:00 (resuming)');
    expect(agentWords(agent({ state: 'idle', seconds: 5 }))).toBe('idle 5s');
  });
});
