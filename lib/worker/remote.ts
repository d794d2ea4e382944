// Workers on a remote (`runtime.remote`): no hub mount and no socket proxy (neither crosses
// machines). They get a network (DHCP on eth0), the project's certificate, and their own
// credential, and reach the hub (git smart HTTP) and the queue over HTTPS at network.advertise.
import fs from 'node:fs';
import type { Config } from '../config/load.ts';
import { UserError } from '../cli/errors.ts';
import { GIT_PATH } from '../hub/smart-http.ts';
import { publicKeyPin, readEndpoint, remoteEndpoint, tlsFiles } from '../queue/credentials.ts';
import { execIn, execOk, pushText, type Runtime } from '../runtime/client.ts';
import { DEV_HOME } from '../agent/presets.ts';
import { REMOTE_CURLRC, type PushFile } from './plan.ts';

/** The certificate workers trust (public), and dev's own files holding the credential (0600). */
export const QUEUE_CA = '/etc/isollm/queue-ca.pem';
export const CONFIG_DIR = `${DEV_HOME}/.config/isollm`;
export const CURLRC = REMOTE_CURLRC;
export const GIT_INCLUDE = `${CONFIG_DIR}/remote.gitconfig`;
/** How long a fresh container gets to have an IPv4 address. */
const NETWORK_TIMEOUT_S = 120;

export type RemoteAccess = { url: string; hubUrl: string; cert: string; pin: string };

/** What remote workers of this project are given (the address the running queue was started with), or null for local workers. */
export function remoteAccess(stateDir: string, config: Config): RemoteAccess | null {
  if (!config.runtime.remote || config.runtime.remote === 'local') return null;
  const endpoint = readEndpoint(stateDir) ?? remoteEndpoint(config);
  if (!endpoint) return null;
  let cert: string;
  try {
    cert = fs.readFileSync(tlsFiles(stateDir).cert, 'utf8');
  } catch {
    throw new UserError('The TLS certificate for remote workers is missing. Restart the queue (`isollm queue stop`, then `isollm up`).');
  }
  return { url: endpoint.url, hubUrl: `${endpoint.url}${GIT_PATH}`, cert, pin: publicKeyPin(cert) };
}

/** A curl config (`-K`) the helpers use for every queue call: the pin and the credential. */
export function curlrc(access: RemoteAccess, token: string): string {
  return [`cacert = "${QUEUE_CA}"`, `pinnedpubkey = "${access.pin}"`, `header = "Authorization: Bearer ${token}"`, ''].join('\n');
}

/** git settings for the hub's URL only, included from dev's ~/.gitconfig. */
export function gitInclude(access: RemoteAccess, token: string): string {
  return [`[http "${access.url}/"]`, `\textraHeader = Authorization: Bearer ${token}`, `\tsslCAInfo = ${QUEUE_CA}`, `\tpinnedPubkey = ${access.pin}`, ''].join('\n');
}

/** The files a remote worker (or a base while it clones) holds: certificate and credential. */
export function accessFiles(access: RemoteAccess, token: string): PushFile[] {
  return [
    { path: QUEUE_CA, content: access.cert, mode: 0o644, owner: 'root' },
    { path: CURLRC, content: curlrc(access, token), mode: 0o600, owner: 'dev' },
    { path: GIT_INCLUDE, content: gitInclude(access, token), mode: 0o600, owner: 'dev' },
  ];
}

/**
 * Images without network configuration (a debootstrap-built one) get systemd-networkd doing DHCP
 * on eth0. networkd waits for udev on a writable /sys, and a container has no udev: it is shown
 * /sys read-only, as systemd's container interface expects. The client id is the MAC: every
 * copy of a base would otherwise send the same machine-id-based one.
 */
export const NETWORKD_FILES: PushFile[] = [
  { path: '/etc/systemd/network/10-isollm-eth0.network', content: '[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n\n[DHCPv4]\nClientIdentifier=mac\n', mode: 0o644, owner: 'root' },
  { path: '/etc/systemd/system/systemd-networkd.service.d/isollm.conf', content: '[Service]\nReadOnlyPaths=/sys\n', mode: 0o644, owner: 'root' },
];

/** Constant text: wait up to $1 seconds (by the clock: a loaded machine makes each try slow) for a global IPv4 address. */
const WAIT_FOR_ADDRESS = 'end=$(($(date +%s) + $1)); while :; do ip -4 -o addr show scope global | grep -q inet && exit 0; [ "$(date +%s)" -lt "$end" ] || exit 1; sleep 0.2; done';

/** Give the container a network when its image has none configured; returns when it has an address. */
export async function ensureNetwork(rt: Runtime, container: string): Promise<void> {
  if ((await execIn(rt, container, ['sh', '-c', WAIT_FOR_ADDRESS, 'sh', '3'])).exitCode === 0) return;
  const configured = await execIn(rt, container, ['sh', '-c', 'ls /etc/systemd/network/*.network /etc/network/interfaces /etc/netplan/*.yaml 2>/dev/null | grep -q .']);
  if (configured.exitCode !== 0) {
    await execOk(rt, container, ['mkdir', '-p', '/etc/systemd/network', '/etc/systemd/system/systemd-networkd.service.d']);
    for (const f of NETWORKD_FILES) await pushText(rt, container, f.path, f.content, { uid: 0, gid: 0, mode: f.mode });
    await execOk(rt, container, ['sh', '-c', 'systemctl daemon-reload && systemctl enable --now systemd-networkd && systemctl restart systemd-networkd']);
  }
  await waitForAddress(rt, container);
}

export async function waitForAddress(rt: Runtime, container: string): Promise<void> {
  const r = await execIn(rt, container, ['sh', '-c', WAIT_FOR_ADDRESS, 'sh', String(NETWORK_TIMEOUT_S)]);
  if (r.exitCode !== 0) {
    throw new UserError(`${container} got no IPv4 address within ${NETWORK_TIMEOUT_S}s: a remote worker needs a network to reach this machine. Check the remote's default profile has a NIC on a network with DHCP.`);
  }
}

/** Check from inside the container that the queue answers over TLS with this worker's credential. */
export async function checkReach(rt: Runtime, container: string, access: RemoteAccess, dev: { user: number; group: number }): Promise<void> {
  const r = await execIn(rt, container, ['curl', '-sS', '--max-time', '10', '-K', CURLRC, '-o', '/dev/null', '-w', '%{http_code}', `${access.url}/v1/isollm/whoami`], { ...dev, env: { HOME: DEV_HOME } });
  if (r.exitCode !== 0 || r.stdout.trim() !== '200') {
    throw new UserError(`${container} cannot reach the queue at ${access.url} (${r.exitCode !== 0 ? r.stderr.trim().split('\n')[0] : `HTTP ${r.stdout.trim()}`}). Is network.advertise an address of this machine the remote's containers reach, and its port open?`);
  }
}
