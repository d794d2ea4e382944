// The project's session: one isollm command that changes the session at a time (a lock that a
// crashed process cannot leave stuck), and session.json describing what `up` started.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { UserError } from '../cli/errors.ts';
import { bootId, processAlive, processStartTime, writeFileAtomic, type StatePaths } from './root.ts';

/** A worker of the last session whose agent `up` had to start again (after a reboot, a closed multiplexer). */
export type RecoveredWorker = {
  name: string;
  /** Its container was stopped and `up` started it. */
  container_started: boolean;
  mode: 'loop' | 'interactive';
  /** Interactive: the CLI's option that continued its last conversation (`claude --continue`); null: started afresh (it has none). */
  resumed_with: string | null;
  /** The task it held, which it goes on with (the loop takes it up again; an agent continues its conversation). */
  task: string | null;
};

export type Recovery = { at: string; workers: RecoveredWorker[] };

export type Session = {
  project: string;
  started_at: string;
  updated_at: string;
  workers: string[];
  multiplexer: { kind: 'zellij' | 'tmux' | 'none'; session: string | null };
  agent: { preset: string; mode: string };
  /** What the last `up` that had to restart agents of this session brought back. */
  recovered?: Recovery;
};

/**
 * Who holds a lock. `start` and `boot` (the holder's start time and this machine's boot, see
 * processStartTime) tell a live holder from a dead one whose pid a new process got; a record
 * without them (an older isollm's) is judged by its pid alone.
 */
export type LockRecord = { pid: number; command: string; since: string; start?: string; boot?: string };

/** This process's record for a lock taken for `command`. */
function ownRecord(command: string): LockRecord {
  const start = processStartTime(process.pid);
  return { pid: process.pid, command, since: new Date().toISOString(), ...(start ? { start } : {}), boot: bootId() };
}

/** The process that wrote `record` still runs: its pid is alive, in the same boot, with the same start time. */
function holderAlive(record: LockRecord): boolean {
  if (record.boot && bootId() && record.boot !== bootId()) return false;
  if (!processAlive(record.pid)) return false;
  if (!record.start) return true;
  const start = processStartTime(record.pid);
  // Unreadable (no /proc, or hidden): trust the signal probe.
  return start === null || start === record.start;
}

/**
 * Take the project's lock for `command` (up, down, worker add…). A lock whose process is gone is
 * stale and taken over. Returns the function that releases it.
 */
export function acquireLock(paths: StatePaths, command: string): () => void {
  for (let attempt = 0; attempt < 3; attempt++) {
    const taken = tryLock(paths.lock, command);
    if (typeof taken === 'function') return taken;
    if (taken.holder) {
      const holder = taken.holder;
      throw new UserError(
        `Another isollm command (\`isollm ${holder.command}\`, pid ${holder.pid}, since ${holder.since}) is working on this project. Wait for it to finish, or stop it and run this again.`,
      );
    }
    if (taken.starting) throw new UserError(`Another isollm command is starting on this project (${paths.lock}). Wait for it, or run this again.`);
  }
  throw new UserError(`Could not take the session lock ${paths.lock}. Remove it if no isollm command is running.`);
}

/** How often a waiting command looks at a lock again. */
const LOCK_POLL_MS = 200;
/** Locks this process holds through waitForLock, with how many times (it is re-entrant). */
const held = new Map<string, { depth: number; release: () => void }>();

/**
 * Take the lock in `file` for `command`, waiting while a live process holds it (`onWait` is told
 * who, once); a lock whose process died is taken over. Re-entrant within one process. Returns the
 * function that releases it.
 */
export async function waitForLock(file: string, command: string, options: { onWait?: (holder: LockRecord | null) => void; timeoutMs?: number } = {}): Promise<() => void> {
  const mine = held.get(file);
  if (mine) {
    mine.depth++;
    return once(() => --mine.depth === 0 && (held.delete(file), mine.release()));
  }
  const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000);
  let told = false;
  for (;;) {
    const taken = tryLock(file, command);
    if (typeof taken === 'function') {
      const entry = { depth: 1, release: taken };
      held.set(file, entry);
      return once(() => --entry.depth === 0 && (held.delete(file), entry.release()));
    }
    if (taken.holder || taken.starting) {
      if (!told) options.onWait?.(taken.holder);
      told = true;
      if (Date.now() > deadline) throw new UserError(`Gave up waiting for the lock ${file}${taken.holder ? ` (\`isollm ${taken.holder.command}\`, pid ${taken.holder.pid})` : ''}.`);
      await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
    }
  }
}

/** The live process holding the lock in `file`, or null. */
export function lockHolder(file: string): LockRecord | null {
  const holder = readLock(file);
  return holder && holderAlive(holder) ? holder : null;
}

function once(fn: () => unknown): () => void {
  let done = false;
  return () => {
    if (!done) (done = true), fn();
  };
}

/**
 * One try at the lock: the release function, or who holds it (a live process, or one taking it
 * this very moment: `starting`). A stale lock is removed, and the caller tries again.
 */
function tryLock(file: string, command: string): (() => void) | { holder: LockRecord | null; starting: boolean } {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  if (createExclusive(file, JSON.stringify(ownRecord(command)))) {
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      process.off('exit', release);
      // Only remove our own lock: a stale-lock takeover may have replaced it.
      if (readLock(file)?.pid === process.pid) fs.rmSync(file, { force: true });
    };
    process.once('exit', release);
    return release;
  }
  const found = inspect(file);
  if (!found) return { holder: null, starting: false }; // released this moment: try again
  if (!isStale(found)) return { holder: found.record, starting: found.record === null };
  return removeStale(file, found.ino) ? { holder: null, starting: false } : { holder: null, starting: true };
}

/** How old an unreadable lock (made by hand, or by an older isollm that wrote it in two steps) must be to count as stale. */
const FRESH_LOCK_MS = 5_000;

/**
 * A lock that appears whole, or not at all: its record goes into a file of ours, which is then
 * linked to the lock's name (link never replaces a file). False when the lock exists.
 */
function createExclusive(file: string, content: string): boolean {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, content, { flag: 'wx' });
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

type Found = { ino: number; ageMs: number; record: LockRecord | null };

/** The lock file as it is now: which file (its inode), how old, and its record (null: unreadable). */
function inspect(file: string): Found | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    // Inode and content of the same open file, whatever happens to the name meanwhile.
    const stat = fs.fstatSync(fd);
    return { ino: stat.ino, ageMs: Date.now() - stat.mtimeMs, record: parseLock(fs.readFileSync(fd, 'utf8')) };
  } finally {
    fs.closeSync(fd);
  }
}

/** Its process died or its pid is another process's now (our own pid: a lock this process left), or it is unreadable and not being written. */
function isStale(found: Found): boolean {
  if (found.record) return found.record.pid === process.pid || !holderAlive(found.record);
  return found.ageMs >= FRESH_LOCK_MS;
}

/**
 * Remove the stale lock `file` if it is still the file `ino`, as one taker among any number: the
 * taker is whoever creates `<file>.takeover-<ino>` (exclusively), and it looks again under it, so a
 * lock another taker has meanwhile replaced and taken is never removed. A takeover file left by a
 * taker that died is stale in turn and removed the same way. False while another taker is at it;
 * true when the caller should try again.
 */
function removeStale(file: string, ino: number): boolean {
  const guard = `${file}.takeover-${ino}`;
  if (!createExclusive(guard, JSON.stringify(ownRecord('takeover')))) {
    const other = inspect(guard);
    return other !== null && isStale(other) && removeStale(guard, other.ino);
  }
  try {
    const now = inspect(file);
    if (now && now.ino === ino && isStale(now)) fs.rmSync(file, { force: true });
    return true;
  } finally {
    fs.rmSync(guard, { force: true });
  }
}

function parseLock(text: string): LockRecord | null {
  try {
    const value = JSON.parse(text) as LockRecord;
    return typeof value?.pid === 'number' ? value : null;
  } catch {
    return null;
  }
}

function readLock(file: string): LockRecord | null {
  try {
    return parseLock(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

export function readSession(paths: StatePaths): Session | null {
  try {
    return JSON.parse(fs.readFileSync(paths.session, 'utf8')) as Session;
  } catch {
    // Missing or torn (it is written atomically, so torn means hand-edited): no session.
    return null;
  }
}

export function writeSession(paths: StatePaths, session: Session): void {
  writeFileAtomic(paths.session, JSON.stringify({ ...session, updated_at: new Date().toISOString() }, null, 2) + '\n');
}

export function clearSession(paths: StatePaths): void {
  fs.rmSync(paths.session, { force: true });
}
