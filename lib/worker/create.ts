// Workers: one container each, created from the plan in plan.ts through the runtime gateway (lib/runtime/client.ts).
import { hubOwner } from '../hub/hub.ts';
import { grantHubAccess, hostUidOf } from '../hub/access.ts';
import type { Config } from '../config/load.ts';
import { UserError } from '../cli/errors.ts';
import type { StatePaths } from '../project/root.ts';
import { queueClient } from '../queue/daemon.ts';
import {
  createSnapshot,
  deleteInstance,
  execIn,
  execOk,
  launchInstance,
  listInstances,
  pushText,
  listStoragePools,
  FAST_POOL,
  addDevice,
  isIdmapUnsupported,
  setInstanceConfig,
  waitForExec,
  type Instance,
  type Runtime,
} from '../runtime/client.ts';
import { AGENT_DIR, DEV_HOME, PROJECT_DIR } from '../agent/presets.ts';
import {
  baseFiles,
  CLEAN_SNAPSHOT,
  containerName,
  HUB_MOUNT,
  workerConfigKeys,
  workerDevices,
  hubDevice,
  hubPushUrl,
  type PushFile,
} from './plan.ts';

/** The queue server opens and closes each worker's socket (its identity on the queue). */
export type QueueLink = {
  openSocket(worker: string): Promise<string>;
  closeSocket(worker: string): Promise<void>;
};

export function queueLink(root: string, config: Config): QueueLink {
  const client = queueClient(root, config);
  return {
    openSocket: async (worker) => (await client.addSocket(worker)).path,
    closeSocket: async (worker) => client.removeSocket(worker),
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
const CLONE_TIMEOUT_MS = 10 * 60_000;

/** exec options that run as dev in the project clone. */
export function asDev(worker: WorkerInfo, cwd = PROJECT_DIR) {
  return { user: worker.devUid, group: worker.devGid, cwd, env: { HOME: DEV_HOME, USER: 'dev', LOGNAME: 'dev' } };
}

export type WorkerInfo = { name: string; container: string; instance: Instance; devUid: number; devGid: number; ready: boolean };

/** The project's workers, from one runtime call (listed by tag, not by name). */
export async function listWorkers(ctx: Pick<WorkerContext, 'rt' | 'config'>): Promise<WorkerInfo[]> {
  const instances = await listInstances(ctx.rt, ctx.config.project);
  return instances
    .filter((i) => i.worker)
    .map((i) => ({
      name: i.worker!,
      container: i.name,
      instance: i,
      devUid: Number(i.config[DEV_UID_KEY] ?? 1000),
      devGid: Number(i.config[DEV_GID_KEY] ?? 1000),
      ready: i.config[READY_KEY] === 'true',
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
 * Create one worker: launch, dev user, hub mount, queue proxy, setup_script, clone, identity,
 * helpers, clean snapshot. Any failure rolls the container back (and closes its socket).
 */
export async function createWorker(ctx: WorkerContext, worker: string, progress: Progress = () => {}, storage?: string): Promise<WorkerInfo> {
  const { config, rt } = ctx;
  const container = containerName(config.project, worker);
  const socket = await ctx.queue.openSocket(worker);
  try {
    progress(worker, 'launching');
    const devices = workerDevices(config, socket, worker);
    await launchInstance(rt, { name: container, image: config.image, config: workerConfigKeys(config, worker), devices, storage });
    await waitForExec(rt, container);
    progress(worker, 'creating user dev');
    const dev = await ensureDevUser(ctx, container);
    await setInstanceConfig(rt, container, { [DEV_UID_KEY]: String(dev.uid), [DEV_GID_KEY]: String(dev.gid) });
    progress(worker, 'mounting the hub');
    await mountHub(ctx, container, dev);
    if (config.setup_script) {
      progress(worker, 'running setup_script');
      const output = await runSetupScript(ctx, container, worker);
      for (const line of output.split('\n').filter(Boolean)) progress(worker, `  │ ${line}`);
    }
    progress(worker, 'installing helpers');
    await pushFiles(ctx, container, baseFiles(config, worker), dev);
    progress(worker, 'cloning');
    await cloneProject(ctx, container, worker, dev);
    progress(worker, 'snapshot');
    // Marked before the snapshot, so a reset to it keeps the mark.
    await setInstanceConfig(rt, container, { [READY_KEY]: 'true' });
    await createSnapshot(rt, container, CLEAN_SNAPSHOT);
    return { name: worker, container, instance: (await listInstances(rt, config.project)).find((i) => i.name === container)!, devUid: dev.uid, devGid: dev.gid, ready: true };
  } catch (err) {
    progress(worker, 'rolling back');
    await deleteInstance(rt, container).catch(() => undefined);
    await ctx.queue.closeSocket(worker).catch(() => undefined);
    throw err;
  }
}


type Dev = { uid: number; gid: number };

/**
 * The hub at /repo.git, read-only, readable by dev: an idmapped mount (shift=true) where the runtime can do it,
 * else a plain mount shared with dev's host uid through ACLs (lib/hub/access.ts).
 */
async function mountHub(ctx: WorkerContext, container: string, dev: Dev): Promise<void> {
  const { rt, config } = ctx;
  try {
    await addDevice(rt, container, 'hub', hubDevice(config, true));
    await joinHubGroup(ctx, container, dev);
  } catch (err) {
    if (!isIdmapUnsupported(err)) throw err;
    const instance = (await listInstances(rt, config.project)).find((i) => i.name === container);
    await grantHubAccess(config.git.hub, hostUidOf(instance?.config ?? {}, dev.uid));
    await addDevice(rt, container, 'hub', hubDevice(config, false));
  }
}

/**
 * With an idmapped mount the hub shows its host owner. When dev has another uid (uid 1000 is
 * `ubuntu` on ubuntu images; isollm run as root), dev joins the hub's group, which git keeps writable.
 */
async function joinHubGroup(ctx: WorkerContext, container: string, dev: Dev): Promise<void> {
  const { rt } = ctx;
  const hub = hubOwner(ctx.config.git.hub);
  if (dev.uid === hub.uid) return;
  const group = await execIn(rt, container, ['getent', 'group', String(hub.gid)]);
  let groupName = group.stdout.split(':')[0];
  if (group.exitCode !== 0 || !groupName) {
    groupName = 'isollm-hub';
    await execOk(rt, container, ['groupadd', '--gid', String(hub.gid), groupName]);
  }
  await execOk(rt, container, ['usermod', '--append', '--groups', groupName, 'dev']);
}



/**
 * User `dev`. It takes the uid that owns the hub on the host when that uid is free in the image, so
 * with shift=true the hub is dev's own; otherwise (uid 1000 is `ubuntu` on ubuntu images, uid 0 when
 * isollm runs as root) dev joins the group that owns the hub, which is group-writable.
 */
async function ensureDevUser(ctx: WorkerContext, container: string): Promise<Dev> {
  const { rt } = ctx;
  const hub = hubOwner(ctx.config.git.hub);
  const exists = await execIn(rt, container, ['id', '-u', 'dev']);
  if (exists.exitCode !== 0) {
    const uidFree = hub.uid >= 1000 && (await execIn(rt, container, ['getent', 'passwd', String(hub.uid)])).exitCode !== 0;
    await execOk(rt, container, ['useradd', '--create-home', '--shell', '/bin/bash', '--user-group', ...(uidFree ? ['--uid', String(hub.uid)] : []), 'dev']);
  }
  const uid = Number((await execOk(rt, container, ['id', '-u', 'dev'])).trim());
  const gid = Number((await execOk(rt, container, ['id', '-g', 'dev'])).trim());
  await pushText(rt, container, '/etc/sudoers.d/isollm-dev', 'dev ALL=(ALL) NOPASSWD:ALL\n', { uid: 0, gid: 0, mode: 0o440 });
  // The hub belongs to a host uid, which git calls dubious ownership; it is ours.
  await execOk(rt, container, ['git', 'config', '--system', '--add', 'safe.directory', HUB_MOUNT]);
  return { uid, gid };
}

/** Run setup_script as root; returns its output. A script without a `#!` line runs with sh. */
async function runSetupScript(ctx: WorkerContext, container: string, worker: string): Promise<string> {
  const target = '/root/isollm-setup.sh';
  const script = ctx.config.setup_script!;
  await pushText(ctx.rt, container, target, script, { uid: 0, gid: 0, mode: 0o700 });
  const command = script.startsWith('#!') ? [target] : ['sh', target];
  // One stream, in order: the client can drop the tail of a second stream when the command exits
  // (seen under load). The sh -c text is constant; the command comes in as arguments.
  const merged = ['sh', '-c', 'exec "$@" 2>&1', 'sh', ...command];
  const r = await execIn(ctx.rt, container, merged, { cwd: '/root', timeout: SETUP_SCRIPT_TIMEOUT_MS });
  if (r.exitCode !== 0) {
    throw new UserError(`setup_script failed in ${worker} (exit ${r.exitCode}); the worker was rolled back. Its output:`, {
      detail: (r.stdout + r.stderr).trim(),
    });
  }
  return (r.stdout + r.stderr).trim();
}

export async function pushFiles(ctx: Pick<WorkerContext, 'rt'>, container: string, files: PushFile[], dev: Dev): Promise<void> {
  const dirs = [...new Set(files.map((f) => f.path.slice(0, f.path.lastIndexOf('/'))))];
  // Directories under dev's home are made by dev, so every new parent (e.g. ~/.config) is dev's too.
  const devDirs = dirs.filter((d) => d.startsWith(DEV_HOME + '/'));
  const rootDirs = dirs.filter((d) => !devDirs.includes(d));
  if (rootDirs.length) await execOk(ctx.rt, container, ['mkdir', '-p', ...rootDirs]);
  if (devDirs.length) await execOk(ctx.rt, container, ['mkdir', '-p', ...devDirs], { user: dev.uid, group: dev.gid });
  for (const f of files) {
    const owner = f.owner === 'dev' ? { uid: dev.uid, gid: dev.gid } : { uid: 0, gid: 0 };
    await pushText(ctx.rt, container, f.path, f.content, { ...owner, mode: f.mode });
  }
}

async function cloneProject(ctx: WorkerContext, container: string, worker: string, dev: Dev): Promise<void> {
  const { rt, config } = ctx;
  const asDev = { user: dev.uid, group: dev.gid, cwd: DEV_HOME, env: { HOME: DEV_HOME, USER: 'dev' } };
  await execOk(rt, container, ['mkdir', '-p', AGENT_DIR], asDev);
  await execOk(rt, container, ['git', 'clone', '--quiet', '--branch', config.git.base_branch, HUB_MOUNT, PROJECT_DIR], { ...asDev, timeout: CLONE_TIMEOUT_MS });
  // Fetches read the mounted hub; pushes go through the ref policy on this worker's own socket.
  await execOk(rt, container, ['git', '-C', PROJECT_DIR, 'config', 'remote.origin.pushurl', hubPushUrl(config)], asDev);
  await execOk(rt, container, ['git', 'config', '--global', 'user.name', worker], asDev);
  await execOk(rt, container, ['git', 'config', '--global', 'user.email', `${worker}@isollm.local`], asDev);
}

/** Create workers in parallel; reports every failure, keeps the ones that worked. */
export async function createWorkers(ctx: WorkerContext, names: string[], progress?: Progress): Promise<{ created: WorkerInfo[]; failed: { name: string; error: unknown }[] }> {
  // isollm's copy-on-write pool where setup made one: clones and snapshots in a blink.
  const storage = (await listStoragePools(ctx.rt)).includes(FAST_POOL) ? FAST_POOL : undefined;
  const results = await Promise.allSettled(names.map((n) => createWorker(ctx, n, progress, storage)));
  const created: WorkerInfo[] = [];
  const failed: { name: string; error: unknown }[] = [];
  results.forEach((r, i) => (r.status === 'fulfilled' ? created.push(r.value) : failed.push({ name: names[i], error: r.reason })));
  return { created, failed };
}

/**
 * Delete workers whose creation was interrupted (no READY_KEY): they have no clone or snapshot to
 * trust, and nothing of value (an agent never ran in them). Returns their names.
 */
export async function removeHalfMade(ctx: WorkerContext, workers: WorkerInfo[]): Promise<string[]> {
  const broken = workers.filter((w) => !w.ready);
  for (const w of broken) {
    await deleteInstance(ctx.rt, w.container);
    await ctx.queue.closeSocket(w.name).catch(() => undefined);
  }
  return broken.map((w) => w.name);
}
