// The tmux backend: runs what tmux-commands.ts builds. `server` picks the tmux server (tests use a private one).
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { $ } from 'zx/core';
import { UserError } from '../cli/errors.ts';
import { checkPlan } from './arrange.ts';
import { buildTmuxCreate, joinTmuxCommands, PANE_FORMAT, parseTmuxPanes, parseTmuxVersion, sessionTarget, tmuxServerArgs, type TmuxServer } from './tmux-commands.ts';
import { TITLE_FORMAT, tmuxTitleCommands } from './titles.ts';
import type { Multiplexer, MuxPlan } from './types.ts';

/** Every tmux call but attach (which runs as long as the user stays). */
export const TMUX_TIMEOUT = '20s';
/** Argv panes (3.0), `-l N%` sizes (3.1). */
export const TMUX_MIN_VERSION: [number, number] = [3, 1];

export type TmuxOptions = {
  server?: TmuxServer;
  bin?: string;
  env?: NodeJS.ProcessEnv;
  /** A tmux config file sourced into the session (multiplexer.tmux_conf), absolute. */
  conf?: string;
};

/** The socket a server listens on, as tmux computes it (for telling whether $TMUX is the same server). */
export function tmuxSocketPath(server: TmuxServer = {}, env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): string {
  if (server.socketPath) return path.resolve(server.socketPath);
  return path.join(env.TMUX_TMPDIR || os.tmpdir(), `tmux-${uid}`, server.socketName ?? 'default');
}

export function createTmux(options: TmuxOptions = {}): Multiplexer {
  const bin = options.bin ?? 'tmux';
  const env = options.env ?? process.env;
  const server = tmuxServerArgs(options.server);
  // nothrow: callers read the exit code, because "no such session" / "no server" is a normal answer.
  const run = (args: string[]) => $({ quiet: true, nothrow: true, timeout: TMUX_TIMEOUT, env })`${bin} ${server} ${args}`;
  const exists = async (session: string) => (await run(['has-session', '-t', sessionTarget(session)])).exitCode === 0;

  return {
    kind: 'tmux',
    exists,
    async createDetached(plan: MuxPlan) {
      checkPlan(plan);
      const version = parseTmuxVersion((await run(['-V'])).stdout);
      if (version && (version[0] < TMUX_MIN_VERSION[0] || (version[0] === TMUX_MIN_VERSION[0] && version[1] < TMUX_MIN_VERSION[1]))) {
        throw new UserError(`tmux ${version.join('.')} is too old: isollm needs tmux ≥ ${TMUX_MIN_VERSION.join('.')}. Install a newer tmux, or zellij.`);
      }
      if (await exists(plan.session)) throw new UserError(`tmux session ${plan.session} is already running. Attach with \`tmux attach -t ${plan.session}\`, or stop it with \`isollm down\`.`);
      // Before 3.2 there are no window hooks: the dashboard then keeps its height only until a resize.
      const windowHooks = !version || version[0] > 3 || (version[0] === 3 && version[1] >= 2);
      const r = await run(joinTmuxCommands(buildTmuxCreate(plan, { sourceFile: options.conf, windowHooks })));
      if (r.exitCode !== 0) {
        await run(['kill-session', '-t', sessionTarget(plan.session)]); // do not leave half a session behind
        // tmux reports a failing source-file (multiplexer.tmux_conf) as FILE:LINE on stdout.
        throw new UserError(`tmux could not create session ${plan.session}.`, { detail: [r.stderr.trim(), r.stdout.trim()].filter(Boolean).join('\n') });
      }
    },
    async attach(session: string) {
      // Inside tmux on the same server: switch this client over. Elsewhere (or another server): attach,
      // with $TMUX cleared so tmux accepts the nesting.
      const inside = env.TMUX ? env.TMUX.split(',')[0] === tmuxSocketPath(options.server, env) : false;
      const args = inside ? ['switch-client', '-t', sessionTarget(session)] : ['attach-session', '-t', sessionTarget(session)];
      const attachEnv = { ...env };
      delete attachEnv.TMUX;
      const r = await $({ stdio: 'inherit', nothrow: true, env: attachEnv })`${bin} ${server} ${args}`;
      if (r.exitCode !== 0) throw new UserError(`tmux ${args[0]} -t ${session} failed (exit ${r.exitCode}). Is the session running? Try \`isollm status\`.`);
    },
    async kill(session: string) {
      await run(['kill-session', '-t', sessionTarget(session)]); // non-zero when it is not running: fine
    },
    async setTitles(session: string, titles: Map<string, string>) {
      const list = await run(['list-panes', '-s', '-t', sessionTarget(session), '-F', TITLE_FORMAT]);
      if (list.exitCode !== 0) return; // no session: nothing to title
      const commands = tmuxTitleCommands(list.stdout, titles);
      if (commands.length) await run(joinTmuxCommands(commands));
    },
    async panes(session: string) {
      const r = await run(['list-panes', '-s', '-t', sessionTarget(session), '-F', PANE_FORMAT]);
      if (r.exitCode === 0) return parseTmuxPanes(r.stdout);
      if (!(await exists(session))) return [];
      throw new UserError(`tmux could not list the panes of ${session}.`, { detail: r.stderr.trim() });
    },
  };
}
