import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import {
  copyArgs,
  deviceAddArgs,
  execArgs,
  execPaneArgs,
  filePullArgs,
  filePushArgs,
  initArgs,
  listArgs,
  rootDiskArgs,
  snapshotCreateArgs,
  snapshotRestoreArgs,
  stopArgs,
} from '../lib/runtime/argv.ts';
import { classifyFailure, detectRuntime, missingClientError, RUNTIMES, runtimeError } from '../lib/runtime/detect.ts';
import { tmpDir } from './helpers.ts';

const lxd = RUNTIMES.lxd;
const incus = RUNTIMES.incus;

describe('runtime argv builders', () => {
  it('lists by project tag as JSON', () => {
    expect(listArgs('demo')).toEqual(['list', 'user.isollm.project=demo', '--format', 'json']);
    expect(listArgs()).toEqual(['list', '--format', 'json']);
  });

  it('creates with config keys, each its own argument', () => {
    expect(initArgs('isollm-test', 'demo-worker-1', { 'user.isollm.project': 'demo', 'limits.memory': '2GiB' })).toEqual([
      'init', 'isollm-test', 'demo-worker-1', '--config', 'user.isollm.project=demo', '--config', 'limits.memory=2GiB',
    ]);
  });

  it("sizes a copy's root disk: its own device set, or the profile's overridden", () => {
    expect(rootDiskArgs('demo-worker-1', { size: '10GiB' }, true)).toEqual(['config', 'device', 'set', 'demo-worker-1', 'root', 'size=10GiB']);
    expect(rootDiskArgs('demo-worker-1', { size: '10GiB' }, false)).toEqual(['config', 'device', 'override', 'demo-worker-1', 'root', 'size=10GiB']);
  });

  it('copies an instance without its snapshots, with config keys', () => {
    expect(copyArgs('demo-base-a1b2c3', 'demo-worker-1', { 'user.isollm.worker': 'worker-1', 'limits.cpu': '2' })).toEqual([
      'copy', 'demo-base-a1b2c3', 'demo-worker-1', '--instance-only', '--config', 'user.isollm.worker=worker-1', '--config', 'limits.cpu=2',
    ]);
    expect(copyArgs('a', 'b')).toEqual(['copy', 'a', 'b', '--instance-only']);
  });

  it('adds a shifted disk and an instance-side proxy', () => {
    expect(deviceAddArgs('c', 'hub', { type: 'disk', source: '/h/p.git', path: '/repo.git', shift: true })).toEqual([
      'config', 'device', 'add', 'c', 'hub', 'disk', 'source=/h/p.git', 'path=/repo.git', 'shift=true',
    ]);
    expect(deviceAddArgs('c', 'queue', { type: 'proxy', listen: 'tcp:127.0.0.1:7432', connect: 'unix:/s/w.sock' })).toEqual([
      'config', 'device', 'add', 'c', 'queue', 'proxy', 'listen=tcp:127.0.0.1:7432', 'connect=unix:/s/w.sock', 'bind=instance',
    ]);
  });

  it('execs an argv with user, group, cwd and env, never a shell string', () => {
    expect(execArgs('c', ['git', 'commit', '-m', 'a b; rm -rf /'], { user: 1000, group: 1000, cwd: '/home/dev', env: { HOME: '/home/dev' } })).toEqual([
      'exec', 'c', '--force-noninteractive', '--user', '1000', '--group', '1000', '--cwd', '/home/dev', '--env', 'HOME=/home/dev', '--', 'git', 'commit', '-m', 'a b; rm -rf /',
    ]);
    expect(execPaneArgs('c', ['bash'])).toEqual(['exec', 'c', '--force-interactive', '--', 'bash']);
  });

  it('pushes files with owner and octal mode, to absolute paths only', () => {
    expect(filePushArgs('-', 'c', '/usr/local/bin/x', { uid: 0, gid: 0, mode: 0o755 })).toEqual([
      'file', 'push', '-', 'c/usr/local/bin/x', '--uid', '0', '--gid', '0', '--mode', '0755',
    ]);
    expect(() => filePushArgs('-', 'c', 'relative')).toThrow(/absolute/);
  });

  it('pulls one file to stdout, from absolute paths only', () => {
    expect(filePullArgs('far:c', '/root/x.log')).toEqual(['file', 'pull', 'far:c/root/x.log', '-']);
    expect(() => filePullArgs('c', 'x.log')).toThrow(/absolute/);
  });

  it('speaks each client\'s snapshot dialect', () => {
    expect(snapshotCreateArgs(lxd, 'c', 's')).toEqual(['snapshot', 'c', 's']);
    expect(snapshotCreateArgs(incus, 'c', 's')).toEqual(['snapshot', 'create', 'c', 's']);
    expect(snapshotRestoreArgs(lxd, 'c', 's')).toEqual(['restore', 'c', 's']);
    expect(snapshotRestoreArgs(incus, 'c', 's')).toEqual(['snapshot', 'restore', 'c', 's']);
    expect(stopArgs('c', true)).toEqual(['stop', 'c', '--force']);
  });
});

describe('runtime detection', () => {
  function fakePath(...bins: string[]): string {
    const dir = tmpDir();
    for (const bin of bins) fs.writeFileSync(path.join(dir, bin), '#!/bin/sh\n', { mode: 0o755 });
    return dir;
  }

  it('finds a named client, and says how to install a missing one (which one to use: runtime-choose)', () => {
    expect(detectRuntime('lxd', fakePath('lxc', 'incus')).kind).toBe('lxd');
    expect(detectRuntime('incus', fakePath('incus')).bin).toBe('incus');
    expect(() => detectRuntime('incus', fakePath('lxc'))).toThrow('The `incus` client is not installed. Run `isollm setup --runtime incus` to install it.');
    expect(missingClientError('auto').message).toBe('Neither `incus` nor `lxc` (LXD) is installed. Run `isollm setup` to install it.');
  });

  // LXD: stderr captured from LXD 5.0.2 here. Incus: the messages its client builds (client/connection.go).
  const LXD_DOWN = 'Error: Get "http://unix.socket/1.0": dial unix /var/lib/lxd/unix.socket: connect: no such file or directory\n';
  const LXD_DENIED = 'Error: LXD unix socket "/var/lib/lxd/unix.socket" not accessible: Get "http://unix.socket/1.0": dial unix /var/lib/lxd/unix.socket: connect: permission denied\n';
  const INCUS_DOWN = "Error: The incus daemon doesn't appear to be started (socket path: /var/lib/incus/unix.socket)\n";
  const INCUS_DENIED = "Error: You don't have the needed permissions to talk to the incus daemon (socket path: /var/lib/incus/unix.socket)\n";

  it('tells a dead daemon from a refused user from other failures', () => {
    expect(classifyFailure(LXD_DOWN)).toBe('daemon');
    expect(classifyFailure(INCUS_DOWN)).toBe('daemon');
    expect(classifyFailure(LXD_DENIED)).toBe('permission');
    expect(classifyFailure(INCUS_DENIED)).toBe('permission');
    expect(classifyFailure('Error: Instance not found\n')).toBe('other');
    expect(classifyFailure('Error: open /tmp/x: no such file or directory\n')).toBe('other');
    expect(classifyFailure('Error: open /tmp/x: permission denied\n')).toBe('other');
  });

  it('turns each failure into one line with its fix', () => {
    expect(runtimeError(lxd, 'list', LXD_DOWN).message).toMatch(/^The LXD daemon does not answer .*To start it, run `/);
    expect(runtimeError(incus, 'list', INCUS_DENIED).message).toMatch(/may not talk to the Incus daemon .*sudo usermod -aG incus-admin /);
    expect(runtimeError(lxd, 'start c', 'Error: Instance not found\n').message).toBe('lxc start c failed: Instance not found');
  });
});
