import { describe, expect, it } from 'vitest';
import { runCli } from './helpers.ts';

describe('isollm dispatcher', () => {
  it('lists every command', () => {
    const r = runCli(['--help']);
    expect(r.code).toBe(0);
    for (const name of ['init', 'up', 'down', 'status', 'task', 'worker', 'sync', 'queue', 'config', 'doctor']) {
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
});
