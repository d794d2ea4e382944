// What a remote worker is given, as data: the address it connects to (network.listen/advertise),
// its settings, and the files holding its credential (dev's own, 0600; the certificate public).
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../lib/config/load.ts';
import { remoteEndpoint } from '../lib/queue/credentials.ts';
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

  it('asks for network.advertise when it cannot know the address', () => {
    expect(() => remoteEndpoint(config('runtime:\n  remote: far\n'))).toThrow(/set network\.advertise to an address of this machine/);
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
