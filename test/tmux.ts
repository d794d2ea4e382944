// Drive a command through a real pseudo-terminal: a tmux server on a private socket, killed after the test.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { onTestFinished } from 'vitest';

const POLL_MS = 100;
const WAIT_MS = 20_000;

export type Terminal = {
  /** Wait until the screen matches, and return it. */
  waitFor: (pattern: RegExp) => Promise<string>;
  keys: (...keys: string[]) => void;
  screen: () => string;
  /** Wait for the command to end; its exit status. */
  exitCode: () => Promise<number>;
};

// tmux 3.3 leaves #{pane_dead_status} empty after a clean exit, so a small wrapper records the code.
// (No trailing `;`: tmux would take an argument ending in `;` as a command separator.)
const RECORD_EXIT = `const r = require('node:child_process').spawnSync(process.argv[2], process.argv.slice(3), { stdio: 'inherit' });
require('node:fs').writeFileSync(process.argv[1], String(r.status ?? 128))`;

export function startTerminal(command: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Terminal {
  const exitFile = path.join(fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'isollm-pty-')), 'exit');
  onTestFinished(() => fs.rmSync(path.dirname(exitFile), { recursive: true, force: true }));
  const socket = `isollm-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', TERM: 'xterm-256color', ...options.env };
  for (const key of ['CI', 'TMUX', 'INIT_CWD']) delete env[key];
  const tmux = (...args: string[]) => {
    const r = spawnSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8', env });
    if (r.status !== 0) throw new Error(`tmux ${args[0]} failed: ${r.stderr}`);
    return r.stdout;
  };
  // remain-on-exit keeps the pane (and its last screen) after the command ends.
  tmux('start-server', ';', 'set', '-g', 'remain-on-exit', 'on', ';', 'new-session', '-d', '-x', '120', '-y', '40', '-c', options.cwd, process.execPath, '-e', RECORD_EXIT, exitFile, ...command);
  onTestFinished(() => void spawnSync('tmux', ['-L', socket, 'kill-server']));
  const screen = () => tmux('capture-pane', '-p');
  const poll = async <T>(what: string, probe: () => T | undefined): Promise<T> => {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const value = probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; screen:\n${screen()}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  };
  return {
    screen,
    waitFor: (pattern) => poll(String(pattern), () => {
      const s = screen();
      return pattern.test(s) ? s : undefined;
    }),
    keys: (...keys) => void tmux('send-keys', ...keys),
    exitCode: () => poll('the command to exit', () => (fs.existsSync(exitFile) ? Number(fs.readFileSync(exitFile, 'utf8')) : undefined)),
  };
}
