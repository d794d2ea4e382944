// The project's session: one isollm command that changes the session at a time (a lock that a
// crashed process cannot leave stuck), and session.json describing what `up` started.
import fs from 'node:fs';
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

type LockRecord = { pid: number; command: string; since: string };

/**
 * Take the project's lock for `command` (up, down, worker add…). A lock whose process is gone is
 * stale and taken over. Returns the function that releases it.
 */
export function acquireLock(paths: StatePaths, command: string): () => void {
  fs.mkdirSync(paths.dir, { recursive: true });
  const record: LockRecord = { pid: process.pid, command, since: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(paths.lock, JSON.stringify(record), { flag: 'wx' });
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        // Only remove our own lock: a stale-lock takeover may have replaced it.
        if (readLock(paths)?.pid === process.pid) fs.rmSync(paths.lock, { force: true });
      };
      process.once('exit', release);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = readLock(paths);
    if (holder && processAlive(holder.pid) && holder.pid !== process.pid) {
      throw new UserError(
        `Another isollm command (\`isollm ${holder.command}\`, pid ${holder.pid}, since ${holder.since}) is working on this project. Wait for it to finish, or stop it and run this again.`,
      );
    }
    // A lock another command is writing this very moment is unreadable for an instant: only an
    // unreadable lock that has been there a while is stale.
    if (!holder && lockAgeMs(paths) < FRESH_LOCK_MS) {
      throw new UserError(`Another isollm command is starting on this project (${paths.lock}). Wait for it, or run this again.`);
    }
    // Stale (its process died) or unreadable and old: take it over.
    fs.rmSync(paths.lock, { force: true });
  }
  throw new UserError(`Could not take the session lock ${paths.lock}. Remove it if no isollm command is running.`);
}

const FRESH_LOCK_MS = 5_000;

function lockAgeMs(paths: StatePaths): number {
  try {
    return Date.now() - fs.statSync(paths.lock).mtimeMs;
  } catch {
    return Infinity;
  }
}

function readLock(paths: StatePaths): LockRecord | null {
  try {
    const value = JSON.parse(fs.readFileSync(paths.lock, 'utf8')) as LockRecord;
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
