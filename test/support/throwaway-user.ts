// What the real-CLI tests share for running an agent CLI as a throwaway non-root user on the host.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GEMINI_HOOKS_FILE } from '../../lib/agent/hooks.ts';
import { DEV_HOME } from '../../lib/agent/presets.ts';

const TEMPLATES = path.resolve(import.meta.dirname, '..', '..', 'templates');

/** Run a command; its stdout, or an error with its stderr. */
export function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/**
 * End every process of `user`, by pid: the CLIs leave some behind (codex starts an app-server daemon
 * of its own; an interactive claude or opencode outlives its tmux pane a moment). Again until none is
 * left: a daemon may start another process meanwhile.
 */
export async function killUserProcesses(user: string): Promise<void> {
  for (let round = 0; round < 20; round++) {
    const pids = spawnSync('pgrep', ['-u', user], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
    if (!pids.length) return;
    for (const pid of pids) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** isollm-state and isollm-agent in a new directory under /var/tmp where any user can run them (as /usr/local/bin holds them in a worker). */
export function agentTools(prefix: string): string {
  const tools = fs.mkdtempSync(path.join('/var/tmp', prefix));
  fs.chmodSync(tools, 0o755);
  for (const f of ['isollm-state', 'isollm-agent']) {
    fs.copyFileSync(path.join(TEMPLATES, f), path.join(tools, f));
    fs.chmodSync(path.join(tools, f), 0o755);
  }
  return tools;
}

/** Delete `user` and its home (userdel refuses a user with processes left, so those go first). */
export async function removeUser(user: string): Promise<void> {
  await killUserProcesses(user);
  spawnSync('userdel', ['--remove', user], { encoding: 'utf8' });
}

/**
 * A fresh home for `user` (a first run for every CLI): `project` with one commit, and `files` where
 * isollm pushes them into a worker (see placeAgentFiles), all the user's.
 */
export function freshHome(user: string, home: string, sysDir: string | null, project: string, files: { path: string; content: string; mode: number }[]): void {
  sh('find', [home, '-mindepth', '1', '-delete']);
  if (sysDir) sh('find', [sysDir, '-mindepth', '1', '-delete']);
  fs.mkdirSync(project, { recursive: true });
  sh('git', ['-C', project, 'init', '-q', '-b', 'main']);
  fs.writeFileSync(path.join(project, 'README.md'), 'a project\n');
  sh('git', ['-C', project, '-c', 'user.name=t', '-c', 'user.email=t@t', 'add', '.']);
  sh('git', ['-C', project, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'init']);
  placeAgentFiles(files, home, sysDir);
  sh('chown', ['-R', `${user}:${user}`, home]);
}

/** Poll `ok` every `everyMs` until it holds, or fail after `timeoutMs` with what `onTimeout` tells. */
export async function waitFor(what: string, ok: () => boolean, timeoutMs: number, onTimeout: () => string = () => '', everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${onTimeout()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Type `text` into an agent CLI's TUI once its screen has settled (unchanged for `settleMs`), then
 * press Enter until `sent()`: a TUI may take fast typing for a paste and the Enter right after it
 * for a newline in it. `send` passes tmux send-keys arguments to the pane.
 */
export async function typeIntoTui(
  tui: { name: string; screen: () => string; send: (...keys: string[]) => void },
  text: string,
  sent: () => boolean,
  options: { settleMs?: number; tries?: number; tryMs?: number; everyMs?: number } = {},
): Promise<void> {
  const { settleMs = 2_000, tries = 5, tryMs = 4_000, everyMs = 100 } = options;
  let last = '';
  let stableSince = Date.now();
  await waitFor(`${tui.name} to settle`, () => {
    const now = tui.screen();
    if (now !== last) { last = now; stableSince = Date.now(); }
    return now.trim() !== '' && Date.now() - stableSince > settleMs;
  }, 150_000, tui.screen, everyMs);
  tui.send('-l', text);
  for (let i = 0; i < tries && !sent(); i++) {
    await new Promise((r) => setTimeout(r, 1_000));
    tui.send('Enter');
    await waitFor('the task to be sent', sent, tryMs, undefined, everyMs).catch(() => undefined);
  }
}

/**
 * Where a worker's root-owned system files go for a test user on the host: a directory of root's,
 * mode 0755, under /run (gemini reads its system settings only when every parent is root's and not
 * world-writable, which rules out /tmp and /var/tmp). The env points the CLI at them.
 */
export function systemDir(tag: string): { dir: string; env: Record<string, string> } {
  const dir = `/run/isollm-sys-${tag}`;
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  return { dir, env: { GEMINI_CLI_SYSTEM_DEFAULTS_PATH: path.join(dir, path.basename(GEMINI_HOOKS_FILE)) } };
}

/** Write the files isollm pushes into a worker: dev's home into `home`, root's system files into `sysDir` (never the host's /etc). */
export function placeAgentFiles(files: { path: string; content: string; mode: number }[], home: string, sysDir: string | null): void {
  for (const f of files) {
    let file: string;
    if (f.path.startsWith(`${DEV_HOME}/`)) file = f.path.replace(DEV_HOME, home);
    else if (f.path === GEMINI_HOOKS_FILE && sysDir) file = path.join(sysDir, path.basename(f.path));
    else throw new Error(`no place on the host for ${f.path}`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, f.content.replaceAll(DEV_HOME, home), { mode: f.mode });
    fs.chmodSync(file, f.mode);
  }
}
