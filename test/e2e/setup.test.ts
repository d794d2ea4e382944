// isollm setup on a machine the test environment already set up: nothing to do, and it asks before changing anything.
import { describe, expect, it } from 'vitest';
import { runCli, tmpDir } from '../helpers.ts';
import { e2eRuntime, TEST_IMAGE } from './runtime-available.ts';

const rt = await e2eRuntime('setup');

describe('isollm setup', () => {
  it('rejects an unknown runtime as a usage error', () => {
    const r = runCli(['setup', '--runtime', 'docker'], { cwd: tmpDir() });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('✗ --runtime must be lxd or incus (got "docker")');
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
});
