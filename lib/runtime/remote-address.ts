// Which address of this machine a remote's containers can reach (network.advertise when unset):
// the source address of this host's route to the remote's address. A remote on loopback is this
// machine itself: its containers reach it at the address of the bridge they sit on.
import dns from 'node:dns/promises';
import net from 'node:net';
import { $ } from 'zx/core';
import { queryApi, runClient, type Runtime } from './client.ts';

const ROUTE_TIMEOUT_MS = 5_000;

/** The host part of the remote's address in `remote list --format json` (`https://h:8443`), or null. */
export function parseRemoteHost(json: string, remote: string): string | null {
  let entry: { Addr?: string } | undefined;
  try {
    entry = (JSON.parse(json) as Record<string, { Addr?: string }>)[remote];
  } catch {
    return null;
  }
  if (!entry?.Addr || !/^https:/.test(entry.Addr)) return null;
  try {
    return new URL(entry.Addr).hostname.replace(/^\[(.*)\]$/, '$1');
  } catch {
    return null;
  }
}

/** `prefsrc` of `ip -j route get` output, or null. */
export function parseRouteSource(json: string): string | null {
  try {
    const src = (JSON.parse(json) as { prefsrc?: string }[])[0]?.prefsrc;
    return src && net.isIP(src) ? src : null;
  } catch {
    return null;
  }
}

export function isLoopback(ip: string): boolean {
  return /^127\./.test(ip) || ip === '::1';
}

export async function remoteHost(rt: Runtime): Promise<string | null> {
  if (!rt.remote) return null;
  const r = await runClient(rt, ['remote', 'list', '--format', 'json'], { timeout: ROUTE_TIMEOUT_MS });
  return r.exitCode === 0 ? parseRemoteHost(r.stdout, rt.remote) : null;
}

/** This host's source address on the route to `host` (a name is looked up first). */
export async function routeSource(host: string): Promise<string | null> {
  const ip = net.isIP(host) ? host : await dns.lookup(host).then((a) => a.address, () => null);
  if (!ip) return null;
  const r = await $({ quiet: true, nothrow: true, timeout: ROUTE_TIMEOUT_MS })`ip -j route get ${ip}`;
  return r.exitCode === 0 ? parseRouteSource(r.stdout) : null;
}

type Profile = { devices?: Record<string, { type?: string; network?: string; parent?: string }> };

/** The IPv4 address of the managed bridge the remote's default profile puts containers on, or null. */
export async function bridgeAddress(rt: Runtime): Promise<string | null> {
  try {
    const profile = JSON.parse(await queryApi(rt, '/1.0/profiles/default')) as Profile;
    const nic = Object.values(profile.devices ?? {}).find((d) => d.type === 'nic');
    const network = nic?.network ?? nic?.parent;
    if (!network) return null;
    const info = JSON.parse(await queryApi(rt, `/1.0/networks/${encodeURIComponent(network)}`)) as { config?: Record<string, string> };
    const address = info.config?.['ipv4.address']?.split('/')[0];
    return address && net.isIPv4(address) ? address : null;
  } catch {
    return null;
  }
}

/** The address to advertise to `rt`'s containers, and how it was found; null when none could be. */
export async function reachableAddress(rt: Runtime): Promise<{ host: string; how: string } | null> {
  const host = await remoteHost(rt);
  if (!host) return null;
  const source = await routeSource(host);
  if (source && !isLoopback(source)) return { host: source, how: `this host's source address on the route to ${host}` };
  if (!source) return null;
  // The remote is this machine (reached on loopback): its containers see the host on their bridge.
  const bridge = await bridgeAddress(rt);
  return bridge ? { host: bridge, how: `the remote ${rt.remote} is this machine (${host}): the address of its containers' bridge` } : null;
}
