// The queue server as a detached process: start (wait for health, show the log tail if it dies),
// stop (SIGTERM, clean close), status; pid and log files under .isollm/. With queue.url set,
// isollm uses that external server and manages nothing.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/load.ts';
import { UserError } from '../cli/errors.ts';
import { libModule } from '../cli/package-files.ts';
import { processAlive, statePaths, writeFileAtomic } from '../project/root.ts';
import { QueueClient } from './client.ts';
import { advertiseComputed, ensureCertificate, remoteEndpoint, tlsFiles, writeEndpoint, type RemoteEndpoint } from './credentials.ts';
import { connectRuntime, runtimeOptions } from '../runtime/choose.ts';
import { reachableAddress } from '../runtime/remote-address.ts';

export const START_TIMEOUT_MS = 10_000;
export const STOP_TIMEOUT_MS = 10_000;
const POLL_MS = 100;
const LOG_TAIL_LINES = 15;
const MAIN = libModule('queue/main');

export type QueueState = {
  mode: 'embedded' | 'external';
  url: string;
  running: boolean;
  pid: number | null;
  /** A pid file was found whose process is gone (it was removed). */
  stalePid: number | null;
  log: string;
};

/** Where isollm reaches the queue for this project. */
export function queueUrl(config: Config): string {
  return config.queue.url ?? `http://127.0.0.1:${config.queue.port}`;
}

/** A client for this project's queue, as the host user. */
export function queueClient(root: string, config: Config): QueueClient {
  const external = config.queue.url;
  return new QueueClient(queueUrl(config), config.project, {
    downMessage: external ? `The queue at ${external} (queue.url) is not reachable. Start that server, or remove queue.url to use the embedded one.` : undefined,
  });
}

/** True when `pid` is a live (not zombie) queue server process. */
function isServer(pid: number): boolean {
  if (!processAlive(pid)) return false;
  try {
    // Linux: a reaped-late zombie is not running, and a recycled pid is not our server.
    if (/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))) return false;
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(MAIN);
  } catch {
    return true; // no /proc: trust the signal probe
  }
}

function readPid(file: string): number | null {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

export function queueState(root: string, config: Config): QueueState {
  const paths = statePaths(root);
  const base = { url: queueUrl(config), log: paths.queueLog, stalePid: null };
  if (config.queue.url) return { ...base, mode: 'external', running: false, pid: null };
  const pid = readPid(paths.queuePid);
  if (pid !== null && !isServer(pid)) {
    fs.rmSync(paths.queuePid, { force: true });
    return { ...base, mode: 'embedded', running: false, pid: null, stalePid: pid };
  }
  return { ...base, mode: 'embedded', running: pid !== null, pid };
}

/** The last `lines` lines of a log, reading only its end (the log is never rotated). */
export function logTail(file: string, lines = LOG_TAIL_LINES): string {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const length = Math.min(size, TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    fs.readSync(fd, buffer, 0, length, size - length);
    const text = buffer.toString('utf8').trimEnd().split('\n');
    // A read that started mid-line drops that partial first line.
    return (length < size ? text.slice(1) : text).slice(-lines).join('\n');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

const TAIL_BYTES = 256 * 1024;

/** Start the embedded server; refuses when it already runs. Returns the new state. */
export async function startQueue(root: string, config: Config, options: { timeoutMs?: number } = {}): Promise<QueueState> {
  const state = queueState(root, config);
  if (state.mode === 'external') throw new UserError(`queue.url is set (${state.url}): isollm uses that server and does not start one.`);
  if (state.running) throw new UserError(`The queue is already running (pid ${state.pid}, ${state.url}). Stop it first with \`isollm queue stop\`.`);
  const paths = statePaths(root);
  fs.mkdirSync(paths.dir, { recursive: true });
  const logStart = fileSize(paths.queueLog);
  const logFd = fs.openSync(paths.queueLog, 'a', 0o600);
  // The hub it serves to workers (git smart HTTP with the ref policy), as this command's config has it.
  const hub = ['--hub', config.git.hub, '--project', config.project, '--prefix', config.git.branch_prefix, '--base', config.git.base_branch];
  // notify.command goes along as a JSON argv: the server runs it on events (lib/queue/notify.ts).
  const notify = config.notify.command ? ['--notify', JSON.stringify(config.notify.command)] : [];
  // Remote workers: HTTPS with the project's certificate, which names the address they are given.
  const endpoint = await resolveRemoteEndpoint(config);
  if (endpoint) {
    await ensureCertificate(tlsFiles(paths.dir), [endpoint.advertise.host]);
    writeEndpoint(paths.dir, endpoint);
  }
  const tls = endpoint ? ['--tls', `${endpoint.listen.host.includes(':') ? `[${endpoint.listen.host}]` : endpoint.listen.host}:${endpoint.listen.port}`] : [];
  const child = spawn(process.execPath, [MAIN, root, String(config.queue.port), ...hub, ...notify, ...tls], { cwd: root, detached: true, stdio: ['ignore', logFd, logFd] });
  fs.closeSync(logFd);
  let exited: number | null = null;
  child.on('exit', (code, signal) => (exited = code ?? (signal ? 128 : 1)));
  child.unref();
  const pid = child.pid!;
  writeFileAtomic(paths.queuePid, `${pid}\n`, 0o600);

  const client = new QueueClient(state.url, config.project);
  const deadline = Date.now() + (options.timeoutMs ?? START_TIMEOUT_MS);
  try {
    while (Date.now() < deadline) {
      if (exited !== null) {
        fs.rmSync(paths.queuePid, { force: true });
        throw startFailure(paths.queueLog, logStart, config.queue.port, `exited with code ${exited}`);
      }
      if (await answersAsPid(client, pid)) return { ...state, running: true, pid };
      await sleep(POLL_MS);
    }
  } finally {
    client.close();
  }
  process.kill(pid, 'SIGKILL');
  fs.rmSync(paths.queuePid, { force: true });
  throw startFailure(paths.queueLog, logStart, config.queue.port, `did not answer within ${(options.timeoutMs ?? START_TIMEOUT_MS) / 1000}s`);
}

/**
 * remoteEndpoint, with the advertised host found when isollm.yaml leaves it open: this host's
 * address on the route to the remote (lib/runtime/remote-address.ts).
 */
export async function resolveRemoteEndpoint(config: Config): Promise<RemoteEndpoint | null> {
  if (!config.runtime.remote || config.runtime.remote === 'local') return null;
  const computed = advertiseComputed(config) ? await reachableAddress(await connectRuntime(runtimeOptions(config))) : null;
  return remoteEndpoint(config, computed?.host);
}

/** Start the queue unless it already runs (what `isollm up` wants). */
export async function ensureQueue(root: string, config: Config): Promise<QueueState> {
  const state = queueState(root, config);
  if (state.mode === 'external' || state.running) return state;
  return startQueue(root, config);
}

async function answersAsPid(client: QueueClient, pid: number): Promise<boolean> {
  try {
    const r = await fetch(`${client.url}/v1/health`, { signal: AbortSignal.timeout(1000) });
    return r.ok && r.headers.get('x-isollm-pid') === String(pid);
  } catch {
    return false;
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

function startFailure(log: string, from: number, port: number, what: string): UserError {
  let text = '';
  try {
    text = fs.readFileSync(log, 'utf8').slice(from);
  } catch {
    // no log: nothing to show
  }
  const tail = text.trimEnd().split('\n').slice(-LOG_TAIL_LINES).join('\n');
  const hint = /EADDRINUSE/.test(text)
    ? ` Port ${port} is in use (another program, or another project's queue): set queue.port in isollm.yaml.`
    : ` See ${log}.`;
  return new UserError(`The queue server ${what}.${hint}`, { detail: tail || undefined });
}

/** SIGTERM and wait for a clean close (SIGKILL after the timeout). Returns what happened. */
export async function stopQueue(root: string, config: Config, options: { timeoutMs?: number } = {}): Promise<{ state: QueueState; stopped: boolean; killed: boolean }> {
  const state = queueState(root, config);
  if (state.mode === 'external' || !state.running || state.pid === null) return { state, stopped: false, killed: false };
  const pid = state.pid;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + (options.timeoutMs ?? STOP_TIMEOUT_MS);
  while (Date.now() < deadline) {
    if (!isServer(pid)) break;
    await sleep(POLL_MS);
  }
  let killed = false;
  if (isServer(pid)) {
    process.kill(pid, 'SIGKILL');
    killed = true;
  }
  fs.rmSync(statePaths(root).queuePid, { force: true });
  return { state, stopped: true, killed };
}
