// What happens to an existing worker: start, stop, reset to its clean snapshot, remove — always
// giving its task back to the queue first, and never dropping unsaved work unless told to.
import { loadConfig, type Config } from './config.ts';
import { UserError } from './errors.ts';
import { statePaths } from './project.ts';
import { queueClient } from './queue/daemon.ts';
import { connectRuntime, deleteInstance, execIn, restoreSnapshot, startInstance, stopInstance, waitForExec } from './runtime.ts';
import { PROJECT_DIR, DEV_HOME } from './agent.ts';
import { CLEAN_SNAPSHOT } from './worker-plan.ts';
import { queueLink, type WorkerContext, type WorkerInfo } from './worker.ts';

/** Everything a worker command needs, from the project root. */
export async function workerContext(root: string, config: Config = loadConfig(root)): Promise<WorkerContext> {
  const rt = await connectRuntime(config.runtime.kind);
  return { config, root, paths: statePaths(root), rt, queue: queueLink(root, config) };
}

/** exec options that run as dev in the project clone. */
export function asDev(worker: WorkerInfo, cwd = PROJECT_DIR) {
  return { user: worker.devUid, group: worker.devGid, cwd, env: { HOME: DEV_HOME, USER: 'dev', LOGNAME: 'dev' } };
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

export type UnsavedWork = { uncommitted: string[]; unpushed: number; branch: string | null };

/** Uncommitted files and commits the hub does not have, in the worker's clone. */
export async function findUnsavedWork(ctx: WorkerContext, worker: WorkerInfo): Promise<UnsavedWork> {
  const git = async (...args: string[]) => execIn(ctx.rt, worker.container, ['git', ...args], asDev(worker));
  await git('fetch', '--quiet', 'origin');
  const status = await git('status', '--porcelain=v1', '-z', '--untracked-files=all');
  if (status.exitCode !== 0) return { uncommitted: [], unpushed: 0, branch: null };
  const uncommitted = status.stdout.split('\0').filter(Boolean).map((entry) => entry.slice(3));
  const unpushed = await git('rev-list', '--count', '--branches', '--not', '--remotes=origin');
  const branch = await git('symbolic-ref', '--quiet', '--short', 'HEAD');
  return { uncommitted, unpushed: Number(unpushed.stdout.trim()) || 0, branch: branch.exitCode === 0 ? branch.stdout.trim() : null };
}

export function describeUnsaved(w: UnsavedWork): string {
  const parts = [];
  if (w.uncommitted.length) parts.push(`${w.uncommitted.length} uncommitted file(s)`);
  if (w.unpushed) parts.push(`${w.unpushed} commit(s) not on the hub`);
  return parts.join(', ');
}

/** Refuse to drop unsaved work unless forced (salvage comes with `down`). */
async function guardUnsaved(ctx: WorkerContext, worker: WorkerInfo, force: boolean, action: string): Promise<void> {
  if (force || worker.instance.status !== 'Running') return;
  const unsaved = await findUnsavedWork(ctx, worker);
  const what = describeUnsaved(unsaved);
  if (what) {
    throw new UserError(`${worker.name} has unsaved work (${what}${unsaved.branch ? ` on ${unsaved.branch}` : ''}); ${action} would lose it. Push it from the worker (\`isollm worker shell ${worker.name}\`), or pass --force to drop it.`);
  }
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
export async function resetWorker(ctx: WorkerContext, worker: WorkerInfo, options: { force: boolean }): Promise<{ released: string[] }> {
  await guardUnsaved(ctx, worker, options.force, 'reset');
  const released = await releaseTasksOf(ctx.root, ctx.config, worker.name).catch(() => []);
  await restoreSnapshot(ctx.rt, worker.container, CLEAN_SNAPSHOT);
  await ctx.queue.openSocket(worker.name);
  await startInstance(ctx.rt, worker.container).catch(() => undefined); // restore may leave it stopped
  await waitForExec(ctx.rt, worker.container);
  return { released };
}

/** Delete the container and its queue socket, after giving its task back. */
export async function removeWorker(ctx: WorkerContext, worker: WorkerInfo, options: { force: boolean }): Promise<{ released: string[] }> {
  await guardUnsaved(ctx, worker, options.force, 'remove');
  const released = await releaseTasksOf(ctx.root, ctx.config, worker.name).catch(() => []);
  await deleteInstance(ctx.rt, worker.container);
  await ctx.queue.closeSocket(worker.name).catch(() => undefined);
  return { released };
}
