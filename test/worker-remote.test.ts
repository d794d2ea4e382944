// What a remote worker is given, as data: the address it connects to (network.listen/advertise),
// its settings, and the files holding its credential (dev's own, 0600; the certificate public).
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../lib/config/load.ts';
import { advertiseComputed, remoteEndpoint } from '../lib/queue/credentials.ts';
import { isLoopback, parseRemoteHost, parseRouteSource } from '../lib/runtime/remote-address.ts';
import { workerEnvFile } from '../lib/worker/plan.ts';
import { accessFiles, CURLRC, GIT_INCLUDE, QUEUE_CA, type RemoteAccess } from '../lib/worker/remote.ts';

const config = (yaml: string) => parseConfig(`project: demo\nqueue:\n  port: 7432\n${yaml}`, '/tmp/x');

describe('remote endpoint', () => {
  it('is none for local workers', () => {
    expect(remoteEndpoint(config(''))).toBeNull();
    expect(remoteEndpoint(config('runtime:\n  remote: local\n'))).toBeNull();
  });

  it('listens on queue.port + 1 by default and advertises what it is told', () => {
    expect(remoteEndpoint(config('runtime:\n  remote: far\nnetwork:\n  advertise: 192.168.1.10:9000\n'))).toEqual({
      listen: { host: '0.0.0.0', port: 7433 },
      advertise: { host: '192.168.1.10', port: 9000 },
      url: 'https://192.168.1.10:9000',
    });
    // listen on one address: that address is the one advertised.
    expect(remoteEndpoint(config('runtime:\n  remote: far\nnetwork:\n  listen: 10.0.0.1:7500\n'))?.url).toBe('https://10.0.0.1:7500');
  });

  it('advertises the address found on the way to the remote when neither names one; asks for network.advertise when none was found', () => {
    const open = config('runtime:\n  remote: far\n');
    expect(advertiseComputed(open)).toBe(true);
    expect(remoteEndpoint(open, '192.0.2.2')?.url).toBe('https://192.0.2.2:7433');
    expect(() => remoteEndpoint(open)).toThrow(/set network\.advertise to one they can reach/);
    // A host given by the user wins over the one found.
    expect(advertiseComputed(config('runtime:\n  remote: far\nnetwork:\n  listen: 10.0.0.1:7500\n'))).toBe(false);
    expect(remoteEndpoint(config('runtime:\n  remote: far\nnetwork:\n  listen: 10.0.0.1:7500\n'), '192.0.2.2')?.url).toBe('https://10.0.0.1:7500');
    expect(remoteEndpoint(config('runtime:\n  remote: far\nnetwork:\n  advertise: 10.9.9.9:7600\n'), '192.0.2.2')?.url).toBe('https://10.9.9.9:7600');
  });
});

describe('the address a remote reaches', () => {
  it("reads the remote's host from the client's remote list", () => {
    const list = JSON.stringify({
      far: { Addr: 'https://203.0.113.7:8443', Protocol: 'incus' },
      named: { Addr: 'https://node1.example:8443' },
      six: { Addr: 'https://[2001:db8::5]:8443' },
      local: { Addr: 'unix://' },
    });
    expect(parseRemoteHost(list, 'far')).toBe('203.0.113.7');
    expect(parseRemoteHost(list, 'named')).toBe('node1.example');
    expect(parseRemoteHost(list, 'six')).toBe('2001:db8::5');
    expect(parseRemoteHost(list, 'local')).toBeNull();
    expect(parseRemoteHost(list, 'missing')).toBeNull();
    expect(parseRemoteHost('not json', 'far')).toBeNull();
  });

  it('takes the source address of the route', () => {
    expect(parseRouteSource('[{"dst":"192.0.2.77","dev":"eth0","prefsrc":"192.0.2.2","flags":[]}]')).toBe('192.0.2.2');
    expect(parseRouteSource('[{"type":"local","dst":"127.0.0.1","dev":"lo","prefsrc":"127.0.0.1"}]')).toBe('127.0.0.1');
    expect(parseRouteSource('[]')).toBeNull();
    expect(isLoopback('127.0.0.1')).toBe(true);
    expect(isLoopback('127.3.0.1')).toBe(true);
    expect(isLoopback('::1')).toBe(true);
    expect(isLoopback('10.0.0.1')).toBe(false);
  });
});

describe('a remote worker\'s files and settings', () => {
  const access: RemoteAccess = { url: 'https://10.0.0.1:7500', hubUrl: 'https://10.0.0.1:7500/git/hub.git', cert: '-----BEGIN CERTIFICATE-----\n…\n', pin: 'sha256//abc=' };

  it('names the HTTPS queue and the curl config in worker.env; local workers keep the socket address', () => {
    const c = config('runtime:\n  remote: far\nnetwork:\n  listen: 10.0.0.1:7500\n');
    const remote = workerEnvFile(c, 'worker-1', access);
    expect(remote.content).toContain('ISOLLM_QUEUE_URL=https://10.0.0.1:7500\n');
    expect(remote.content).toContain(`ISOLLM_QUEUE_CURLRC=${CURLRC}\n`);
    expect(remote.content).not.toContain('isollm_');
    const localEnv = workerEnvFile(config(''), 'worker-1');
    expect(localEnv.content).toContain('ISOLLM_QUEUE_URL=http://127.0.0.1:7432\n');
    expect(localEnv.content).not.toContain('CURLRC');
  });

  it('keeps the token in dev\'s 0600 files only, with the pin; the certificate is public', () => {
    const files = accessFiles(access, 'isollm_tok');
    expect(files.map((f) => [f.path, f.mode.toString(8), f.owner])).toEqual([
      [QUEUE_CA, '644', 'root'],
      [CURLRC, '600', 'dev'],
      [GIT_INCLUDE, '600', 'dev'],
    ]);
    expect(files[0].content).not.toContain('isollm_tok');
    expect(files[1].content).toBe(`cacert = "${QUEUE_CA}"\npinnedpubkey = "sha256//abc="\nheader = "Authorization: Bearer isollm_tok"\n`);
    expect(files[2].content).toBe(`[http "https://10.0.0.1:7500/"]\n\textraHeader = Authorization: Bearer isollm_tok\n\tsslCAInfo = ${QUEUE_CA}\n\tpinnedPubkey = sha256//abc=\n`);
  });
});
