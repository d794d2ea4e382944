// The project's session: one isollm command that changes the session at a time (a lock that a
// crashed process cannot leave stuck), and session.json describing what `up` started.
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { UserError } from '../cli/errors.ts';
import { processAlive, writeFileAtomic, type StatePaths } from './root.ts';

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

export type LockRecord = { pid: number; command: string; since: string };

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
  return holder && processAlive(holder.pid) ? holder : null;
}

function once(fn: () => unknown): () => void {
  let done = false;
  return () => {
    if (!done) (done = true), fn();
  };
}

/**
 * One try at the lock: the release function, or who holds it (a live process, or one writing it
 * this very moment: `starting`). A stale lock is removed, and the caller tries again.
 */
function tryLock(file: string, command: string): (() => void) | { holder: LockRecord | null; starting: boolean } {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const record: LockRecord = { pid: process.pid, command, since: new Date().toISOString() };
  try {
    fs.writeFileSync(file, JSON.stringify(record), { flag: 'wx' });
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
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const holder = readLock(file);
  if (holder && processAlive(holder.pid) && holder.pid !== process.pid) return { holder, starting: false };
  // A lock another command is writing this very moment is unreadable for an instant: only an
  // unreadable lock that has been there a while is stale.
  if (!holder && lockAgeMs(file) < FRESH_LOCK_MS) return { holder: null, starting: true };
  // Stale (its process died) or unreadable and old: take it over.
  fs.rmSync(file, { force: true });
  return { holder: null, starting: false };
}

const FRESH_LOCK_MS = 5_000;

function lockAgeMs(file: string): number {
  try {
    return Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return Infinity;
  }
}

function readLock(file: string): LockRecord | null {
  try {
    const value = JSON.parse(fs.readFileSync(file, 'utf8')) as LockRecord;
    return typeof value.pid === 'number' ? value : null;
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
