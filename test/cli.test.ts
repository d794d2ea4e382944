import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { ROOT, runCli, runNode, tmpDir } from './helpers.ts';

describe('isollm dispatcher', () => {
  it('lists every command', () => {
    const r = runCli(['--help']);
    expect(r.code).toBe(0);
    for (const name of ['init', 'up', 'down', 'status', 'task', 'worker', 'land', 'sync', 'queue', 'config', 'doctor', 'setup']) {
      expect(r.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    }
  });

  it('rejects an unknown command with one line and exit 2', () => {
    const r = runCli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual(['✗ unknown command "frobnicate" (see `isollm --help`)']);
  });

  it('rejects an unknown flag of a command with one line and exit 2', () => {
    const r = runCli(['init', '--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('✗ unknown flag --frobnicate for `isollm init` (see `isollm init --help`)');
  });

  it.each([
    [['up', '-m', 'screen'], '--multiplexer must be one of auto, zellij, tmux, none (got "screen")'],
    [['up', '-n', '33'], '--workers must be a whole number from 1 to 32 (got "33")'],
    [['worker', 'add', '-n', '0'], '--count must be a whole number from 1 to 32 (got "0")'],
    [['queue', 'logs', '-n', 'x'], '--lines must be a whole number from 1 to 100000 (got "x")'],
    [['setup', '--runtime', 'docker'], '--runtime must be one of lxd, incus (got "docker")'],
    [['init', '--agent', 'gpt'], '--agent must be one of claude, codex, aider, gemini, opencode (got "gpt")'],
  ])('checks the values a flag allows before anything runs: %j', (args, line) => {
    const r = runCli(args, { cwd: tmpDir() });
    expect(r.stderr).toBe(`✗ ${line}\n`);
    expect(r.code).toBe(2);
  });

  it('npm run test-env -- --help prints its usage and changes nothing (a wrong flag: exit 2)', () => {
    const script = path.join(ROOT, 'scripts', 'test-env.mts');
    // An impossible runtime: had it gone past --help it would fail with that instead.
    const env = { ISOLLM_TEST_RUNTIME: 'docker' };
    const help = runNode([script, '--help'], { cwd: tmpDir(), env });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: npm run test-env -- \[flags\]$/m);
    expect(runNode([script, '--frob'], { cwd: tmpDir(), env })).toMatchObject({ code: 2, stderr: '✗ unknown flag --frob for `npm run test-env --` (see `npm run test-env -- --help`)\n' });
  });
});
