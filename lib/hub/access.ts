// How a worker's `dev` gets read access to the hub, a host directory bind-mounted read-only at
// /repo.git (workers fetch from it; they push through isollm's smart-HTTP endpoint, which applies the
// ref policy — lib/hub/smart-http.ts). Preferred: an idmapped mount (shift=true), where host uids
// appear unchanged inside. Where the runtime refuses that (LXD 5.0 here: "Required idmapping
// abilities not available"), the container's dev is some other host uid (its idmap base + dev's
// uid), and POSIX ACLs on the hub grant exactly that uid read access — no privileged container.
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { $ } from 'zx/core';
import { UserError } from '../cli/errors.ts';
import { findOnPath } from '../runtime/client.ts';

type IdmapEntry = { Isuid: boolean; Isgid: boolean; Hostid: number; Nsid: number; Maprange: number };

/** The host uid of container uid `uid`, from the instance's `volatile.idmap.current` (or `.next`). */
export function hostUidOf(config: Record<string, string>, uid: number): number {
  const raw = config['volatile.idmap.current'] ?? config['volatile.idmap.next'];
  if (!raw) throw new UserError('The container has no id map (volatile.idmap.current); is it a privileged container?');
  const entries = JSON.parse(raw) as IdmapEntry[];
  const entry = entries.find((e) => e.Isuid && uid >= e.Nsid && uid < e.Nsid + e.Maprange);
  if (!entry) throw new UserError(`The container's id map does not cover uid ${uid}.`);
  return entry.Hostid + (uid - entry.Nsid);
}

/**
 * The setfacl run granting `uid` read access to the whole hub, now and for everything created there
 * later (default ACLs; the owner keeps rwX on what it creates).
 */
export function hubAclArgs(hub: string, uid: number, owner: number): string[] {
  return ['-R', '-m', [`u:${uid}:rX`, `d:u:${uid}:rX`, `d:u:${owner}:rwX`, 'm::rwx', 'd:m::rwx'].join(','), hub];
}

/** Ancestors of the hub that `uid` could not enter (no x for "other"). */
export function closedAncestors(hub: string): string[] {
  const closed: string[] = [];
  for (let dir = path.dirname(hub); ; dir = path.dirname(dir)) {
    if ((fs.statSync(dir).mode & 0o001) === 0) closed.push(dir);
    if (dir === path.dirname(dir)) return closed;
  }
}

/** True when getfacl output (numeric) of the hub's refs/ already grants `uid` exactly r-x there and on what is created in it. */
export function aclGrants(getfaclOutput: string, uid: number): boolean {
  const lines = new Set(getfaclOutput.split('\n').map((l) => l.replace(/\s*#.*$/, '').trim()));
  return lines.has(`user:${uid}:r-x`) && lines.has(`default:user:${uid}:r-x`);
}

/** Grant container-mapped `uid` access to the hub (and passage through closed parents). */
export async function grantHubAccess(hub: string, uid: number): Promise<void> {
  if (!findOnPath('setfacl')) {
    throw new UserError('This runtime cannot do idmapped mounts, and setfacl is missing to share the hub instead. Install it: `sudo apt-get install acl` (or run `isollm setup`).');
  }
  const owner = process.getuid?.() ?? 0;
  const run = async (args: string[]) => {
    const r = await $({ quiet: true, nothrow: true })`setfacl ${args}`;
    if (r.exitCode !== 0 && !onlyOthersFiles(r.stderr, owner)) {
      throw new UserError(`Could not share ${args[args.length - 1]} with the worker (setfacl failed): ${r.stderr.trim()}. The hub's files must be yours and on a filesystem with ACLs.`);
    }
  };
  for (const dir of closedAncestors(hub)) await run(['-m', `u:${uid}:x`, dir]);
  // Already granted (every worker of a project maps dev to the same host uid): the default ACLs
  // gave that uid every file created since, so skip the recursive pass. It would fail anyway for a
  // non-root user, who may not change the ACLs of files a worker pushed (owned by dev's host uid).
  const current = await $({ quiet: true, nothrow: true })`getfacl -n --omit-header --absolute-names ${path.join(hub, 'refs')}`;
  if (current.exitCode === 0 && aclGrants(current.stdout, uid)) return;
  await run(hubAclArgs(hub, uid, owner));
}

/**
 * setfacl -R goes on past files it may not change and fails at the end. Files a worker pushed belong
 * to dev's host uid and got their ACL by inheritance (default ACLs) when they were made: failing on
 * those, and only those, is fine.
 */
export function onlyOthersFiles(stderr: string, owner: number): boolean {
  const lines = stderr.split('\n').filter((l) => l.trim());
  if (!lines.length) return false;
  return lines.every((line) => {
    const m = /^setfacl: (.*): Operation not permitted$/.exec(line.trim());
    if (!m) return false;
    try {
      return fs.lstatSync(m[1]).uid !== owner;
    } catch {
      return false;
    }
  });
}
