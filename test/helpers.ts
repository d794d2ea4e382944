// Shared test helpers: temp dirs cleaned after each test, the CLI as a child process, real git repos.
import { execFile, spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';
import { freePort } from './support/net.ts';

export const ROOT = path.resolve(import.meta.dirname, '..');
/** Node 24 (vitest runs under the node that `npm test` put on PATH). */
export const NODE = process.execPath;

/** A fresh temp dir, removed when the current test finishes. */
export function tmpDir(prefix = 'isollm-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export type CliResult = { code: number; stdout: string; stderr: string };

/** Run `isollm <args>` as a child process, the way a user would. No TTY, no colour. */
export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeout?: number } = {}): CliResult {
  return runNode([path.join(ROOT, 'scripts', 'isollm.mts'), ...args], options);
}

export function runNode(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeout?: number } = {}): CliResult {
  const spawnOptions: SpawnSyncOptions = { cwd: options.cwd ?? ROOT, env: cliEnv(options.env), input: options.input ?? '', encoding: 'utf8', timeout: options.timeout ?? 60_000 };
  const r = spawnSync(NODE, args, spawnOptions);
  return { code: r.status ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** `runCli`, awaited (so several can run at once). */
export async function runCliAsync(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<CliResult> {
  const { code, stdout, stderr } = await spawnAsync(NODE, [path.join(ROOT, 'scripts', 'isollm.mts'), ...args], { cwd: options.cwd ?? ROOT, env: cliEnv(options.env), timeout: options.timeout ?? 60_000 });
  return { code, stdout, stderr };
}

/** This process's environment for the CLI: no colour, no INIT_CWD (npm's), `extra` on top (undefined removes). */
function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', INIT_CWD: undefined, ...extra };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  return env;
}

/**
 * A child process, awaited: its exit code (-1 when killed), stdout, stderr, and `output`, both as they
 * came. `timeout` kills it with `killSignal` (SIGTERM unless told).
 */
export function spawnAsync(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number; killSignal?: NodeJS.Signals } = {}): Promise<CliResult & { output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], timeout: options.timeout, killSignal: options.killSignal });
    let stdout = '';
    let stderr = '';
    let output = '';
    child.stdout.on('data', (d) => { stdout += d; output += d; });
    child.stderr.on('data', (d) => { stderr += d; output += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, output }));
  });
}

/**
 * A POSIX sh script of isollm's (templates/) run by dash with only PATH, HOME=/nonexistent and `env`,
 * `input` on its stdin. Async on purpose: a queue server in this process must go on answering it.
 */
export function runScript(script: string, env: Record<string, string>, args: string[], input = ''): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile('dash', [script, ...args], { env: { PATH: process.env.PATH, HOME: '/nonexistent', ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    // A script may exit without reading its stdin (a report it ignores, arguments it refuses): EPIPE then is no failure.
    child.stdin!.on('error', () => {});
    child.stdin!.end(input);
  });
}

/** Run git and return trimmed stdout; throws with stderr on failure. */
export function git(cwd: string, ...args: string[]): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.trim();
}

const GIT_ENV = {
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
};
Object.assign(process.env, GIT_ENV);

/** A temp git repository on branch `main` with one commit (unless `commit: false`). */
export function gitRepo(options: { commit?: boolean; branch?: string } = {}): string {
  const dir = tmpDir('isollm-repo-');
  git(dir, 'init', '-q', '-b', options.branch ?? 'main');
  if (options.commit !== false) {
    fs.writeFileSync(path.join(dir, 'README.md'), '# test\n');
    git(dir, 'add', '.');
    git(dir, 'commit', '-qm', 'initial');
  }
  return dir;
}

/**
 * A project (a temp git repo) with its own queue port and a hub in a temp dir, and the CLI run in it;
 * its queue is stopped when the test finishes (start it with `cli('queue', 'start')`).
 */
export async function cliProject(): Promise<{ root: string; hub: string; port: number; cli: (...args: string[]) => CliResult }> {
  const root = gitRepo();
  const hub = path.join(tmpDir('isollm-hub-'), 'demo.git');
  const port = await freePort();
  fs.writeFileSync(path.join(root, 'isollm.yaml'), `project: demo\nqueue:\n  port: ${port}\ngit:\n  hub: ${hub}\n`);
  const cli = (...args: string[]) => runCli(args, { cwd: root });
  onTestFinished(() => void cli('queue', 'stop'));
  return { root, hub, port, cli };
}

export { freePort };
