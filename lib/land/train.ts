// The merge train's decisions, free of git and containers: take tasks in order, integrate a batch onto
// the head, test it once; green → the base advances to it; red → bisect (test each half on the
// current head) until the culprits are found, landing the good ones and handing back the bad. A
// conflict hands a task back at once. A task whose parent was handed back in this run is left waiting
// (its branch carries the parent's commits). With one bad task among N: at most 1 + 2·⌈log2 N⌉ runs.

export type Item = { id: string; parents: string[] };

export type Integration = { kind: 'integrated'; commit: string } | { kind: 'conflict'; files: string[] };
export type TestOutcome = { passed: boolean; exitCode: number | null; tail: string; seconds: number };

export type Failure =
  | { kind: 'conflict'; files: string[]; base: string }
  | { kind: 'test'; exitCode: number | null; tail: string; base: string };

export type TrainEvent<T> =
  | { kind: 'integrating'; item: T; onto: string }
  | { kind: 'testing'; items: T[]; commit: string }
  | { kind: 'tested'; items: T[]; commit: string; outcome: TestOutcome }
  | { kind: 'landed'; item: T; commit: string }
  | { kind: 'handed-back'; item: T; failure: Failure }
  | { kind: 'waiting'; item: T; on: string };

export type TrainSteps<T extends Item> = {
  /** Put `item`'s work on top of `head`; returns the new head or the conflicting files. */
  integrate(head: string, item: T): Promise<Integration>;
  /** Run the test on `commit` (the head with `items` integrated). null: no test configured (green). */
  test: ((commit: string, items: T[]) => Promise<TestOutcome>) | null;
  /** Move the base from `from` to `to` (only ever a fast-forward), and record each item landed. */
  advance(from: string, to: string, landed: { item: T; commit: string }[]): Promise<void>;
  /** Give a task back to the agents with what went wrong. */
  handBack(item: T, failure: Failure): Promise<void>;
  event?(e: TrainEvent<T>): void;
};

export type TrainResult<T> = {
  head: string;
  landed: { item: T; commit: string }[];
  handedBack: { item: T; failure: Failure }[];
  waiting: { item: T; on: string }[];
  testRuns: number;
};

export async function runTrain<T extends Item>(base: string, items: T[], batchSize: number, steps: TrainSteps<T>): Promise<TrainResult<T>> {
  const result: TrainResult<T> = { head: base, landed: [], handedBack: [], waiting: [], testRuns: 0 };
  const failed = new Set<string>();
  const emit = (e: TrainEvent<T>) => steps.event?.(e);

  const handBack = async (item: T, failure: Failure) => {
    failed.add(item.id);
    result.handedBack.push({ item, failure });
    emit({ kind: 'handed-back', item, failure });
    await steps.handBack(item, failure);
  };

  /** Integrate `batch` in order onto the head; conflicts are handed back, children of failures wait. */
  const integrateAll = async (batch: T[]) => {
    const done: { item: T; commit: string }[] = [];
    let head = result.head;
    for (const item of batch) {
      const blocker = item.parents.find((p) => failed.has(p) || result.waiting.some((w) => w.item.id === p));
      if (blocker) {
        result.waiting.push({ item, on: blocker });
        emit({ kind: 'waiting', item, on: blocker });
        continue;
      }
      emit({ kind: 'integrating', item, onto: head });
      const r = await steps.integrate(head, item);
      if (r.kind === 'conflict') {
        await handBack(item, { kind: 'conflict', files: r.files, base: result.head });
        continue;
      }
      head = r.commit;
      done.push({ item, commit: head });
    }
    return done;
  };

  const advance = async (integrated: { item: T; commit: string }[]) => {
    const to = integrated[integrated.length - 1].commit;
    await steps.advance(result.head, to, integrated);
    result.head = to;
    result.landed.push(...integrated);
    for (const l of integrated) emit({ kind: 'landed', item: l.item, commit: l.commit });
  };

  /**
   * Test `integrated` (already on the current head); bisect on red. `red`: the outcome of a test that
   * already ran on exactly this candidate (the whole batch, whose first half then landed), so it is
   * not run again. Returns whether everything in it landed.
   */
  const settle = async (integrated: { item: T; commit: string }[], red: TestOutcome | null = null): Promise<boolean> => {
    if (!integrated.length) return true;
    const items = integrated.map((i) => i.item);
    const tip = integrated[integrated.length - 1].commit;
    let outcome: TestOutcome | null = red;
    if (steps.test && !outcome) {
      emit({ kind: 'testing', items, commit: tip });
      result.testRuns++;
      outcome = await steps.test(tip, items);
      emit({ kind: 'tested', items, commit: tip, outcome });
    }
    if (!outcome || outcome.passed) {
      await advance(integrated);
      return true;
    }
    if (integrated.length === 1) {
      await handBack(items[0], { kind: 'test', exitCode: outcome.exitCode, tail: outcome.tail, base: result.head });
      return false;
    }
    const half = Math.ceil(items.length / 2);
    // The first half's commits already sit on the head. When all of it lands, the head is the first
    // half's tip, so the second half's commits are still valid and known red: bisect them without a
    // test. Otherwise the second half is integrated afresh on the head as it now is.
    if (await settle(integrated.slice(0, half))) {
      await settle(integrated.slice(half), outcome);
    } else {
      await settle(await integrateAll(items.slice(half)));
    }
    return false;
  };

  const size = Math.max(1, batchSize);
  for (let i = 0; i < items.length; i += size) {
    await settle(await integrateAll(items.slice(i, i + size)));
  }
  return result;
}

/** Most test runs a batch of n with one bad task can take: 1 + 2·⌈log2 n⌉. */
export function maxRunsOneBad(n: number): number {
  return 1 + 2 * Math.ceil(Math.log2(Math.max(1, n)));
}
