// `isollm doctor`'s throwaway probe container (doctor-reach.ts), which must not outlive its doctor:
// it is tagged with the doctor that made it (machine, boot, pid and the pid's start time), deleted
// when that doctor is stopped by SIGINT, SIGTERM or SIGHUP, and a probe whose doctor is gone anyway
// (SIGKILL, a crash, a reboot) is deleted by the next doctor. A probe whose doctor still runs is
// never touched, nor one made from another machine (whose processes cannot be looked at from here).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import process from 'node:process';
import type { Config } from '../config/load.ts';
import { bootId, processStartTime } from '../project/root.ts';
import { deleteInstance, FAST_POOL, launchInstance, listInstances, listStoragePools, type Runtime } from '../runtime/client.ts';

/** The project a probe was made for; its presence marks the instance as a probe. */
export const PROBE_KEY = 'user.isollm.probe';
/** The doctor that made it: `<machine>/<boot>/<pid>/<start>` (ownerOf). */
export const PROBE_OWNER_KEY = 'user.isollm.probe-owner';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function readTrimmed(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

/** This machine: its machine-id, else its hostname. */
function machine(): string {
  return readTrimmed('/etc/machine-id') || readTrimmed('/var/lib/dbus/machine-id') || os.hostname();
}

/** Who a process is, on this machine and in this boot (a pid alone is reused): the value of PROBE_OWNER_KEY. */
export function ownerOf(pid = process.pid): string {
  return [machine(), bootId(), pid, processStartTime(pid) ?? ''].join('/');
}

/**
 * True when the doctor named by `owner` is known to be gone: made on this machine, and this machine
 * rebooted since, or that process no longer runs. Another machine's probe: false (not ours to judge).
 */
export function ownerGone(owner: string): boolean {
  const [host, boot, pid, start] = owner.split('/');
  if (!host || host !== machine()) return false;
  if (boot !== bootId()) return true;
  const now = processStartTime(Number(pid));
  return now === null || now !== start;
}

/** Delete every probe on `rt` whose doctor is gone (any project's: the doctor is what matters). Their names. */
export async function removeLeftoverProbes(rt: Runtime): Promise<string[]> {
  const leftovers = (await listInstances(rt, undefined, undefined, { state: false })).filter((i) => i.config[PROBE_KEY] !== undefined && ownerGone(i.config[PROBE_OWNER_KEY] ?? ''));
  for (const i of leftovers) await deleteInstance(rt, i.name).catch(() => undefined);
  return leftovers.map((i) => i.name);
}

/**
 * A throwaway container for the probe, launched after the leftovers of earlier doctors are removed;
 * `done` deletes it. Until then SIGINT, SIGTERM and SIGHUP delete it before the process ends by
 * that signal (a second one ends it at once).
 */
export async function launchProbe(rt: Runtime, config: Pick<Config, 'project' | 'image'>, target?: string): Promise<{ name: string; done: () => Promise<void> }> {
  await removeLeftoverProbes(rt);
  const name = `${config.project.slice(0, 48)}-probe-${crypto.randomBytes(3).toString('hex')}`;
  const remove = () => deleteInstance(rt, name).catch(() => undefined);
  const stop = (signal: NodeJS.Signals) => {
    off();
    void remove().then(() => process.kill(process.pid, signal));
  };
  const off = () => {
    for (const s of STOP_SIGNALS) process.off(s, stop);
  };
  // On isollm's copy-on-write pool where setup made one, as bases and the lander's tester: a clone
  // of the image there, where the default dir pool unpacks all of it (~10 s of gzip and tar here).
  const storage = (await listStoragePools(rt)).includes(FAST_POOL) ? FAST_POOL : undefined;
  // Before the launch: a signal while it runs must not leave the container behind either.
  for (const s of STOP_SIGNALS) process.on(s, stop);
  try {
    await launchInstance(rt, { name, image: config.image, target, storage, config: { [PROBE_KEY]: config.project, [PROBE_OWNER_KEY]: ownerOf() } });
  } catch (err) {
    off();
    throw err;
  }
  return {
    name,
    done: async () => {
      off();
      await remove();
    },
  };
}
