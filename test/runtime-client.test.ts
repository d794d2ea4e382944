// The gateway's process handling with a stand-in client (a real child process reading its stdin):
// what argv it gets and what reaches its stdin, for empty content too.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { execIn, pushText, RUNTIMES, stdinOptions, type Runtime } from '../lib/runtime/client.ts';
import { tmpDir } from './helpers.ts';

/** A stand-in for `lxc`: records its argv and copies its stdin (until EOF) to files in `dir`. */
function standIn(dir: string): Runtime {
  const stub = path.join(dir, 'client');
  fs.writeFileSync(stub, '#!/bin/sh\nprintf "%s\\n" "$@" > "$0.args"\ncat > "$0.stdin"\n', { mode: 0o755 });
  // The prefix runs before the client's name, so the stub sees `lxc file push …`.
  return { ...RUNTIMES.lxd, prefix: [stub] };
}

const read = (dir: string, what: 'args' | 'stdin') => fs.readFileSync(path.join(dir, `client.${what}`), 'utf8');

describe('runtime gateway: stdin of pushes and execs', () => {
  it('pushes an empty file at once: stdin reaches EOF instead of staying open', async () => {
    const dir = tmpDir();
    const started = Date.now();
    await pushText(standIn(dir), 'w1', '/home/dev/.isollm/agent.env', '', { uid: 1000, gid: 1000, mode: 0o600 });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(read(dir, 'args').split('\n').filter(Boolean)).toEqual([
      'lxc', 'file', 'push', '-', 'w1/home/dev/.isollm/agent.env', '--uid', '1000', '--gid', '1000', '--mode', '0600',
    ]);
    expect(read(dir, 'stdin')).toBe('');
  });

  it('pushes content through stdin, byte for byte', async () => {
    const dir = tmpDir();
    const content = 'A=1\nB=$(not run) `x`\n';
    await pushText(standIn(dir), 'w1', '/etc/x', content);
    expect(read(dir, 'stdin')).toBe(content);
  });

  it('an exec with empty input or none gets EOF too', async () => {
    for (const input of ['', undefined]) {
      const dir = tmpDir();
      const r = await execIn(standIn(dir), 'w1', ['cat'], { input, timeout: 5_000 });
      expect(r.exitCode).toBe(0);
      expect(read(dir, 'stdin')).toBe('');
    }
  });

  it('wires stdin by one rule', () => {
    expect(stdinOptions(undefined)).toEqual({ stdio: ['ignore', 'pipe', 'pipe'] });
    expect(stdinOptions('')).toEqual({ stdio: ['ignore', 'pipe', 'pipe'] });
    expect(stdinOptions('x')).toEqual({ input: 'x' });
  });
});
