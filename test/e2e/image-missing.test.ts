// `isollm up` with an `image` the runtime does not hold: one line naming the key and the fix, exit
// 1, and no container left behind (real runtime; no container is ever made).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listInstances } from '../../lib/runtime/client.ts';
import { freePort } from '../helpers.ts';
import { e2eProject } from './project.ts';
import { e2eConfigYaml, e2eRuntime } from './runtime-available.ts';

const rt = await e2eRuntime('image-missing');

describe.skipIf(!rt)('up with an image the runtime does not have (real runtime)', () => {
  const p = e2eProject('noimg');
  afterAll(() => p.destroy(rt, 120_000), 180_000);

  it('says which key names it and what to run, and makes no container', async () => {
    const image = `isollm-no-such-image-${p.tag}`;
    p.commit({ 'isollm.yaml': e2eConfigYaml({ project: p.project, hub: p.hub, port: await freePort(), agent: { preset: 'custom', command: 'sleep', args: ['infinity'] } }).replace('image: isollm-test', `image: ${image}`) });
    expect(fs.readFileSync(path.join(p.root, 'isollm.yaml'), 'utf8')).toContain(`image: ${image}`);
    const r = p.cli(['up']);
    expect(r.code, r.stderr).toBe(1);
    const failures = r.stderr.split('\n').filter((l) => l.startsWith('✗'));
    expect(failures).toEqual([`✗ image "${image}" (isollm.yaml) is not in ${rt!.kind === 'lxd' ? 'LXD' : 'Incus'}'s image store. Run \`isollm setup\` to build it, or set image to one \`${rt!.bin} image list\` shows.`]);
    expect(r.stderr).not.toMatch(/^Error: /m);
    expect(await listInstances(rt!, p.project)).toEqual([]);
  }, 180_000);
});
