// What happens to an existing worker: start, stop, reset to its clean snapshot, remove — always
// giving its task back to the queue first, and never dropping unsaved work unless told to.
import type { Config } from '../config/load.ts';
import { UserError } from '../cli/errors.ts';
import { statePaths } from '../project/root.ts';
import { queueClient } from '../queue/daemon.ts';
import { connectRuntime, deleteInstance, execIn, restoreSnapshot, startInstance, stopInstance, waitForExec } from '../runtime/client.ts';
import { CLEAN_SNAPSHOT } from './plan.ts';
import { queueLink, type WorkerContext, type WorkerInfo } from './create.ts';
import { inspectWorkers, salvageWorker, stopAgents } from './salvage.ts';
import { renderSalvageResults } from './salvage-report.ts';
export { asDev } from './create.ts';

/** Everything a worker command needs, from the project root. */
export async function workerContext(root: string, config: Config): Promise<WorkerContext> {
  const rt = await connectRuntime(config.runtime.kind);
  return { config, root, paths: statePaths(root), rt, queue: queueLink(root, config) };
}

/** Tasks the queue says this worker holds. A queue that is down holds nothing we can release now. */
export async function tasksHeldBy(root: string, config: Config, worker: string): Promise<string[]> {
  const summary = await queueClient(root, config).summary();
  return summary.in_progress.filter((t) => t.claimed_by === worker).map((t) => t.id);
}

/** Give the worker's tasks back to the queue (as the host, forced). Returns the released ids. */
export async function releaseTasksOf(root: string, config: Config, worker: string): Promise<string[]> {
  const client = queueClient(root, config);
  const ids = await tasksHeldBy(root, config, worker);
  for (const id of ids) await client.release(id, true);
  return ids;
}

/**
 * Before a reset or remove: save the worker's unsaved work to the hub (as `down` does), unless
 * `discard`. Returns a line saying what was saved; throws when something could not be saved.
 */
async function saveWork(ctx: WorkerContext, worker: WorkerInfo, discard: boolean): Promise<string[]> {
  if (worker.instance.status !== 'Running') return [];
  // Nothing may keep working (or claim the task again) while the work is saved and the task released.
  await stopAgents(ctx, worker);
  if (discard) return [];
  const [work] = await inspectWorkers(ctx, [worker]);
  if (work.error) throw new UserError(`Could not look for unsaved work in ${worker.name}: ${work.error}. Pass --force to go on without saving it.`);
  const result = await salvageWorker(ctx, work);
  if (!result) return [];
  if (!result.ok) {
    throw new UserError(`Could not save ${worker.name}'s work to the hub; nothing was changed. Pass --force to drop it.`, {
      detail: result.failures.map((f) => `${f.from}: ${f.error}`).join('\n'),
    });
  }
  return renderSalvageResults([result]);
}

export async function startWorker(ctx: WorkerContext, worker: WorkerInfo): Promise<void> {
  if (worker.instance.status === 'Running') return;
  await ctx.queue.openSocket(worker.name);
  await startInstance(ctx.rt, worker.container);
  await waitForExec(ctx.rt, worker.container);
}

export async function stopWorker(ctx: WorkerContext, worker: WorkerInfo): Promise<void> {
  if (worker.instance.status !== 'Running') return;
  await stopInstance(ctx.rt, worker.container);
}

/** Back to the clean snapshot: the task goes back to the queue, the clone to the base branch. */
export async function resetWorker(ctx: WorkerContext, worker: WorkerInfo, options: { force: boolean }): Promise<{ released: string[]; saved: string[] }> {
  const saved = await saveWork(ctx, worker, options.force);
  const released = await releaseTasksOf(ctx.root, ctx.config, worker.name).catch(() => []);
  await restoreSnapshot(ctx.rt, worker.container, CLEAN_SNAPSHOT);
  await ctx.queue.openSocket(worker.name);
  await startInstance(ctx.rt, worker.container).catch(() => undefined); // restore may leave it stopped
  await waitForExec(ctx.rt, worker.container);
  return { released, saved };
}

/** Delete the container and its queue socket, after giving its task back. */
export async function removeWorker(ctx: WorkerContext, worker: WorkerInfo, options: { force: boolean }): Promise<{ released: string[]; saved: string[] }> {
  const saved = await saveWork(ctx, worker, options.force);
  const released = await releaseTasksOf(ctx.root, ctx.config, worker.name).catch(() => []);
  await deleteInstance(ctx.rt, worker.container);
  await ctx.queue.closeSocket(worker.name).catch(() => undefined);
  return { released, saved };
}
