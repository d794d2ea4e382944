// The project's base: one container holding everything that is the same for every worker (dev
// user, hub mount, setup_script, the agent CLI, helpers, a clone of the hub), built once and kept
// stopped (from when the copies made right after its build are made). Workers are copies of it
// (lib/worker/create.ts). Its key says what went into it; a base whose key is not the current one
// is replaced by the next build and removed once no worker uses it.
import crypto from 'node:crypto';
import { hubOwner } from '../hub/hub.ts';
import { grantHubAccess, hostUidOf } from '../hub/access.ts';
import { agentInstall } from '../agent/install.ts';
import { AGENT_DIR, DEV_HOME, PROJECT_DIR } from '../agent/presets.ts';
import { UserError } from '../cli/errors.ts';
import { lockHolder, waitForLock } from '../project/session.ts';
import { gitNothrow } from '../hub/git.ts';
import {
  addDevice,
  deleteInstance,
  execIn,
  execOk,
  execStream,
  FAST_POOL,
  isIdmapUnsupported,
  launchInstance,
  listInstances,
  listStoragePools,
  lookupImage,
  parseImageRef,
  pushFile,
  pullText,
  pushText,
  setInstanceConfig,
  stopInstance,
  waitForExec,
  type Instance,
} from '../runtime/client.ts';
import { WORKER_KEY } from '../runtime/argv.ts';
import { BASE_COMMIT_KEY, BASE_INPUTS_KEY, BASE_KEY, BASE_SIZE_KEY, QUEUE_LINK_KEY, baseInputs, baseKey, baseSources, baseLaunchConfig, baseName, baseReadyConfig, changedInputs, FROM_BASE_KEY, MASKED_GENERATORS, MASKED_UNITS, ROLE_KEY, type BaseInputs } from './base-plan.ts';
import { prepareRegistryInstall, pushHomePackages } from './agent-registry.ts';
import { DEV_GID_KEY, DEV_UID_KEY, pushFiles, SETUP_SCRIPT_TIMEOUT_MS, type WorkerContext } from './create.ts';
import { helperFiles, HUB_MOUNT, hubDevice, hubPushUrl, queueForwarderFiles, WORKER_GITCONFIG, type QueueLinkKind } from './plan.ts';
import { accessFiles, CURLRC, ensureNetwork, GIT_INCLUDE, remoteAccess } from './remote.ts';

const CLONE_TIMEOUT_MS = 10 * 60_000;
/** As dev: the agent's dir ($1), a clone of the hub ($3) at the base branch ($2) in $4, its push URL ($5), the include of the worker's git identity ($6); prints the commit. Constant text. */
const CLONE_SCRIPT = 'mkdir -p "$1" && git clone --quiet --branch "$2" "$3" "$4" && cd "$4" && git config remote.origin.pushurl "$5" && git config --global --add include.path "$6" && git rev-parse HEAD';

export type BaseInfo = {
  name: string;
  /** Null while it is being built (or when a build was interrupted). */
  key: string | null;
  inputs: string | undefined;
  createdAt: Date | null;
  devUid: number;
  devGid: number;
  /** It has its own root disk device (launched on a named pool), not the profile's. */
  ownRoot: boolean;
  /** How its copies reach the queue. */
  queueLink: QueueLinkKind;
  /** The image it was made from (fingerprint), the commit of its clone, its size: null when not recorded. */
  image: string | null;
  commit: string | null;
  sizeBytes: number | null;
  /** Left running by its build for the copies made right after it (finishBase stops it). */
  running: boolean;
  /** Its profiles, which its copies get (null: not listed, the copy reads them). */
  profiles: string[] | null;
};

/** The project's bases among its instances, newest first. */
export function basesOf(instances: Instance[]): BaseInfo[] {
  return instances
    .filter((i) => i.config[ROLE_KEY] === 'base' && !i.config[WORKER_KEY])
    .map((i) => ({
      name: i.name,
      key: i.config[BASE_KEY] || null,
      inputs: i.config[BASE_INPUTS_KEY],
      createdAt: i.createdAt,
      devUid: Number(i.config[DEV_UID_KEY] ?? 1000),
      devGid: Number(i.config[DEV_GID_KEY] ?? 1000),
      ownRoot: 'root' in i.devices,
      queueLink: i.config[QUEUE_LINK_KEY] === 'mount' ? ('mount' as const) : ('proxy' as const),
      image: i.config['volatile.base_image'] ?? null,
      commit: i.config[BASE_COMMIT_KEY] ?? null,
      sizeBytes: i.config[BASE_SIZE_KEY] && /^\d+$/.test(i.config[BASE_SIZE_KEY]) ? Number(i.config[BASE_SIZE_KEY]) : null,
      running: i.status !== 'Stopped',
      profiles: i.profiles,
    }))
    .sort((a, b) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0));
}

/**
 * Take the project's base lock (.isollm/base.lock): building, copying and removing bases (and
 * choosing new workers' names) happen one command at a time, so no command copies from, or deletes,
 * a base another is building. Waits while a live command holds it (`onWait` is told, once); a lock
 * left by a process that died is taken over. Returns the function that releases it.
 */
export async function lockBases(ctx: Pick<WorkerContext, 'paths'>, command: string, onWait?: (line: string) => void): Promise<() => void> {
  return waitForLock(ctx.paths.baseLock, command, {
    onWait: (h) => onWait?.(h ? `Waiting for \`isollm ${h.command}\` (pid ${h.pid}), which is building or copying the project's base…` : "Waiting for another isollm command on the project's base…"),
  });
}

/** `work` with the base lock held (see lockBases). */
export async function withBaseLock<T>(ctx: Pick<WorkerContext, 'paths'>, command: string, work: () => Promise<T>, onWait?: (line: string) => void): Promise<T> {
  const release = await lockBases(ctx, command, onWait);
  try {
    return await work();
  } finally {
    release();
  }
}

/** What the base would be made of now, and its key. The hub must exist (its owner is an input). */
export async function currentBaseKey(ctx: Pick<WorkerContext, 'rt' | 'config'>, imageFingerprint?: string): Promise<{ key: string; inputs: BaseInputs }> {
  const { config } = ctx;
  const image = imageFingerprint ?? (await lookupImage(ctx.rt, config.image))?.fingerprint ?? config.image;
  const inputs = baseInputs(baseSources(config, image, hubOwner(config.git.hub)));
  return { key: baseKey(inputs), inputs };
}

export type BaseHooks = {
  /** Called before a build with why it is needed ("no base yet", "setup_script changed"…). */
  building?(reason: string, name: string): void;
  /** Each step of the build, and each line setup_script and the agent install print. */
  progress?(step: string): void;
};

/**
 * The project's current base: the newest finished one whose key is the current key, else a new one
 * built now (also when `force`). Bases left half-made by an interrupted build are removed first.
 * With `forCopies` a base just built is left running: the caller copies it at once (a running
 * container copies as well as a stopped one, and its stop is then no longer in the way) and hands it
 * to createWorkers, which finishes it. Otherwise it comes back stopped, as does one a crash left running.
 * A build waits for `after` (e.g. the queue starting) once its container runs, and fails with it.
 * The caller holds the base lock (lockBases), so a base without a key is never one being built.
 */
export async function ensureBase(ctx: WorkerContext, options: { force?: boolean; forCopies?: boolean; after?: Promise<unknown> } & BaseHooks = {}): Promise<{ base: BaseInfo; built: boolean }> {
  const bases = basesOf(await listInstances(ctx.rt, ctx.config.project));
  for (const half of bases.filter((b) => !b.key)) await deleteInstance(ctx.rt, half.name);
  const finished = bases.filter((b) => b.key);
  const { key, inputs } = await currentBaseKey(ctx);
  const current = finished.find((b) => b.key === key);
  if (current && !options.force) return { base: current.running ? await finishBase(ctx, current) : current, built: false };
  const reason = options.force ? 'rebuild asked for' : finished.length ? `${changedInputs(finished[0].inputs, inputs).join(', ') || 'its inputs'} changed` : 'no base yet';
  const name = baseName(ctx.config.project, crypto.randomBytes(3).toString('hex'));
  options.building?.(reason, name);
  const base = await buildBase(ctx, name, options.progress ?? (() => {}), options.after);
  return { base: options.forCopies ? base : await finishBase(ctx, base), built: true };
}

/**
 * A base built and left running, finished: its size measured (what `status` shows; off the path of
 * the copies made meanwhile) and the container stopped, so later copies are of a still filesystem.
 * The caller holds the base lock and has made every copy it wanted.
 */
export async function finishBase(ctx: Pick<WorkerContext, 'rt' | 'config'>, base: BaseInfo): Promise<BaseInfo> {
  if (!base.running) return base;
  const sizeBytes = base.sizeBytes ?? (await filesystemSize(ctx, base.name));
  if (sizeBytes !== null) await setInstanceConfig(ctx.rt, base.name, { [BASE_SIZE_KEY]: String(sizeBytes) });
  await stopInstance(ctx.rt, base.name, true);
  return { ...base, sizeBytes, running: false };
}

/** The project's base as `isollm status` shows it (null before the first build). */
export type BaseStatus = {
  name: string;
  /** The image it was made from: its fingerprint (short), else the configured reference. */
  image: string;
  created_at: string | null;
  age_seconds: number | null;
  /** What went into it changed since: the next `up` / `worker add` builds a new one. */
  stale: boolean;
  /** The inputs that changed (setup_script, image, agent_install, helpers, hub, queue_port, format). */
  changed: string[];
  /** The commit its clone of the hub is at, and how many commits the hub's base branch has moved on since (each new worker fetches them). */
  commit: string | null;
  commits_behind: number | null;
  size_bytes: number | null;
  /** Workers copied from it, and older bases still kept for their workers. */
  workers: number;
  older_bases: string[];
  /** A base is being built now (another command holds the base lock). */
  building: boolean;
};

export async function baseStatus(ctx: Pick<WorkerContext, 'rt' | 'config' | 'paths'>, instances: Instance[], now: Date, imageFingerprint?: string): Promise<BaseStatus | null> {
  const all = basesOf(instances);
  const building = all.some((b) => !b.key) && lockHolder(ctx.paths.baseLock) !== null;
  const [newest, ...older] = all.filter((b) => b.key);
  if (!newest) return null;
  const behind = async () => {
    if (!newest.commit) return null;
    const r = await gitNothrow(ctx.config.git.hub, ['rev-list', '--count', `${newest.commit}..refs/heads/${ctx.config.git.base_branch}`]);
    return r.exitCode === 0 ? Number(r.stdout.trim()) : null;
  };
  const [{ key, inputs }, commitsBehind] = await Promise.all([currentBaseKey(ctx, imageFingerprint), behind()]);
  const stale = newest.key !== key;
  const used = new Set(instances.filter((i) => i.worker).map((i) => i.config[FROM_BASE_KEY]));
  return {
    name: newest.name,
    image: newest.image ? newest.image.slice(0, 12) : ctx.config.image,
    created_at: newest.createdAt?.toISOString() ?? null,
    age_seconds: newest.createdAt ? Math.max(0, Math.floor((now.getTime() - newest.createdAt.getTime()) / 1000)) : null,
    stale,
    changed: stale ? changedInputs(newest.inputs, inputs) : [],
    commit: newest.commit,
    commits_behind: commitsBehind,
    size_bytes: newest.sizeBytes,
    workers: instances.filter((i) => i.worker && i.config[FROM_BASE_KEY] === newest.name).length,
    older_bases: older.filter((b) => used.has(b.name)).map((b) => b.name),
    building,
  };
}

/** Is this worker a copy of `base`? Workers made before bases existed, or from an older base, are not. */
export function isFromBase(worker: { instance: Instance }, base: BaseInfo): boolean {
  return worker.instance.config[FROM_BASE_KEY] === base.name;
}

/**
 * Remove the project's bases that no worker was copied from, except `keep` (the current one).
 * Returns their names.
 */
export async function pruneBases(ctx: Pick<WorkerContext, 'rt' | 'config'>, keep: string | null): Promise<string[]> {
  const instances = await listInstances(ctx.rt, ctx.config.project);
  const used = new Set(instances.filter((i) => i.worker).map((i) => i.config[FROM_BASE_KEY]));
  const unused = basesOf(instances).filter((b) => b.key && b.name !== keep && !used.has(b.name));
  for (const b of unused) await deleteInstance(ctx.rt, b.name);
  return unused.map((b) => b.name);
}

/** The newest finished base with the current key, or null (none built yet, or the key changed). */
export async function findCurrentBase(ctx: Pick<WorkerContext, 'rt' | 'config'>): Promise<BaseInfo | null> {
  const { key } = await currentBaseKey(ctx);
  return basesOf(await listInstances(ctx.rt, ctx.config.project)).find((b) => b.key === key) ?? null;
}

/**
 * Build a base: launch, dev user, hub mount, setup_script, the agent CLI, helpers, a clone of the
 * hub; then record its key. It is left running (finishBase stops it). Any failure deletes it.
 */
async function buildBase(ctx: WorkerContext, name: string, progress: (step: string) => void, after?: Promise<unknown>): Promise<BaseInfo> {
  const { rt, config } = ctx;
  // A plain alias is looked up only in the local store (a remote's may come from here: it is copied).
  const local = !rt.remote && parseImageRef(config.image).remote === null;
  const [pools, image] = await Promise.all([listStoragePools(rt), local ? lookupImage(rt, config.image) : null]);
  if (config.runtime.pool !== null && !pools.includes(config.runtime.pool)) {
    throw new UserError(`runtime.pool: there is no storage pool "${config.runtime.pool}" (pools: ${pools.join(', ') || 'none'}; see \`${rt.bin} storage list\`).`);
  }
  // The configured pool; else isollm's copy-on-write pool where setup made one: the base and its copies share blocks.
  const storage = config.runtime.pool ?? (pools.includes(FAST_POOL) ? FAST_POOL : undefined);
  if (local && !image) {
    throw new UserError(`image "${config.image}" (isollm.yaml) is not in ${rt.kind === 'lxd' ? 'LXD' : 'Incus'}'s image store. Run \`isollm setup\` to build it, or set image to one \`${rt.bin} image list\` shows.`);
  }
  try {
    progress('launching');
    await launchInstance(rt, { name, image: config.image, config: baseLaunchConfig(config), storage });
    await waitForExec(rt, name);
    await after;
    let dev: Dev;
    if (rt.remote) {
      progress('creating user dev');
      dev = await ensureDevUser(ctx, name);
      // No mount crosses machines: a network, and the hub over HTTPS when cloning below.
      progress('network');
      await ensureNetwork(rt, name);
    } else {
      progress('creating user dev, mounting the hub');
      // Side by side: the idmapped mount needs no user; the fallback needs dev's uid.
      const shifted = addDevice(rt, name, 'hub', hubDevice(config, true)).then(
        () => true,
        (err) => (isIdmapUnsupported(err) ? false : Promise.reject(err)),
      );
      shifted.catch(() => undefined); // awaited below
      dev = await ensureDevUser(ctx, name);
      await shareHub(ctx, name, dev, await shifted);
    }
    if (config.setup_script) {
      progress('running setup_script');
      await runScript(ctx, name, 'setup_script', config.setup_script, progress);
    }
    const install = agentInstall(config.agent);
    if (install.script) {
      progress(`installing the ${config.agent.preset} CLI: ${install.how}`);
      for (const f of install.files) {
        await execOk(rt, name, ['mkdir', '-p', f.path.slice(0, f.path.lastIndexOf('/'))]);
        await pushFile(rt, name, f.host, f.path, { uid: 0, gid: 0, mode: f.mode });
      }
      if (install.homePackages) await pushHomePackages(ctx, name, install.homePackages, progress);
      const cleanup = install.registry ? await prepareRegistryInstall(ctx, name, install.registry.node, progress) : null;
      try {
        await runScript(ctx, name, 'the agent install', install.script, progress);
      } finally {
        await cleanup?.();
      }
    }
    progress('installing helpers');
    // Remote workers reach the queue over HTTPS with their credential: no forwarder.
    const forwarder = rt.remote ? [] : queueForwarderFiles(config, PROXYD_PATHS[0]);
    await pushFiles(ctx, name, [...helperFiles(), ...forwarder], dev);
    const queueLink = await quietBoot(ctx, name, forwarder.map((f) => f.path));
    progress('cloning the hub');
    const commit = await cloneHub(ctx, name, dev);
    // Its key, the image's it was really made from (a remote image is local only once launched):
    // from here on it is finished but for its stop (finishBase), and copies of it may be made.
    const fingerprint = (await listInstances(rt, config.project)).find((i) => i.name === name)?.config['volatile.base_image'];
    const { key, inputs } = await currentBaseKey(ctx, fingerprint);
    // One config change for all (each rewrites the instance): dev's ids (exec needs no lookup), and the key.
    await setInstanceConfig(rt, name, { [DEV_UID_KEY]: String(dev.uid), [DEV_GID_KEY]: String(dev.gid), ...baseReadyConfig({ key, inputs, queueLink, commit }) });
    const base = basesOf(await listInstances(rt, config.project)).find((b) => b.name === name);
    if (!base) throw new UserError(`The base ${name} vanished while it was built. Run \`isollm up\` again.`);
    return base;
  } catch (err) {
    progress('rolling back');
    await deleteInstance(rt, name).catch(() => undefined);
    throw err;
  }
}

type Dev = { uid: number; gid: number };

/** Where Debian, Ubuntu, Fedora and Arch keep systemd-socket-proxyd. */
const PROXYD_PATHS = ['/usr/lib/systemd/systemd-socket-proxyd', '/lib/systemd/systemd-socket-proxyd'];

/**
 * One exec, after setup_script (whose packages may bring more to mask). Where the image runs
 * systemd: mask what no worker needs — maintenance timers would take apt's and dpkg's locks or the
 * disk from under an agent at random hours; the generators and units about block devices find none
 * in a container; each copy boots without them (less CPU per worker: several boot at once on a few
 * cores). With the forwarder's `units` (pushed, socket then service): the `mount` queue link where systemd-socket-proxyd
 * is there, its units enabled (copies start them at boot), else `proxy` (the runtime's proxy
 * device) and the units removed.
 */
async function quietBoot(ctx: WorkerContext, container: string, units: string[]): Promise<QueueLinkKind> {
  const r = await execIn(ctx.rt, container, ['sh', '-c', QUIET_BOOT_SCRIPT, 'sh', ...PROXYD_PATHS, '--', ...units, '--', ...MASKED_GENERATORS, '--', ...MASKED_UNITS]);
  const link = r.stdout.trim();
  if (r.exitCode !== 0 || (link !== 'mount' && link !== 'proxy')) {
    throw new UserError(`In ${container}, setting up its boot (the queue's forwarder, masks) failed (exit ${r.exitCode}). Run \`isollm up\` again.`, { detail: (r.stderr || r.stdout).trim() });
  }
  return units.length ? link : 'proxy';
}

/**
 * Arguments: proxyd's places, --, the forwarder's socket and service units (none: no forwarder),
 * --, generators, --, units. Where systemd runs: the first place proxyd is written into the
 * service's ExecStart and both units enabled, or (no proxyd) the units removed; each generator
 * linked to /dev/null (systemd's way to turn one off), each unit masked; no reloads (~0.1 s each:
 * the base's own systemd never needs them). Prints the queue link: mount or proxy. Constant text.
 */
const QUIET_BOOT_SCRIPT =
  'p=; while [ "$1" != -- ]; do [ -z "$p" ] && [ -x "$1" ] && p=$1; shift; done; shift; ' +
  'sock=; svc=; [ "$1" != -- ] && { sock=$1; svc=$2; shift 2; }; shift; ' +
  'if [ ! -d /run/systemd/system ]; then [ -z "$sock" ] || rm -f "$sock" "$svc"; echo proxy; exit 0; fi; ' +
  'link=proxy; if [ -n "$sock" ]; then if [ -n "$p" ]; then sed -i "s#^ExecStart=[^ ]*#ExecStart=$p#" "$svc" && systemctl enable --quiet --no-reload "${sock##*/}" "${svc##*/}" || exit; link=mount; else rm -f "$sock" "$svc"; fi; fi; ' +
  'mkdir -p /etc/systemd/system-generators || exit; ' +
  'while [ "$1" != -- ]; do ln -sf /dev/null "/etc/systemd/system-generators/$1" || exit; shift; done; shift; ' +
  'systemctl mask --quiet --no-reload "$@" || exit; echo "$link"';

/**
 * User `dev`. It takes the uid that owns the hub on the host when that uid is free in the image, so
 * with shift=true the hub is dev's own; otherwise (uid 1000 is `ubuntu` on ubuntu images, uid 0 when
 * isollm runs as root) dev's uid gets read access by ACL (mountHub).
 */
async function ensureDevUser(ctx: WorkerContext, container: string): Promise<Dev> {
  const { rt } = ctx;
  const hub = hubOwner(ctx.config.git.hub);
  const made = await execIn(rt, container, ['sh', '-c', DEV_USER_SCRIPT, 'sh', hub.uid >= 1000 ? String(hub.uid) : '', HUB_MOUNT]);
  const [uid, gid] = made.stdout.trim().split('\n').map(Number);
  if (made.exitCode !== 0 || !Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new UserError(`In ${container}, making the user dev failed (exit ${made.exitCode}).`, { detail: (made.stderr || made.stdout).trim() });
  }
  await pushText(rt, container, '/etc/sudoers.d/isollm-dev', 'dev ALL=(ALL) NOPASSWD:ALL\n', { uid: 0, gid: 0, mode: 0o440 });
  return { uid, gid };
}

/**
 * User dev when missing: uid $1 when one is given and free in the image, else the image's next. The
 * hub ($2) belongs to a host uid, which git calls dubious ownership: it is ours. Without
 * /etc/hostname every copy keeps the hostname the runtime gives it: its own name. /etc/isollm holds
 * each worker's settings. Prints dev's uid and gid. One exec for all. Constant text.
 */
const DEV_USER_SCRIPT =
  'if ! id -u dev >/dev/null 2>&1; then if [ -n "$1" ] && ! getent passwd "$1" >/dev/null; then useradd --create-home --shell /bin/bash --user-group --uid "$1" dev; else useradd --create-home --shell /bin/bash --user-group dev; fi || exit; fi; ' +
  'git config --system --add safe.directory "$2" && rm -f /etc/hostname && mkdir -p /etc/isollm && id -u dev && id -g dev';

/**
 * The hub at /repo.git, read-only, readable by dev: an idmapped mount (shift=true) where the runtime
 * can do it, else a plain mount shared with dev's host uid through ACLs (lib/hub/access.ts). Copies
 * keep the device, and share the base's id map, so the same grant serves every worker. `shifted`:
 * the idmapped mount is in already; else the plain one is added now.
 */
async function shareHub(ctx: WorkerContext, container: string, dev: Dev, shifted: boolean): Promise<void> {
  const { rt, config } = ctx;
  if (shifted) return shareShiftedHub(ctx, dev);
  const instance = (await listInstances(rt, config.project)).find((i) => i.name === container);
  await grantHubAccess(config.git.hub, hostUidOf(instance?.config ?? {}, dev.uid));
  await addDevice(rt, container, 'hub', hubDevice(config, false));
}

/**
 * With an idmapped mount the hub shows its host owner, and dev's uid is the same number on both
 * sides. When dev is not the hub's owner (isollm run as root; uid 1000 taken in the image), the hub's
 * group does not help: `exec --user --group` starts dev's processes with no supplementary groups, and
 * what the queue writes into the hub (task start branches, pushes; umask 077) is not world-readable.
 * So dev's uid gets read access by ACL, as in the fallback (Incus with idmapped mounts, run as root).
 */
async function shareShiftedHub(ctx: WorkerContext, dev: Dev): Promise<void> {
  if (dev.uid === hubOwner(ctx.config.git.hub).uid) return;
  await grantHubAccess(ctx.config.git.hub, dev.uid);
}

/** Run a script as root, each line of its output passed on as it comes. A script without `#!` runs with sh. */
async function runScript(ctx: WorkerContext, container: string, what: string, script: string, progress: (step: string) => void): Promise<void> {
  const target = '/root/isollm-setup.sh';
  await pushText(ctx.rt, container, target, script, { uid: 0, gid: 0, mode: 0o700 });
  const command = script.startsWith('#!') ? [target] : ['sh', target];
  // One stream, in order, shown as it comes; and a copy in a file, because the client can lose the
  // output of a command that ends at once (seen under load: a failing script printed nothing). The
  // sh -c text is constant; the command comes in as arguments. It removes its files once it
  // succeeded; a failure's log is read first.
  const merged = ['sh', '-c', '{ "$@" 2>&1; echo $? >"$0.status"; } | tee "$0.log"; s=$(cat "$0.status"); [ "$s" != 0 ] || rm -f "$0" "$0.log" "$0.status"; exit "$s"', target, ...command];
  const r = await execStream(ctx.rt, container, merged, { cwd: '/root', timeout: SETUP_SCRIPT_TIMEOUT_MS }, (line) => progress(`  │ ${line}`));
  if (r.exitCode !== 0) {
    const output = await pullText(ctx.rt, container, `${target}.log`).catch(() => r.stdout + r.stderr);
    await execIn(ctx.rt, container, ['rm', '-f', target, `${target}.log`, `${target}.status`]);
    // A script of isollm's says why in one `isollm: …` line: that is the message.
    const why = output.split('\n').reverse().find((l) => l.startsWith('isollm: '));
    throw new UserError(`${what} failed in the project's base (exit ${r.exitCode})${why ? `: ${why.slice('isollm: '.length)}` : ''}; no worker was made from it. Its output:`, {
      detail: output.trim(),
    });
  }
}

/** The hub cloned as dev; each worker brings it up to date with one fetch. Returns the commit it is at. */
async function cloneHub(ctx: WorkerContext, container: string, dev: Dev): Promise<string | null> {
  const { rt, config } = ctx;
  const asDev = { user: dev.uid, group: dev.gid, cwd: DEV_HOME, env: { HOME: DEV_HOME, USER: 'dev' } };
  if (!rt.remote) {
    // The same for every worker: fetches read the mount, pushes go through the ref policy on the
    // worker's own socket; each worker's git identity is a file of its own that dev's gitconfig includes.
    const args = [AGENT_DIR, config.git.base_branch, HUB_MOUNT, PROJECT_DIR, hubPushUrl(config), WORKER_GITCONFIG];
    const r = await execIn(rt, container, ['sh', '-c', CLONE_SCRIPT, 'sh', ...args], { ...asDev, timeout: CLONE_TIMEOUT_MS });
    if (r.exitCode !== 0) throw new UserError(`In ${container}, cloning the hub (${HUB_MOUNT}, branch ${config.git.base_branch}) failed (exit ${r.exitCode}).`, { detail: (r.stderr || r.stdout).trim() });
    return r.stdout.trim() || null;
  }
  await execOk(rt, container, ['mkdir', '-p', AGENT_DIR], asDev);
  // On a remote: over HTTPS, with a credential of the base's own that is revoked once it has
  // cloned (it can push nothing: it never holds a task). Each worker gets its own in the same files.
  const access = remoteAccess(ctx.paths.dir, config)!;
  const token = await ctx.queue.issueCredential(container);
  try {
    await pushFiles(ctx, container, accessFiles(access, token), dev);
    await execOk(rt, container, ['git', 'config', '--global', 'include.path', GIT_INCLUDE.slice(DEV_HOME.length + 1)], asDev);
    await execOk(rt, container, ['git', 'clone', '--quiet', '--branch', config.git.base_branch, access.hubUrl, PROJECT_DIR], { ...asDev, timeout: CLONE_TIMEOUT_MS });
  } finally {
    await execIn(rt, container, ['rm', '-f', CURLRC, GIT_INCLUDE]).catch(() => undefined);
    // Revoked, or the build fails (and the base with its files goes): never a live credential in a
    // base and its copies. One not revoked here is revoked by the next `up` (no worker has its name).
    let failed: unknown = null;
    for (let attempt = 0; attempt < 3; attempt++) {
      failed = await ctx.queue.revokeCredential(container).then(() => null, (err: unknown) => err ?? 'failed');
      if (!failed) break;
      await new Promise((r) => setTimeout(r, 1_000));
    }
    if (failed) {
      const why = failed instanceof Error ? failed.message : String(failed);
      throw new UserError(`The base's credential (${container}) could not be revoked after it cloned the hub (${why}), so the base is not kept. Check the queue (\`isollm queue status\`), then run \`isollm up\` again: it revokes that credential.`);
    }
  }
  return cloneCommit(ctx, container, asDev);
}

/** The commit the base's clone is at. */
async function cloneCommit(ctx: WorkerContext, container: string, asDev: { user: number; group: number; cwd: string; env: Record<string, string> }): Promise<string | null> {
  const head = await execIn(ctx.rt, container, ['git', 'rev-parse', 'HEAD'], { ...asDev, cwd: PROJECT_DIR });
  return head.exitCode === 0 ? head.stdout.trim() : null;
}

/**
 * The base's own filesystem in bytes (`du -x /`: not the hub mount), what `status` shows. The
 * runtimes report no disk usage for a btrfs volume without quotas, so it is measured once here.
 */
async function filesystemSize(ctx: Pick<WorkerContext, 'rt'>, container: string): Promise<number | null> {
  // Niced: it runs while the first copies boot.
  const r = await execIn(ctx.rt, container, ['nice', '-n', '19', 'du', '-sxk', '/']);
  const kib = Number(r.stdout.trim().split(/\s/)[0]);
  return Number.isFinite(kib) && kib > 0 ? kib * 1024 : null;
}
