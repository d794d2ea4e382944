import { describe, expect, it } from 'vitest';
import { defaults } from '../lib/config/load.ts';
import { agentFiles, checkWorkerName, containerName, hubDevice, isDefaultWorkerName, nextWorkerNames, portForwards, queueForwarderFiles, workerConfigKeys, workerDevices, workerEnv, workerRootDisk } from '../lib/worker/plan.ts';
import { tmpDir } from './helpers.ts';

describe('worker plan', () => {
  it('names workers without collisions, filling gaps', () => {
    expect(nextWorkerNames([], 3)).toEqual(['worker-1', 'worker-2', 'worker-3']);
    expect(nextWorkerNames(['worker-1', 'worker-3'], 2)).toEqual(['worker-2', 'worker-4']);
    expect(containerName('my-app', 'worker-12')).toBe('my-app-worker-12');
  });

  it('offsets forwarded host ports by worker number', () => {
    expect(portForwards(['3000', '8080:80'], 'worker-1')).toEqual([{ host: 3000, container: 3000 }, { host: 8080, container: 80 }]);
    expect(portForwards(['3000', '8080:80'], 'worker-3')).toEqual([{ host: 3002, container: 3000 }, { host: 8082, container: 80 }]);
  });

  it('mounts the hub read-only, links the queue to the worker socket, tags and limits the container', () => {
    const config = defaults('demo');
    config.git.hub = '/home/u/.isollm/demo.git';
    config.queue.port = 7500;
    config.ports = ['3000'];
    config.limits = { cpu: 2, memory: '4GiB', disk: null };
    const devices = workerDevices(config, '/p/.isollm/sockets/worker-2/queue.sock', 'worker-2');
    expect(devices.hub).toBeUndefined();
    expect(hubDevice(config, true)).toEqual({ type: 'disk', source: '/home/u/.isollm/demo.git', path: '/repo.git', readonly: true, shift: true });
    expect(hubDevice(config, false)).toEqual({ type: 'disk', source: '/home/u/.isollm/demo.git', path: '/repo.git', readonly: true });
    expect(devices.queue).toEqual({ type: 'proxy', bind: 'instance', listen: 'tcp:127.0.0.1:7500', connect: 'unix:/p/.isollm/sockets/worker-2/queue.sock' });
    // The mount link: only this worker's socket directory, read-only, where the base's forwarder looks.
    expect(workerDevices(config, '/p/.isollm/sockets/worker-2/queue.sock', 'worker-2', 'mount').queue).toEqual({
      type: 'disk', source: '/p/.isollm/sockets/worker-2', path: '/var/lib/isollm/queue', readonly: true,
    });
    const [socketUnit, service] = queueForwarderFiles(config, '/usr/lib/systemd/systemd-socket-proxyd');
    expect(socketUnit.content).toContain('ListenStream=127.0.0.1:7500\n');
    expect(service.content).toContain('ExecStart=/usr/lib/systemd/systemd-socket-proxyd /var/lib/isollm/queue/queue.sock\n');
    expect(devices['port-3000']).toEqual({ type: 'proxy', bind: 'host', listen: 'tcp:127.0.0.1:3001', connect: 'tcp:127.0.0.1:3000' });
    expect(workerConfigKeys(config, 'worker-2')).toEqual({ 'user.isollm.project': 'demo', 'user.isollm.worker': 'worker-2', 'limits.cpu': '2', 'limits.memory': '4GiB' });
    expect(workerEnv(config, 'worker-2').ISOLLM_QUEUE_URL).toBe('http://127.0.0.1:7500');
    expect(workerRootDisk(config)).toEqual({});
    config.limits.disk = '10GiB';
    expect(workerRootDisk(config)).toEqual({ size: '10GiB' });
    expect(workerEnv(config, 'worker-2').ISOLLM_MAX_KILLED_RUNS).toBe('3');
  });

  it('writes secrets only into 0600 files owned by dev', () => {
    const secret = 'sk-ant-0123456789abcdefghijklmnopqrstuvwxyz';
    const files = agentFiles(defaults('demo'), tmpDir(), 'worker-1', { ANTHROPIC_API_KEY: secret });
    // claude remembers an approved key by its last 20 characters, in ~/.claude.json.
    const holding = files.filter((f) => f.content.includes(secret.slice(-20)));
    expect(holding.map((f) => [f.path, f.mode, f.owner])).toEqual([['/home/dev/.claude.json', 0o600, 'dev'], ['/home/dev/.isollm/agent.env', 0o600, 'dev']]);
    expect(files.find((f) => f.path.endsWith('agent.env'))!.content).toBe(`IS_SANDBOX=1\nANTHROPIC_API_KEY=${secret}\n`);
    for (const preset of ['codex', 'gemini', 'opencode', 'aider'] as const) {
      const config = defaults('demo');
      config.agent.preset = preset;
      const all = agentFiles(config, tmpDir(), 'worker-1', { OPENAI_API_KEY: secret, GEMINI_API_KEY: secret });
      for (const f of all.filter((x) => x.content.includes(secret))) expect([f.path, f.mode, f.owner]).toEqual([f.path, 0o600, 'dev']);
    }
  });
});

describe('worker names', () => {
  it('checks a name given by hand, including the container name it makes', () => {
    expect(checkWorkerName('app', 'fix-login2')).toBeUndefined();
    for (const bad of ['Fix', '2fix', 'fix--it', 'fix-', 'fix_it', '']) {
      expect(checkWorkerName('app', bad), bad).toBe(`worker name "${bad}" must be lowercase letters, digits and single hyphens, starting with a letter`);
    }
    const long = 'w'.repeat(60);
    expect(checkWorkerName('app', long)).toBe(`worker name "${long}" makes the container name longer than 63 characters`);
    expect(checkWorkerName('app', 'w'.repeat(59))).toBeUndefined(); // app-www… is exactly 63
  });

  it('knows the names isollm gives', () => {
    expect(['worker-1', 'worker-32'].map(isDefaultWorkerName)).toEqual([true, true]);
    expect(['worker-', 'worker-x', 'my-worker-1', 'fix'].map(isDefaultWorkerName)).toEqual([false, false, false, false]);
  });
});
