import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { findImage, parseImageRef, parseImages, parseInstanceList, parseList, parseNetworks, parseSnapshots, parseStoragePools } from '../lib/runtime/parse.ts';

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

// Captured from Incus 6.0.4 (Debian bookworm-backports) on this machine: a fresh daemon before
// `isollm setup` preseeded it (the *-none files), then containers fx-demo-worker-1/2 from isollm-test
// on the btrfs pool. Error texts: test/runtime-client.test.ts.
describe('runtime JSON parsers (captured Incus output)', () => {
  it('reads an empty output as an empty list: Incus prints nothing for no storage pools', () => {
    expect(fixture('incus-storage-pools-none.txt')).toBe('');
    expect(parseStoragePools(fixture('incus-storage-pools-none.txt'))).toEqual([]);
    // Other empty collections print `[]` (with or without a newline).
    expect(parseInstanceList(fixture('incus-list-none.json'))).toEqual([]);
    expect(parseImages(fixture('incus-images-none.json'))).toEqual([]);
    expect(parseSnapshots(fixture('incus-snapshots-none.json'))).toEqual([]);
    expect(parseList('null')).toEqual([]);
    expect(() => parseList('{"a":1}')).toThrow(/expected a JSON list/);
  });

  it('reads instances with their tags and state, running and stopped', () => {
    const list = parseInstanceList(fixture('incus-list.json'), 'fx-demo');
    expect(list.map((i) => [i.name, i.status, i.worker])).toEqual([
      ['fx-demo-worker-1', 'Running', 'worker-1'],
      ['fx-demo-worker-2', 'Stopped', 'worker-2'],
    ]);
    expect(list[0].createdAt?.toISOString()).toBe('2026-12-01T11:04:33.734Z');
    expect(list[0].image).toMatch(/^Debian bookworm minbase \(isollm [0-9a-f]+\)$/);
    // The image has no DHCP client, so only link-local IPv6: no global IPv4.
    expect(list[0].ipv4).toBeNull();
    expect(parseInstanceList(fixture('incus-list.json'), 'fx')).toEqual([]); // no prefix match
    expect(parseInstanceList(fixture('incus-list-stopped.json')).every((i) => i.status === 'Stopped' && i.ipv4 === null)).toBe(true);
  });

  it('reads snapshots without the instance prefix', () => {
    expect(parseSnapshots(fixture('incus-snapshots.json'))).toEqual([{ name: 'isollm-base', createdAt: expect.any(Date), stateful: false }]);
  });

  it('reads images from the API and from `image list --format json` alike', () => {
    const images = parseImages(fixture('incus-images.json'));
    expect(images.map((i) => i.aliases)).toEqual([['isollm-test']]);
    expect(parseImages(fixture('incus-image-list.json'))).toEqual(images);
    expect(findImage(images, 'isollm-test')?.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(findImage(images, 'images:debian/12')).toBeNull();
  });

  it('reads storage pools and the bridges: its own managed, LXD’s seen as a plain interface', () => {
    expect(parseStoragePools(fixture('incus-storage-pools.json'))).toEqual(['default', 'isollm']);
    const nets = parseNetworks(fixture('incus-networks.json'));
    expect(nets.find((n) => n.name === 'isollmincbr0')).toEqual({ name: 'isollmincbr0', managed: true, type: 'bridge', ipv4: '10.163.41.1/24' });
    expect(nets.find((n) => n.name === 'isollmbr0')).toMatchObject({ managed: false, ipv4: null });
    expect(parseNetworks(fixture('incus-networks-none.json')).filter((n) => n.managed)).toEqual([]);
  });
});
