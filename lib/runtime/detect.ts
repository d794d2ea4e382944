// Which container runtime (LXD's `lxc` or Incus's `incus`) is here, and whether we may talk to it.
// Three failures a user meets are told apart, each with its fix: no client, a daemon that does not
// answer, and a daemon that refuses this user (unix socket permissions / group membership).
import fs from 'node:fs';
import os from 'node:os';
import { UserError } from '../cli/errors.ts';
import { findOnPath } from '../cli/which.ts';

export { findOnPath };

export type RuntimeName = 'lxd' | 'incus';
export type Runtime = {
  kind: RuntimeName;
  /** The client binary: what panes run (`lxc exec …` / `incus exec …`). */
  bin: 'lxc' | 'incus';
  /** The unix group whose members may use the daemon. */
  group: 'lxd' | 'incus-admin';
  /** Run the client through this (`['sudo']` during setup, before a new group membership applies). */
  prefix?: string[];
  /**
   * A remote of the client (`lxc remote list`) holding the containers: every call names
   * `remote:container` (client.ts). Unset: the local daemon.
   */
  remote?: string;
  /** Cluster members new containers are spread over (`--target`), in turn. */
  targets?: readonly string[];
};

/** The runtime `rt` talking to `remote` (null/undefined: the local daemon) and its cluster members. */
export function onRemote(rt: Runtime, remote?: string | null, targets: readonly string[] = []): Runtime {
  const { remote: _r, targets: _t, ...local } = rt;
  return { ...local, ...(remote && remote !== 'local' ? { remote } : {}), ...(targets.length ? { targets: [...targets] } : {}) };
}

export const RUNTIMES: Record<RuntimeName, Runtime> = {
  lxd: { kind: 'lxd', bin: 'lxc', group: 'lxd' },
  incus: { kind: 'incus', bin: 'incus', group: 'incus-admin' },
};

/** How long the daemon gets to answer a trivial query before we call it unresponsive. */
export const PING_TIMEOUT_MS = 10_000;

/** The runtime of that name, when its client is installed (which one to use: choose.ts). */
export function detectRuntime(kind: RuntimeName, envPath?: string): Runtime {
  const rt = RUNTIMES[kind];
  if (!findOnPath(rt.bin, envPath)) throw missingClientError(kind);
  return rt;
}

export function missingClientError(kind: 'auto' | RuntimeName): UserError {
  const what = kind === 'auto' ? 'Neither `incus` nor `lxc` (LXD) is installed' : `The ${kind === 'lxd' ? '`lxc` client (LXD)' : '`incus` client'} is not installed`;
  const runtime = kind === 'auto' ? '' : ` --runtime ${kind}`;
  return new UserError(`${what}. Run \`isollm setup${runtime}\` to install it.`);
}

export type Failure = 'daemon' | 'permission' | 'other';

/**
 * What a failed client call means, from its stderr (LXD 5.0 captured here; Incus from its client source):
 *   lxc:   Error: Get "http://unix.socket/1.0": dial unix /var/lib/lxd/unix.socket: connect: no such file or directory
 *   lxc:   Error: LXD unix socket "…" not accessible: … connect: permission denied
 *   incus: Error: The incus daemon doesn't appear to be started (socket path: …)
 *   incus: Error: You don't have the needed permissions to talk to the incus daemon (socket path: …)
 * Only socket-level wording counts: "no such file" from e.g. a file push is an ordinary failure.
 */
export function classifyFailure(stderr: string): Failure {
  if (/connect: permission denied|needed permissions to talk/i.test(stderr)) return 'permission';
  if (/dial unix .*connect: (no such file or directory|connection refused)|doesn't appear to be started/i.test(stderr)) return 'daemon';
  return 'other';
}

/** How to start the daemon here. Without systemd nothing restarts it; `isollm setup` starts it detached. */
export function daemonFix(rt: Runtime): string {
  return `run \`${fs.existsSync('/run/systemd/system') ? `sudo systemctl start ${rt.kind}` : 'isollm setup'}\``;
}

export function permissionFix(rt: Runtime, user = os.userInfo().username): string {
  return `run \`sudo usermod -aG ${rt.group} ${user}\`, then log in again (or \`newgrp ${rt.group}\`)`;
}

export function daemonError(rt: Runtime, detail?: string): UserError {
  return new UserError(
    `The ${rt.kind === 'lxd' ? 'LXD' : 'Incus'} daemon does not answer (\`${rt.bin} query /1.0\` failed). To start it, ${daemonFix(rt)}.`,
    { detail },
  );
}

export function permissionError(rt: Runtime, user = os.userInfo().username, detail?: string): UserError {
  return new UserError(
    `User ${user} may not talk to the ${rt.kind === 'lxd' ? 'LXD' : 'Incus'} daemon (permission denied on its unix socket). To fix it, ${permissionFix(rt, user)}.`,
    { detail },
  );
}

/** Turn a failed client call into the right one-line error. */
export function runtimeError(rt: Runtime, what: string, stderr: string, cause?: unknown): UserError {
  const failure = classifyFailure(stderr);
  const detail = stderr.trim() || undefined;
  if (failure === 'daemon') return daemonError(rt, detail);
  if (failure === 'permission') return permissionError(rt, undefined, detail);
  const unknownRemote = /The remote "([^"]+)" (doesn't|does not) exist/.exec(stderr);
  if (unknownRemote) {
    return new UserError(`The ${rt.bin} client has no remote "${unknownRemote[1]}" (runtime.remote). Add it with \`${rt.bin} remote add ${unknownRemote[1]} <token>\` (see \`isollm doctor\`).`, { cause });
  }
  return new UserError(`${rt.bin} ${what} failed: ${clientMessage(stderr)}`, { detail, cause });
}

/**
 * The client's error in one line, the same for both: Incus wraps a missing instance in the call's
 * context (`Failed to fetch instance "w" in project "default": Instance not found`, also under
 * `Failed checking instance exists "local:w": …`) where LXD says `Instance not found`; the whole
 * text stays in the error's detail.
 */
export function clientMessage(stderr: string): string {
  const first = (stderr.trim().split('\n').find((l) => l.trim()) ?? 'no error output').replace(/^Error:\s*/, '');
  return /^Failed (to fetch|checking) instance .*: Instance not found$/.test(first) ? 'Instance not found' : first;
}
