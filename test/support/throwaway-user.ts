// What the real-CLI tests share for running an agent CLI as a throwaway non-root user on the host.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GEMINI_HOOKS_FILE } from '../../lib/agent/hooks.ts';
import { DEV_HOME } from '../../lib/agent/presets.ts';

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

/** Poll `ok` every `everyMs` until it holds, or fail after `timeoutMs` with what `onTimeout` tells. */
export async function waitFor(what: string, ok: () => boolean, timeoutMs: number, onTimeout: () => string = () => '', everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${onTimeout()}`);
    await new Promise((r) => setTimeout(r, everyMs));
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
export function placeAgentFiles(files: { path: string; content: string; mode: number }[], home: string, sysDir: string): void {
  for (const f of files) {
    let file: string;
    if (f.path.startsWith(`${DEV_HOME}/`)) file = f.path.replace(DEV_HOME, home);
    else if (f.path === GEMINI_HOOKS_FILE) file = path.join(sysDir, path.basename(f.path));
    else throw new Error(`no place on the host for ${f.path}`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, f.content.replaceAll(DEV_HOME, home), { mode: f.mode });
    fs.chmodSync(file, f.mode);
  }
}
