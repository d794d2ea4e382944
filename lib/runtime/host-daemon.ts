// Host primitives for setup: install packages with apt-get, start the runtime daemon (also without
// systemd), put the user in the runtime's group, initialise with a preseed. Each is one action;
// host-setup.ts decides which are needed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { $ } from 'zx/core';
import { addSuite, findMainSource, readOsRelease } from './apt-source.ts';
import { UserError } from '../cli/errors.ts';
import { findOnPath, type Runtime, type RuntimeName } from './detect.ts';
import { preseedCommand, waitReadyCommand } from './argv.ts';
import { runAdmin } from './client.ts';

export const APT_TIMEOUT_MS = 15 * 60_000;
export const DAEMON_READY_TIMEOUT_S = 60;
export const PRESEED_TIMEOUT_MS = 120_000;

/** The bridge setup creates, one name per runtime so LXD and Incus can live side by side; the name says who made it. */
export const BRIDGES: Record<RuntimeName, string> = { lxd: 'isollmbr0', incus: 'isollmincbr0' };
export const POOL = 'default';

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Prefix for commands that need root. */
export function sudo(): string[] {
  return isRoot() ? [] : ['sudo'];
}

/**
 * Private /24s for a runtime's bridge, tried in order (LXD's `auto` needs tools these hosts lack):
 * a spread over 10.0.0.0/8 that starts at a different place for each runtime, then one in
 * 172.16.0.0/12 and one in 192.168.0.0/16. The same host routes always give the same pick.
 */
export function subnetCandidates(kind: RuntimeName): string[] {
  let seed = kind === 'lxd' ? 147 * 256 + 83 : 163 * 256 + 41;
  const tens: string[] = [];
  for (let i = 0; i < 48; i++) {
    tens.push(`10.${Math.floor(seed / 256) % 256}.${seed % 256}.1/24`);
    seed = (seed * 75 + 74) % 65537;
  }
  const third = kind === 'lxd' ? 213 : 214;
  return [...tens, `172.30.${third}.1/24`, `192.168.${third}.1/24`];
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

/** True when two IPv4 CIDRs overlap. */
export function cidrOverlap(a: string, b: string): boolean {
  const [ipA, lenA = '32'] = a.split('/');
  const [ipB, lenB = '32'] = b.split('/');
  const len = Math.min(Number(lenA), Number(lenB));
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return ((ipToInt(ipA) & mask) >>> 0) === ((ipToInt(ipB) & mask) >>> 0);
}

/** The first candidate subnet no host route overlaps (`ip -j route` output; `default` ignored). */
export function pickSubnet(routesJson: string, candidates = subnetCandidates('lxd')): string {
  const routes = (JSON.parse(routesJson || '[]') as { dst: string }[]).map((r) => r.dst).filter((d) => /^\d+\.\d+\.\d+\.\d+/.test(d));
  const free = candidates.find((c) => !routes.some((r) => cidrOverlap(c, r)));
  if (!free) throw new UserError(`Every candidate bridge subnet (${candidates.length}, from ${candidates[0]}) is in use on this host; create the bridge by hand (see README, Troubleshooting the container runtime).`);
  return free;
}

export async function hostRoutes(): Promise<string> {
  const r = await $({ quiet: true, nothrow: true })`ip -j -4 route`;
  return r.exitCode === 0 ? r.stdout : '[]';
}

/** What a preseed sets up: one NAT bridge with no IPv6, one storage pool, the default profile on both. */
export type PreseedOptions = {
  bridge: string;
  subnet: string;
  pool?: string;
  driver?: 'dir' | 'btrfs';
  /** The pool's size (a loop file), for drivers that make one. */
  size?: string;
  /** core.https_address: the daemon listens on it (for remotes). */
  httpsAddress?: string;
};

/** The preseed `isollm setup` applies when the daemon has no storage pool (a dir pool by default). */
export function preseedYaml({ bridge, subnet, pool = POOL, driver = 'dir', size, httpsAddress }: PreseedOptions): string {
  return [
    ...(httpsAddress ? ['config:', `  core.https_address: ${httpsAddress}`] : []),
    'networks:',
    `- name: ${bridge}`,
    '  type: bridge',
    '  config:',
    `    ipv4.address: ${subnet}`,
    '    ipv4.nat: "true"',
    '    ipv6.address: none',
    'storage_pools:',
    `- name: ${pool}`,
    `  driver: ${driver}`,
    ...(size ? ['  config:', `    size: ${size}`] : []),
    'profiles:',
    '- name: default',
    '  devices:',
    '    root:',
    '      path: /',
    `      pool: ${pool}`,
    '      type: disk',
    '    eth0:',
    '      name: eth0',
    `      network: ${bridge}`,
    '      type: nic',
    '',
  ].join('\n');
}

/**
 * Debian packages for a runtime, and the apt-get arguments (Incus comes from bookworm-backports).
 * Incus: `incus-base` is the container-only daemon (with the client); the `incus` package adds
 * QEMU and its firmware for VMs (~35 more packages), which isollm never uses.
 */
export function installPlan(kind: Runtime['kind'], codename: string): { packages: string[]; aptArgs: string[]; addSuite: string | null } {
  // The bridge needs dnsmasq and a firewall tool (only recommended by the packages, so named here).
  const bridgeTools = ['dnsmasq-base', 'iptables'];
  if (kind === 'lxd') return { packages: ['lxd', ...bridgeTools], aptArgs: [], addSuite: null };
  if (codename === 'bookworm') return { packages: ['incus-base', ...bridgeTools], aptArgs: ['-t', 'bookworm-backports'], addSuite: 'bookworm-backports' };
  return { packages: ['incus-base', ...bridgeTools], aptArgs: [], addSuite: null };
}

export function manualSteps(kind: Runtime['kind']): string {
  return kind === 'lxd'
    ? 'Install LXD (https://documentation.ubuntu.com/lxd/en/latest/installing/), run `sudo lxd init --minimal`, add yourself to the lxd group, then run `isollm setup` again.'
    : 'Install Incus (https://linuxcontainers.org/incus/docs/main/installing/), run `sudo incus admin init --minimal`, add yourself to the incus-admin group, then run `isollm setup` again.';
}

let aptUpdated = false;

/** apt-get install the packages (apt-get update once per process, first). */
export async function aptInstall(packages: string[], extraArgs: string[] = []): Promise<void> {
  if (!findOnPath('apt-get')) throw new UserError(`apt-get is not available, so ${packages.join(' ')} cannot be installed here. Install them with your system's package manager.`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    const u = await $({ quiet: true, nothrow: true, env, timeout: APT_TIMEOUT_MS })`${sudo()} apt-get update`;
    if (u.exitCode !== 0) throw new UserError('`apt-get update` failed; fix the apt sources and try again.', { detail: u.stderr });
    aptUpdated = true;
  }
  const r = await $({ quiet: true, nothrow: true, env, timeout: APT_TIMEOUT_MS })`${sudo()} apt-get install -y --no-install-recommends ${extraArgs} ${packages}`;
  if (r.exitCode !== 0) throw new UserError(`\`apt-get install ${packages.join(' ')}\` failed.`, { detail: r.stderr.trim().split('\n').slice(-10).join('\n') });
}

/** Add a suite (e.g. bookworm-backports) to the machine's Debian source entry; false when already there. */
export async function enableSuite(suite: string): Promise<boolean> {
  const { codename } = readOsRelease();
  const source = findMainSource(codename);
  if (!source) throw new UserError(`No deb822 apt source for ${codename} in /etc/apt/sources.list.d; add ${suite} to your apt sources by hand.`);
  const updated = addSuite(source.text, codename, suite);
  if (updated === source.text) return false;
  await $({ quiet: true, input: updated })`${sudo()} tee ${source.file}`;
  aptUpdated = false;
  return true;
}

/**
 * Each container's systemd takes several inotify instances, counted against the host uid its root
 * maps to, which every unprivileged container of LXD and Incus shares (root's subuid range). The
 * kernel's default of 128 stops the ~21st container: its systemd exits with "Failed to create control
 * group inotify object: Too many open files" and the container stops. Both packages raise it to this
 * in /etc/sysctl.d/10-{lxd,incus}-inotify.conf, which only systemd applies (at boot).
 */
export const INOTIFY_INSTANCES = 1024;
export const INOTIFY_INSTANCES_FILE = '/proc/sys/fs/inotify/max_user_instances';

/** The current per-user inotify instance limit, or null where it cannot be read. */
export function inotifyInstances(file = INOTIFY_INSTANCES_FILE): number | null {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

/** Raise the limit now (the packages' sysctl.d file keeps it across boots where systemd runs). */
export async function raiseInotifyInstances(file = INOTIFY_INSTANCES_FILE): Promise<void> {
  const r = await $({ quiet: true, nothrow: true, input: `${INOTIFY_INSTANCES}\n` })`${sudo()} tee ${file}`;
  if (r.exitCode !== 0) throw new UserError(`Could not raise fs.inotify.max_user_instances to ${INOTIFY_INSTANCES} (${r.stderr.trim()}); run \`sudo sysctl -w fs.inotify.max_user_instances=${INOTIFY_INSTANCES}\`.`);
}

export function hasSystemd(): boolean {
  return fs.existsSync('/run/systemd/system');
}

export function groupExists(group: string): boolean {
  try {
    return fs.readFileSync('/etc/group', 'utf8').split('\n').some((l) => l.startsWith(`${group}:`));
  } catch {
    return false;
  }
}

/** The group the daemon's socket belongs to. As root on a machine without the runtime's group, root. */
export function daemonGroup(rt: Runtime): string {
  return groupExists(rt.group) || !isRoot() ? rt.group : 'root';
}

export function daemonLog(rt: Runtime): string {
  return rt.kind === 'lxd' ? '/var/log/lxd/lxd.log' : '/var/log/incus/incusd.log';
}

/** The daemon binary (Debian puts incusd under /usr/libexec). */
export function daemonBinary(rt: Runtime): string {
  if (rt.kind === 'lxd') return findOnPath('lxd') ?? '/usr/bin/lxd';
  return findOnPath('incusd') ?? '/usr/libexec/incus/incusd';
}

/** Start the daemon: systemctl where systemd runs, else the daemon itself, detached, logging to a file. */
export async function startDaemon(rt: Runtime): Promise<string> {
  if (hasSystemd()) {
    await $({ quiet: true, timeout: PRESEED_TIMEOUT_MS })`${sudo()} systemctl start ${rt.kind === 'lxd' ? 'lxd' : 'incus'}`;
  } else {
    const group = daemonGroup(rt);
    if (!groupExists(group)) await $({ quiet: true })`${sudo()} groupadd --system ${group}`;
    const log = daemonLog(rt);
    await $({ quiet: true })`${sudo()} mkdir -p ${path.dirname(log)}`;
    const argv = [...sudo(), daemonBinary(rt), '--group', group, '--logfile', log];
    // Detached with no pipes to us, so it outlives this process (there is no service manager to own it);
    // in / because its helpers (rsync for snapshots on a dir pool) fail once the directory it started
    // in is gone, e.g. a removed checkout.
    const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: 'ignore', cwd: '/' });
    child.unref();
  }
  const [bin, ...args] = waitReadyCommand(rt, DAEMON_READY_TIMEOUT_S);
  const r = await runAdmin([bin, ...args], { prefix: sudo(), timeout: (DAEMON_READY_TIMEOUT_S + 5) * 1000 });
  if (r.exitCode !== 0) throw new UserError(`The ${rt.kind} daemon did not become ready within ${DAEMON_READY_TIMEOUT_S}s; see ${daemonLog(rt)}.`, { detail: r.stderr });
  return hasSystemd() ? 'started with systemctl' : `started (group ${daemonGroup(rt)}, log ${daemonLog(rt)})`;
}

export function userInGroup(group: string, user = os.userInfo().username): boolean {
  try {
    const line = fs.readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith(`${group}:`));
    return Boolean(line && line.split(':')[3]?.split(',').includes(user));
  } catch {
    return false;
  }
}

export async function addUserToGroup(group: string, user = os.userInfo().username): Promise<void> {
  if (!groupExists(group)) await $({ quiet: true })`${sudo()} groupadd --system ${group}`;
  await $({ quiet: true })`${sudo()} usermod -aG ${group} ${user}`;
}

/** The preseed for this runtime, with a subnet no host route uses now (so not the other runtime's bridge). */
export async function hostPreseed(kind: RuntimeName): Promise<{ yaml: string; bridge: string; subnet: string }> {
  const subnet = pickSubnet(await hostRoutes(), subnetCandidates(kind));
  return { yaml: preseedYaml({ bridge: BRIDGES[kind], subnet }), bridge: BRIDGES[kind], subnet };
}

export async function applyPreseed(rt: Runtime, yaml: string): Promise<void> {
  const [bin, ...args] = preseedCommand(rt);
  const r = await runAdmin([bin, ...args], { prefix: sudo(), input: yaml, timeout: PRESEED_TIMEOUT_MS });
  if (r.exitCode !== 0) throw new UserError(`Initialising ${rt.kind} failed: ${r.stderr.trim().split('\n')[0]}`, { detail: r.stderr });
}
