// Unsaved work in workers: inspected and salvaged to the hub through the runtime's exec, for
// `down`, `worker reset` and `worker remove` alike.
import { errorMessage } from '../cli/errors.ts';
import { execIn } from '../runtime/client.ts';
import { inspectWork, salvageWork, type GitRunner, type SalvageResult, type WorkReport } from './salvage-git.ts';
import { asDev, type WorkerContext, type WorkerInfo } from './create.ts';

/** git in the worker's clone, as dev, through the runtime's exec (argv only). */
export function workerGit(ctx: Pick<WorkerContext, 'rt'>, worker: WorkerInfo): GitRunner {
  return (args, options = {}) => {
    const exec = asDev(worker);
    return execIn(ctx.rt, worker.container, ['git', ...args], { ...exec, env: { ...exec.env, ...options.env }, input: options.input });
  };
}

export type WorkerWork = { worker: WorkerInfo; report: WorkReport | null; error: string | null };

/** Inspect every running worker in parallel. */
export async function inspectWorkers(ctx: WorkerContext, workers: WorkerInfo[]): Promise<WorkerWork[]> {
  const branch = { baseBranch: ctx.config.git.base_branch, branchPrefix: ctx.config.git.branch_prefix };
  return Promise.all(
    workers.map(async (worker) => {
      if (worker.instance.status !== 'Running') return { worker, report: null, error: 'not running: its work stays in the stopped container' };
      try {
        return { worker, report: await inspectWork(workerGit(ctx, worker), branch), error: null };
      } catch (err) {
        return { worker, report: null, error: errorMessage(err) };
      }
    }),
  );
}

export async function salvageWorker(ctx: WorkerContext, work: WorkerWork, now = new Date()): Promise<SalvageResult | null> {
  if (!work.report || work.report.clean) return null;
  return salvageWork(workerGit(ctx, work.worker), work.report, {
    worker: work.worker.name,
    baseBranch: ctx.config.git.base_branch,
    branchPrefix: ctx.config.git.branch_prefix,
    now,
  });
}

/** Stop the agent and the loop in a worker, so nothing changes its clone while it is saved. */
export async function stopAgents(ctx: Pick<WorkerContext, 'rt'>, worker: WorkerInfo): Promise<void> {
  // An older worker's launcher may not know `stop`: then there is nothing to wait for either.
  await execIn(ctx.rt, worker.container, ['isollm-agent', 'stop'], asDev(worker)).catch(() => undefined);
}
