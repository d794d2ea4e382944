import { describe, expect, it } from 'vitest';
import type { StatusModel } from '../lib/status/collect.ts';
import { busiestWorkers, fitLine, fullViewLines, renderBrief, renderFull } from '../lib/status/render.ts';
import { checkAgainstSchema } from '../lib/status/schema.ts';
import { ESC, ttyFrame, watchStatus } from '../lib/status/watch.ts';

process.env.TZ = 'UTC'; // the watch header shows local time

function model(): StatusModel {
  return {
    version: 1,
    project: 'demo',
    root: '/home/me/demo',
    generated_at: '2025-03-01T12:04:05.000Z',
    workers: [
      { name: 'worker-1', container: 'demo-worker-1', state: 'running', ipv4: null, task: { id: 'ar-1a2b', title: 'Fix the login form so it validates e-mail addresses', branch: 'isollm/ar-1a2b', claimed_at: '2025-03-01T11:52:00.000Z', age_seconds: 725 } },
      { name: 'worker-2', container: 'demo-worker-2', state: 'running', ipv4: '10.1.2.3', task: null },
      { name: 'worker-3', container: 'demo-worker-3', state: 'stopped', ipv4: null, task: null },
      { name: 'host:me', container: null, state: 'absent', ipv4: null, task: { id: 'ar-9', title: 'Docs', branch: 'isollm/ar-9', claimed_at: '2025-03-01T10:04:05.000Z', age_seconds: 7200 } },
    ],
    tasks: { open: 4, in_progress: 3, blocked: 1, done: 7, ready: 2, total: 15 },
    sync: { hub: '/home/me/.isollm/demo.git', present: true, base_branch: 'main', ahead: 0, behind: 0, task_branches: 4 },
    land: { unlanded: 2, landed_24h: 5, handed_back: 1, landing_now: false, now: null },
    usage: { runs: 0, tokens_in: 0, tokens_out: 0, cost_usd: 0, duration_ms: 0, turns: 0 },
    recovered: null,
    base: {
      name: 'demo-base-1a2b3c', image: '28e1e06d3195', created_at: '2025-03-01T10:04:05.000Z', age_seconds: 7200, stale: false, changed: [],
      commit: 'c0ffee', commits_behind: 3, size_bytes: 412 * 1024 * 1024, workers: 3, older_bases: [], building: false,
    },
    services: {
      queue: { mode: 'embedded', running: true, url: 'http://127.0.0.1:7432', pid: 4242 },
      multiplexer: { kind: 'tmux', session: 'isollm-demo', running: true },
      runtime: { kind: 'lxd', bin: 'lxc', remote: null },
    },
    errors: {},
  };
}

/** The same project with nothing running: queue down, runtime missing, no hub yet. */
function idle(): StatusModel {
  const m = model();
  m.workers = null;
  m.tasks = null;
  m.land = null;
  m.usage = null;
  m.sync = { hub: '/home/me/.isollm/demo.git', present: false, base_branch: 'main', ahead: null, behind: null, task_branches: 0 };
  m.services.queue = { mode: 'embedded', running: false, url: 'http://127.0.0.1:7432', pid: null };
  m.services.multiplexer = { kind: null, session: null, running: false };
  m.services.runtime = { kind: null, bin: null, remote: null };
  m.base = null;
  m.errors = {
    workers: 'Neither `incus` nor `lxc` (LXD) is installed. Run `isollm setup` to install it.',
    queue: 'The queue is not running. Start it with `isollm queue start` (or `isollm up`).',
  };
  return m;
}

/** n workers: every third on a task (older the further down), the others idle, one stopped, one in error. */
function crew(n: number): StatusModel {
  const m = model();
  m.workers = Array.from({ length: n }, (_, i) => {
    const name = `worker-${i + 1}`;
    const task = i % 3 === 1 ? { id: `ar-${i + 1}`, title: `Task of ${name}`, branch: `isollm/ar-${i + 1}`, claimed_at: '2025-03-01T11:00:00.000Z', age_seconds: 60 * (i + 1) } : null;
    const state = i === 2 ? 'stopped' : i === 5 ? 'error' : 'running';
    return { name, container: `demo-${name}`, state, ipv4: null, task } as const;
  });
  return m;
}

const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

describe('the dashboard fits its rows', () => {
  const at = (m: StatusModel, rows: number) => renderFull(m, { width: 100, color: false, clock: true, rows });
  const workerNames = (lines: string[]) => lines.map((l) => /^(worker-\d+) /.exec(l)?.[1]).filter(Boolean);

  it('the full view needs 9 lines and one per worker', () => {
    for (const n of [2, 8]) expect(at(crew(n), Infinity)).toHaveLength(fullViewLines(n));
  });

  it('2 workers: full at 12 rows, summary + table at 6, summary + head + the busier one at 3', () => {
    expect(at(crew(2), 12)).toEqual(at(crew(2), Infinity));
    expect(at(crew(2), 6)).toEqual([
      'isollm · demo · 2/2 workers running · tasks 2 ready, 3 in progress, 1 blocked, 7 done · hub: base u…',
      'WORKER    STATE      TASK  BRANCH       TIME  TITLE',
      'worker-1  ● running  -                        idle',
      'worker-2  ● running  ar-2  isollm/ar-2  2m    Task of worker-2',
    ]);
    expect(at(crew(2), 3)).toEqual([
      'isollm · demo · 2/2 workers running · 1 busiest shown · tasks 2 ready, 3 in progress, 1 blocked, 7 …',
      'WORKER    STATE      TASK  BRANCH       TIME  TITLE',
      'worker-2  ● running  ar-2  isollm/ar-2  2m    Task of worker-2',
    ]);
  });

  it('8 workers: the busiest that fit, in their usual order, never a cut-off table', () => {
    const twelve = at(crew(8), 12);
    expect(twelve).toHaveLength(10); // summary + head + all 8
    expect(workerNames(twelve)).toEqual(crew(8).workers!.map((w) => w.name));
    const six = at(crew(8), 6);
    expect(six).toHaveLength(6);
    expect(plain(six[0])).toContain('6/8 workers running · 4 busiest shown');
    expect(six[1]).toMatch(/^WORKER +STATE +TASK/);
    // on a task (worker-8, -5, -2), then the one in error (worker-6); shown in name order
    expect(workerNames(six)).toEqual(['worker-2', 'worker-5', 'worker-6', 'worker-8']);
    const three = at(crew(8), 3);
    expect(three).toHaveLength(3);
    expect(three[0]).toContain('1 busiest shown');
    expect(workerNames(three)).toEqual(['worker-8']); // the longest at its task
  });

  it('every line fits the width, also in colour; one or two rows still say the most', () => {
    for (const rows of [1, 2, 3, 6, 12]) {
      const lines = renderFull(crew(8), { width: 50, color: true, rows });
      expect(lines.length).toBeLessThanOrEqual(rows);
      expect(lines.every((l) => [...plain(l)].length <= 50)).toBe(true);
    }
    expect(at(crew(8), 1)).toHaveLength(1);
    expect(workerNames(at(crew(8), 2))).toEqual(['worker-8']);
    // nothing known about workers: the summary, then the error
    expect(at(idle(), 3)).toEqual([
      'isollm · demo · workers unknown · queue not answering · hub: no hub yet · updated 12:04:05',
      '✗ workers: Neither `incus` nor `lxc` (LXD) is installed. Run `isollm setup` to install it.',
    ]);
  });

  it('busiest: on a task (longest first), in error, running, stopped, no container', () => {
    const m = model();
    expect(busiestWorkers(m.workers!, 2).map((w) => w.name)).toEqual(['worker-1', 'host:me']);
    expect(busiestWorkers(m.workers!, 3).map((w) => w.name)).toEqual(['worker-1', 'worker-2', 'host:me']);
    expect(busiestWorkers(m.workers!, 0)).toEqual([]);
  });
});

describe('status renderings', () => {
  it('brief: one line', () => {
    expect(renderBrief(model())).toBe('demo: 2/3 workers running · tasks 2 ready, 3 in progress, 1 blocked, 7 done · hub: base up to date');
    const m = model();
    m.sync = { ...m.sync!, ahead: 2, behind: 1 };
    expect(renderBrief(m)).toBe('demo: 2/3 workers running · tasks 2 ready, 3 in progress, 1 blocked, 7 done · hub: base 2 ahead, 1 behind');
    expect(renderBrief(idle())).toBe('demo: workers unknown · queue not answering · hub: no hub yet');
    const none = model();
    none.workers = [];
    none.sync = null;
    expect(renderBrief(none)).toBe('demo: no workers · tasks 2 ready, 3 in progress, 1 blocked, 7 done · hub: unknown');
  });

  it('full: the dashboard, exact', () => {
    expect(renderFull(model(), { width: Infinity, color: false })).toEqual([
      'isollm · demo · 2/3 workers running',
      '',
      'WORKER    STATE           TASK     BRANCH          TIME  TITLE',
      'worker-1  ● running       ar-1a2b  isollm/ar-1a2b  12m   Fix the login form so it validates e-mail addresses',
      'worker-2  ● running       -                              idle',
      'worker-3  ○ stopped       -',
      'host:me   ○ no container  ar-9     isollm/ar-9     2h    Docs',
      '',
      'Tasks     2 ready · 3 in progress · 1 blocked · 7 done (4 open, 15 total) · land: 2 to go, 5 landed in 24 h, 1 handed back',
      'Hub       base main up to date · 4 task branches (`isollm sync status`)',
      'Services  queue        ● http://127.0.0.1:7432 (pid 4242)',
      '          multiplexer  ● tmux session isollm-demo',
      '          runtime      lxd (lxc)',
      '          base         demo-base-1a2b3c · image 28e1e06d3195 · 2h old · 412 MB · 3 workers · hub 3 commits ahead · up to date',
    ]);
  });

  it('workers on a cluster: the member each runs on (MEMBER column, brief, json); none off a cluster', () => {
    const m = model();
    m.services.runtime = { kind: 'incus', bin: 'incus', remote: 'far' };
    m.workers![0].location = 'm1';
    m.workers![1].location = 'm2';
    m.workers![2].location = 'm1';
    m.workers![3].location = null;
    const lines = renderFull(m, { width: Infinity, color: false });
    expect(lines.slice(2, 7)).toEqual([
      'WORKER    STATE           MEMBER  TASK     BRANCH          TIME  TITLE',
      'worker-1  ● running       m1      ar-1a2b  isollm/ar-1a2b  12m   Fix the login form so it validates e-mail addresses',
      'worker-2  ● running       m2      -                              idle',
      'worker-3  ○ stopped       m1      -',
      'host:me   ○ no container          ar-9     isollm/ar-9     2h    Docs',
    ]);
    expect(renderBrief(m)).toBe('demo: 2/3 workers running on m1 (2), m2 (1) · tasks 2 ready, 3 in progress, 1 blocked, 7 done · hub: base up to date');
    m.workers![1].location = 'm1';
    expect(renderBrief(m)).toMatch(/^demo: 2\/3 workers running on m1 · /);
    expect(checkAgainstSchema(m)).toEqual([]);
    (m.workers![0] as any).location = 7;
    expect(checkAgainstSchema(m)).toEqual(['$.workers[0].location: expected string or null, got integer']);
  });

  it('full: the agents\' recorded runs, summed, on the Tasks line (none: nothing said)', () => {
    const m = model();
    m.usage = { runs: 3, tokens_in: 2468, tokens_out: 112, cost_usd: 0.012112, duration_ms: 9000, turns: 4 };
    expect(renderFull(m, { width: Infinity, color: false })[8]).toBe(
      'Tasks     2 ready · 3 in progress · 1 blocked · 7 done (4 open, 15 total) · land: 2 to go, 5 landed in 24 h, 1 handed back · agents: 3 runs, 2468 tokens in, 112 out, $0.0121',
    );
    m.usage = { ...m.usage, runs: 1, cost_usd: 0 };
    expect(renderFull(m, { width: Infinity, color: false })[8]).toMatch(/· agents: 1 run, 2468 tokens in, 112 out$/);
    expect(checkAgainstSchema(m)).toEqual([]);
    // Runs of agents that report no figures (custom, aider): counted, with no "0 tokens" made up.
    m.usage = { runs: 5, tokens_in: 0, tokens_out: 0, cost_usd: 0, duration_ms: 5000, turns: 0 };
    expect(renderFull(m, { width: Infinity, color: false })[8]).toMatch(/ handed back · agents: 5 runs$/);
  });

  it('full: what the last `up` recovered, in the line under the table (the height stays), and in the schema', () => {
    const m = model();
    m.recovered = {
      at: '2025-03-01T12:01:00.000Z',
      workers: [
        { name: 'worker-1', container_started: true, mode: 'interactive', resumed_with: 'claude --continue', task: 'ar-1a2b' },
        { name: 'worker-2', container_started: false, mode: 'interactive', resumed_with: null, task: null },
      ],
    };
    const lines = renderFull(m, { width: Infinity, color: false });
    expect(lines).toHaveLength(fullViewLines(4));
    expect(lines[7]).toBe('recovered 12:01: worker-1 (container started, restarted agent: claude --continue, resumed task ar-1a2b); worker-2 (restarted agent afresh (its CLI has no resume option), held no task)');
    m.recovered.workers = [{ name: 'worker-3', container_started: true, mode: 'loop', resumed_with: null, task: 'ar-9' }];
    expect(renderFull(m, { width: Infinity, color: false })[7]).toBe('recovered 12:01: worker-3 (container started, restarted the loop, resumed task ar-9)');
    expect(checkAgainstSchema(m)).toEqual([]);
    (m.recovered.workers[0] as any).mode = 'other';
    expect(checkAgainstSchema(m)).toEqual(['$.recovered.workers[0].mode: "other" is not one of ["loop","interactive"]']);
  });

  it('the train at work: the step the running land is at, else `landing now`', () => {
    const tasksLine = (land: Partial<NonNullable<ReturnType<typeof model>['land']>>) => {
      const m = model();
      m.land = { ...m.land!, ...land };
      return renderFull(m, { width: Infinity, color: false }).find((l) => l.startsWith('Tasks'));
    };
    expect(tasksLine({ landing_now: true })).toMatch(/, 1 handed back, ● landing now$/);
    expect(tasksLine({ landing_now: true, now: { step: 'testing', tasks: ['ar-1a2b', 'ar-3c4d'], since: '2026-01-01T00:00:00Z' } })).toMatch(/, 1 handed back, ● testing ar-1a2b, ar-3c4d$/);
    expect(tasksLine({ landing_now: true, now: { step: 'integrating', tasks: ['ar-1a2b'], since: '2026-01-01T00:00:00Z' } })).toMatch(/● integrating ar-1a2b$/);
  });

  it('full: a stale base says what changed and what rebuilds it; none yet says what builds it', () => {
    const m = model();
    m.base = { ...m.base!, stale: true, changed: ['setup_script'], commits_behind: 0, workers: 1, older_bases: ['demo-base-000000'] };
    expect(renderFull(m, { width: Infinity, color: false }).at(-1)).toBe(
      '          base         demo-base-1a2b3c · image 28e1e06d3195 · 2h old · 412 MB · 1 worker (+1 older base kept for theirs) · stale (setup_script changed): the next `isollm up` rebuilds it',
    );
    m.base = null;
    expect(renderFull(m, { width: Infinity, color: false }).at(-1)).toBe('          base         none yet (the first `isollm up` or `worker add` builds it)');
  });

  it('full: nothing running shows each error with its hint', () => {
    expect(renderFull(idle(), { width: Infinity, color: false, clock: true })).toEqual([
      'isollm · demo · workers unknown · updated 12:04:05',
      '',
      '✗ workers: Neither `incus` nor `lxc` (LXD) is installed. Run `isollm setup` to install it.',
      '',
      'Tasks     ✗ The queue is not running. Start it with `isollm queue start` (or `isollm up`).',
      'Hub       no hub yet at /home/me/.isollm/demo.git: `isollm sync push` or `isollm up` creates it',
      'Services  queue        ○ http://127.0.0.1:7432 not answering',
      '          multiplexer  ○ no session (`isollm up` starts one)',
      '          runtime      not available',
      '          base         none yet (the first `isollm up` or `worker add` builds it)',
    ]);
  });

  it('full: lines are cut to the terminal width, colour codes not counted', () => {
    const lines = renderFull(model(), { width: 60, color: true });
    const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');
    expect(lines.every((l) => [...plain(l)].length <= 60)).toBe(true);
    expect(plain(lines[3])).toBe('worker-1  ● running       ar-1a2b  isollm/ar-1a2b  12m   Fi…');
    expect(lines[3]).toContain('\x1b[32m● running\x1b[39m');
    expect(fitLine('abcdef', 6)).toBe('abcdef');
    expect(fitLine('abcdefg', 6)).toBe('abcde…');
    expect(fitLine('\x1b[31mabcdefg\x1b[39m', 4)).toBe('\x1b[31mabc…\x1b[0m');
  });

  it('the fixed models conform to the schema, and a wrong one does not', () => {
    expect(checkAgainstSchema(model())).toEqual([]);
    expect(checkAgainstSchema(idle())).toEqual([]);
    const bad = model() as any;
    bad.workers[0].state = 'sleeping';
    bad.tasks.ready = -1;
    delete bad.sync.hub;
    bad.extra = 1;
    expect(checkAgainstSchema(bad)).toEqual([
      '$.workers[0].state: "sleeping" is not one of ["running","stopped","frozen","error","unknown","absent"]',
      '$.tasks.ready: -1 < 0',
      '$.sync.hub: missing',
      '$.extra: not in the schema',
    ]);
  });
});

describe('watch loop', () => {
  it('on a terminal: alternate screen, hidden cursor, in-place frames, restored on abort', async () => {
    const writes: string[] = [];
    const ac = new AbortController();
    let round = 0;
    await watchStatus({
      intervalMs: 1,
      collect: async () => {
        round++;
        if (round === 2) throw new Error('queue hiccup');
        if (round === 3) ac.abort();
        return round;
      },
      render: (n, size) => [`frame ${n}`, `width ${size.width}`, `rows ${size.rows}`],
      renderError: (message) => [`✗ ${message}`],
      stream: { write: (s: string) => writes.push(s), isTTY: true, columns: 40, rows: 10 },
      signal: ac.signal,
    });
    expect(writes).toEqual([ESC.enter, ttyFrame(['frame 1', 'width 40', 'rows 10']), ttyFrame(['✗ queue hiccup']), ESC.leave]);
    expect(ttyFrame(['a', 'b'])).toBe('\x1b[Ha\x1b[K\nb\x1b[K\x1b[J');
    expect(ttyFrame(['a', 'b', 'c'], 2)).toBe('\x1b[Ha\x1b[K\nb\x1b[K\x1b[J');
  });

  it('without a terminal: whole frames separated by a blank line, no escape codes', async () => {
    const writes: string[] = [];
    const ac = new AbortController();
    let round = 0;
    await watchStatus({
      intervalMs: 1,
      collect: async () => ++round,
      render: (n, size) => {
        if (n === 3) ac.abort();
        return [`frame ${n}`, `width ${size.width}`];
      },
      renderError: () => [],
      stream: { write: (s: string) => writes.push(s) },
      signal: ac.signal,
    });
    expect(writes.join('')).toBe('frame 1\nwidth Infinity\n\nframe 2\nwidth Infinity\n\nframe 3\nwidth Infinity\n');
  });
});
