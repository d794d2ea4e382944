// LXD and Incus set up side by side on one machine (as CI is): each has its own bridge and subnet,
// and every command agrees on which one to use. Runs where both daemons answer (CI sets up both;
// ISOLLM_BOTH_RUNTIMES=1 makes it required).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { deleteInstance, FAST_POOL, listNetworks, pingRuntime, PROJECT_KEY, runClient, RUNTIMES, WORKER_KEY, type Network } from '../../lib/runtime/client.ts';
import { resolveRuntime } from '../../lib/runtime/choose.ts';
import { BRIDGES, cidrOverlap } from '../../lib/runtime/host-daemon.ts';
import { freePort, ROOT, runCli, runNode, tmpDir } from '../helpers.ts';
import { e2eConfigYaml, TEST_IMAGE } from './runtime-available.ts';

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

  const env = { ISOLLM_RUNTIME: undefined, ISOLLM_TEST_RUNTIME: undefined };

  it('with both installed and no project state every command picks the same one, and says why', async () => {
    const dir = tmpDir();
    const doctor = runCli(['doctor'], { cwd: dir, env });
    expect(doctor.stdout).toMatch(/^✓ container runtime: Incus \(`incus`\): both LXD and Incus are installed, neither holds anything of this project; Incus is preferred$/m);
    const forced = runCli(['doctor', '--runtime', 'lxd'], { cwd: dir, env });
    expect(forced.stdout).toMatch(/^✓ container runtime: LXD \(`lxc`\): --runtime lxd \(ISOLLM_RUNTIME\)$/m);
    // setup and test-env (the test image is in both: the preference decides), and the harness's rule.
    const setup = runCli(['setup', '--image', TEST_IMAGE], { cwd: dir, env, timeout: 120_000 });
    expect(setup.stderr).toMatch(/^runtime: Incus \(both LXD and Incus are installed, both have the image and neither holds containers of this project; Incus is preferred\)$/m);
    const testEnv = runNode([path.join(ROOT, 'scripts', 'test-env.mts')], { cwd: dir, env, timeout: 120_000 });
    expect(testEnv.stdout, testEnv.stderr).toMatch(/^test environment \(incus\) ready in /m);
    expect((await resolveRuntime({ image: TEST_IMAGE, env: {} })).kind).toBe('incus');
  });

  it("a project whose containers are in LXD: doctor, setup and status all pick LXD, saying so", async () => {
    const project = `e2e-two-${crypto.randomBytes(3).toString('hex')}`;
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'isollm.yaml'), e2eConfigYaml({ project, hub: path.join(dir, 'hub.git'), port: await freePort(), agent: { preset: 'custom', command: 'true' } }));
    // One stopped container tagged with the project, as `up` leaves them (not started: nothing runs).
    const name = `${project}-worker-1`;
    const r = await runClient(RUNTIMES.lxd, ['init', TEST_IMAGE, name, '--storage', FAST_POOL, '--config', `${PROJECT_KEY}=${project}`, '--config', `${WORKER_KEY}=worker-1`], { timeout: 120_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    try {
      const why = "both LXD and Incus are installed; LXD holds this project's containers";
      expect(runCli(['doctor'], { cwd: dir, env }).stdout).toContain(`✓ container runtime: LXD (\`lxc\`): ${why}`);
      expect(runCli(['setup'], { cwd: dir, env, timeout: 120_000 }).stderr).toContain(`runtime: LXD (${why})`);
      const status = runCli(['status', '--json'], { cwd: dir, env });
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toContain(name);
      expect((await resolveRuntime({ project, image: TEST_IMAGE, env: {} })).kind).toBe('lxd');
    } finally {
      await deleteInstance(RUNTIMES.lxd, name);
    }
  });
});
