// Pure argv builders for the `lxc` / `incus` clients: data first, so tests compare them and
// client.ts only runs them. The two clients share verbs, except snapshots (see below).
import type { Runtime } from './detect.ts';

export const PROJECT_KEY = 'user.isollm.project';
export const WORKER_KEY = 'user.isollm.worker';

export type ExecOptions = {
  /** uid inside the container (both clients take a number). */
  user?: number;
  group?: number;
  cwd?: string;
  env?: Record<string, string>;
};

export type PushOptions = { uid?: number; gid?: number; mode?: number };

export type DiskDevice = { type: 'disk'; source: string; path: string; shift?: boolean; readonly?: boolean };
export type ProxyDevice = { type: 'proxy'; listen: string; connect: string; bind?: 'host' | 'instance'; uid?: number; gid?: number; mode?: string };
export type Device = DiskDevice | ProxyDevice;

/**
 * How the client names a container: `remote:name` on a remote, else `name`. Every call of the
 * gateway names its instance through this, so a remote runtime reaches nothing local by mistake.
 */
export function instanceRef(rt: Pick<Runtime, 'remote'>, name: string): string {
  if (name.includes(':')) throw new Error(`instance name must not name a remote: ${name}`);
  return rt.remote ? `${rt.remote}:${name}` : name;
}

/** The cluster member for the `index`-th new container (1-based, e.g. worker-N), or undefined. */
export function targetFor(rt: Pick<Runtime, 'targets'>, index: number): string | undefined {
  const targets = rt.targets ?? [];
  return targets.length ? targets[(Math.max(1, index) - 1) % targets.length] : undefined;
}

/** `list` filtered by our project tag; state included (recursion 2) so one call gives status and IPs. */
export function listArgs(project?: string, remote?: string): string[] {
  return ['list', ...(remote ? [`${remote}:`] : []), ...(project === undefined ? [] : [`${PROJECT_KEY}=${project}`]), '--format', 'json'];
}

/** `init` (create without starting) with config keys; `target` places it on a cluster member. */
export function initArgs(image: string, name: string, config: Record<string, string> = {}, storage?: string, target?: string): string[] {
  return [
    'init',
    image,
    name,
    ...(storage ? ['--storage', storage] : []),
    ...(target ? ['--target', target] : []),
    ...Object.entries(config).flatMap(([k, v]) => ['--config', `${k}=${v}`]),
  ];
}

/**
 * `copy` of a (stopped) instance without its snapshots: on a copy-on-write pool (btrfs, zfs) a
 * clone of its filesystem, elsewhere a full copy. `config` adds or replaces keys on the copy.
 */
export function copyArgs(source: string, name: string, config: Record<string, string> = {}, target?: string): string[] {
  return ['copy', source, name, '--instance-only', ...(target ? ['--target', target] : []), ...Object.entries(config).flatMap(([k, v]) => ['--config', `${k}=${v}`])];
}

/** isollm's own copy-on-write pool (btrfs on a loop file), made by `isollm setup` where it can be. */
export const FAST_POOL = 'isollm';

export function configSetArgs(name: string, config: Record<string, string>): string[] {
  return ['config', 'set', name, ...Object.entries(config).map(([k, v]) => `${k}=${v}`)];
}

/** The device as the API takes it: every value a string, unset ones left out. */
export function deviceConfig(device: Device): Record<string, string> {
  const props: Record<string, string | undefined> =
    device.type === 'disk'
      ? { source: device.source, path: device.path, shift: device.shift ? 'true' : undefined, readonly: device.readonly ? 'true' : undefined }
      : {
          listen: device.listen,
          connect: device.connect,
          bind: device.bind ?? 'instance',
          uid: device.uid?.toString(),
          gid: device.gid?.toString(),
          mode: device.mode,
        };
  return Object.fromEntries([['type', device.type], ...Object.entries(props).filter((e): e is [string, string] => e[1] !== undefined)]);
}

export function deviceProps(device: Device): string[] {
  const { type: _type, ...props } = deviceConfig(device);
  return Object.entries(props).map(([k, v]) => `${k}=${v}`);
}

export function deviceAddArgs(name: string, deviceName: string, device: Device): string[] {
  return ['config', 'device', 'add', name, deviceName, device.type, ...deviceProps(device)];
}

export function deviceRemoveArgs(name: string, deviceName: string): string[] {
  return ['config', 'device', 'remove', name, deviceName];
}

/**
 * Set properties of the instance's root disk: `device set` when the root device is the instance's
 * own, `device override` when it comes from a profile (which makes it the instance's own).
 */
export function rootDiskArgs(name: string, props: Record<string, string>, own: boolean): string[] {
  return ['config', 'device', own ? 'set' : 'override', name, 'root', ...Object.entries(props).map(([k, v]) => `${k}=${v}`)];
}

export function startArgs(name: string): string[] {
  return ['start', name];
}

export function stopArgs(name: string, force = false): string[] {
  return ['stop', name, ...(force ? ['--force'] : [])];
}

export function deleteArgs(name: string): string[] {
  return ['delete', name, '--force'];
}

/**
 * `exec` as argv (never a shell string). `--force-noninteractive`: no pty, so stdout, stderr and the
 * exit code come back separately; a pane that wants a TTY builds its own argv with `execPaneArgs`.
 */
export function execArgs(name: string, command: string[], options: ExecOptions = {}): string[] {
  return ['exec', name, '--force-noninteractive', ...execFlags(options), '--', ...command];
}

/** `exec` with a terminal, for multiplexer panes and `worker shell`. */
export function execPaneArgs(name: string, command: string[], options: ExecOptions = {}): string[] {
  return ['exec', name, '--force-interactive', ...execFlags(options), '--', ...command];
}

function execFlags(options: ExecOptions): string[] {
  return [
    ...(options.user !== undefined ? ['--user', String(options.user)] : []),
    ...(options.group !== undefined ? ['--group', String(options.group)] : []),
    ...(options.cwd ? ['--cwd', options.cwd] : []),
    ...Object.entries(options.env ?? {}).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
  ];
}

/** `file push` from a host file, or from stdin when `source` is `-`. */
/** `file pull` of one file to stdout. */
export function filePullArgs(name: string, source: string): string[] {
  if (!source.startsWith('/')) throw new Error(`file pull source must be absolute: ${source}`);
  return ['file', 'pull', `${name}${source}`, '-'];
}

export function filePushArgs(source: string, name: string, target: string, options: PushOptions = {}): string[] {
  if (!target.startsWith('/')) throw new Error(`file push target must be absolute: ${target}`);
  return [
    'file',
    'push',
    source,
    `${name}${target}`,
    ...(options.uid !== undefined ? ['--uid', String(options.uid)] : []),
    ...(options.gid !== undefined ? ['--gid', String(options.gid)] : []),
    ...(options.mode !== undefined ? ['--mode', options.mode.toString(8).padStart(4, '0')] : []),
  ];
}

/** LXD: `lxc snapshot N S` / `lxc restore N S`. Incus 6 moved them under `incus snapshot create|restore`. */
export function snapshotCreateArgs(rt: Runtime, name: string, snapshot: string): string[] {
  return rt.kind === 'incus' ? ['snapshot', 'create', name, snapshot] : ['snapshot', name, snapshot];
}

export function snapshotRestoreArgs(rt: Runtime, name: string, snapshot: string): string[] {
  return rt.kind === 'incus' ? ['snapshot', 'restore', name, snapshot] : ['restore', name, snapshot];
}

/** A raw API read; every state question goes through JSON. On a remote: `query remote:/1.0/…`. */
export function queryArgs(apiPath: string, remote?: string): string[] {
  return ['query', remote ? `${remote}:${apiPath}` : apiPath];
}

export function snapshotsPath(name: string): string {
  return `/1.0/instances/${encodeURIComponent(name)}/snapshots?recursion=1`;
}

export const STORAGE_POOLS_PATH = '/1.0/storage-pools';
export const IMAGES_PATH = '/1.0/images?recursion=1';
export const NETWORKS_PATH = '/1.0/networks?recursion=1';

/** `init --preseed` reads YAML on stdin: LXD `lxd init`, Incus `incus admin init`. */
export function preseedCommand(rt: Runtime): string[] {
  return rt.kind === 'incus' ? ['incus', 'admin', 'init', '--preseed'] : ['lxd', 'init', '--preseed'];
}

export function waitReadyCommand(rt: Runtime, timeoutSeconds: number): string[] {
  return rt.kind === 'incus' ? ['incus', 'admin', 'waitready', `--timeout=${timeoutSeconds}`] : ['lxd', 'waitready', `--timeout=${timeoutSeconds}`];
}
