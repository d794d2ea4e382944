// `isollm land`: one run of the merge train over the hub and the queue. Plans from the queue (done,
// unlanded, dependency order), integrates in the hub, tests in a container, moves the hub's base by
// compare-and-swap only after a green test, records landings and hands failures back as work.
import path from 'node:path';
import { UserError } from '../cli/errors.ts';
import { terminalText } from '../cli/ui.ts';
import type { Config } from '../config/load.ts';
import { revParse } from '../hub/git.ts';
import { requireHub } from '../hub/hub.ts';
import { acquireLock } from '../project/session.ts';
import { statePaths } from '../project/root.ts';
import type { QueueClient } from '../queue/client.ts';
import type { Task } from '../queue/types.ts';
import { advanceBase, clearScratchRefs, integrate } from './integrate.ts';
import { clearLandNow, writeLandNow } from './now.ts';
import { planLanding } from './order.ts';
import type { Tester } from './tester.ts';
import { runTrain, type Failure, type TrainEvent } from './train.ts';

export type LandOptions = {
  /** Only these tasks (else every done, unlanded task). */
  ids?: string[];
  dryRun?: boolean;
  /** Tasks per test run (default land.batch). */
  batch?: number;
};

export type LandTask = { id: string; title: string; parents: string[]; attempts: number };
export type LandEvent = TrainEvent<LandTask> | { kind: 'tester'; line: string };

export type LandDeps = {
  queue: QueueClient;
  /** Opens the container that runs land.test (only asked when a test is configured and needed). */
  openTester: (progress: (line: string) => void) => Promise<Tester>;
  event?: (e: LandEvent) => void;
};

export type LandReport = {
  base: string;
  dry_run: boolean;
  /** The order the train takes (or would take). */
  plan: { id: string; title: string }[];
  from: string | null;
  to: string | null;
  landed: { id: string; title: string; commit: string }[];
  handed_back: { id: string; title: string; reason: string; status: string; attempts: number }[];
  waiting: { id: string; title: string; on: string[] }[];
  test_runs: number;
  seconds: number;
};

const short = (sha: string) => sha.slice(0, 7);

/** What the next agent reads: what failed, where, and what to do about it. */
export function failureNote(config: Config, failure: Failure, attempt: number): string {
  const where = `${config.git.base_branch}@${short(failure.base)}`;
  const of = `attempt ${attempt} of ${config.land.max_attempts}`;
  if (failure.kind === 'conflict') {
    return [
      `Landing onto ${where} conflicted in: ${failure.files.join(', ')} (${of}).`,
      `Bring ${config.git.base_branch} into this branch (git fetch origin && git merge origin/${config.git.base_branch}), resolve the conflicts, commit and push.`,
    ].join('\n');
  }
  const what = failure.exitCode === null ? 'did not finish' : `failed with exit ${failure.exitCode}`;
  return [
    `land.test (${config.land.test.join(' ')}) ${what} on ${where} with this branch integrated (${of}). Its output ends:`,
    failure.tail,
    `Fix it on this branch (git fetch origin && git merge origin/${config.git.base_branch} first), commit and push.`,
  ].join('\n');
}

export function failureSummary(failure: Failure): string {
  if (failure.kind === 'conflict') return `conflict in ${terminalText(failure.files.join(', '))}`;
  return failure.exitCode === null ? 'land.test did not finish' : `land.test failed (exit ${failure.exitCode})`;
}

export async function land(root: string, config: Config, options: LandOptions, deps: LandDeps): Promise<LandReport> {
  const started = Date.now();
  const { queue } = deps;
  const tasks = await queue.listTasks();
  const known = new Set(tasks.map((t) => t.id));
  for (const id of options.ids ?? []) {
    if (!known.has(id)) throw new UserError(`No task ${id} in the queue. See \`isollm task list --unlanded\`.`);
  }
  const parents = new Map<string, string[]>();
  for (const t of tasks.filter((t) => t.status === 'done' && !t.landed_commit)) {
    parents.set(t.id, (await queue.deps(t.id)).map((d) => d.parent_id));
  }
  const plan = planLanding(tasks, (id) => parents.get(id) ?? [], options.ids?.length ? options.ids : undefined);
  const report: LandReport = {
    base: config.git.base_branch,
    dry_run: Boolean(options.dryRun),
    plan: plan.queue.map((t) => ({ id: t.id, title: t.title })),
    from: null,
    to: null,
    landed: [],
    handed_back: [],
    waiting: plan.waiting.map((w) => ({ id: w.task.id, title: w.task.title, on: w.on })),
    test_runs: 0,
    seconds: 0,
  };
  for (const id of options.ids ?? []) {
    const t = tasks.find((x) => x.id === id)!;
    if (t.status !== 'done') throw new UserError(`Task ${id} is ${t.status.replace('_', ' ')}, not done: only done tasks land.`);
    if (t.landed_commit) throw new UserError(`Task ${id} has landed already (${short(t.landed_commit)}).`);
  }
  const hub = await requireHub(root, config);
  report.from = report.to = await revParse(hub, `refs/heads/${config.git.base_branch}`);
  if (!report.from) throw new UserError(`The hub has no branch ${config.git.base_branch}. Run \`isollm sync push\`.`);
  if (options.dryRun || !plan.queue.length) return finish(report, started);

  const paths = statePaths(root);
  const release = acquireLock({ ...paths, lock: path.join(paths.dir, 'land.lock') }, 'land');
  const byId = new Map<string, Task>(tasks.map((t) => [t.id, t]));
  const items: LandTask[] = plan.queue.map((t) => ({ id: t.id, title: t.title, parents: parents.get(t.id) ?? [], attempts: t.land_attempts ?? 0 }));
  let tester: Tester | null = null;
  const emit = (e: LandEvent) => {
    // For `isollm status`: the step this run is at.
    if (e.kind === 'integrating') writeLandNow(paths.dir, { step: 'integrating', tasks: [e.item.id] });
    if (e.kind === 'testing') writeLandNow(paths.dir, { step: 'testing', tasks: e.items.map((i) => i.id) });
    deps.event?.(e);
  };
  try {
    const result = await runTrain(report.from, items, options.batch ?? config.land.batch, {
      integrate: (head, item) => integrate(hub, head, { strategy: config.land.strategy, branch: `${config.git.branch_prefix}${item.id}`, id: item.id, title: item.title }),
      test: config.land.test.length
        ? async (commit) => {
            tester ??= await deps.openTester((line) => emit({ kind: 'tester', line }));
            return tester.run(commit);
          }
        : null,
      async advance(from, to, landed) {
        if (!(await advanceBase(hub, config.git.base_branch, from, to))) {
          throw new UserError(`The hub's ${config.git.base_branch} moved while landing (someone pushed to it); nothing more was landed. Run \`isollm land\` again.`);
        }
        report.to = to;
        for (const l of landed) {
          await queue.markLanded(l.item.id, l.commit);
          report.landed.push({ id: l.item.id, title: l.item.title, commit: l.commit });
        }
      },
      async handBack(item, failure) {
        const after = await queue.reopen(item.id, failureNote(config, failure, item.attempts + 1), config.land.max_attempts);
        report.handed_back.push({ id: item.id, title: item.title, reason: failureSummary(failure), status: after.status, attempts: after.land_attempts ?? item.attempts + 1 });
      },
      event: emit,
    });
    report.test_runs = result.testRuns;
    for (const w of result.waiting) report.waiting.push({ id: w.item.id, title: byId.get(w.item.id)?.title ?? w.item.title, on: [w.on] });
  } finally {
    await (tester as Tester | null)?.close().catch(() => undefined);
    await clearScratchRefs(hub).catch(() => undefined);
    clearLandNow(paths.dir);
    release();
  }
  return finish(report, started);
}

function finish(report: LandReport, started: number): LandReport {
  report.seconds = Math.round((Date.now() - started) / 100) / 10;
  return report;
}
