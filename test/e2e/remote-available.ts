// This machine as its own remote, for the e2e of remote workers: the daemon made reachable over
// HTTPS on loopback (core.https_address, which only adds a listener), and added to the client as
// the remote `isollm-self` with a trust token, as a user adds a real remote server.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import type { Runtime } from '../../lib/runtime/client.ts';

export const SELF_REMOTE = 'isollm-self';
/** Loopback ports the daemons listen on for HTTPS when nothing else is set (one per runtime). */
const SELF_ADDRESS = { lxd: '127.0.0.1:18443', incus: '127.0.0.1:18444' } as const;

function client(rt: Runtime, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(rt.bin, args, { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function must(rt: Runtime, args: string[]): string {
  const r = client(rt, args);
  if (r.code !== 0) throw new Error(`${rt.bin} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** True when `remote` answers and trusts this client. */
function trusted(rt: Runtime, remote: string): boolean {
  const r = client(rt, ['query', `${remote}:/1.0`]);
  try {
    return r.code === 0 && (JSON.parse(r.stdout) as { auth?: string }).auth === 'trusted';
  } catch {
    return false;
  }
}

/** The remote `isollm-self` of `rt`'s client: this machine's daemon over HTTPS, trusted. */
export function ensureSelfRemote(rt: Runtime): string {
  if (trusted(rt, SELF_REMOTE)) return SELF_REMOTE;
  let address = must(rt, ['config', 'get', 'core.https_address']).trim();
  if (!address) {
    address = SELF_ADDRESS[rt.kind];
    must(rt, ['config', 'set', 'core.https_address', address]);
  }
  client(rt, ['remote', 'remove', SELF_REMOTE]); // a stale entry (another certificate, another address)
  const name = `${SELF_REMOTE}-${crypto.randomBytes(3).toString('hex')}`;
  const token = must(rt, rt.kind === 'incus' ? ['config', 'trust', 'add', name] : ['config', 'trust', 'add', '--name', name]).trim().split('\n').at(-1)!.trim();
  must(rt, ['remote', 'add', SELF_REMOTE, token, '--accept-certificate']);
  if (!trusted(rt, SELF_REMOTE)) throw new Error(`${rt.bin} remote ${SELF_REMOTE} was added but does not trust this client`);
  return SELF_REMOTE;
}

/** The IPv4 address of the host on the network of the default profile's NIC: what its containers reach. */
export function bridgeAddress(rt: Runtime): string {
  const profile = JSON.parse(must(rt, ['query', '/1.0/profiles/default'])) as { devices?: Record<string, { type?: string; network?: string; parent?: string }> };
  const nic = Object.values(profile.devices ?? {}).find((d) => d.type === 'nic');
  const network = nic?.network ?? nic?.parent;
  if (!network) throw new Error('the default profile has no NIC on a managed network');
  const cidr = must(rt, ['network', 'get', network, 'ipv4.address']).trim();
  const address = cidr.split('/')[0];
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(address)) throw new Error(`network ${network} has no IPv4 address (${cidr || 'none'})`);
  return address;
}
