// What the real-CLI tests share for running an agent CLI as a throwaway non-root user on the host.
import { spawnSync } from 'node:child_process';

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
