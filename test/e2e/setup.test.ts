// isollm setup on a machine the test environment already set up: nothing to do, and it asks before changing anything.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { lookupImage } from '../../lib/runtime/client.ts';
import { runCli, tmpDir } from '../helpers.ts';
import { e2eRuntime, TEST_IMAGE } from './runtime-available.ts';

const rt = await e2eRuntime('setup');

describe('isollm setup', () => {
  it('rejects an unknown runtime as a usage error', () => {
    const r = runCli(['setup', '--runtime', 'docker'], { cwd: tmpDir() });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('✗ --runtime must be one of lxd, incus (got "docker")');
  });

  it.skipIf(!rt)('reports nothing to do when the host is ready', () => {
    const r = runCli(['setup', '--runtime', rt!.kind, '--image', TEST_IMAGE], { cwd: tmpDir() });
    expect(r.stdout.trim()).toBe('Nothing to do: the host is ready.');
    expect(r.stderr).toContain(`✓ image ${TEST_IMAGE}: already done`);
    expect(r.code).toBe(0);
  });

  it.skipIf(!rt)('without a terminal and without --yes, changes nothing and names --yes', () => {
    const r = runCli(['setup', '--runtime', rt!.kind, '--image', 'isollm-no-such-image'], { cwd: tmpDir() });
    expect(r.stderr).toContain('  - build image isollm-no-such-image locally');
    expect(r.stderr).toContain('✗ Setup needs to change the system; run it in a terminal to be asked, or pass --yes.');
    expect(r.code).toBe(1);
  });

  it.skipIf(!rt)('run twice: the first run makes the image available, the second has nothing to do', async () => {
    // A new alias for the cached test image: the first run has real work (the import), quickly.
    const alias = `isollm-e2e-setup-${crypto.randomBytes(3).toString('hex')}`;
    onTestFinished(() => void spawnSync(rt!.bin, ['image', 'alias', 'delete', alias]));
    const first = runCli(['setup', '--runtime', rt!.kind, '--image', alias, '--yes', '--json'], { cwd: tmpDir(), timeout: 300_000 });
    expect(first.code).toBe(0);
    const { runtime, steps } = JSON.parse(first.stdout) as { runtime: string; steps: { title: string; status: string; note?: string }[] };
    expect(runtime).toBe(rt!.kind);
    expect(steps.filter((s) => s.status === 'done')).toEqual([expect.objectContaining({ title: `image ${alias}`, note: expect.stringContaining(`imported as ${alias}`) })]);
    expect(await lookupImage(rt!, alias)).not.toBeNull();

    const second = runCli(['setup', '--runtime', rt!.kind, '--image', alias], { cwd: tmpDir() });
    expect(second.stdout.trim()).toBe('Nothing to do: the host is ready.');
    expect(second.stderr).not.toContain('will, where not already done');
    expect(second.code).toBe(0);
  }, 320_000);
});
