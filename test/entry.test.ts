// Every way in (DESIGN.md "Shape"), run as a child process: npx isollm, npm run, npx zx, the linked bin.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tmpDir } from './helpers.ts';

const SYSTEM_PATH = '/usr/local/bin:/usr/bin:/bin';

/** Run a command with a plain environment: the system node first on PATH, no npm leftovers. */
function run(command: string, args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}) {
  const env: NodeJS.ProcessEnv = { HOME: process.env.HOME, PATH: SYSTEM_PATH, NO_COLOR: '1', ...extraEnv };
  const r = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: 120_000 });
  // npm's own warnings (e.g. about this machine's npmrc) are not ours.
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.replace(/^npm warn.*\n/gm, '') };
}

/** A project with a subdirectory to start from. */
function project(workers: number): { dir: string; sub: string } {
  const dir = tmpDir('isollm-proj-');
  fs.writeFileSync(path.join(dir, 'isollm.yaml'), `workers: ${workers}\n`);
  const sub = path.join(dir, 'src', 'deep');
  fs.mkdirSync(sub, { recursive: true });
  return { dir, sub };
}

const workersOf = (stdout: string) => JSON.parse(stdout).workers;

describe('entry points', () => {
  it('npx isollm <cmd> from the checkout, with --project', () => {
    const { dir } = project(5);
    const r = run('npx', ['isollm', 'config', 'show', '--json', '--project', dir], ROOT);
    expect(r.code).toBe(0);
    expect(workersOf(r.stdout)).toBe(5);
    const help = run('npx', ['isollm', '--help'], ROOT);
    expect(help.stdout).toMatch(/^  config /m);
  });

  it('npm run <cmd> -- <args> acts on INIT_CWD (where npm was started), walking up to isollm.yaml', () => {
    const { sub } = project(6);
    const r = run('npm', ['--prefix', ROOT, 'run', '--silent', 'config', '--', 'show', '--json'], sub);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(workersOf(r.stdout)).toBe(6);
  });

  it('npm run init -- --yes initialises the repository npm was started in', () => {
    const repo = tmpDir('isollm-repo-');
    for (const args of [['init', '-q', '-b', 'main'], ['-c', 'user.name=T', '-c', 'user.email=t@x', 'commit', '-q', '--allow-empty', '-m', 'x']]) {
      expect(spawnSync('git', args, { cwd: repo }).status).toBe(0);
    }
    const r = run('npm', ['--prefix', ROOT, 'run', '--silent', 'init', '--', '--yes', '--workers', '2'], repo);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(repo, 'isollm.yaml'), 'utf8')).toMatch(/^workers: 2$/m);
  });

  it('npx zx scripts/<cmd>.mts <args>', () => {
    const { dir } = project(7);
    const r = run('npx', ['zx', 'scripts/config.mts', 'show', '--json', '--project', dir], ROOT);
    expect(r.code).toBe(0);
    expect(workersOf(r.stdout)).toBe(7);
    const bad = run('npx', ['zx', 'scripts/config.mts', 'show', '--frob'], ROOT);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('✗ unknown flag --frob for `isollm config show` (see `isollm config show --help`)');
  });

  it('the isollm bin after npm install -g (a link to the checkout), run by whatever node is first on the system PATH', () => {
    const prefix = tmpDir('isollm-prefix-');
    const install = run('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', ROOT], ROOT);
    expect(install.code).toBe(0);
    const bin = path.join(prefix, 'bin', 'isollm');
    const help = run(bin, ['--help'], ROOT);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: isollm <command> \[flags\]$/m);
    // From inside a project (cwd walk-up), and with --project from elsewhere.
    const { dir, sub } = project(8);
    expect(workersOf(run(bin, ['config', 'show', '--json'], sub).stdout)).toBe(8);
    expect(workersOf(run(bin, ['config', 'show', '--json', '--project', dir], tmpDir()).stdout)).toBe(8);
    const unknown = run(bin, ['frob'], sub);
    expect(unknown.code).toBe(2);
  });
});
