// The package as users get it: `npm pack` of this checkout (in a copy, so the build and the manifest
// swap of prepack/postpack never touch the tree other tests run from), installed globally into a
// temp prefix or as a dev dependency of a temp project, run with the machine's own PATH.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
/** The machine's PATH without this checkout's node_modules/.bin: the system node (20 here) first. */
export const SYSTEM_PATH = '/usr/local/bin:/usr/bin:/bin';
const PACK_TIMEOUT_MS = 180_000;
const INSTALL_TIMEOUT_MS = 180_000;

export type Run = { code: number; stdout: string; stderr: string };

/** Run a command as a user's shell would: system PATH, no colour, no npm leftovers from the test run. */
export function runAsUser(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}, timeout = 120_000): Run {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout, env: { HOME: process.env.HOME, PATH: SYSTEM_PATH, NO_COLOR: '1', ...env } });
  // npm's own notices (install scripts, this machine's npmrc) are not isollm's output.
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '').replace(/^npm (warn|notice).*\n/gm, '') };
}

function must(r: Run, what: string): Run {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r;
}

/** A copy of the checkout (tracked and new files, as a clean clone would have them) in a new temp dir, with its node_modules linked. */
export function copyCheckout(): string {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-pack-src-'));
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const file of files) {
    const from = path.join(ROOT, file);
    if (!fs.lstatSync(from, { throwIfNoEntry: false })?.isFile()) continue; // deleted, or a link (node_modules)
    fs.mkdirSync(path.dirname(path.join(copy, file)), { recursive: true });
    fs.copyFileSync(from, path.join(copy, file));
  }
  // The build needs tsc; the checkout's own dev dependencies serve.
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'));
  return copy;
}

/** `npm pack` in `dir` (a checkout) into `dest`, as a user runs it (`--silent`: its stdout is the tarball's name). */
export function npmPack(dir: string, dest: string, flags = ['--silent']): Run {
  const pathWithBin = `${path.join(dir, 'node_modules', '.bin')}:${SYSTEM_PATH}`;
  return runAsUser('npm', ['pack', ...flags, '--pack-destination', dest], dir, { PATH: pathWithBin }, PACK_TIMEOUT_MS);
}

/** Pack a copy of the checkout into `dest`. */
export function packTarball(dest: string): string {
  const copy = copyCheckout();
  try {
    const r = must(npmPack(copy, dest), 'npm pack');
    return path.join(dest, r.stdout.trim().split('\n').pop()!);
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
}

const INSTALL_FLAGS = ['--no-audit', '--no-fund', '--prefer-offline'];

/** `npm i -g TARBALL` into `prefix`; the path of the installed `isollm` bin. */
export function installGlobal(tarball: string, prefix: string): string {
  fs.mkdirSync(prefix, { recursive: true });
  must(runAsUser('npm', ['install', '-g', '--prefix', prefix, ...INSTALL_FLAGS, tarball], prefix, {}, INSTALL_TIMEOUT_MS), 'npm install -g');
  return path.join(prefix, 'bin', 'isollm');
}

/** A git project with a package.json and isollm installed from `tarball` as a dev dependency. */
export function installInProject(tarball: string, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=T', '-c', 'user.email=t@x', ...args], { cwd: dir, stdio: 'ignore' });
  git('init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: path.basename(dir), private: true, type: 'module' }, null, 2) + '\n');
  fs.writeFileSync(path.join(dir, '.gitignore'), 'node_modules/\n');
  git('add', '.');
  git('commit', '-qm', 'initial');
  must(runAsUser('npm', ['install', '-D', ...INSTALL_FLAGS, tarball], dir, {}, INSTALL_TIMEOUT_MS), 'npm install -D');
}
