// land.auto: the lander as a service of the session. `isollm up` starts `isollm land --watch`
// detached on the host (pid and log under .isollm/), `isollm down` stops it; with a multiplexer its
// pane runs `isollm land --follow`, which shows that log live (so closing the pane, or the session
// going, never stops a landing half-way, and a crashed lander is started again by the next `up`).
// One lander per project: it holds lander.pid (made exclusively), a second one refuses to start.
// Killing it mid-run is safe: the base moves only by compare-and-swap after a green test, a stale
// test container and land lock are cleared by the next run.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { DISPATCHER } from '../cli/package-files.ts';
import { processAlive } from '../project/root.ts';

export const LANDER_STOP_TIMEOUT_MS = 10_000;
const POLL_MS = 100;

export type LanderFiles = { pid: string; log: string };

export function landerFiles(stateDir: string): LanderFiles {
  return { pid: path.join(stateDir, 'lander.pid'), log: path.join(stateDir, 'lander.log') };
}

/** The lander's pid when it runs (a pid file whose process is gone is removed). */
export function landerPid(stateDir: string): number | null {
  const files = landerFiles(stateDir);
  let pid: number;
  try {
    pid = Number(fs.readFileSync(files.pid, 'utf8').trim());
  } catch {
    return null;
  }
  if (Number.isInteger(pid) && pid > 0 && processAlive(pid) && isLander(pid)) return pid;
  fs.rmSync(files.pid, { force: true });
  return null;
}

/** `… land --watch …` (the tmux server's argv holds every pane's command: not a lander). */
function isLander(pid: number): boolean {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.includes('--watch') && !/^(tmux|zellij)/.test(path.basename(argv[0]));
  } catch {
    return true; // no /proc: trust the signal probe
  }
}

/**
 * Take the project's lander slot for `pid`: lander.pid is created exclusively, so of two landers
 * starting at once only one gets it. Returns null when `pid` holds it, else the pid of the lander
 * that does.
 */
export function claimLander(stateDir: string, pid: number): number | null {
  const file = landerFiles(stateDir).pid;
  fs.mkdirSync(stateDir, { recursive: true });
  for (;;) {
    const holder = landerPid(stateDir); // a stale file is removed here
    if (holder !== null) return holder === pid ? null : holder;
    try {
      const fd = fs.openSync(file, 'wx', 0o600);
      fs.writeSync(fd, `${pid}\n`);
      fs.closeSync(fd);
      return null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Another lander made it between our look and our write: look again.
    }
  }
}

/** Give the slot up when `pid` holds it (a lander ending). */
export function releaseLander(stateDir: string, pid: number): void {
  const file = landerFiles(stateDir).pid;
  try {
    if (Number(fs.readFileSync(file, 'utf8').trim()) === pid) fs.rmSync(file, { force: true });
  } catch {
    // no file: nothing to give up
  }
}

/** Start `isollm land --watch` for the project unless one runs. Returns its pid and whether it was started now. */
export function ensureLander(root: string, stateDir: string, intervalSeconds: number): { pid: number; started: boolean } {
  const running = landerPid(stateDir);
  if (running) return { pid: running, started: false };
  const files = landerFiles(stateDir);
  fs.mkdirSync(stateDir, { recursive: true });
  const logFd = fs.openSync(files.log, 'a', 0o600);
  const args = [DISPATCHER, 'land', '--watch', '--interval', String(intervalSeconds), '--project', root];
  const child = spawn(process.execPath, args, { cwd: root, detached: true, stdio: ['ignore', logFd, logFd], env: { ...process.env, NO_COLOR: '1' } });
  fs.closeSync(logFd);
  child.unref();
  // The child claims the slot itself too; whichever comes first, it is the child's.
  const other = claimLander(stateDir, child.pid!);
  if (other !== null) {
    child.kill('SIGTERM'); // lost a race with a lander started meanwhile: that one stays
    return { pid: other, started: false };
  }
  return { pid: child.pid!, started: true };
}

/** The lander's pane (land.auto with a multiplexer): `isollm land --follow`, the service's log live. */
export function landerPaneCommand(root: string): string[] {
  return [process.execPath, DISPATCHER, 'land', '--follow', '--project', root];
}

/** SIGTERM the lander and wait (SIGKILL after the timeout). False when none ran. */
export async function stopLander(stateDir: string): Promise<boolean> {
  const pid = landerPid(stateDir);
  if (!pid) return false;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + LANDER_STOP_TIMEOUT_MS;
  while (Date.now() < deadline && processAlive(pid)) await sleep(POLL_MS);
  if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  fs.rmSync(landerFiles(stateDir).pid, { force: true });
  return true;
}
