// land.auto: the lander as a service of the session. `isollm up` starts `isollm land --watch`
// detached on the host (pid and log under .isollm/), `isollm down` stops it. Killing it mid-run is
// safe: the base moves only by compare-and-swap after a green test, a stale test container and
// land lock are cleared by the next run.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { DISPATCHER } from '../cli/package-files.ts';
import { processAlive, writeFileAtomic } from '../project/root.ts';

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

function isLander(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--watch');
  } catch {
    return true; // no /proc: trust the signal probe
  }
}

/** Start `isollm land --watch` for the project unless it runs. Returns its pid and whether it was started now. */
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
  writeFileAtomic(files.pid, `${child.pid}\n`, 0o600);
  return { pid: child.pid!, started: true };
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
