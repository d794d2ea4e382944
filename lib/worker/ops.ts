// What happens to an existing worker: start, stop, reset (copied again from the current base),
// remove — always giving its task back to the queue first, and never dropping unsaved work unless
// told to.
import type { Config } from '../config/load.ts';
import { errorMessage, UserError } from '../cli/errors.ts';
import { statePaths } from '../project/root.ts';
import { queueClient } from '../queue/daemon.ts';
import { connectRuntime, runtimeOptions } from '../runtime/choose.ts';
import { deleteInstance, startInstance, stopInstance, waitForExec } from '../runtime/client.ts';
import { attachWorker, createWorker, detachWorker, queueLink, type Progress, type WorkerContext, type WorkerInfo } from './create.ts';
import { ensureBase, findCurrentBase, isFromBase, pruneBases, withBaseLock, type BaseHooks } from './base.ts';
import { inspectWorkers, salvageWorker, stopAgents } from './salvage.ts';
import { renderSalvageResults } from './salvage-report.ts';
export { asDev } from './create.ts';

/** Everything a worker command needs, from the project root. */
export async function workerContext(root: string, config: Config): Promise<WorkerContext> {
  const rt = await connectRuntime(runtimeOptions(config));
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
  if (worker.instance.status !== 'Running') {
    if (discard) return [];
    // A stopped worker's clone still holds its work, and the container is about to go: start it to look.
    try {
      await startWorker(ctx, worker);
    } catch (err) {
      throw new UserError(`Could not start ${worker.name} to look for its unsaved work: ${errorMessage(err).split('\n')[0]}. Pass --force to go on without saving it.`, { cause: err });
    }
    worker.instance.status = 'Running';
    try {
      return await saveRunning(ctx, worker, false);
    } catch (err) {
      // "Nothing was changed": back to sleep, as it was found.
      await stopWorker(ctx, worker).catch(() => undefined);
      throw err;
    }
  }
  return saveRunning(ctx, worker, discard);
}

async function saveRunning(ctx: WorkerContext, worker: WorkerInfo, discard: boolean): Promise<string[]> {
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
  if (!ctx.rt.remote) await ctx.queue.openSocket(worker.name);
  await startInstance(ctx.rt, worker.container);
  await waitForExec(ctx.rt, worker.container);
  // A remote worker's credential was revoked when it stopped: a new one, now it can be written.
  if (ctx.rt.remote) await attachWorker(ctx, worker);
}

export async function stopWorker(ctx: WorkerContext, worker: WorkerInfo): Promise<void> {
  if (worker.instance.status !== 'Running') return;
  await stopInstance(ctx.rt, worker.container);
}

export type ResetOptions = { force: boolean } & BaseHooks & { workerProgress?: Progress; waiting?: (line: string) => void };

/**
 * Back to a clean state: the work is saved to the hub, the task goes back to the queue, and the
 * worker is copied again from the current base (built first when what goes into it changed, before
 * anything else changes): the clean state of the base it came from, or of the new one.
 */
export async function resetWorker(ctx: WorkerContext, worker: WorkerInfo, options: ResetOptions): Promise<{ released: string[]; saved: string[]; remadeFrom: string | null }> {
  return withBaseLock(ctx, 'worker reset', async () => {
    // Not options.force: that drops unsaved work; it never forces a rebuild.
    const { base } = await ensureBase(ctx, { building: options.building, progress: options.progress });
    const saved = await saveWork(ctx, worker, options.force);
    const released = await releaseTasksOf(ctx.root, ctx.config, worker.name).catch(() => []);
    await deleteInstance(ctx.rt, worker.container);
    await createWorker(ctx, worker.name, base, options.workerProgress);
    await pruneBases(ctx, base.name);
    return { released, saved, remadeFrom: isFromBase(worker, base) ? null : base.name };
  }, options.waiting);
}

/** Delete the container and its queue socket, after giving its task back. */
export async function removeWorker(ctx: WorkerContext, worker: WorkerInfo, options: { force: boolean }): Promise<{ released: string[]; saved: string[] }> {
  const saved = await saveWork(ctx, worker, options.force);
  const released = await releaseTasksOf(ctx.root, ctx.config, worker.name).catch(() => []);
  await deleteInstance(ctx.rt, worker.container);
  await detachWorker(ctx, worker.name).catch(() => undefined);
  // The base it came from may be used by no one now.
  await withBaseLock(ctx, 'worker remove', async () => pruneBases(ctx, (await findCurrentBase(ctx).catch(() => null))?.name ?? null));
  return { released, saved };
}
