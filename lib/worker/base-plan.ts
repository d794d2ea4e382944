// The project's base as data: what went into it (its key), its name, its tags, and the tags of a
// worker copied from it. lib/worker/base.ts builds it through the runtime gateway.
import crypto from 'node:crypto';
import type { Config } from '../config/load.ts';
import { PROJECT_KEY } from '../runtime/argv.ts';
import { agentInstall } from '../agent/install.ts';
import { helperFiles, workerConfigKeys, type PushFile, type QueueLinkKind } from './plan.ts';

/** `base` on a base, `worker` on a worker copied from one. */
export const ROLE_KEY = 'user.isollm.role';
/** On a finished base (and so on every copy of it): the key of what went into it. Absent while it is built. */
export const BASE_KEY = 'user.isollm.base-key';
/** The inputs behind the key, one short hash each, so a rebuild can say what changed. */
export const BASE_INPUTS_KEY = 'user.isollm.base-inputs';
/** On a worker: the base container it was copied from. */
export const FROM_BASE_KEY = 'user.isollm.base';
/** Bumped when the way a base is built changes, so bases built the old way are rebuilt. */
export const BASE_FORMAT = '5';
/** On a finished base: the commit its clone of the hub is at, and its filesystem's size in bytes. */
export const BASE_COMMIT_KEY = 'user.isollm.base-commit';
export const BASE_SIZE_KEY = 'user.isollm.base-size';
/** On a finished base: how its copies reach the queue (QueueLinkKind; absent on older bases: proxy). */
export const QUEUE_LINK_KEY = 'user.isollm.queue-link';
const MAX_INSTANCE_NAME = 63;

/**
 * systemd units a base masks: maintenance that would run inside a worker at random hours (package
 * lists and upgrades that hold apt's lock while an agent installs, backups, trims, scrubs), boot
 * work about block devices and filesystems a container does not have, and boot work a copy of a
 * prepared base has no use for. The last group is most of a copy's own boot CPU (~370 → ~230 ms
 * per container measured here on Incus, debian/12): on two cores, N copies booting at once share it.
 */
export const MASKED_UNITS = [
  'apt-daily.timer',
  'apt-daily-upgrade.timer',
  'unattended-upgrades.service',
  'dpkg-db-backup.timer',
  'man-db.timer',
  'motd-news.timer',
  'dnf-makecache.timer',
  'e2scrub_all.timer',
  'e2scrub_reap.service',
  'fstrim.timer',
  // A container cannot load kernel modules, and the runtime mounted its root as it stays.
  'modprobe@.service',
  'systemd-modules-load.service',
  'systemd-remount-fs.service',
  // Entered by exec, never by a login on its console; boot records nobody reads.
  'console-getty.service',
  'systemd-update-utmp.service',
  // The journal stays in /run: each copy would otherwise write the base's journal files on.
  'systemd-journal-flush.service',
  // The base's packages made their system users when they were installed.
  'systemd-sysusers.service',
];
/** Generators a container has nothing for: block devices, and the kernel command line and offline updates of a machine. */
export const MASKED_GENERATORS = [
  'systemd-cryptsetup-generator',
  'systemd-gpt-auto-generator',
  'systemd-hibernate-resume-generator',
  'systemd-integritysetup-generator',
  'systemd-veritysetup-generator',
  'systemd-debug-generator',
  'systemd-run-generator',
  'systemd-system-update-generator',
];

/** Everything a base is made of; anything else (worker names, limits, ports, base branch) is per worker. */
export type BaseSources = {
  /** The image's fingerprint (or its reference when it is not local yet). */
  image: string;
  hub: string;
  hubOwner: { uid: number; gid: number };
  setupScript: string | null;
  agentInstall: string | null;
  helpers: PushFile[];
  /** The storage pool the base and its copies live on, when the config names one (`runtime.pool`). */
  pool: string | null;
  /** The port the queue answers on inside (the base's forwarder listens there). */
  queuePort: number;
};

/** The base's sources from the config: only what is the same for every worker. */
export function baseSources(config: Config, image: string, hubOwner: { uid: number; gid: number }): BaseSources {
  return {
    image,
    // A base on a remote clones over HTTPS and has no hub mount: not the same base.
    hub: config.runtime.remote && config.runtime.remote !== 'local' ? `https+${config.git.hub}` : config.git.hub,
    hubOwner,
    setupScript: config.setup_script ?? null,
    agentInstall: agentInstall(config.agent).script,
    helpers: helperFiles(),
    pool: config.runtime.pool,
    queuePort: config.queue.port,
  };
}

export const INPUT_NAMES = ['format', 'image', 'hub', 'setup_script', 'agent_install', 'helpers', 'pool', 'queue_port'] as const;
export type BaseInputs = Record<(typeof INPUT_NAMES)[number], string>;

const hash = (text: string, length = 12) => crypto.createHash('sha256').update(text).digest('hex').slice(0, length);

export function baseInputs(s: BaseSources): BaseInputs {
  return {
    format: BASE_FORMAT,
    image: hash(s.image),
    hub: hash(`${s.hub}\0${s.hubOwner.uid}:${s.hubOwner.gid}`),
    setup_script: hash(s.setupScript ?? ''),
    agent_install: hash(s.agentInstall ?? ''),
    helpers: hash(s.helpers.map((f) => `${f.path}\0${f.mode}\0${f.owner}\0${f.content}`).join('\0')),
    // Empty when no pool is configured: left out of the key, so bases made before this input keep theirs.
    pool: s.pool === null ? '' : hash(s.pool),
    queue_port: String(s.queuePort),
  };
}

/** One key for all inputs, in a fixed order. */
export function baseKey(inputs: BaseInputs): string {
  return hash(INPUT_NAMES.filter((n) => inputs[n] !== '').map((n) => `${n}=${inputs[n]}`).join('\n'), 16);
}

/** Which inputs differ from those recorded on an older base (all of them when nothing readable was recorded). */
export function changedInputs(recorded: string | undefined, now: BaseInputs): string[] {
  let old: Partial<BaseInputs> = {};
  try {
    old = JSON.parse(recorded ?? '{}') as Partial<BaseInputs>;
  } catch {
    // An unreadable record: say everything changed.
  }
  return INPUT_NAMES.filter((n) => (old[n] ?? '') !== now[n]);
}

/** `<project>-base-<id>`, the project cut short where needed to fit the runtime's 63 characters. */
export function baseName(project: string, id: string): string {
  const suffix = `-base-${id}`;
  return `${project.slice(0, MAX_INSTANCE_NAME - suffix.length).replace(/-+$/, '')}${suffix}`;
}

/** Tags of a base while it is built: the project's (so listing and clean-up find it), role base. */
export function baseLaunchConfig(config: Config): Record<string, string> {
  return { [PROJECT_KEY]: config.project, [ROLE_KEY]: 'base' };
}

/** Set when the base is finished: its key and inputs. Copies inherit them. */
export function baseReadyConfig(ready: { key: string; inputs: BaseInputs; queueLink: QueueLinkKind; commit?: string | null; sizeBytes?: number | null }): Record<string, string> {
  return {
    [BASE_KEY]: ready.key,
    [BASE_INPUTS_KEY]: JSON.stringify(ready.inputs),
    [QUEUE_LINK_KEY]: ready.queueLink,
    ...(ready.commit ? { [BASE_COMMIT_KEY]: ready.commit } : {}),
    ...(ready.sizeBytes != null ? { [BASE_SIZE_KEY]: String(ready.sizeBytes) } : {}),
  };
}

/** A worker copied from `base`: its own tags and limits, and where it came from. */
export function workerCopyConfig(config: Config, worker: string, base: string): Record<string, string> {
  return { ...workerConfigKeys(config, worker), [ROLE_KEY]: 'worker', [FROM_BASE_KEY]: base };
}
