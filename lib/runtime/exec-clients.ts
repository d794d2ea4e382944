// Exec clients on this host: the `lxc exec` / `incus exec` processes running a command in a
// container (multiplexer panes, our own runs). One whose container is gone, or whose owner (a pane's
// multiplexer session) ended, may never end by itself: the client forwards SIGHUP and SIGTERM to the
// command inside, and once that fails (no container) it goes on catching them and waits forever
// (LXD 5.0.2 and Incus here, a pane's client after `tmux kill-server` and `lxc delete`). So they are
// found by their argv in /proc and ended: SIGTERM, then SIGKILL after a grace period.
import fs from 'node:fs';
import path from 'node:path';
import { instanceRef } from './argv.ts';
import type { Runtime } from './detect.ts';

/** How long a client has to end after SIGTERM (forwarded to a command that may clean up) before SIGKILL. */
export const EXEC_CLIENT_GRACE_MS = 3_000;
const POLL_MS = 100;
const KILL_WAIT_MS = 2_000;

export type ExecClient = { pid: number; container: string; command: string[]; leader: boolean };

/** The container (as named on the command line) and command of an exec client of `bin`, from its argv; null for any other process. */
export function parseExecClient(argv: string[], bin: string): { ref: string; command: string[] } | null {
  if (argv.length < 3 || path.basename(argv[0]) !== path.basename(bin) || argv[1] !== 'exec') return null;
  const end = argv.indexOf('--', 3);
  return { ref: argv[2], command: end === -1 ? [] : argv.slice(end + 1) };
}

/** `/proc/<pid>/stat` → process group and state (the command name in parentheses may hold anything). */
export function parseStat(text: string): { state: string; pgrp: number } | null {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const pgrp = Number(fields[2]);
  return fields[0] && Number.isInteger(pgrp) ? { state: fields[0], pgrp } : null;
}

function stat(pid: number): { state: string; pgrp: number } | null {
  try {
    return parseStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** Running, not a zombie waiting for its parent. */
function running(pid: number): boolean {
  const s = stat(pid);
  return s !== null && s.state !== 'Z' && s.state !== 'X';
}

/** This host's exec clients of `rt` into `containers` whose command `wanted` accepts (default: any). */
export function findExecClients(rt: Pick<Runtime, 'bin' | 'remote'>, containers: string[], wanted: (command: string[]) => boolean = () => true): ExecClient[] {
  const refs = new Map(containers.map((c) => [instanceRef(rt, c), c]));
  if (!refs.size) return [];
  const found: ExecClient[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return []; // no procfs: nothing to find
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // ended meanwhile
    }
    if (argv.at(-1) === '') argv.pop();
    const client = parseExecClient(argv, rt.bin);
    const container = client && refs.get(client.ref);
    if (!client || !container || !wanted(client.command) || pid === process.pid) continue;
    const s = stat(pid);
    if (s && running(pid)) found.push({ pid, container, command: client.command, leader: s.pgrp === pid });
  }
  return found;
}

function signal(client: ExecClient, sig: NodeJS.Signals): void {
  try {
    // A pane's client leads a process group of its own: the whole group. Else only the client: its
    // group is its owner's (ours, for a client we started).
    process.kill(client.leader ? -client.pid : client.pid, sig);
  } catch {
    // Ended meanwhile, or another user's (not ours to end).
  }
}

/** End `clients`: SIGTERM, then SIGKILL for any still running after `graceMs`. Returns the pids that had to be killed. */
export async function endExecClients(clients: ExecClient[], graceMs = EXEC_CLIENT_GRACE_MS): Promise<number[]> {
  if (!clients.length) return [];
  for (const c of clients) signal(c, 'SIGTERM');
  const left = await whileRunning(clients, graceMs);
  for (const c of left) signal(c, 'SIGKILL');
  // A client's threads take a moment to end after SIGKILL: it is gone when this returns.
  await whileRunning(left, KILL_WAIT_MS);
  return left.map((c) => c.pid);
}

/** Wait until none of `clients` runs, or `ms` passed; those still running. */
async function whileRunning(clients: ExecClient[], ms: number): Promise<ExecClient[]> {
  const deadline = Date.now() + ms;
  let left = clients.filter((c) => running(c.pid));
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    left = left.filter((c) => running(c.pid));
  }
  return left;
}
