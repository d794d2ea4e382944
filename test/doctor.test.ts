// doctor on this machine: the lines it must print here, in and out of a project.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkCredentials, checkMultiplexer, parseGitVersion, portInUse } from '../lib/flows/doctor.ts';
import { defaults } from '../lib/config/load.ts';
import { findOnPath } from '../lib/runtime/detect.ts';
import { gitRepo, runCli, tmpDir } from './helpers.ts';
import { e2eRuntime, TEST_IMAGE } from './e2e/runtime-available.ts';

const rt = await e2eRuntime('doctor');

describe('doctor decisions', () => {
  it('reads git versions', () => {
    expect(parseGitVersion('git version 2.39.5\n')).toEqual([2, 39, 5]);
    expect(parseGitVersion('git version 2.38.0.windows.1')).toEqual([2, 38, 0]);
    expect(parseGitVersion('nonsense')).toBeNull();
  });

  it('skips the multiplexer when none is configured', () => {
    expect(checkMultiplexer('none').status).toBe('skip');
  });

  it('sees a port in use', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    expect(await portInUse(port)).toBe(true);
    await new Promise((resolve) => server.close(resolve));
    expect(await portInUse(port)).toBe(false);
  });
});

describe('doctor: agent credentials', () => {
  type Agent = ReturnType<typeof defaults>['agent'];
  const agent = (preset: string, env: string[] = []) => ({ ...defaults('demo').agent, preset, env }) as Agent;

  it('warns (never fails) when a preset gets none of its usual variables, and says how else to log in', () => {
    for (const env of [[], ['SOMETHING_ELSE']]) {
      const c = checkCredentials(agent('codex', env), {});
      expect(c).toMatchObject({ status: 'warn', required: false, detail: 'codex usually reads OPENAI_API_KEY or CODEX_API_KEY; agent.env passes none' });
      expect(c.fix).toContain('codex login --device-auth');
    }
    expect(checkCredentials(agent('gemini'), {}).fix).toContain('Login with Google');
    expect(checkCredentials(agent('opencode'), {}).fix).toContain('opencode auth login');
    expect(checkCredentials(agent('claude'), {}).fix).toContain('/login');
  });

  it('warns when agent.env names the variable but the host does not set it; ok when it does', () => {
    const named = agent('claude', ['ANTHROPIC_API_KEY']);
    expect(checkCredentials(named, { ANTHROPIC_API_KEY: '' })).toMatchObject({ status: 'warn', detail: 'agent.env names ANTHROPIC_API_KEY, which is not set here' });
    const set = checkCredentials(named, { ANTHROPIC_API_KEY: 'sk-secret-value' });
    expect(set).toMatchObject({ status: 'ok', detail: 'claude gets ANTHROPIC_API_KEY (from agent.env)' });
    expect(JSON.stringify(set)).not.toContain('sk-secret-value');
  });

  it('skips a custom agent', () => {
    expect(checkCredentials(agent('custom'), {}).status).toBe('skip');
  });

  it('prints the warning and still exits 0', () => {
    if (!rt) return;
    const repo = gitRepo();
    fs.writeFileSync(path.join(repo, 'isollm.yaml'), `project: demo\nimage: ${TEST_IMAGE}\nagent:\n  preset: codex\n`);
    const r = runCli(['doctor'], { cwd: repo, env: { OPENAI_API_KEY: undefined, CODEX_API_KEY: undefined } });
    expect(r.stdout).toMatch(/^! agent credentials: codex usually reads OPENAI_API_KEY or CODEX_API_KEY; agent.env passes none → add one to agent.env and set it on the host, or log in inside a worker: .*codex login --device-auth/m);
    expect(r.code, r.stdout).toBe(0);
  });
});

describe('isollm doctor on this machine', () => {
  it('outside a project: the host checks, and says the project checks are skipped', () => {
    const r = runCli(['doctor'], { cwd: tmpDir() });
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^✓ git: \d+\.\d+\.\d+ \(≥ 2\.38\)$/);
    expect(lines).toContain('○ configured image: skipped: not in an isollm project (no isollm.yaml here or above)');
    expect(lines).toContain('○ queue port: skipped: not in an isollm project (no isollm.yaml here or above)');
    if (findOnPath('tmux') && !findOnPath('zellij')) expect(lines).toContain('✓ multiplexer: tmux (zellij not found)');
    if (rt) {
      const name = rt.kind === 'lxd' ? 'LXD' : 'Incus';
      expect(lines.find((l) => l.startsWith(`✓ container runtime: ${name} (\`${rt.bin}\`): `)), lines.join('\n')).toBeDefined();
      expect(lines.find((l) => l.startsWith(`✓ ${name} daemon: answers (server `))).toBeDefined();
      expect(lines).toContain(`✓ ${name} permission: this user may use it`);
      expect(lines.some((l) => /^✓ storage pool: \S/.test(l)), lines.join('\n')).toBe(true);
      expect(r.code).toBe(0);
    }
  });

  it('in a project: image, queue port held by our own server or by someone else, and --json', async () => {
    const repo = gitRepo();
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    fs.writeFileSync(path.join(repo, 'isollm.yaml'), `project: demo\nimage: ${TEST_IMAGE}\nqueue:\n  port: ${port}\nmultiplexer:\n  kind: tmux\n`);
    try {
      let r = runCli(['doctor'], { cwd: repo });
      expect(r.stdout).toContain(`✗ queue port ${port}: in use by another program → stop that program`);
      expect(r.code).toBe(1);
      // Our own queue server: its pid file names a live process (this test process stands in for it).
      fs.mkdirSync(path.join(repo, '.isollm'));
      fs.writeFileSync(path.join(repo, '.isollm', 'queue.pid'), `${process.pid}\n`);
      r = runCli(['doctor'], { cwd: repo });
      expect(r.stdout).toContain(`✓ queue port ${port}: held by this project's queue server (pid ${process.pid})`);
      expect(r.stdout).toMatch(/^✓ isollm.yaml: valid \(project demo\)$/m);
      if (rt) {
        expect(r.stdout).toMatch(new RegExp(`^✓ image ${TEST_IMAGE}: present locally \\([0-9a-f]{12}\\)$`, 'm'));
        expect(r.code).toBe(0);
      }
      const json = JSON.parse(runCli(['doctor', '--json'], { cwd: repo }).stdout);
      expect(json.project).toBe(repo);
      expect(json.checks.map((c: { id: string }) => c.id)).toEqual(['config', 'git', 'runtime', 'daemon', 'permission', 'storage', 'multiplexer', 'image', 'queue-port', 'credentials', 'agent-install']);
    } finally {
      server.close();
    }
  });

  it('names the fix for a missing image', () => {
    if (!rt) return;
    const repo = gitRepo();
    fs.writeFileSync(path.join(repo, 'isollm.yaml'), 'project: demo\nimage: no-such-image-here\n');
    const r = runCli(['doctor'], { cwd: repo });
    expect(r.stdout).toContain('✗ image no-such-image-here: not present locally → run `isollm setup`');
    expect(r.code).toBe(1);
  });
});
