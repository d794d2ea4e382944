// The one rule for `runtime.kind: auto` (and its overrides), over every combination of what is
// installed, answering, and holding this project's containers or image.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decideRuntime, PREFERENCE, resolveRuntime, runtimeOverride, type RuntimeState } from '../lib/runtime/choose.ts';
import type { RuntimeName } from '../lib/runtime/detect.ts';
import { tmpDir } from './helpers.ts';

type S = Partial<RuntimeState>;
const st = (kind: RuntimeName, s: S = {}): RuntimeState => ({ kind, installed: true, answers: true, containers: 0, hasImage: false, ...s });
const decide = (lxd: S | null, incus: S | null) =>
  decideRuntime([lxd ? st('lxd', lxd) : st('lxd', { installed: false, answers: false }), incus ? st('incus', incus) : st('incus', { installed: false, answers: false })], 'isollm-test');

describe('auto: which runtime', () => {
  it('neither installed: none, saying so', () => {
    expect(decide(null, null)).toEqual({ kind: null, reason: 'neither `incus` nor `lxc` is installed' });
  });

  it('one installed: that one, whatever it holds or whether it answers', () => {
    expect(decide({}, null)).toEqual({ kind: 'lxd', reason: 'only LXD is installed' });
    expect(decide(null, { answers: false })).toEqual({ kind: 'incus', reason: 'only Incus is installed' });
  });

  it("both installed: the one holding this project's containers wins, even over the image and the preference", () => {
    for (const [lxd, incus, kind] of [
      [{ containers: 2 }, {}, 'lxd'],
      [{ containers: 2 }, { hasImage: true }, 'lxd'],
      [{}, { containers: 1 }, 'incus'],
      [{ hasImage: true }, { containers: 1 }, 'incus'],
    ] as [S, S, RuntimeName][]) {
      const c = decide(lxd, incus);
      expect(c.kind).toBe(kind);
      expect(c.reason).toMatch(/holds this project's containers$/);
    }
  });

  it('both installed, no containers: the one holding the image', () => {
    expect(decide({ hasImage: true }, {})).toEqual({ kind: 'lxd', reason: 'both LXD and Incus are installed; only LXD has the image isollm-test' });
    expect(decide({}, { hasImage: true }).kind).toBe('incus');
  });

  it('both installed, nothing of the project anywhere: the documented preference, stable', () => {
    expect(PREFERENCE[0]).toBe('incus');
    const c = decide({}, {});
    expect(c).toEqual({ kind: 'incus', reason: 'both LXD and Incus are installed, neither holds anything of this project; Incus is preferred' });
    expect(decide({ hasImage: true }, { hasImage: true })).toEqual({
      kind: 'incus',
      reason: 'both LXD and Incus are installed, both have the image and neither holds containers of this project; Incus is preferred',
    });
    // The order the states come in changes nothing.
    expect(decideRuntime([st('incus'), st('lxd')]).kind).toBe('incus');
    expect(decideRuntime([st('lxd'), st('incus')]).kind).toBe('incus');
  });

  it('both installed, only one daemon answers: that one (what a dead daemon holds is unknown)', () => {
    expect(decide({}, { answers: false })).toEqual({ kind: 'lxd', reason: "both LXD and Incus are installed; only LXD's daemon answers" });
    expect(decide({ answers: false, containers: 0 }, { hasImage: false }).kind).toBe('incus');
    expect(decide({ answers: false }, { answers: false })).toEqual({ kind: 'incus', reason: 'both LXD and Incus are installed, neither daemon answers; Incus is preferred' });
  });

  it('both hold containers of the project: the preference, and it says to choose', () => {
    expect(decide({ containers: 1 }, { containers: 1 }).reason).toMatch(/both hold containers of this project; Incus is preferred \(set runtime.kind to choose\)/);
  });
});

describe('resolveRuntime: overrides, then config, then auto', () => {
  function fakePath(...bins: string[]): string {
    const dir = tmpDir();
    for (const bin of bins) fs.writeFileSync(path.join(dir, bin), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    return dir;
  }
  const noProbe = async () => {
    throw new Error('must not probe');
  };

  it('--runtime / ISOLLM_RUNTIME wins over runtime.kind and over the rule', async () => {
    const both = fakePath('lxc', 'incus');
    expect(await resolveRuntime({ kind: 'incus', env: { ISOLLM_RUNTIME: 'lxd' }, envPath: both, probe: noProbe })).toEqual({ kind: 'lxd', reason: '--runtime lxd (ISOLLM_RUNTIME)', source: 'override' });
    expect(await resolveRuntime({ kind: 'auto', env: { ISOLLM_RUNTIME: 'incus' }, envPath: both, probe: noProbe })).toMatchObject({ kind: 'incus', source: 'override' });
    await expect(resolveRuntime({ env: { ISOLLM_RUNTIME: 'docker' } })).rejects.toThrow('ISOLLM_RUNTIME (or --runtime) must be lxd or incus, not "docker".');
    expect(runtimeOverride({ ISOLLM_RUNTIME: 'auto' })).toBeUndefined();
  });

  it('runtime.kind names one: that one, without asking any daemon', async () => {
    expect(await resolveRuntime({ kind: 'lxd', env: {}, envPath: fakePath('lxc', 'incus'), probe: noProbe })).toEqual({ kind: 'lxd', reason: 'runtime.kind is lxd', source: 'config' });
    // The harness and test-env force theirs the same way, and say where it came from.
    expect(await resolveRuntime({ kind: 'incus', kindFrom: 'ISOLLM_TEST_RUNTIME', env: {}, envPath: fakePath('lxc'), probe: noProbe })).toEqual({ kind: 'incus', reason: 'ISOLLM_TEST_RUNTIME is incus', source: 'config' });
  });

  it('every combination of both installed gives one answer whatever order the probes come in', () => {
    const options: S[] = [{}, { hasImage: true }, { containers: 1 }, { containers: 1, hasImage: true }, { answers: false }];
    for (const lxd of options) {
      for (const incus of options) {
        const a = decideRuntime([st('lxd', lxd), st('incus', incus)], 'x');
        const b = decideRuntime([st('incus', incus), st('lxd', lxd)], 'x');
        expect(b, JSON.stringify({ lxd, incus })).toEqual(a);
        expect(a.kind).not.toBeNull();
        // Containers decide first: a runtime that answers and holds them is never passed over.
        const holders = ([['lxd', lxd], ['incus', incus]] as [RuntimeName, S][]).filter(([, s]) => s.containers && s.answers !== false);
        if (holders.length === 1) expect(a.kind).toBe(holders[0][0]);
      }
    }
  });

  it('auto with one client installed asks no daemon; with both, probes each with the project and image', async () => {
    expect(await resolveRuntime({ env: {}, envPath: fakePath('lxc'), probe: noProbe })).toEqual({ kind: 'lxd', reason: 'only LXD is installed', source: 'auto' });
    expect(await resolveRuntime({ env: {}, envPath: fakePath(), probe: noProbe })).toMatchObject({ kind: null });
    const asked: string[] = [];
    const probe = async (kind: RuntimeName, o: { project?: string; image?: string }) => {
      asked.push(`${kind} ${o.project} ${o.image}`);
      return st(kind, { containers: kind === 'lxd' ? 3 : 0, hasImage: true });
    };
    expect(await resolveRuntime({ env: {}, envPath: fakePath('lxc', 'incus'), project: 'demo', image: 'images:debian/12', probe })).toMatchObject({ kind: 'lxd', source: 'auto' });
    expect(asked.sort()).toEqual(['incus demo images:debian/12', 'lxd demo images:debian/12']);
  });
});

describe('--runtime on every command', () => {
  it('sets ISOLLM_RUNTIME for the process (before `--` only) and refuses other values', async () => {
    const { applyRuntimeFlag } = await import('../lib/cli/run.ts');
    const env: NodeJS.ProcessEnv = {};
    applyRuntimeFlag(['status', '--runtime', 'incus'], env);
    expect(env.ISOLLM_RUNTIME).toBe('incus');
    applyRuntimeFlag(['--runtime=lxd', 'up'], env);
    expect(env.ISOLLM_RUNTIME).toBe('lxd');
    const untouched: NodeJS.ProcessEnv = {};
    applyRuntimeFlag(['worker', 'exec', 'w', '--', 'x', '--runtime', 'docker'], untouched);
    expect(untouched).toEqual({});
    expect(() => applyRuntimeFlag(['doctor', '--runtime', 'docker'], {})).toThrow('--runtime must be one of lxd, incus (got "docker")');
  });

  it('doctor says which runtime the flag chose, and a bad value is one line, exit 2', async () => {
    const { runCli, tmpDir: tmp } = await import('./helpers.ts');
    const bad = runCli(['status', '--runtime', 'docker'], { cwd: tmp() });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('✗ --runtime must be one of lxd, incus (got "docker")');
    const r = runCli(['doctor', '--runtime', 'incus'], { cwd: tmp(), env: { ISOLLM_RUNTIME: undefined } });
    expect(r.stdout, r.stderr).toMatch(/^. container runtime: .*--runtime incus \(ISOLLM_RUNTIME\)/m);
  });
});
