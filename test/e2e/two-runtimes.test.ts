// LXD and Incus set up side by side on one machine (as CI is): each has its own bridge and subnet,
// and every command agrees on which one to use. Runs where both daemons answer (CI sets up both;
// ISOLLM_BOTH_RUNTIMES=1 makes it required).
import { describe, expect, it } from 'vitest';
import { listNetworks, pingRuntime, RUNTIMES, type Network } from '../../lib/runtime/client.ts';
import { BRIDGES, cidrOverlap } from '../../lib/runtime/host-daemon.ts';
import { runCli, tmpDir } from '../helpers.ts';
import { TEST_IMAGE } from './runtime-available.ts';

const both = (await Promise.all([RUNTIMES.lxd, RUNTIMES.incus].map((rt) => pingRuntime(rt).then(() => true, () => false)))).every(Boolean);
if (!both && process.env.ISOLLM_BOTH_RUNTIMES === '1') throw new Error('ISOLLM_BOTH_RUNTIMES=1 but LXD and Incus do not both answer: run `npm run test-env` with ISOLLM_TEST_RUNTIME=lxd and =incus.');
if (!both) console.warn('⚠ SKIPPED e2e two runtimes: LXD and Incus do not both answer here');

describe.skipIf(!both)('LXD and Incus on one machine', () => {
  it('setup leaves each its own bridge with its own subnet', async () => {
    for (const kind of ['lxd', 'incus'] as const) {
      const r = runCli(['setup', '--runtime', kind, '--image', TEST_IMAGE], { cwd: tmpDir(), timeout: 120_000 });
      expect(r.stdout.trim(), r.stderr).toBe('Nothing to do: the host is ready.');
    }
    const bridge = async (kind: 'lxd' | 'incus'): Promise<Network> => {
      const nets = await listNetworks(RUNTIMES[kind]);
      const found = nets.find((n) => n.name === BRIDGES[kind]);
      expect(found, JSON.stringify(nets)).toBeDefined();
      return found!;
    };
    const lxd = await bridge('lxd');
    const incus = await bridge('incus');
    console.log(`bridges: LXD ${lxd.name} ${lxd.ipv4}, Incus ${incus.name} ${incus.ipv4}`);
    expect(lxd.name).not.toBe(incus.name);
    expect(lxd.ipv4).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
    expect(incus.ipv4).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
    expect(cidrOverlap(lxd.ipv4!, incus.ipv4!)).toBe(false);
    // Neither runtime's network list holds the other's bridge as its own managed network.
    expect((await listNetworks(RUNTIMES.lxd)).some((n) => n.managed && n.name === BRIDGES.incus)).toBe(false);
  });

  it('with both installed and no project state every command picks the same one, and says why', () => {
    const env = { ISOLLM_RUNTIME: undefined, ISOLLM_TEST_RUNTIME: undefined };
    const dir = tmpDir();
    const doctor = runCli(['doctor'], { cwd: dir, env });
    expect(doctor.stdout).toMatch(/^✓ container runtime: Incus \(`incus`\): both LXD and Incus are installed, neither holds anything of this project; Incus is preferred$/m);
    const forced = runCli(['doctor', '--runtime', 'lxd'], { cwd: dir, env });
    expect(forced.stdout).toMatch(/^✓ container runtime: LXD \(`lxc`\): --runtime lxd \(ISOLLM_RUNTIME\)$/m);
  });
});
