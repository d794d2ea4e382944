// Global flags (--project, --debug, --help, --version) work before or after the command, for every
// command and subcommand: the spawned CLI gives the same exit code and output either way.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCommand, type CommandSpec } from '../lib/cli/args.ts';
import { COMMANDS } from '../lib/cli/commands.ts';
import { git, gitRepo, NODE, ROOT, tmpDir, type CliResult } from './helpers.ts';

const VERSION = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;

/** The CLI as a child process, not waiting, so one command's variants run side by side. */
function cli(args: string[], cwd: string): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.INIT_CWD;
  delete env.ISOLLM_DEBUG;
  return new Promise((resolve) => {
    const child = execFile(NODE, [path.join(ROOT, 'scripts', 'isollm.mts'), ...args], { cwd, env, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: child.exitCode ?? (err ? -1 : 0), stdout, stderr });
    });
    child.stdin?.end();
  });
}

/**
 * Per command, one invocation that reads the project's isollm.yaml before doing anything else (so a
 * broken one stops it at once, with the same one-line error wherever --project was given).
 */
const READS_CONFIG: Record<string, string[]> = {
  up: [],
  down: [],
  status: [],
  task: ['list'],
  worker: ['list'],
  sync: ['status'],
  land: [],
  queue: ['status'],
  config: ['show'],
  setup: [],
};

/** A project whose isollm.yaml is invalid: every command that reads it fails naming the line. */
function brokenProject(): string {
  const dir = tmpDir('isollm-flags-');
  fs.writeFileSync(path.join(dir, 'isollm.yaml'), 'workers: 0\n');
  return dir;
}

const CONFIG_ERROR = '✗ isollm.yaml:1: workers: must be a whole number from 1 to 32 (got 0)';

/** Each placement of `flags` around `cmd sub…`: before the command, between command and subcommand, at the end. */
function placements(cmd: string, sub: string[], flags: string[]): string[][] {
  const all = [
    [...flags, cmd, ...sub],
    [cmd, ...sub, ...flags],
  ];
  if (sub.length) all.push([cmd, ...flags, ...sub]);
  return all;
}

describe('global flags before or after the command', () => {
  it('covers every command of the dispatcher', () => {
    expect(Object.keys(COMMANDS).sort()).toEqual([...Object.keys(READS_CONFIG), 'doctor', 'init', 'demo'].sort());
  });

  describe.each(Object.keys(COMMANDS))('%s', (cmd) => {
    const sub = READS_CONFIG[cmd] ?? [];

    it('--help and --version', async () => {
      const cwd = tmpDir();
      const help = await Promise.all(placements(cmd, sub, ['--help']).map((a) => cli(a, cwd)));
      const expected = `Usage: isollm ${[cmd, ...sub].join(' ')}`;
      for (const r of help) {
        expect(r).toEqual(help[0]);
        expect(r.code).toBe(0);
        expect(r.stdout.split('\n')[2]).toMatch(new RegExp(`^${expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}( |$)`));
      }
      const version = await Promise.all(placements(cmd, sub, ['--version']).map((a) => cli(a, cwd)));
      for (const r of version) expect(r).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    });

    if (cmd in READS_CONFIG) {
      it('--project DIR and --debug', async () => {
        const dir = brokenProject();
        const cwd = tmpDir(); // not a project: only --project can lead the command to the broken one
        const plain = await Promise.all(placements(cmd, sub, ['--project', dir]).map((a) => cli(a, cwd)));
        for (const r of plain) {
          expect(r).toEqual(plain[0]);
          expect(r.code).toBe(1);
          expect(r.stdout).toBe('');
          expect(r.stderr.split('\n')[0]).toBe(CONFIG_ERROR);
          expect(r.stderr).not.toMatch(/^\s+at /m);
        }
        const debug = await Promise.all(placements(cmd, sub, ['--debug', '--project', dir]).map((a) => cli(a, cwd)));
        for (const r of debug) {
          expect(r.code).toBe(1);
          expect(r.stderr.split('\n')[0]).toBe(CONFIG_ERROR);
          expect(r.stderr).toMatch(/^\s+at /m); // the stack trace --debug adds
        }
        // Without --project the command looks from the cwd and finds no project (setup needs none).
        if (cmd !== 'setup') expect((await cli([cmd, ...sub], cwd)).stderr).toContain(`No isollm.yaml in ${cwd} or above.`);
      });
    }
  });

  it('doctor --project DIR checks that project wherever the flag is', async () => {
    const dir = brokenProject();
    const cwd = tmpDir();
    const runs = await Promise.all(placements('doctor', [], ['--json', '--project', dir]).map((a) => cli(a, cwd)));
    for (const r of runs) {
      expect(r.code).toBe(1);
      const report = JSON.parse(r.stdout);
      expect(report.project).toBe(dir);
      expect(report.checks.find((c: { id: string }) => c.id === 'config')).toMatchObject({ status: 'fail', detail: CONFIG_ERROR.slice(2) });
    }
  });

  it('init --project DIR initialises that repository wherever the flag is', async () => {
    const cwd = tmpDir();
    const repos = [gitRepo(), gitRepo()];
    const [before, after] = await Promise.all([cli(['--project', repos[0], 'init', '--yes'], cwd), cli(['init', '--yes', '--project', repos[1]], cwd)]);
    for (const [r, repo] of [[before, repos[0]], [after, repos[1]]] as const) {
      expect(r.code).toBe(0);
      expect(r.stderr).toContain(`Wrote ${path.join(repo, 'isollm.yaml')}`);
      expect(fs.existsSync(path.join(repo, 'isollm.yaml'))).toBe(true);
      expect(git(repo, 'status', '--porcelain')).toContain('.gitignore');
    }
  });

  it('the value of --project before a subcommand is not taken for the subcommand', async () => {
    const dir = brokenProject();
    const r = await cli(['task', '--project', dir, 'list'], tmpDir());
    expect(r.stderr.split('\n')[0]).toBe(CONFIG_ERROR);
    const eq = await cli(['task', `--project=${dir}`, 'list'], tmpDir());
    expect(eq).toEqual(r);
  });

  it('isollm with only global flags: usage, version, or one line for a wrong flag', async () => {
    const cwd = tmpDir();
    const [usage, projectOnly, version, short, bad, missing] = await Promise.all([
      cli(['--debug'], cwd),
      cli(['--project', cwd], cwd),
      cli(['--debug', '--version'], cwd),
      cli(['-v'], cwd),
      cli(['--frob'], cwd),
      cli(['--project'], cwd),
    ]);
    expect(usage.code).toBe(0);
    expect(usage.stdout).toMatch(/^Global flags \(before or after the command\):$/m);
    for (const flag of ['--project DIR', '--debug', '--help', '--version']) expect(usage.stdout).toContain(flag);
    expect(projectOnly).toEqual(usage);
    expect(version.stdout).toBe(`${VERSION}\n`);
    expect(short.stdout).toBe(`${VERSION}\n`);
    expect(bad).toEqual({ code: 2, stdout: '', stderr: '✗ unknown flag --frob for `isollm` (see `isollm --help`)\n' });
    expect(missing).toEqual({ code: 2, stdout: '', stderr: '✗ flag --project needs a value for `isollm` (see `isollm --help`)\n' });
  });

  describe('every subcommand, parsed against its spec', () => {
    /** Every path to a command that runs: [] for a command without subcommands, ['dep', 'add'] … */
    const leaves = (spec: CommandSpec): string[][] =>
      spec.subcommands ? Object.entries(spec.subcommands).flatMap(([name, sub]) => leaves(sub).map((rest) => [name, ...rest])) : [[]];

    it.each(Object.keys(COMMANDS))('%s', async (cmd) => {
      const { SPEC } = (await COMMANDS[cmd].load()) as { SPEC: CommandSpec };
      const globals = ['--project', '/some/dir', '--debug'];
      const paths = leaves(SPEC);
      expect(paths.length).toBeGreaterThan(0);
      for (const path of paths) {
        // The global flags before, between and after the words of the subcommand.
        for (let at = 0; at <= path.length; at++) {
          const p = parseCommand(SPEC, [...path.slice(0, at), ...globals, ...path.slice(at)]);
          expect(p.path, `${cmd} ${path.join(' ')} with the flags at ${at}`).toEqual(path);
          expect(p.flags).toMatchObject({ project: '/some/dir', debug: true });
          expect(p.positionals).toEqual([]);
        }
      }
    });
  });
});
