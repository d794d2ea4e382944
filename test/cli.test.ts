import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { formatHelp, type CommandSpec } from '../lib/cli/args.ts';
import { COMMANDS } from '../lib/cli/commands.ts';
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

/** The `--flag` names a help text lists, one per flag row. */
function listedFlags(help: string): string[] {
  return [...help.matchAll(/^ {2}(?:-\w, | {4})--([\w-]+)/gm)].map((m) => m[1]);
}

/** Every command and subcommand spec under `spec`, as `isollm <path>`. */
function allSpecs(spec: CommandSpec): CommandSpec[] {
  return [spec, ...Object.values(spec.subcommands ?? {}).flatMap(allSpecs)];
}

describe("every command's --help", () => {
  it('lists each flag once (a global flag a command declares itself is listed as its own)', async () => {
    const specs: CommandSpec[] = [];
    for (const entry of Object.values(COMMANDS)) specs.push(...allSpecs(((await entry.load()) as { SPEC: CommandSpec }).SPEC));
    expect(specs.length).toBeGreaterThan(Object.keys(COMMANDS).length);
    const twice = specs.flatMap((spec) => {
      const flags = listedFlags(formatHelp(spec));
      expect(flags).toContain('help');
      return flags.filter((f, i) => flags.indexOf(f) !== i).map((f) => `${spec.name} --${f}`);
    });
    expect(twice).toEqual([]);
  });

  it.each(['setup', 'demo'])('isollm %s --help lists --runtime once, with its own description', (command) => {
    const r = runCli([command, '--help']);
    expect(r.code).toBe(0);
    expect(listedFlags(r.stdout).filter((f) => f === 'runtime')).toHaveLength(1);
    expect(r.stdout).not.toMatch(/--runtime.*runtime\.kind, else auto/);
  });
});
