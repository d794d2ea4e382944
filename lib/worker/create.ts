// Workers: one container each, a copy of the project's base (lib/worker/base.ts) given its own
// identity, created from the plan in plan.ts and base-plan.ts through the runtime gateway.
import type { Config } from '../config/load.ts';
import { UserError } from '../cli/errors.ts';
import type { StatePaths } from '../project/root.ts';
import { queueClient } from '../queue/daemon.ts';
import { addDevice, copyInstance, targetFor, deleteInstance, execOk, listInstances, pushText, setInstanceConfig, waitForExec, type Instance, type Runtime } from '../runtime/client.ts';
import { DEV_HOME, PROJECT_DIR } from '../agent/presets.ts';
import { finishBase, type BaseInfo } from './base.ts';
import { FROM_BASE_KEY, workerCopyConfig } from './base-plan.ts';
import { containerName, workerDevices, workerEnvFile, workerGitIdentity, workerIndex, workerRootDisk, type DeviceSpec, type PushFile } from './plan.ts';
import { revParse } from '../hub/git.ts';
import { accessFiles, checkReach, remoteAccess, waitForAddress } from './remote.ts';

/** The queue server opens and closes each worker's socket (its identity on the queue). */
export type QueueLink = {
  openSocket(worker: string): Promise<string>;
  closeSocket(worker: string): Promise<void>;
  /** A remote worker's credential: a new token (any earlier one stops working). */
  issueCredential(worker: string): Promise<string>;
  revokeCredential(worker: string): Promise<void>;
  revokeAll(): Promise<string[]>;
};

export function queueLink(root: string, config: Config): QueueLink {
  const client = queueClient(root, config);
  return {
    openSocket: async (worker) => (await client.addSocket(worker)).path,
    closeSocket: async (worker) => client.removeSocket(worker),
    issueCredential: async (worker) => (await client.addCredential(worker)).token,
    revokeCredential: async (worker) => {
      await client.removeCredential(worker).catch((err: { code?: string }) => {
        if (err?.code !== 'NOT_FOUND') throw err;
      });
    },
    revokeAll: async () => {
      const all = await client.listCredentials();
      for (const c of all) await client.removeCredential(c.worker);
      return all.map((c) => c.worker);
    },
  };
}

export type WorkerContext = { config: Config; root: string; paths: StatePaths; rt: Runtime; queue: QueueLink };

/** Container config key recording dev's uid/gid, so exec needs no lookup. */
export const DEV_UID_KEY = 'user.isollm.dev-uid';
export const DEV_GID_KEY = 'user.isollm.dev-gid';
/** Set when creation finished: a tagged container without it was interrupted half-way (Ctrl-C, crash). */
export const READY_KEY = 'user.isollm.ready';
/** setup_script may install packages: give it time. */
export const SETUP_SCRIPT_TIMEOUT_MS = 30 * 60_000;
/** One fetch of what the hub got since the base was built. */
const FETCH_TIMEOUT_MS = 5 * 60_000;

/** exec options that run as dev in the project clone. */
export function asDev(worker: WorkerInfo, cwd = PROJECT_DIR) {
  return { user: worker.devUid, group: worker.devGid, cwd, env: { HOME: DEV_HOME, USER: 'dev', LOGNAME: 'dev' } };
}

export type WorkerInfo = {
  name: string;
  container: string;
  instance: Instance;
  devUid: number;
  devGid: number;
  ready: boolean;
  /** The base it was copied from (null: made before bases). */
  base: string | null;
};

/** The project's workers, from one runtime call (listed by tag, not by name). */
export async function listWorkers(ctx: Pick<WorkerContext, 'rt' | 'config'>, options: { state?: boolean } = {}): Promise<WorkerInfo[]> {
  return workerInfos(await listInstances(ctx.rt, ctx.config.project, undefined, options));
}

/** The workers among a project's instances, in name order. */
export function workerInfos(instances: Instance[]): WorkerInfo[] {
  return instances
    .filter((i) => i.worker)
    .map((i) => ({
      name: i.worker!,
      container: i.name,
      instance: i,
      devUid: Number(i.config[DEV_UID_KEY] ?? 1000),
      devGid: Number(i.config[DEV_GID_KEY] ?? 1000),
      ready: i.config[READY_KEY] === 'true',
      base: i.config[FROM_BASE_KEY] ?? null,
    }))
    .sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}

export async function findWorker(ctx: Pick<WorkerContext, 'rt' | 'config'>, name: string): Promise<WorkerInfo> {
  const workers = await listWorkers(ctx);
  const worker = workers.find((w) => w.name === name || w.container === name);
  if (!worker) {
    const known = workers.map((w) => w.name).join(', ') || 'none';
    throw new UserError(`No worker "${name}" in project ${ctx.config.project} (workers: ${known}). See \`isollm worker list\`.`);
  }
  return worker;
}

export type Progress = (worker: string, step: string) => void;

/**
 * A remote worker's copy of the base's clone: its git identity, its hub URLs (both HTTPS, with its
 * credential), one fetch, the base branch. Constant text; the values come in as arguments.
 */
const REMOTE_IDENTITY_SCRIPT =
  'git config --global user.name "$1" && git config --global user.email "$2" && git remote set-url origin "$4" && git config remote.origin.pushurl "$4" && git fetch --quiet --prune origin && git checkout --quiet -B "$3" "origin/$3"';
/** What the hub got since the base was built, and the base branch at it. Constant text; the branch is $1. */
const FETCH_SCRIPT = 'git fetch --quiet --prune origin && git checkout --quiet -B "$1" "origin/$1"';

/**
 * Create one worker as a copy of the project's base, given its own identity: name and tags, its
 * queue socket (mounted before the start, in the same request as the copy) and ports, hostname (its
 * name: the base has no /etc/hostname), settings and git identity (files of its own); its clone is
 * brought up to date with one fetch when the hub's base branch moved since the base was built. It
 * is ready once it runs (exec works) with its files in place, as a bare launch is: the rest of its
 * boot, which brings up the queue's socket unit inside, goes on in the background, and the helpers
 * in it wait for the queue to listen (templates/isollm-task). Its clean state is the base itself
 * (reset copies it again), so no snapshot is taken. Any failure rolls it back.
 */
export async function createWorker(ctx: WorkerContext, worker: string, base: BaseInfo, progress: Progress = () => {}, copied: () => void = () => {}): Promise<void> {
  const { config, rt } = ctx;
  const container = containerName(config.project, worker);
  // A remote worker: its credential instead of a socket (its identity on the queue and the hub).
  const access = rt.remote ? remoteAccess(ctx.paths.dir, config) : null;
  const socket = access ? null : await ctx.queue.openSocket(worker);
  const token = access ? await ctx.queue.issueCredential(worker) : null;
  const { queue, ...ports }: Record<string, DeviceSpec> = socket ? workerDevices(config, socket, worker, base.queueLink) : {};
  const mounted = !access && base.queueLink === 'mount';
  const dev = { user: base.devUid, group: base.devGid, cwd: PROJECT_DIR, env: { HOME: DEV_HOME, USER: 'dev' }, timeout: FETCH_TIMEOUT_MS };
  const env = workerEnvFile(config, worker, access);
  try {
    progress(worker, `copying ${base.name}`);
    await copyInstance(rt, {
      source: base.name,
      name: container,
      config: workerCopyConfig(config, worker, base.name),
      root: { props: workerRootDisk(config), own: base.ownRoot },
      // The queue's mount goes in before the start (it costs what any mount costs). Proxy devices take
      // about a second each to start (LXD 5.0), so they are added to the running copy while the other
      // steps run. One at a time: each add rewrites the instance's config.
      devices: mounted && queue ? { queue } : {},
      target: targetFor(rt, workerIndex(worker)),
      profiles: base.profiles,
      copied,
    });
    progress(worker, 'identity, queue, git fetch');
    if (access && token) {
      await waitForExec(rt, container);
      await Promise.all([waitForAddress(rt, container), pushText(rt, container, env.path, env.content, { uid: 0, gid: 0, mode: env.mode })]);
      await pushFiles(ctx, container, accessFiles(access, token), { uid: base.devUid, gid: base.devGid });
      await execOk(rt, container, ['sh', '-c', REMOTE_IDENTITY_SCRIPT, 'sh', worker, `${worker}@isollm.local`, config.git.base_branch, access.hubUrl], dev);
      await checkReach(rt, container, access, dev);
    } else {
      const hubMoved = async () => base.commit === null || base.commit !== (await revParse(config.git.hub, `refs/heads/${config.git.base_branch}`));
      const identity = workerGitIdentity(worker);
      await Promise.all([
        (async () => {
          const later = mounted ? ports : { ...(queue ? { queue } : {}), ...ports };
          for (const [name, device] of Object.entries(later)) await addDevice(rt, container, name, device);
        })(),
        pushText(rt, container, env.path, env.content, { uid: 0, gid: 0, mode: env.mode }),
        pushText(rt, container, identity.path, identity.content, { uid: base.devUid, gid: base.devGid, mode: identity.mode }),
        (async () => {
          await waitForExec(rt, container);
          if (await hubMoved()) await execOk(rt, container, ['sh', '-c', FETCH_SCRIPT, 'sh', config.git.base_branch], dev);
        })(),
      ]);
    }
    await setInstanceConfig(rt, container, { [READY_KEY]: 'true' });
  } catch (err) {
    copied();
    progress(worker, 'rolling back');
    await deleteInstance(rt, container).catch(() => undefined);
    await (access ? ctx.queue.revokeCredential(worker) : ctx.queue.closeSocket(worker)).catch(() => undefined);
    throw err;
  }
}

/**
 * Give a stopped-then-started remote worker a fresh credential (`down` revoked the old one), or open
 * a local worker's socket. The container must be running.
 */
export async function attachWorker(ctx: WorkerContext, worker: WorkerInfo): Promise<void> {
  if (!ctx.rt.remote) return void (await ctx.queue.openSocket(worker.name));
  const access = remoteAccess(ctx.paths.dir, ctx.config)!;
  const token = await ctx.queue.issueCredential(worker.name);
  await pushFiles(ctx, worker.container, accessFiles(access, token), { uid: worker.devUid, gid: worker.devGid });
}

/** Close a worker's door to the queue and hub: its socket, or its credential. */
export async function detachWorker(ctx: WorkerContext, worker: string): Promise<void> {
  await (ctx.rt.remote ? ctx.queue.revokeCredential(worker) : ctx.queue.closeSocket(worker));
}

type Dev = { uid: number; gid: number };

export async function pushFiles(ctx: Pick<WorkerContext, 'rt'>, container: string, files: PushFile[], dev: Dev): Promise<void> {
  const dirs = [...new Set(files.map((f) => f.path.slice(0, f.path.lastIndexOf('/'))))];
  // Directories under dev's home are made by dev, so every new parent (e.g. ~/.config) is dev's too.
  const devDirs = dirs.filter((d) => d.startsWith(DEV_HOME + '/'));
  const rootDirs = dirs.filter((d) => !devDirs.includes(d));
  await Promise.all([
    rootDirs.length ? execOk(ctx.rt, container, ['mkdir', '-p', ...rootDirs]) : null,
    devDirs.length ? execOk(ctx.rt, container, ['mkdir', '-p', ...devDirs], { user: dev.uid, group: dev.gid }) : null,
  ]);
  // Side by side: each is a request (and a file operation in the container) of its own.
  await Promise.all(files.map((f) => pushText(ctx.rt, container, f.path, f.content, { ...(f.owner === 'dev' ? { uid: dev.uid, gid: dev.gid } : { uid: 0, gid: 0 }), mode: f.mode })));
}

/**
 * Create workers from `base` in parallel; reports every failure, keeps the ones that worked. A base
 * its build left running is finished (measured, stopped) once every copy is made, while the copies
 * boot: `baseFinished` settles when that is done (the caller holds the base lock until then).
 */
export async function createWorkers(ctx: WorkerContext, names: string[], base: BaseInfo, progress?: Progress): Promise<{ created: WorkerInfo[]; failed: { name: string; error: unknown }[]; baseFinished: Promise<void> }> {
  const copied: (() => void)[] = [];
  const copies = names.map(() => new Promise<void>((resolve) => copied.push(resolve)));
  // A stop that fails leaves it running: the next ensureBase finishes it.
  const baseFinished = base.running ? Promise.all(copies).then(() => finishBase(ctx, base)).then(() => undefined, () => undefined) : Promise.resolve();
  const results = await Promise.allSettled(names.map((n, i) => createWorker(ctx, n, base, progress, copied[i])));
  const failed: { name: string; error: unknown }[] = [];
  results.forEach((r, i) => r.status === 'rejected' && failed.push({ name: names[i], error: r.reason }));
  const made = new Set(names.filter((_, i) => results[i].status === 'fulfilled'));
  const created = made.size ? (await listWorkers(ctx, { state: false })).filter((w) => made.has(w.name)) : [];
  return { created, failed, baseFinished };
}

/**
 * Delete workers whose creation was interrupted (no READY_KEY): they have no clone or snapshot to
 * trust, and nothing of value (an agent never ran in them). Returns their names.
 */
export async function removeHalfMade(ctx: WorkerContext, workers: WorkerInfo[]): Promise<string[]> {
  const broken = workers.filter((w) => !w.ready);
  for (const w of broken) {
    await deleteInstance(ctx.rt, w.container);
    await detachWorker(ctx, w.name).catch(() => undefined);
  }
  return broken.map((w) => w.name);
}
