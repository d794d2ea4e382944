// doctor's throwaway probe container, for real (LXD or Incus, on this machine's daemon: the probe's
// life is the same on a remote). A doctor in a process of its own makes one and holds it. While it
// runs, the next doctor's sweep leaves its probe alone; SIGTERM or SIGINT deletes the probe before
// the doctor ends; after a SIGKILL the next sweep deletes it; another machine's probe is left alone.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteInstance, FAST_POOL, launchInstance, listInstances, listStoragePools } from '../../lib/runtime/client.ts';
import { PROBE_KEY, PROBE_OWNER_KEY, removeLeftoverProbes } from '../../lib/flows/doctor-probe.ts';
import { NODE, ROOT } from '../helpers.ts';
import { e2eRuntime, TEST_IMAGE } from './runtime-available.ts';

const rt = await e2eRuntime('doctor-probe');

describe.skipIf(!rt)("doctor's probe container", () => {
  const project = `e2e-probe-${crypto.randomBytes(3).toString('hex')}`;
  const ours = async () => (await listInstances(rt!, undefined, undefined, { state: false })).filter((i) => i.config[PROBE_KEY] === project).map((i) => i.name);

  afterAll(async () => {
    for (const name of await ours()) await deleteInstance(rt!, name).catch(() => undefined);
  }, 120_000);

  /** A doctor holding its probe: the probe's name once made, and how the process ended. */
  function doctor() {
    const code = `const { launchProbe } = await import(${JSON.stringify(path.join(ROOT, 'lib/flows/doctor-probe.ts'))});
const { RUNTIMES } = await import(${JSON.stringify(path.join(ROOT, 'lib/runtime/client.ts'))});
const probe = await launchProbe(RUNTIMES[${JSON.stringify(rt!.kind)}], { project: ${JSON.stringify(project)}, image: ${JSON.stringify(TEST_IMAGE)} });
console.log(probe.name);
setInterval(() => {}, 1000);`;
    const child = spawn(NODE, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    const name = new Promise<string>((resolve) => child.stdout.on('data', (d) => resolve(String(d).trim())));
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    return { child, name, ended };
  }

  /** The storage pool of an instance's root disk. */
  const rootPool = (name: string) => (JSON.parse(spawnSync(rt!.bin, ['query', `/1.0/instances/${name}`], { encoding: 'utf8' }).stdout) as { expanded_devices: { root: { pool: string } } }).expanded_devices.root.pool;

  it('a running doctor keeps its probe; killed with SIGKILL, the next sweep removes it', async () => {
    const d = doctor();
    const name = await d.name;
    expect(await ours()).toEqual([name]);
    // On isollm's copy-on-write pool where setup made one (a clone of the image, not an unpack), as the workers.
    const pools = await listStoragePools(rt!);
    if (pools.includes(FAST_POOL)) expect(rootPool(name)).toBe(FAST_POOL);
    expect(await removeLeftoverProbes(rt!)).not.toContain(name);
    expect(await ours()).toEqual([name]);
    d.child.kill('SIGKILL');
    await d.ended;
    expect(await ours()).toEqual([name]); // nothing ran to delete it
    expect(await removeLeftoverProbes(rt!)).toContain(name);
    expect(await ours()).toEqual([]);
  }, 120_000);

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: the probe is deleted, then the doctor ends by that signal`, async () => {
      const d = doctor();
      const name = await d.name;
      expect(await ours()).toEqual([name]);
      d.child.kill(signal);
      expect(await d.ended).toEqual({ code: null, signal });
      expect(await ours()).toEqual([]);
    }, 120_000);
  }

  it("another machine's probe is left alone", async () => {
    const name = `${project}-probe-elsewhere`;
    const storage = (await listStoragePools(rt!)).includes(FAST_POOL) ? FAST_POOL : undefined; // a clone, as a probe is
    await launchInstance(rt!, { name, image: TEST_IMAGE, storage, config: { [PROBE_KEY]: project, [PROBE_OWNER_KEY]: 'another-machine/some-boot/1/1' } });
    expect(await removeLeftoverProbes(rt!)).not.toContain(name);
    expect(await ours()).toEqual([name]);
  }, 120_000);
});
