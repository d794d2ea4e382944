import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { statePaths } from '../lib/project/root.ts';
import { acquireLock, clearSession, readSession, writeSession } from '../lib/project/session.ts';
import { tmpDir } from './helpers.ts';

describe('session lock', () => {
  it('refuses a second holder while the first is alive, and is free again after release', () => {
    const paths = statePaths(tmpDir());
    const release = acquireLock(paths, 'up');
    // Pretend another live process (our parent) holds it.
    fs.writeFileSync(paths.lock, JSON.stringify({ pid: process.ppid, command: 'up', since: 'then' }));
    expect(() => acquireLock(paths, 'down')).toThrow(/Another isollm command \(`isollm up`, pid \d+/);
    fs.rmSync(paths.lock);
    release();
    const again = acquireLock(paths, 'down');
    expect(JSON.parse(fs.readFileSync(paths.lock, 'utf8')).command).toBe('down');
    again();
    expect(fs.existsSync(paths.lock)).toBe(false);
  });

  it('takes over a lock left by a process that died', () => {
    const paths = statePaths(tmpDir());
    fs.mkdirSync(paths.dir, { recursive: true });
    const dead = spawnSync('true').pid!;
    fs.writeFileSync(paths.lock, JSON.stringify({ pid: dead, command: 'up', since: 'then' }));
    const release = acquireLock(paths, 'up');
    expect(JSON.parse(fs.readFileSync(paths.lock, 'utf8')).pid).toBe(process.pid);
    release();
  });
});

describe('session lock being written', () => {
  it('is not taken over while fresh and unreadable, but is once it is old', () => {
    const paths = statePaths(tmpDir());
    fs.mkdirSync(paths.dir, { recursive: true });
    fs.writeFileSync(paths.lock, '');
    expect(() => acquireLock(paths, 'up')).toThrow(/Another isollm command is starting/);
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(paths.lock, old, old);
    acquireLock(paths, 'up')();
  });
});

describe('session.json', () => {
  it('round-trips and clears; a torn file reads as no session', () => {
    const paths = statePaths(tmpDir());
    expect(readSession(paths)).toBeNull();
    writeSession(paths, { project: 'p', started_at: 'now', updated_at: '', workers: ['worker-1'], multiplexer: { kind: 'tmux', session: 'isollm-p' }, agent: { preset: 'claude', mode: 'loop' } });
    expect(readSession(paths)?.workers).toEqual(['worker-1']);
    fs.writeFileSync(paths.session, '{"project": ');
    expect(readSession(paths)).toBeNull();
    clearSession(paths);
    expect(fs.existsSync(paths.session)).toBe(false);
  });
});
