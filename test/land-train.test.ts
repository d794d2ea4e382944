// The merge train's decisions without git or containers: landing order, batches, bisection bounds,
// conflicts and children of failed parents.
import { describe, expect, it } from 'vitest';
import { planLanding } from '../lib/land/order.ts';
import { maxRunsOneBad, runTrain, type Item, type TrainSteps } from '../lib/land/train.ts';
import type { Task } from '../lib/queue/types.ts';

const task = (id: string, extra: Partial<Task> = {}): Task => ({ id, title: id, status: 'done', priority: 2, created_at: '', updated_at: '', ...extra });

describe('planLanding', () => {
  it('puts parents before children, else keeps the queue order (priority, age)', () => {
    // c waits on b, b on a; the queue lists them by priority: c first.
    const tasks = [task('c', { priority: 0 }), task('x', { priority: 1 }), task('b'), task('a', { priority: 3 })];
    const parents: Record<string, string[]> = { c: ['b'], b: ['a'] };
    const plan = planLanding(tasks, (id) => parents[id] ?? []);
    expect(plan.queue.map((t) => t.id)).toEqual(['x', 'a', 'b', 'c']);
    expect(plan.waiting).toEqual([]);
  });

  it('leaves a task waiting while a parent is neither landed nor in the train; landed parents are fine', () => {
    const tasks = [task('p', { status: 'open' }), task('c'), task('l', { landed_commit: 'abc1234' }), task('d')];
    const parents: Record<string, string[]> = { c: ['p'], d: ['l'] };
    const plan = planLanding(tasks, (id) => parents[id] ?? []);
    expect(plan.queue.map((t) => t.id)).toEqual(['d']);
    expect(plan.waiting.map((w) => [w.task.id, w.on])).toEqual([['c', ['p']]]);
  });

  it('with ids, takes only those (their unlanded parents are not pulled in)', () => {
    const tasks = [task('a'), task('b'), task('c')];
    const plan = planLanding(tasks, (id) => (id === 'c' ? ['a'] : []), ['c', 'b']);
    expect(plan.queue.map((t) => t.id)).toEqual(['b']);
    expect(plan.waiting.map((w) => w.task.id)).toEqual(['c']);
  });
});

/** A stand-in world: commits are lists of item ids; an item is bad when the test sees it. */
function world(bad: Set<string>, conflicts = new Set<string>()) {
  const commits = new Map<string, string[]>([['base', []]]);
  let n = 0;
  const log: string[] = [];
  const steps: TrainSteps<Item> = {
    async integrate(head, item) {
      if (conflicts.has(item.id)) return { kind: 'conflict', files: [`${item.id}.txt`] };
      const commit = `c${++n}`;
      commits.set(commit, [...commits.get(head)!, item.id]);
      return { kind: 'integrated', commit };
    },
    async test(commit) {
      const passed = !commits.get(commit)!.some((id) => bad.has(id));
      log.push(`${commits.get(commit)!.join('+')}:${passed ? 'green' : 'red'}`);
      return { passed, exitCode: passed ? 0 : 1, tail: passed ? '' : 'FAIL', seconds: 0 };
    },
    async advance(from, to) {
      log.push(`advance ${commits.get(to)!.join('+')}`);
    },
    async handBack(item, failure) {
      log.push(`back ${item.id} ${failure.kind}`);
    },
  };
  return { steps, commits, log };
}

const items = (n: number): Item[] => Array.from({ length: n }, (_, i) => ({ id: `t${i}`, parents: [] }));

describe('runTrain', () => {
  it('batch 1: one test per task, each landed on the one before', async () => {
    const w = world(new Set(['t1']));
    const r = await runTrain('base', items(3), 1, w.steps);
    expect(r.testRuns).toBe(3);
    expect(r.landed.map((l) => l.item.id)).toEqual(['t0', 't2']);
    expect(r.handedBack.map((h) => h.item.id)).toEqual(['t1']);
    expect(w.commits.get(r.head)).toEqual(['t0', 't2']);
  });

  it('a green batch is one test run and lands everything', async () => {
    const w = world(new Set());
    const r = await runTrain('base', items(8), 8, w.steps);
    expect(r.testRuns).toBe(1);
    expect(w.commits.get(r.head)).toEqual(items(8).map((i) => i.id));
  });

  it.each([0, 3, 4, 7])('one bad task (t%i) among 8 in a batch of 8: found within 1 + 2·log2 8 runs, the rest land', async (badIndex) => {
    const bad = `t${badIndex}`;
    const w = world(new Set([bad]));
    const r = await runTrain('base', items(8), 8, w.steps);
    expect(r.testRuns).toBeLessThanOrEqual(maxRunsOneBad(8));
    expect(maxRunsOneBad(8)).toBe(7);
    expect(r.handedBack.map((h) => h.item.id)).toEqual([bad]);
    expect(w.commits.get(r.head)!.sort()).toEqual(items(8).map((i) => i.id).filter((id) => id !== bad).sort());
  });

  it('a red batch whose first half lands: the second half is known red and bisected without testing it again', async () => {
    const w = world(new Set(['t7']));
    const r = await runTrain('base', items(8), 8, w.steps);
    // all 8 red; t0-t3 green; (t4-t7 known red) t4-t5 green; (t6-t7 known red) t6 green; t7 known red.
    expect(w.log.filter((l) => /:(green|red)$/.test(l)).map((l) => l.split(':')[1])).toEqual(['red', 'green', 'green', 'green']);
    expect(r.testRuns).toBe(4);
    expect(r.handedBack).toMatchObject([{ item: { id: 't7' }, failure: { kind: 'test', tail: 'FAIL' } }]);
  });

  it('two bad tasks: both handed back, the base never holds them', async () => {
    const w = world(new Set(['t1', 't6']));
    const r = await runTrain('base', items(8), 8, w.steps);
    expect(r.handedBack.map((h) => h.item.id).sort()).toEqual(['t1', 't6']);
    expect(w.log.filter((l) => l.startsWith('advance')).some((l) => /t1|t6/.test(l))).toBe(false);
  });

  it('a conflict is handed back without a test; a child of a failed task waits', async () => {
    const w = world(new Set(), new Set(['t0']));
    const list: Item[] = [{ id: 't0', parents: [] }, { id: 't1', parents: ['t0'] }, { id: 't2', parents: [] }];
    const r = await runTrain('base', list, 4, w.steps);
    expect(r.handedBack).toMatchObject([{ item: { id: 't0' }, failure: { kind: 'conflict', files: ['t0.txt'] } }]);
    expect(r.waiting).toMatchObject([{ item: { id: 't1' }, on: 't0' }]);
    expect(r.testRuns).toBe(1);
    expect(w.commits.get(r.head)).toEqual(['t2']);
  });

  it('no test configured: integrate only', async () => {
    const w = world(new Set(['t0']));
    const r = await runTrain('base', items(2), 1, { ...w.steps, test: null });
    expect(r.testRuns).toBe(0);
    expect(r.landed.length).toBe(2);
  });
});

describe('watchLanding', () => {
  it('runs again and again, reports a failing run and goes on, stops when aborted', async () => {
    const { watchLanding } = await import('../lib/land/watch.ts');
    const stop = new AbortController();
    const seen: string[] = [];
    let n = 0;
    await watchLanding(
      async () => {
        n++;
        if (n === 2) throw new Error('queue restarting');
        if (n === 3) stop.abort();
        return { plan: [] } as never;
      },
      { intervalMs: 1, signal: stop.signal, onReport: () => seen.push('report'), onError: (e) => seen.push(String((e as Error).message)) },
    );
    expect(seen).toEqual(['report', 'queue restarting', 'report']);
  });
});
