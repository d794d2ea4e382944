import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { findImage, parseImageRef, parseImages, parseInstanceList, parseNetworks, parseSnapshots, parseStoragePools } from '../lib/runtime/parse.ts';

// Captured from LXD 5.0.2 on this machine (container fx-w1 from the locally built isollm-test image).
const fixture = (name: string) => fs.readFileSync(path.join(import.meta.dirname, 'fixtures', 'runtime', name), 'utf8');

describe('runtime JSON parsers (captured LXD output)', () => {
  it('reads instances with their tags, state and address', () => {
    const [w] = parseInstanceList(fixture('lxd-list.json'), 'fx');
    expect(w).toMatchObject({ name: 'fx-w1', status: 'Running', project: 'fx', worker: 'worker-1' });
    expect(w.ipv4 === null || /^\d+\.\d+\.\d+\.\d+$/.test(w.ipv4)).toBe(true);
    expect(w.createdAt?.toISOString()).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(w.image).toMatch(/^Debian bookworm minbase/);
    expect(parseInstanceList(fixture('lxd-list.json'), 'other')).toEqual([]);
  });

  it('reads a stopped instance (no addresses)', () => {
    const [w] = parseInstanceList(fixture('lxd-list-stopped.json'));
    expect(w).toMatchObject({ name: 'fx-w1', status: 'Stopped', ipv4: null });
  });

  it('reads snapshots without the instance prefix', () => {
    const snaps = parseSnapshots(fixture('lxd-snapshots.json'));
    expect(snaps.map((s) => s.name)).toEqual(['clean']);
    expect(snaps[0].stateful).toBe(false);
  });

  it('reads images and finds one by alias, fingerprint prefix or remote alias', () => {
    const images = parseImages(fixture('lxd-images.json'));
    expect(images).toHaveLength(1);
    expect(images[0].aliases).toEqual(['isollm-test']);
    expect(findImage(images, 'isollm-test')?.fingerprint).toBe(images[0].fingerprint);
    expect(findImage(images, images[0].fingerprint.slice(0, 12))).not.toBeNull();
    expect(findImage(images, 'images:isollm-test')).not.toBeNull(); // built locally under the remote's alias
    expect(findImage(images, 'images:debian/12')).toBeNull();
    const cached = [{ ...images[0], aliases: [], sourceAlias: 'debian/12' }];
    expect(findImage(cached, 'images:debian/12')).not.toBeNull();
  });

  it('splits image refs into remote and alias', () => {
    expect(parseImageRef('images:debian/12')).toEqual({ remote: 'images', alias: 'debian/12' });
    expect(parseImageRef('isollm-test')).toEqual({ remote: null, alias: 'isollm-test' });
  });

  it('reads storage pools and networks', () => {
    expect(parseStoragePools(fixture('lxd-storage-pools.json'))).toEqual(['default']);
    expect(parseNetworks(fixture('lxd-networks.json')).find((n) => n.name === 'isollmbr0')).toEqual({ name: 'isollmbr0', managed: true, type: 'bridge', ipv4: '10.147.83.1/24' });
  });
});
