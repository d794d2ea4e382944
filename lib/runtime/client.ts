// One interface over LXD (`lxc`) and Incus (`incus`): the verbs workers need, each an argv from
// argv.ts run here, with state read as JSON and parsed by parse.ts.
import { $, type ProcessPromise } from 'zx/core';
import { UserError } from '../cli/errors.ts';
import {
  configSetArgs,
  copyArgs,
  deleteArgs,
  deviceAddArgs,
  deviceConfig,
  deviceRemoveArgs,
  rootDiskArgs,
  execArgs,
  filePullArgs,
  filePushArgs,
  IMAGES_PATH,
  initArgs,
  instanceRef,
  listArgs,
  NETWORKS_PATH,
  queryArgs,
  snapshotCreateArgs,
  snapshotRestoreArgs,
  snapshotsPath,
  startArgs,
  stopArgs,
  STORAGE_POOLS_PATH,
  type Device,
  type ExecOptions,
  type PushOptions,
} from './argv.ts';
import { findImage, parseImageRef, parseImages, parseInstanceList, parseNetworks, parseSnapshots, parseStoragePools, type Image, type Instance, type Network, type Snapshot } from './parse.ts';
import { daemonError, PING_TIMEOUT_MS, runtimeError, type Runtime } from './detect.ts';
import { endExecClients, findExecClients } from './exec-clients.ts';
import { addDeviceDirect, ApiRefused, ApiTimeout, copyDirect, createDirect, listInstancesDirect, pushDirect, queryDirect, setConfigDirect, startDirect, stopDirect } from './api.ts';
import { execDirect, execStatusDirect } from './api-exec.ts';

export * from './detect.ts';
export { EXEC_CLIENT_GRACE_MS, endExecClients, findExecClients, type ExecClient } from './exec-clients.ts';
export type { Device, DiskDevice, ExecOptions, ProxyDevice, PushOptions } from './argv.ts';
export { execPaneArgs, FAST_POOL, instanceRef, PROJECT_KEY, targetFor, WORKER_KEY } from './argv.ts';
export type { Image, Instance, Network, Snapshot } from './parse.ts';
export { parseImageRef };

/** Reads of state (list, query). */
export const QUERY_TIMEOUT_MS = 30_000;
/** init / start / stop / delete / device changes: image unpack on a dir pool takes seconds. */
export const LIFECYCLE_TIMEOUT_MS = 120_000;
/** Snapshot create/restore copy the whole rootfs on a dir pool (~3–4 s measured). */
export const SNAPSHOT_TIMEOUT_MS = 180_000;
/** Default limit of one exec; callers running long commands pass their own. */
export const EXEC_TIMEOUT_MS = 120_000;
export const FILE_PUSH_TIMEOUT_MS = 60_000;
/** How long a freshly started container gets until exec works. */
export const READY_TIMEOUT_MS = 60_000;
const READY_POLL_MS = 250;
/** One poll of a starting container's exec; a longer one is stuck, not slow. */
const READY_POLL_TIMEOUT_MS = 15_000;

export type RunResult = { stdout: string; stderr: string; exitCode: number };

/**
 * How a child's stdin is wired, the one rule for every call: no input or empty input → /dev/null
 * (EOF at once: `init` reads YAML from a non-TTY stdin until EOF, and zx leaves the pipe of an empty
 * `input` open, so `file push -` of an empty file would wait forever); other input → a pipe written
 * and closed.
 */
export function stdinOptions(input?: string): { stdio: ['ignore', 'pipe', 'pipe'] } | { input: string } {
  return input ? { input } : { stdio: ['ignore', 'pipe', 'pipe'] };
}

/**
 * A client that has not answered in time is killed, not asked to stop: `lxc exec` passes SIGTERM on
 * to the command in the container and keeps waiting (seen here: a poll of `exec … true` on a booting
 * copy hung for minutes under load, past its 60 s).
 */
const TIMEOUT_SIGNAL = 'SIGKILL';

/**
 * Kill `p` when `ms` pass; true when that deadline killed it. Told by the deadline, not by the exit
 * code: zx kills the process's children before the process, and a parent (a prefix like sudo, a
 * script) that sees its child die can exit with a code of its own (137) before its own kill lands —
 * a client killed at its timeout then looked like one that answered (1 in 4 on a loaded machine).
 */
function killAtDeadline(p: ProcessPromise, ms: number): Promise<boolean> {
  let settled = false;
  let killed = false;
  const timer = setTimeout(() => {
    if (settled) return;
    try {
      const kill = p.kill(TIMEOUT_SIGNAL);
      killed = true;
      kill.catch(() => undefined); // it ended by itself meanwhile: nothing left to kill
    } catch {
      // zx refuses at once: it has ended (answered) just now
    }
  }, ms);
  const end = () => {
    settled = true;
    clearTimeout(timer);
    return killed;
  };
  return p.then(end, end);
}

const noAnswer = (rt: Runtime, what: string, timeout: number) =>
  new UserError(`\`${rt.bin} ${what}\` gave no answer within ${timeout / 1000}s. Is the daemon overloaded? Check \`${rt.bin} list\`.`);

/** Run the client with `args`; non-zero exits come back as values (callers decide). A timeout throws. */
export async function runClient(rt: Runtime, args: string[], options: { input?: string; timeout: number }): Promise<RunResult> {
  const p = $({ quiet: true, nothrow: true, ...stdinOptions(options.input) })`${rt.prefix ?? []} ${rt.bin} ${args}`;
  if (await killAtDeadline(p, options.timeout)) throw noAnswer(rt, args.slice(0, 2).join(' '), options.timeout);
  const r = await p;
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? 1 };
}

/**
 * `command` started a moment late (then exec'd: it is still the exec's own process, with its stdin,
 * signals and exit code), so the client gets its output. The daemon sends a keepalive ping on each
 * of the exec's websockets as it connects, and closes them once the command ends; a client (LXD 5.0.2,
 * Incus 6.0.4) that reads that ping only after the close fails to answer it (broken pipe) and stops
 * reading that stream, exit code intact: a quick command's output was gone now and then under load
 * (`echo` lost its line 2–4 times in 300 at load 16, `worker exec` once in e2e; 0 in 250 delayed).
 */
export function withOutputKept(command: string[]): string[] {
  return ['sh', '-c', 'sleep 0.2; exec "$@"', 'isollm-exec', ...command];
}

/**
 * The client with the terminal passed through (`worker shell`, `worker exec`): its exit code, or 1
 * when it was killed. A pane that runs the client builds its argv with `execPaneArgs` instead.
 */
export async function runClientInteractive(rt: Runtime, args: string[]): Promise<number> {
  const r = await $({ stdio: 'inherit', nothrow: true, verbose: false })`${rt.prefix ?? []} ${rt.bin} ${args}`;
  return r.exitCode ?? 1;
}

/**
 * A daemon-side command of setup (`lxd init --preseed`, `incus admin waitready`): the same stdin
 * rule as the client's calls; non-zero exits come back as values, a timeout as exitCode null.
 */
export async function runAdmin(argv: string[], options: { input?: string; timeout: number; prefix?: string[] }): Promise<{ stdout: string; stderr: string; exitCode: number | null }> {
  const r = await $({ quiet: true, nothrow: true, timeout: options.timeout, ...stdinOptions(options.input) })`${options.prefix ?? []} ${argv}`;
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
}

/** Run the client and throw the matching one-line UserError on failure. */
async function mustRun(rt: Runtime, args: string[], timeout: number, input?: string): Promise<string> {
  const r = await runClient(rt, args, { timeout, input });
  if (r.exitCode !== 0) throw runtimeError(rt, args.slice(0, 3).join(' '), r.stderr);
  return r.stdout;
}

/**
 * A change made through the API directly (`direct` says false when it cannot be: then the client's
 * `args`), with the client's error line when the daemon refuses it.
 */
async function mustChange(rt: Runtime, direct: () => Promise<boolean>, args: string[], timeout: number, input?: string): Promise<void> {
  try {
    if (await direct()) return;
  } catch (err) {
    const what = args.slice(0, 3).join(' ');
    if (err instanceof ApiRefused) throw runtimeError(rt, what, `Error: ${err.message}`);
    if (err instanceof ApiTimeout) throw noAnswer(rt, args.slice(0, 2).join(' '), timeout);
    throw err;
  }
  await mustRun(rt, args, timeout, input);
}

/** Check the daemon answers and lets us in; throws the matching UserError otherwise. */
export async function pingRuntime(rt: Runtime, timeout = PING_TIMEOUT_MS): Promise<{ serverVersion: string }> {
  let r: RunResult;
  try {
    r = await runClient(rt, queryArgs('/1.0', rt.remote), { timeout });
  } catch {
    throw daemonError(rt, `no answer within ${timeout / 1000}s`);
  }
  if (r.exitCode !== 0) throw runtimeError(rt, 'query /1.0', r.stderr);
  let version: string | undefined;
  try {
    version = (JSON.parse(r.stdout) as { environment?: { server_version?: string } }).environment?.server_version;
  } catch {
    // A daemon that answers is enough here; its version is only shown.
  }
  return { serverVersion: version ?? 'unknown' };
}

export async function queryApi(rt: Runtime, apiPath: string): Promise<string> {
  return mustRun(rt, queryArgs(apiPath, rt.remote), QUERY_TIMEOUT_MS);
}

/**
 * Run a read and parse its output. Output a parser cannot read is a one-line error naming the call
 * (never a bare "Unexpected end of JSON input"); the output itself goes in the detail.
 */
async function read<T>(rt: Runtime, args: string[], parse: (out: string) => T, timeout = QUERY_TIMEOUT_MS): Promise<T> {
  const output = await mustRun(rt, args, timeout);
  try {
    return parse(output);
  } catch (err) {
    const what = output.trim() ? `${output.length} bytes isollm cannot read: ${(err as Error).message}` : 'nothing';
    throw new UserError(`\`${rt.bin} ${args.join(' ')}\` printed ${what}. Is this ${rt.kind === 'lxd' ? 'LXD' : 'Incus'} version supported? (--debug shows the output)`, {
      cause: new Error(`output of ${rt.bin} ${args.join(' ')}:\n${output.slice(0, 4000)}`, { cause: err }),
    });
  }
}

/**
 * Every instance tagged with this project, or every instance when no project is given: from the
 * daemon's API directly where the client's config says plainly where it is (api.ts), else one call
 * of the client.
 */
export async function listInstances(rt: Runtime, project?: string, timeout = QUERY_TIMEOUT_MS, options: { state?: boolean } = {}): Promise<Instance[]> {
  // Without state (addresses, processes): the daemon renders it per running instance, and a caller
  // that needs only names and config does not wait for that.
  const direct = await directly(rt, `list`, () => listInstancesDirect(rt, project, timeout, options.state ?? true), timeout);
  if (direct) return parseInstanceList(JSON.stringify(direct), project);
  return read(rt, listArgs(project, rt.remote), (out) => parseInstanceList(out, project), timeout);
}

/** A direct read, or null for the client; a daemon that does not answer in time is the client's own timeout error. */
async function directly<T>(rt: Runtime, what: string, read: () => Promise<T | null>, timeout: number): Promise<T | null> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof ApiTimeout) throw noAnswer(rt, what, timeout);
    return null;
  }
}

export type LaunchSpec = {
  name: string;
  image: string;
  config?: Record<string, string>;
  devices?: Record<string, Device>;
  /** Storage pool (default: the profile's). */
  storage?: string;
  /** Cluster member to create it on (default: the cluster's placement). */
  target?: string;
};

/**
 * Create, configure and start a container. When any step fails the half-made container is deleted,
 * so a failed launch leaves nothing behind.
 */
export async function launchInstance(rt: Runtime, spec: LaunchSpec): Promise<void> {
  const { image, fingerprint } = await launchImage(rt, spec.image);
  const devices = spec.devices ?? {};
  // Directly only from an image the daemon holds, with the devices in the same request; the client
  // fetches one from an image server, or copies the client's own over to a remote.
  let withDevices = false;
  await mustChange(
    rt,
    async () => fingerprint !== null && (withDevices = await createDirect(rt, { name: spec.name, fingerprint, config: spec.config ?? {}, devices: apiDevices(devices), storage: spec.storage, target: spec.target }, LIFECYCLE_TIMEOUT_MS)),
    initArgs(image, instanceRef(rt, spec.name), spec.config, spec.storage, spec.target),
    LIFECYCLE_TIMEOUT_MS,
  );
  await equipAndStart(rt, spec.name, withDevices ? {} : devices);
}

const apiDevices = (devices: Record<string, Device>) => Object.fromEntries(Object.entries(devices).map(([n, d]) => [n, deviceConfig(d)]));

/** Add devices to a just-created instance and start it; on any failure the instance is deleted. */
async function equipAndStart(rt: Runtime, name: string, devices: Record<string, Device> = {}, root?: CopySpec['root']): Promise<void> {
  try {
    if (root && Object.keys(root.props).length) await mustRun(rt, rootDiskArgs(instanceRef(rt, name), root.props, root.own), LIFECYCLE_TIMEOUT_MS);
    for (const [deviceName, device] of Object.entries(devices)) await addDevice(rt, name, deviceName, device);
    await mustChange(rt, () => startDirect(rt, name, LIFECYCLE_TIMEOUT_MS), startArgs(instanceRef(rt, name)), LIFECYCLE_TIMEOUT_MS);
  } catch (err) {
    await runClient(rt, deleteArgs(instanceRef(rt, name)), { timeout: LIFECYCLE_TIMEOUT_MS }).catch(() => undefined);
    throw err;
  }
}

export type CopySpec = {
  /** The instance copied (stopped, or idle: a running one is copied as it is at that moment). */
  source: string;
  name: string;
  config?: Record<string, string>;
  /** Devices added to the copy (it keeps the source's own). */
  devices?: Record<string, Device>;
  /** Properties of the copy's root disk (e.g. `size`), set before it starts; `own`: the source has its own root device, not the profile's. */
  root?: { props: Record<string, string>; own: boolean };
  /** Cluster member to put the copy on (default: the source's). */
  target?: string;
  /** The source's profiles, when the caller has them (else they are read: one request more). */
  profiles?: string[] | null;
  /** Told once the copy exists, before it starts (the source may change from then on). */
  copied?: () => void;
};

/** Copy an instance, add devices, start it. When any step fails the copy is deleted. */
export async function copyInstance(rt: Runtime, spec: CopySpec): Promise<void> {
  const devices = spec.devices ?? {};
  const copy = { source: spec.source, name: spec.name, config: spec.config ?? {}, devices: apiDevices(devices), target: spec.target, profiles: spec.profiles ?? undefined };
  // Directly, the devices come with the copy; through the client, they are added one by one after it.
  let withDevices = true;
  await mustChange(
    rt,
    async () => (await copyDirect(rt, copy, LIFECYCLE_TIMEOUT_MS)) || (withDevices = false),
    copyArgs(instanceRef(rt, spec.source), instanceRef(rt, spec.name), spec.config, spec.target),
    LIFECYCLE_TIMEOUT_MS,
  );
  spec.copied?.();
  await equipAndStart(rt, spec.name, withDevices ? {} : devices, spec.root);
}

export async function startInstance(rt: Runtime, name: string): Promise<void> {
  await mustChange(rt, () => startDirect(rt, name, LIFECYCLE_TIMEOUT_MS), startArgs(instanceRef(rt, name)), LIFECYCLE_TIMEOUT_MS);
}

/** Stop; exec clients on this host left running into it are ended (exec-clients.ts). */
export async function stopInstance(rt: Runtime, name: string, force = false): Promise<void> {
  await mustChange(rt, () => stopDirect(rt, name, force, LIFECYCLE_TIMEOUT_MS), stopArgs(instanceRef(rt, name), force), LIFECYCLE_TIMEOUT_MS);
  await endExecClients(findExecClients(rt, [name]));
}

/** Delete (stopping it first if needed); exec clients on this host left running into it are ended. */
export async function deleteInstance(rt: Runtime, name: string): Promise<void> {
  await mustRun(rt, deleteArgs(instanceRef(rt, name)), LIFECYCLE_TIMEOUT_MS);
  await endExecClients(findExecClients(rt, [name]));
}

/**
 * True when a failure says the kernel/runtime cannot do idmapped mounts (`shift=true`), e.g. LXD 5.0.2
 * on this machine: "idmapping abilities are required but aren't supported on system". The caller
 * then uses its fallback (a mount without shift).
 */
export function isIdmapUnsupported(err: unknown): boolean {
  return /idmapping abilities|idmapped mounts? (are|is) not supported/i.test(`${(err as UserError)?.message ?? ''} ${(err as UserError)?.detail ?? ''}`);
}

export async function setInstanceConfig(rt: Runtime, name: string, config: Record<string, string>): Promise<void> {
  await mustChange(rt, () => setConfigDirect(rt, name, config, LIFECYCLE_TIMEOUT_MS), configSetArgs(instanceRef(rt, name), config), LIFECYCLE_TIMEOUT_MS);
}

export async function addDevice(rt: Runtime, name: string, deviceName: string, device: Device): Promise<void> {
  await mustChange(rt, () => addDeviceDirect(rt, name, deviceName, deviceConfig(device), LIFECYCLE_TIMEOUT_MS), deviceAddArgs(instanceRef(rt, name), deviceName, device), LIFECYCLE_TIMEOUT_MS);
}

export async function removeDevice(rt: Runtime, name: string, deviceName: string): Promise<void> {
  await mustRun(rt, deviceRemoveArgs(instanceRef(rt, name), deviceName), LIFECYCLE_TIMEOUT_MS);
}

export type ExecResult = RunResult;

/**
 * Run `command` (argv, never a shell string) in the container. The command's own exit code comes
 * back as a value; only a runtime failure (daemon, permission, no such container) throws. Without
 * input, through the API directly where it can be (api-exec.ts: no client start), else the client.
 */
export async function execIn(rt: Runtime, name: string, command: string[], options: ExecOptions & { input?: string; timeout?: number } = {}): Promise<ExecResult> {
  const timeout = options.timeout ?? EXEC_TIMEOUT_MS;
  const direct = options.input ? null : await execDirectly(rt, name, command, options, timeout);
  // Through the client, the command starts late so its output is not dropped (withOutputKept).
  const r = direct ?? (await runClient(rt, execArgs(instanceRef(rt, name), withOutputKept(command), options), { input: options.input, timeout }));
  // The client's own errors start with "Error:" and exit 1; a command can exit 1 too, so check both.
  if (r.exitCode !== 0 && /^Error: /m.test(r.stderr) && !r.stdout && isClientFailure(r.stderr)) {
    throw runtimeError(rt, `exec ${name}`, r.stderr);
  }
  return r;
}

/** execDirect with the client's errors: its timeout line, a refusal as its one line. */
async function execDirectly(rt: Runtime, name: string, command: string[], options: ExecOptions, timeout: number, onStdout?: (text: string) => void): Promise<ExecResult | null> {
  try {
    return await execDirect(rt, name, command, options, timeout, onStdout);
  } catch (err) {
    if (err instanceof ApiRefused) throw runtimeError(rt, `exec ${name}`, `Error: ${err.message}`);
    if (err instanceof ApiTimeout) throw new UserError(`\`${rt.bin} exec ${instanceRef(rt, name)}\` gave no answer within ${timeout / 1000}s. Is the daemon overloaded? Check \`${rt.bin} list\`.`);
    throw err;
  }
}

function isClientFailure(stderr: string): boolean {
  return /^Error: (Instance not found|Failed to|LXD unix socket|The incus daemon|You don't have|Instance is not running|Get "http)/m.test(stderr) || /not accessible|permission denied/.test(stderr);
}

/**
 * execIn that hands each line of stdout to `onLine` as it comes, for long commands whose progress a
 * user watches (setup_script). Returns the whole result as execIn does. Through the API directly
 * where it can be (the recorded output followed as it grows), else the client.
 */
export async function execStream(rt: Runtime, name: string, command: string[], options: ExecOptions & { timeout?: number }, onLine: (line: string) => void): Promise<ExecResult> {
  const timeout = options.timeout ?? EXEC_TIMEOUT_MS;
  let partial = '';
  const onStdout = (text: string) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop()!;
    for (const line of lines) onLine(line);
  };
  const direct = await execDirectly(rt, name, command, options, timeout, onStdout);
  if (direct) {
    if (partial) onLine(partial);
    if (direct.exitCode !== 0 && /^Error: /m.test(direct.stderr) && !direct.stdout && isClientFailure(direct.stderr)) throw runtimeError(rt, `exec ${name}`, direct.stderr);
    return direct;
  }
  const args = execArgs(instanceRef(rt, name), command, options);
  const p = $({ quiet: true, nothrow: true, stdio: ['ignore', 'pipe', 'pipe'] })`${rt.prefix ?? []} ${rt.bin} ${args}`;
  const timedOut = killAtDeadline(p, timeout);
  for await (const line of p) onLine(line);
  if (await timedOut) throw noAnswer(rt, `exec ${name}`, timeout);
  const r = await p;
  if (r.exitCode !== 0 && /^Error: /m.test(r.stderr) && !r.stdout && isClientFailure(r.stderr)) throw runtimeError(rt, `exec ${name}`, r.stderr);
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? 1 };
}

/** execIn that throws (with the command's stderr) unless the command exits 0; returns stdout. */
export async function execOk(rt: Runtime, name: string, command: string[], options: ExecOptions & { input?: string; timeout?: number } = {}): Promise<string> {
  const r = await execIn(rt, name, command, options);
  if (r.exitCode !== 0) {
    throw new UserError(`In ${name}, \`${command.join(' ')}\` exited ${r.exitCode}.`, { detail: (r.stderr || r.stdout).trim() });
  }
  return r.stdout;
}

/** Write `content` to `target` in the container (through stdin: nothing touches a shell or the host disk). */
export async function pushText(rt: Runtime, name: string, target: string, content: string, options: PushOptions = {}): Promise<void> {
  const args = filePushArgs('-', instanceRef(rt, name), target, options);
  await mustChange(rt, () => pushDirect(rt, name, target, content, options, FILE_PUSH_TIMEOUT_MS), args, FILE_PUSH_TIMEOUT_MS, content);
}

/** A file's content from the container, through the file API (not exec's output stream, which can drop). */
export async function pullText(rt: Runtime, name: string, source: string): Promise<string> {
  return mustRun(rt, filePullArgs(instanceRef(rt, name), source), FILE_PUSH_TIMEOUT_MS);
}

/** Copy a host file to `target` in the container. */
export async function pushFile(rt: Runtime, name: string, source: string, target: string, options: PushOptions = {}): Promise<void> {
  await mustRun(rt, filePushArgs(source, instanceRef(rt, name), target, options), FILE_PUSH_TIMEOUT_MS);
}

export async function createSnapshot(rt: Runtime, name: string, snapshot: string): Promise<void> {
  await mustRun(rt, snapshotCreateArgs(rt, instanceRef(rt, name), snapshot), SNAPSHOT_TIMEOUT_MS);
}

export async function restoreSnapshot(rt: Runtime, name: string, snapshot: string): Promise<void> {
  await mustRun(rt, snapshotRestoreArgs(rt, instanceRef(rt, name), snapshot), SNAPSHOT_TIMEOUT_MS);
}

export async function listSnapshots(rt: Runtime, name: string): Promise<Snapshot[]> {
  return read(rt, queryArgs(snapshotsPath(name), rt.remote), parseSnapshots);
}

/** One run of `probe`: through the API directly where it can be (no client start per poll), else the client. */
async function probeOnce(rt: Runtime, name: string, probe: string[], timeout: number): Promise<{ exitCode: number; stderr: string }> {
  const direct = await execStatusDirect(rt, name, probe, timeout);
  if (direct !== null) return { exitCode: direct, stderr: direct ? `\`${probe.join(' ')}\` exited ${direct}` : '' };
  return runClient(rt, execArgs(instanceRef(rt, name), probe), { timeout });
}

/** Poll until an exec of `probe` succeeds (a trivial one: init has brought up enough of the container). */
export async function waitForExec(rt: Runtime, name: string, timeoutMs = READY_TIMEOUT_MS, probe: string[] = ['true']): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    // Each poll gets a bounded share of the wait: one exec that hangs (killed then) is tried again.
    const pollTimeout = Math.max(1000, Math.min(READY_POLL_TIMEOUT_MS, deadline - Date.now()));
    const r = await probeOnce(rt, name, probe, pollTimeout).catch((err: Error) => ({ exitCode: -1, stderr: err.message }));
    if (r.exitCode === 0) return;
    last = r.stderr.trim();
    // exec works as soon as the container runs; before that it fails fast, so poll.
    if (Date.now() >= deadline) {
      throw new UserError(`Container ${name} did not become ready within ${timeoutMs / 1000}s. See \`${rt.bin} info ${name} --show-log\`.`, { detail: last });
    }
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
}

export async function listImages(rt: Runtime, timeout = QUERY_TIMEOUT_MS): Promise<Image[]> {
  const direct = await directly(rt, 'query', () => queryDirect(rt, IMAGES_PATH, timeout), timeout);
  if (direct) return parseImages(JSON.stringify(direct));
  return read(rt, queryArgs(IMAGES_PATH, rt.remote), parseImages, timeout);
}

/** The local image `ref` names (a local alias, or a copy cached from `remote:alias`), or null. */
export async function lookupImage(rt: Runtime, ref: string, timeout?: number): Promise<Image | null> {
  return findImage(await listImages(rt, timeout), ref);
}

/**
 * What `init` is given for `ref`: the local image when there is one (setup copied it, or built it
 * under the alias after `remote:`, when the server was unreachable), so no image server is asked;
 * else `ref` itself. `local` names the local image used, or null.
 */
export async function launchImage(rt: Runtime, ref: string): Promise<{ image: string; local: string | null; fingerprint: string | null }> {
  const found = await lookupImage(rt, ref);
  if (!found) return { image: ref, local: null, fingerprint: null };
  const { alias } = parseImageRef(ref);
  const local = found.aliases.includes(alias) ? alias : found.fingerprint.slice(0, 12);
  // On a remote the image found is the remote's own: named so, or the client would look locally.
  return { image: instanceRef(rt, found.aliases.includes(alias) ? alias : found.fingerprint), local, fingerprint: found.fingerprint };
}

export async function listStoragePools(rt: Runtime): Promise<string[]> {
  const direct = await directly(rt, 'query', () => queryDirect(rt, STORAGE_POOLS_PATH, QUERY_TIMEOUT_MS), QUERY_TIMEOUT_MS);
  if (direct) return parseStoragePools(JSON.stringify(direct));
  return read(rt, queryArgs(STORAGE_POOLS_PATH, rt.remote), parseStoragePools);
}

/** True when the daemon has at least one storage pool (containers cannot be created without one). */
export async function hasStoragePool(rt: Runtime): Promise<boolean> {
  return (await listStoragePools(rt)).length > 0;
}

export async function listNetworks(rt: Runtime): Promise<Network[]> {
  return read(rt, queryArgs(NETWORKS_PATH, rt.remote), parseNetworks);
}

/** The client binary, for commands run in panes (`lxc exec …` / `incus exec …`). */
