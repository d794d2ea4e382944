// Worker creation as data: names, container config, devices and the files pushed into the
// container. create.ts carries the plan out through the runtime gateway (lib/runtime/client.ts).
import fs from 'node:fs';
import path from 'node:path';
import { AGENT_DIR, DEV_HOME, envFile, linesFile, planAgent, presetOutput, PROJECT_DIR, readContext, renderInstructions, TEMPLATES } from '../agent/presets.ts';
import type { Config } from '../config/load.ts';
import { MAX_INSTANCE_NAME } from '../config/schema.ts';
import { GIT_PATH } from '../hub/smart-http.ts';
import { stateHookFiles, withHookFiles } from '../agent/hooks.ts';
import { WORKER_SOCKET_FILE } from '../project/root.ts';

export const HUB_MOUNT = '/repo.git';
export const WORKER_ENV_FILE = '/etc/isollm/worker.env';
export const BIN_DIR = '/usr/local/bin';
/** The names isollm gives workers: worker-1, worker-2, … */
const DEFAULT_NAME = /^worker-(\d+)$/;
/** A name given by hand: lowercase letters, digits and single hyphens, starting with a letter. */
const GIVEN_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

export function containerName(project: string, worker: string): string {
  return `${project}-${worker}`;
}

/** True for a name isollm gives its workers (worker-N), whether or not that worker exists now. */
export function isDefaultWorkerName(name: string): boolean {
  return DEFAULT_NAME.test(name);
}

/** What is wrong with a worker name given by hand, or undefined when it will do. */
export function checkWorkerName(project: string, name: string): string | undefined {
  if (!GIVEN_NAME.test(name)) return `worker name "${name}" must be lowercase letters, digits and single hyphens, starting with a letter`;
  if (containerName(project, name).length > MAX_INSTANCE_NAME) return `worker name "${name}" makes the container name longer than ${MAX_INSTANCE_NAME} characters`;
  return undefined;
}

/** `count` new worker names, filling gaps first: worker-1, worker-2, … never one that exists. */
export function nextWorkerNames(existing: string[], count: number): string[] {
  const taken = new Set(existing);
  const names: string[] = [];
  for (let n = 1; names.length < count; n++) {
    const name = `worker-${n}`;
    if (!taken.has(name)) names.push(name);
  }
  return names;
}

/** The number in `worker-N` (1 for names that have none), used to offset forwarded host ports. */
export function workerIndex(worker: string): number {
  return Number(DEFAULT_NAME.exec(worker)?.[1] ?? 1);
}

export type PortForward = { host: number; container: number };

/**
 * `ports` entries are `N` or `HOST:CONTAINER`. Each worker needs its own host port, so worker-K
 * listens on HOST + K - 1 (worker-1 on HOST itself).
 */
export function portForwards(ports: string[], worker: string): PortForward[] {
  const offset = workerIndex(worker) - 1;
  return ports.map((entry) => {
    const [a, b] = entry.split(':');
    const container = Number(b ?? a);
    return { host: Number(a) + offset, container };
  });
}

export type DeviceSpec =
  | { type: 'disk'; source: string; path: string; shift?: boolean; readonly?: boolean }
  | { type: 'proxy'; listen: string; connect: string; bind: 'host' | 'instance' };

/**
 * The hub at /repo.git, read-only: workers clone and fetch from it; their pushes go to HUB_PUSH_URL,
 * where the ref policy applies. Mounted once dev exists (idmapped with shift, else shared by ACLs).
 */
export function hubDevice(config: Config, shift: boolean): DeviceSpec & { type: 'disk' } {
  return { type: 'disk', source: config.git.hub, path: HUB_MOUNT, readonly: true, ...(shift ? { shift } : {}) };
}

/** Where a worker's git pushes: the hub's smart-HTTP endpoint on its own queue socket. */
export function hubPushUrl(config: Config): string {
  return `http://127.0.0.1:${config.queue.port}${GIT_PATH}`;
}

/**
 * How a worker reaches its queue socket on the host. `mount`: the socket's own host directory is
 * mounted into the container (and nothing else of the host's sockets), where a systemd socket unit
 * of the base forwards 127.0.0.1:<queue.port> to it (starting costs what any mount costs). `proxy`:
 * the runtime's proxy device does both (about a second to start on LXD 5.0); for images without
 * systemd-socket-proxyd.
 */
export type QueueLinkKind = 'mount' | 'proxy';
/** Where a worker's socket directory is mounted (not under /run: systemd mounts a tmpfs over it). */
export const QUEUE_MOUNT = '/var/lib/isollm/queue';

/** The queue device of a worker whose socket is `socketPath` on the host. */
export function queueDevice(config: Config, socketPath: string, link: QueueLinkKind): DeviceSpec {
  return link === 'mount'
    ? { type: 'disk', source: path.dirname(socketPath), path: QUEUE_MOUNT, readonly: true }
    : { type: 'proxy', bind: 'instance', listen: `tcp:127.0.0.1:${config.queue.port}`, connect: `unix:${socketPath}` };
}

/**
 * Devices a worker is given: the queue (the agent reaches it at 127.0.0.1 inside, with no network;
 * the socket it ends at is the worker's identity) and forwarded ports.
 */
export function workerDevices(config: Config, socketPath: string, worker: string, link: QueueLinkKind = 'proxy'): Record<string, DeviceSpec> {
  const devices: Record<string, DeviceSpec> = { queue: queueDevice(config, socketPath, link) };
  for (const { host, container } of portForwards(config.ports, worker)) {
    devices[`port-${container}`] = { type: 'proxy', bind: 'host', listen: `tcp:127.0.0.1:${host}`, connect: `tcp:127.0.0.1:${container}` };
  }
  return devices;
}

/**
 * systemd units of the base for the `mount` link: a socket on 127.0.0.1:<queue.port> whose
 * connections systemd-socket-proxyd carries to the mounted socket. Both enabled and started at
 * boot: the first connection then finds the forwarder running (activating it on demand took up to
 * a second under load).
 */
export function queueForwarderFiles(config: Config, proxyd: string): PushFile[] {
  // No default dependencies: listening on loopback needs nothing that boots after it (PID 1 brings lo
  // up first), so the queue answers within moments of the copy's start, not at the end of its boot.
  const socket = `[Unit]
Description=isollm queue on 127.0.0.1:${config.queue.port} (to this worker's socket on the host)
DefaultDependencies=no
Conflicts=shutdown.target
Before=shutdown.target

[Socket]
ListenStream=127.0.0.1:${config.queue.port}

[Install]
WantedBy=sockets.target
`;
  const service = `[Unit]
Description=isollm queue forwarder
DefaultDependencies=no
Requires=isollm-queue.socket
After=isollm-queue.socket
Conflicts=shutdown.target
Before=shutdown.target

[Service]
ExecStart=${proxyd} ${QUEUE_MOUNT}/${WORKER_SOCKET_FILE}

[Install]
WantedBy=sockets.target
`;
  return [
    { path: `${SYSTEMD_DIR}/isollm-queue.socket`, content: socket, mode: 0o644, owner: 'root' },
    { path: `${SYSTEMD_DIR}/isollm-queue.service`, content: service, mode: 0o644, owner: 'root' },
  ];
}
const SYSTEMD_DIR = '/etc/systemd/system';

/** Container config keys: the tags isollm lists by, and resource limits. */
export function workerConfigKeys(config: Config, worker: string): Record<string, string> {
  const keys: Record<string, string> = { 'user.isollm.project': config.project, 'user.isollm.worker': worker };
  if (config.limits.cpu !== null) keys['limits.cpu'] = String(config.limits.cpu);
  if (config.limits.memory !== null) keys['limits.memory'] = config.limits.memory;
  return keys;
}

/** Properties of a worker's root disk: its size (`limits.disk`), when limited. */
export function workerRootDisk(config: Config): Record<string, string> {
  return config.limits.disk === null ? {} : { size: config.limits.disk };
}

/** This worker's settings, read by isollm-task, isollm-agent and isollm-loop inside the container. */
export function workerEnv(config: Config, worker: string): Record<string, string> {
  const output = presetOutput(config.agent.preset);
  return {
    ISOLLM_PROJECT: config.project,
    ISOLLM_WORKER: worker,
    ISOLLM_QUEUE_URL: `http://127.0.0.1:${config.queue.port}`,
    ISOLLM_BRANCH_PREFIX: config.git.branch_prefix,
    ISOLLM_BASE_BRANCH: config.git.base_branch,
    ISOLLM_PROJECT_DIR: PROJECT_DIR,
    ISOLLM_POLL_INTERVAL: String(config.agent.loop.poll_interval),
    ISOLLM_GIVE_UP_AFTER: String(config.agent.loop.give_up_after),
    ISOLLM_MAX_KILLED_RUNS: String(config.agent.loop.max_killed_runs),
    // The loop sends the headless run's output in this format to the queue, which reads it.
    ...(output ? { ISOLLM_AGENT_OUTPUT: output } : {}),
  };
}

export type PushFile = { path: string; content: string; mode: number; owner: 'root' | 'dev' };

/** This worker's settings file: the one file that differs between workers. */
export function workerEnvFile(config: Config, worker: string, access: { url: string } | null = null): PushFile {
  // A remote worker reaches the queue over HTTPS; curl reads the pin and credential from a file.
  const remote: Record<string, string> = access ? { ISOLLM_QUEUE_URL: access.url, ISOLLM_QUEUE_CURLRC: REMOTE_CURLRC } : {};
  return { path: WORKER_ENV_FILE, content: envFile({ ...workerEnv(config, worker), ...remote }, 'worker settings'), mode: 0o644, owner: 'root' };
}

/** dev's git identity in a worker, in a file of its own that the base's ~/.gitconfig includes (relative to it). */
export const WORKER_GITCONFIG = '.gitconfig-worker';

/** A worker's git identity: its name, as the author of its commits. */
export function workerGitIdentity(worker: string): PushFile {
  return { path: `${DEV_HOME}/${WORKER_GITCONFIG}`, content: `[user]\n\tname = ${worker}\n\temail = ${worker}@isollm.local\n`, mode: 0o644, owner: 'dev' };
}

/** Where a remote worker's curl config (pin and credential) lives: dev's own, 0600 (lib/worker/remote.ts). */
export const REMOTE_CURLRC = `${DEV_HOME}/.config/isollm/queue.curlrc`;

/** The helper scripts, the same in every worker: installed once in the base. */
export function helperFiles(): PushFile[] {
  const script = (name: string): PushFile => ({ path: `${BIN_DIR}/${name}`, content: fs.readFileSync(path.join(TEMPLATES, name), 'utf8'), mode: 0o755, owner: 'root' });
  return [script('isollm-task'), script('isollm-agent'), script('isollm-loop'), script('isollm-state'), script('isollm-demo-agent')];
}

/** Settings and helpers, as `up` pushes them again (so a newer isollm reaches existing workers). */
export function baseFiles(config: Config, worker: string, access: { url: string } | null = null): PushFile[] {
  return [workerEnvFile(config, worker, access), ...helperFiles()];
}

/**
 * Files written at every launch of the agent (so config changes apply): instructions, argv files,
 * the files in the agent's home that keep its first-run dialogs from stopping it, and the
 * environment with secrets — 0600, owned by dev, inside the container only.
 */
export function agentFiles(config: Config, root: string, worker: string, secrets: Record<string, string>): PushFile[] {
  const plan = planAgent(config.agent);
  const instructions = renderInstructions(config, worker, readContext(config, root));
  const files: PushFile[] = [
    { path: plan.instructionsPath, content: instructions, mode: 0o644, owner: 'dev' },
    ...plan.homeFiles(secrets).map((f): PushFile => ({ ...f, owner: 'dev' })),
    { path: `${AGENT_DIR}/agent.argv`, content: linesFile(plan.interactive, 'agent command'), mode: 0o644, owner: 'dev' },
    // Empty when the CLI cannot continue a conversation: `isollm-agent resume` then starts afresh.
    { path: `${AGENT_DIR}/resume.argv`, content: linesFile(plan.resume ?? [], 'agent command'), mode: 0o644, owner: 'dev' },
    { path: `${AGENT_DIR}/headless.argv`, content: linesFile(plan.headless, 'agent command'), mode: 0o644, owner: 'dev' },
    { path: `${AGENT_DIR}/agent.env`, content: envFile({ ...plan.env, ...secrets }, 'agent environment'), mode: 0o600, owner: 'dev' },
  ];
  // The agent's own hooks report its state (user-level settings, outside the project tree), joined
  // into any settings file the preset writes itself.
  return withHookFiles(files, stateHookFiles(config), (f): PushFile => ({ mode: 0o644, owner: 'dev', ...f }));
}

export { DEV_HOME, PROJECT_DIR };
