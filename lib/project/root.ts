// Where the user's project is, and where isollm keeps its state inside it.
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { UserError } from '../cli/errors.ts';

export const CONFIG_FILE = 'isollm.yaml';
export const STATE_DIR = '.isollm';

/** The directory a command starts from: --project, else INIT_CWD (set by npm/npx), else the cwd. */
export function startDir(projectFlag?: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return path.resolve(cwd, projectFlag ?? env.INIT_CWD ?? cwd);
}

/** Walk up from `from` to the nearest directory holding isollm.yaml; null when there is none. */
export function findProjectRoot(from: string): string | null {
  let dir = path.resolve(from);
  for (;;) {
    if (fs.existsSync(path.join(dir, CONFIG_FILE))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/** The project root for a command that needs one, or a clear error saying how to make one. */
export function requireProjectRoot(projectFlag?: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  const from = startDir(projectFlag, env, cwd);
  if (projectFlag && !fs.existsSync(from)) throw new UserError(`--project ${projectFlag}: no such directory.`);
  const root = findProjectRoot(from);
  if (!root) throw new UserError(`No ${CONFIG_FILE} in ${from} or above. Run \`isollm init\` there first, or pass --project DIR.`);
  return root;
}

export type StatePaths = ReturnType<typeof statePaths>;

/** A worker's queue socket: `<sockets>/<worker>/queue.sock`, alone in a directory mounted into that worker. */
export const WORKER_SOCKET_FILE = 'queue.sock';

/** Every file isollm keeps in `<project>/.isollm/`. */
export function statePaths(root: string) {
  const dir = path.join(root, STATE_DIR);
  return {
    root,
    config: path.join(root, CONFIG_FILE),
    dir,
    session: path.join(dir, 'session.json'),
    lock: path.join(dir, 'session.lock'),
    /** Held while the project's bases are built, copied from or removed. */
    baseLock: path.join(dir, 'base.lock'),
    queueDb: path.join(dir, 'queue.db'),
    queuePid: path.join(dir, 'queue.pid'),
    queueLog: path.join(dir, 'queue.log'),
    sockets: path.join(dir, 'sockets'),
    layouts: path.join(dir, 'layouts'),
    logs: path.join(dir, 'logs'),
  };
}

/** Write a file atomically (temp file + rename), so a crash never leaves half a file. */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    fs.writeFileSync(tmp, data, { mode });
    fs.chmodSync(tmp, mode); // writeFileSync's mode is filtered by the umask
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** True when a process with this pid exists (signal 0 probes without signalling). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * When process `pid` started, in clock ticks since boot (field 22 of /proc/<pid>/stat): with the
 * pid it names one process of this boot, where a pid alone is reused. Null when it is not running
 * or /proc does not show it.
 */
export function processStartTime(pid: number): string | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // After the command's name in parentheses (which may hold anything): state is field 3.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
}

let boot: string | undefined;

/** This boot of the machine (Linux's boot id, read once: it never changes under a process); '' where there is none. */
export function bootId(): string {
  if (boot === undefined) {
    try {
      boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      boot = '';
    }
  }
  return boot;
}
