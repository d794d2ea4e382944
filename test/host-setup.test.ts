import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import YAML from 'yaml';
import { BRIDGES, cidrOverlap, installPlan, pickSubnet, preseedYaml, subnetCandidates } from '../lib/runtime/host-daemon.ts';
import { cachedImage, imageCacheDir, metadataYaml, RECIPE, recipeKey } from '../lib/runtime/image-build.ts';

describe('host setup decisions', () => {
  it('installs LXD from main and Incus from bookworm-backports, with the bridge tools', () => {
    expect(installPlan('lxd', 'bookworm')).toEqual({ packages: ['lxd', 'dnsmasq-base', 'iptables'], aptArgs: [], addSuite: null });
    expect(installPlan('incus', 'bookworm')).toEqual({
      packages: ['incus-base', 'dnsmasq-base', 'iptables'],
      aptArgs: ['-t', 'bookworm-backports'],
      addSuite: 'bookworm-backports',
    });
    expect(installPlan('incus', 'noble').addSuite).toBeNull();
  });

  it('writes a preseed with a dir pool, an IPv4-only bridge and a default profile', () => {
    const preseed = YAML.parse(preseedYaml({ bridge: BRIDGES.lxd, subnet: '10.1.2.1/24' }));
    expect(preseed.storage_pools).toEqual([{ name: 'default', driver: 'dir' }]);
    expect(preseed.networks[0]).toEqual({ name: 'isollmbr0', type: 'bridge', config: { 'ipv4.address': '10.1.2.1/24', 'ipv4.nat': 'true', 'ipv6.address': 'none' } });
    expect(preseed.profiles[0].devices.root).toEqual({ path: '/', pool: 'default', type: 'disk' });
    expect(preseed.profiles[0].devices.eth0.network).toBe('isollmbr0');
  });

  it('picks a bridge subnet that no host route overlaps', () => {
    expect(cidrOverlap('10.147.83.1/24', '10.0.0.0/8')).toBe(true);
    expect(cidrOverlap('10.147.83.1/24', '10.147.84.0/24')).toBe(false);
    const routes = JSON.stringify([{ dst: 'default' }, { dst: '192.0.2.0/24' }, { dst: '10.0.0.0/8' }]);
    expect(pickSubnet(routes)).toBe('172.30.213.1/24');
    expect(pickSubnet(JSON.stringify([]))).toBe('10.147.83.1/24');
    expect(pickSubnet(JSON.stringify([{ dst: '10.147.83.0/24' }]))).toBe(subnetCandidates('lxd')[1]);
    expect(() => pickSubnet(JSON.stringify([{ dst: '0.0.0.0/0' }]))).toThrow(/in use on this host/);
  });

  it('gives LXD and Incus their own bridge name and subnet, so both can be set up on one machine', () => {
    expect(BRIDGES.lxd).not.toBe(BRIDGES.incus);
    for (const name of Object.values(BRIDGES)) expect(name.length).toBeLessThanOrEqual(15);
    const lxd = subnetCandidates('lxd');
    const incus = subnetCandidates('incus');
    expect(new Set(lxd).size).toBe(lxd.length);
    expect(lxd.filter((c) => incus.some((i) => cidrOverlap(c, i)))).toEqual([]);
    for (const c of [...lxd, ...incus]) expect(c).toMatch(/^(10\.\d+|172\.30|192\.168)\.\d+\.1\/24$/);
    // LXD's bridge up (its route present): Incus still gets its own first choice, and vice versa.
    const lxdRoute = JSON.stringify([{ dst: lxd[0].replace('.1/24', '.0/24') }]);
    expect(pickSubnet(lxdRoute, incus)).toBe(incus[0]);
    const preseed = YAML.parse(preseedYaml({ bridge: BRIDGES.incus, subnet: incus[0] }));
    expect(preseed.networks[0].name).toBe('isollmincbr0');
    expect(preseed.profiles[0].devices.eth0.network).toBe('isollmincbr0');
  });

  it('keys the image cache by the recipe, under an overridable directory', () => {
    expect(recipeKey()).toMatch(/^[0-9a-f]{16}$/);
    expect(recipeKey({ ...RECIPE, suite: 'trixie' } as never)).not.toBe(recipeKey());
    expect(imageCacheDir({ ISOLLM_IMAGE_CACHE: '/x/y' })).toBe('/x/y');
    expect(imageCacheDir({ XDG_CACHE_HOME: '/c' })).toBe('/c/isollm/images');
    expect(cachedImage('abc', { ISOLLM_IMAGE_CACHE: '/x' })).toEqual({ dir: '/x/abc', meta: '/x/abc/meta.tar.gz', rootfs: '/x/abc/rootfs.tar.gz' });
  });

  it('writes image metadata LXD accepts', () => {
    const meta = YAML.parse(metadataYaml(RECIPE, 'k1', new Date(1_700_000_000_000)));
    expect(meta).toMatchObject({ architecture: 'x86_64', creation_date: 1_700_000_000, properties: { os: 'debian', release: 'bookworm', 'isollm.recipe': 'k1' } });
  });
});

describe('inotify instances for many containers', () => {
  it('reads the limit, and raises it to what the runtime packages ship', async () => {
    const { INOTIFY_INSTANCES, inotifyInstances, raiseInotifyInstances } = await import('../lib/runtime/host-daemon.ts');
    const { tmpDir } = await import('./helpers.ts');
    expect(INOTIFY_INSTANCES).toBe(1024); // /etc/sysctl.d/10-{lxd,incus}-inotify.conf
    const file = `${tmpDir()}/max_user_instances`;
    expect(inotifyInstances(file)).toBeNull();
    fs.writeFileSync(file, '128\n');
    expect(inotifyInstances(file)).toBe(128);
    if (process.getuid?.() !== 0) return; // raising goes through sudo for other users
    await raiseInotifyInstances(file);
    expect(fs.readFileSync(file, 'utf8')).toBe('1024\n');
    expect(inotifyInstances(file)).toBe(1024);
  });
});
