// The daemon's API read directly (lib/runtime/api.ts): where the client's config says it would go,
// and the pinned certificate of a remote, against a real HTTPS server on loopback with certificates
// made by openssl. The same reads against real daemons: e2e/runtime.test.ts and e2e/remote.test.ts.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { apiGet, endpointFrom, localSocket, pemFingerprint, type Endpoint } from '../lib/runtime/api.ts';
import { tmpDir } from './helpers.ts';

/** A self-signed certificate and its key (EC P-384, as LXD and Incus make theirs). */
function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp384r1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`], { stdio: 'ignore' });
  return { cert: fs.readFileSync(cert, 'utf8'), key: fs.readFileSync(key, 'utf8') };
}

const CONFIG = `default-remote: local
remotes:
  images:
    addr: https://images.linuxcontainers.org
    protocol: simplestreams
    public: true
  far:
    addr: https://10.0.0.5:8443
    project: agents
    protocol: lxd
    public: false
  oidc:
    addr: https://10.0.0.6:8443
    auth_type: oidc
    protocol: incus
  local:
    addr: unix://
    public: false
`;

describe('where the client would send a request', () => {
  it('the local daemon: its socket, from the environment or the default', () => {
    expect(endpointFrom('lxd', undefined, CONFIG, '/none', {}, () => '')).toEqual({ kind: 'unix', socketPath: localSocket('lxd', {}), project: null });
    expect(localSocket('lxd', { LXD_DIR: '/srv/lxd' })).toBe('/srv/lxd/unix.socket');
    expect(localSocket('lxd', {}, (f) => f.startsWith('/var/snap/'))).toBe('/var/snap/lxd/common/lxd/unix.socket');
    expect(localSocket('lxd', {}, () => false)).toBe('/var/lib/lxd/unix.socket');
    expect(localSocket('incus', { INCUS_SOCKET: '/run/i.sock' })).toBe('/run/i.sock');
    expect(localSocket('incus', {})).toBe('/var/lib/incus/unix.socket');
    // No config file yet: the client's defaults.
    expect(endpointFrom('incus', undefined, null, '/none', {})).toEqual({ kind: 'unix', socketPath: '/var/lib/incus/unix.socket', project: null });
  });

  it('a remote: its address, project, the client certificate and the pinned server certificate', () => {
    const dir = tmpDir();
    const server = selfSigned(dir, 'far-server');
    const client = selfSigned(dir, 'client');
    fs.mkdirSync(path.join(dir, 'servercerts'));
    fs.writeFileSync(path.join(dir, 'servercerts', 'far.crt'), server.cert);
    fs.writeFileSync(path.join(dir, 'client.crt'), client.cert);
    fs.writeFileSync(path.join(dir, 'client.key'), client.key);
    const far = endpointFrom('lxd', 'far', CONFIG, dir, {});
    expect(far).toMatchObject({ kind: 'https', host: '10.0.0.5', port: 8443, project: 'agents', cert: client.cert, key: client.key, serverCert: server.cert });
    expect((far as { fingerprint: string }).fingerprint).toBe(new crypto.X509Certificate(server.cert).fingerprint256);
    // The default remote when none is named.
    expect(endpointFrom('lxd', undefined, CONFIG.replace('default-remote: local', 'default-remote: far'), dir, {})).toMatchObject({ kind: 'https', host: '10.0.0.5' });
  });

  it('anything not plainly a daemon reached as the client does is left to the client', () => {
    const dir = tmpDir();
    expect(endpointFrom('lxd', 'far', CONFIG, dir, {})).toBeNull(); // no saved server certificate
    expect(endpointFrom('lxd', 'images', CONFIG, dir, {})).toBeNull(); // an image server
    expect(endpointFrom('incus', 'oidc', CONFIG, dir, {})).toBeNull(); // another way of logging in
    expect(endpointFrom('incus', 'far', CONFIG, dir, {})).toBeNull(); // an LXD remote in an Incus config
    expect(endpointFrom('lxd', 'nowhere', CONFIG, dir, {})).toBeNull();
    expect(endpointFrom('lxd', undefined, 'remotes: [', dir, {})).toBeNull();
  });
});

describe('a remote over HTTPS', () => {
  async function server(dir: string) {
    const own = selfSigned(dir, 'daemon');
    const client = selfSigned(dir, 'client');
    const seen: { path: string; clientCert: string | undefined }[] = [];
    const srv = https.createServer({ cert: own.cert, key: own.key, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
      seen.push({ path: req.url ?? '', clientCert: peer?.fingerprint256 });
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ type: 'sync', status: 'Success', status_code: 200, metadata: [{ name: 'w1', status: 'Running' }] }));
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => void srv.close());
    const endpoint: Endpoint = { kind: 'https', host: '127.0.0.1', port: (srv.address() as AddressInfo).port, project: 'agents', cert: client.cert, key: client.key, serverCert: own.cert, fingerprint: pemFingerprint(own.cert) };
    return { endpoint, seen, client };
  }

  it('sends the client certificate and the project, and reads the metadata', async () => {
    const { endpoint, seen, client } = await server(tmpDir());
    expect(await apiGet(endpoint, '/1.0/instances?recursion=1', 5_000)).toEqual([{ name: 'w1', status: 'Running' }]);
    expect(seen).toEqual([{ path: '/1.0/instances?recursion=1&project=agents', clientCert: new crypto.X509Certificate(client.cert).fingerprint256 }]);
  });

  it('refuses a server whose certificate is not the pinned one, before sending anything', async () => {
    const dir = tmpDir();
    const { endpoint, seen } = await server(dir);
    const other = selfSigned(dir, 'daemon');
    // Another certificate with the same name: trusted as a CA would be, but not the one pinned.
    await expect(apiGet({ ...endpoint, serverCert: other.cert, fingerprint: pemFingerprint(other.cert) }, '/1.0', 5_000)).rejects.toThrow();
    await expect(apiGet({ ...endpoint, fingerprint: pemFingerprint(other.cert) }, '/1.0', 5_000)).rejects.toThrow(/not the one the client saved/);
    expect(seen).toEqual([]);
  });
});
