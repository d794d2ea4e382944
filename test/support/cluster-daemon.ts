// A second Incus daemon on this machine, enabled as a one-member cluster and added to the client as
// the remote `isollm-cluster` with a trust token: the e2e of remote workers runs against it with
// runtime.remote/runtime.targets. Clustering cannot be undone, so it never touches the shared
// daemon: this one has its own INCUS_DIR (database, unix socket, $INCUS_DIR/run and /logs), its own
// btrfs pool on a loop file in there, its own bridge and subnet, and HTTPS on 127.0.0.1:18445.
// What the two daemons still share, checked here: the cgroup names liblxc gives containers
// (lxc.payload.<name>: test containers have unique names), iptables (rules per bridge name),
// the subuid range (as any two containers do). No AppArmor on these hosts; no lxcfs.
// There is no service manager: the daemon is started detached, like `isollm setup` starts one.
//   node test/support/cluster-daemon.ts     start / set up as needed (quick when done), print the remote
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { FAST_POOL } from '../../lib/runtime/argv.ts';
import { daemonBinary, daemonGroup, groupExists, hostRoutes, pickSubnet, preseedYaml } from '../../lib/runtime/host-daemon.ts';
import { btrfsSupported } from '../../lib/runtime/host-setup.ts';
import { cachedImage, isCached } from '../../lib/runtime/image-build.ts';
import { findOnPath, RUNTIMES } from '../../lib/runtime/detect.ts';

export const CLUSTER_DIR = process.env.ISOLLM_CLUSTER_DIR || '/var/lib/isollm-cluster';
export const CLUSTER_REMOTE = 'isollm-cluster';
export const CLUSTER_MEMBER = 'isollm-m1';
export const CLUSTER_ADDRESS = '127.0.0.1:18445';
export const CLUSTER_BRIDGE = 'isollmclbr0';
const IMAGE = 'isollm-test';
const READY_S = 60;

type Result = { code: number; stdout: string; stderr: string };

/** The incus client; `own` talks to this daemon's unix socket (INCUS_DIR), else to the client's remotes. */
function incus(args: string[], options: { own?: boolean; input?: string; timeout?: number } = {}): Result {
  const env = { ...process.env };
  if (options.own) env.INCUS_DIR = CLUSTER_DIR;
  else delete env.INCUS_DIR;
  const r = spawnSync('incus', args, { encoding: 'utf8', env, input: options.input, timeout: options.timeout ?? 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') };
}

function must(args: string[], options: Parameters<typeof incus>[1] = {}): string {
  const r = incus(args, options);
  if (r.code !== 0) throw new Error(`incus ${args.join(' ')}${options.own ? ` (INCUS_DIR=${CLUSTER_DIR})` : ''} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

function query<T>(url: string, own = false): T | null {
  const r = incus(['query', url], { own, timeout: 30_000 });
  if (r.code !== 0) return null;
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    return null;
  }
}

/** Subnets for this daemon's bridge: a spread of its own, none of which the shared daemons' lists start with. */
export function clusterSubnets(): string[] {
  return [...Array.from({ length: 32 }, (_, i) => `10.${199 - i}.77.1/24`), '172.30.215.1/24', '192.168.215.1/24'];
}

function ready(timeoutS: number): boolean {
  return incus(['admin', 'waitready', '--timeout', String(timeoutS)], { own: true, timeout: (timeoutS + 5) * 1000 }).code === 0;
}

/** Start the daemon when its socket does not answer. */
function startDaemon(log: (line: string) => void): void {
  if (fs.existsSync(path.join(CLUSTER_DIR, 'unix.socket')) && ready(2)) return;
  fs.mkdirSync(CLUSTER_DIR, { recursive: true, mode: 0o711 });
  const rt = RUNTIMES.incus;
  const group = daemonGroup(rt);
  if (!groupExists(group)) spawnSync('groupadd', ['--system', group]);
  const logfile = path.join(CLUSTER_DIR, 'incusd.log');
  // Detached with no pipes to us, so it outlives this process (there is no service manager to own it).
  const child = spawn(daemonBinary(rt), ['--group', group, '--logfile', logfile], { detached: true, stdio: 'ignore', cwd: '/', env: { ...process.env, INCUS_DIR: CLUSTER_DIR } });
  child.unref();
  if (!ready(READY_S)) throw new Error(`the cluster's incusd (INCUS_DIR=${CLUSTER_DIR}) did not become ready within ${READY_S}s; see ${logfile}`);
  log(`started incusd (INCUS_DIR=${CLUSTER_DIR}, log ${logfile})`);
}

type Server = { auth?: string; environment?: { server_clustered?: boolean; server_name?: string } };

/**
 * The daemon running, initialised, clustered, trusted by the client as `isollm-cluster`, with the
 * test image: each step only when needed. Returns the remote and its member.
 */
export async function ensureClusterRemote(log: (line: string) => void = () => {}): Promise<{ remote: string; member: string }> {
  if (!findOnPath('incus')) throw new Error('incus is not installed: run `ISOLLM_TEST_RUNTIME=incus npm run test-env` first');
  startDaemon(log);
  const pools = query<string[]>('/1.0/storage-pools', true) ?? [];
  if (pools.length === 0) {
    const subnet = pickSubnet(await hostRoutes(), clusterSubnets());
    const btrfs = btrfsSupported();
    const yaml = preseedYaml({ bridge: CLUSTER_BRIDGE, subnet, pool: FAST_POOL, driver: btrfs ? 'btrfs' : 'dir', size: btrfs ? '8GiB' : undefined, httpsAddress: CLUSTER_ADDRESS });
    must(['admin', 'init', '--preseed'], { own: true, input: yaml });
    log(`initialised: bridge ${CLUSTER_BRIDGE} (${subnet}), pool ${FAST_POOL}, https on ${CLUSTER_ADDRESS}`);
  }
  if (!query<Server>('/1.0', true)?.environment?.server_clustered) {
    must(['cluster', 'enable', CLUSTER_MEMBER], { own: true });
    log(`clustering enabled (member ${CLUSTER_MEMBER})`);
  }
  if (query<Server>(`${CLUSTER_REMOTE}:/1.0`)?.auth !== 'trusted') {
    incus(['remote', 'remove', CLUSTER_REMOTE]); // a stale entry (another certificate, another address)
    const name = `${CLUSTER_REMOTE}-${crypto.randomBytes(3).toString('hex')}`;
    const token = must(['config', 'trust', 'add', name], { own: true }).trim().split('\n').at(-1)!.trim();
    must(['remote', 'add', CLUSTER_REMOTE, token, '--accept-certificate']);
    if (query<Server>(`${CLUSTER_REMOTE}:/1.0`)?.auth !== 'trusted') throw new Error(`remote ${CLUSTER_REMOTE} was added with a trust token but does not trust this client`);
    log(`remote ${CLUSTER_REMOTE} added with a trust token (https://${CLUSTER_ADDRESS})`);
  }
  if (incus(['image', 'info', `${CLUSTER_REMOTE}:${IMAGE}`]).code !== 0) {
    const image = cachedImage();
    if (!isCached(image)) throw new Error(`the test image is not cached (${image.dir}): run \`npm run test-env\` first`);
    must(['image', 'import', image.meta, image.rootfs, `${CLUSTER_REMOTE}:`, '--alias', IMAGE]);
    log(`image ${IMAGE} imported into ${CLUSTER_REMOTE}`);
  }
  return { remote: CLUSTER_REMOTE, member: CLUSTER_MEMBER };
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const started = Date.now();
  ensureClusterRemote((line) => console.error(`● ${line}`)).then(
    ({ remote, member }) => console.log(`cluster remote ${remote} (member ${member}) ready in ${((Date.now() - started) / 1000).toFixed(1)}s`),
    (err: Error) => {
      console.error(`test cluster: ${err.message}`);
      process.exit(1);
    },
  );
}
