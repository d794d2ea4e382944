// The zellij backend: argv builders and output parsers (pure, tested on captured output), and a thin
// runner. Commands per shared/zellij.md, read from zellij's cli.rs and commands.rs.
import process from 'node:process';
import { $ } from 'zx/core';
import { UserError } from '../cli/errors.ts';
import { checkPlan } from './arrange.ts';
import { zellijNameProblem, zellijSocketDir } from './session-name.ts';
import { zellijTitleArgs } from './titles.ts';
import type { Multiplexer, MuxPlan, PaneInfo } from './types.ts';
import { writeZellijLayout } from './zellij-layout.ts';
import type { ZellijTemplate } from './zellij-template.ts';

/** Every zellij call but attach (which runs as long as the user stays). */
export const ZELLIJ_TIMEOUT = '20s';

export const zellijArgs = {
  /** The global --layout is the layout a new session is created with (commands.rs: ClientInfo::New gets Some(layout)). */
  create: (layoutFile: string, session: string) => ['--layout', layoutFile, 'attach', '--create-background', session],
  attach: (session: string) => ['attach', session],
  /** Without --short, so dead (resurrectable) sessions can be told apart: they say "(EXITED ...)". */
  listSessions: () => ['list-sessions', '--no-formatting'],
  kill: (session: string) => ['kill-session', session],
  /** Removes a dead session's resurrection data, which zellij would otherwise prefer over a new layout. */
  delete: (session: string) => ['delete-session', '--force', session],
  listPanes: (session: string) => ['--session', session, 'action', 'list-panes', '--json'],
};

export type ZellijSession = { name: string; dead: boolean };

/** Parse `list-sessions --no-formatting`: `NAME [Created 5s ago] (EXITED - attach to resurrect)`. */
export function parseZellijSessions(stdout: string): ZellijSession[] {
  return stripAnsi(stdout)
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => ({ name: (/^(.*?) \[Created /.exec(line)?.[1] ?? line).trim(), dead: line.includes('(EXITED') }));
}

/** Parse `action list-panes --json` (zellij ≥ 0.44): terminal panes only, in reading order. */
export function parseZellijPanes(json: string): PaneInfo[] {
  const raw = JSON.parse(json) as Array<Record<string, unknown>>;
  const num = (v: unknown) => (typeof v === 'number' ? v : 0);
  return raw
    .filter((p) => p.is_plugin !== true)
    .sort((a, b) => num(a.tab_position ?? a.tab_id) - num(b.tab_position ?? b.tab_id) || num(a.pane_y) - num(b.pane_y) || num(a.pane_x) - num(b.pane_x))
    .map((p) => ({
      title: String(p.title ?? ''),
      command: String(p.terminal_command ?? p.pane_command ?? ''),
      // A held pane is one whose command exited and that close_on_exit=false keeps on screen.
      dead: p.exited === true || p.is_held === true,
      exitStatus: typeof p.exit_status === 'number' ? p.exit_status : null,
    }));
}

function stripAnsi(s: string): string {
  return s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
}

/** The environment without the variables zellij sets inside a session: with them, `--layout` would add a tab to that session instead. */
function outsideZellij(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const clean = { ...env };
  for (const key of ['ZELLIJ', 'ZELLIJ_SESSION_NAME', 'ZELLIJ_PANE_ID']) delete clean[key];
  return clean;
}

export type ZellijOptions = {
  layoutDir: string;
  bin?: string;
  env?: NodeJS.ProcessEnv;
  /** The layout template (read and checked already); isollm's own when absent. */
  template?: ZellijTemplate;
};

export function createZellij(options: ZellijOptions): Multiplexer {
  const bin = options.bin ?? 'zellij';
  const env = outsideZellij(options.env ?? process.env);
  // nothrow: callers read the exit code, because "no such session" is a normal answer here.
  const run = (args: string[]) => $({ quiet: true, nothrow: true, timeout: ZELLIJ_TIMEOUT, env })`${bin} ${args}`;

  const sessions = async (): Promise<ZellijSession[]> => {
    const r = await run(zellijArgs.listSessions());
    return r.exitCode === 0 ? parseZellijSessions(r.stdout) : []; // exit 1 = "No active zellij sessions found."
  };
  const exists = async (session: string) => (await sessions()).some((s) => s.name === session && !s.dead);

  return {
    kind: 'zellij',
    exists,
    async createDetached(plan: MuxPlan) {
      checkPlan(plan);
      const problem = zellijNameProblem(plan.session, zellijSocketDir(env));
      if (problem) throw new UserError(`zellij session name "${plan.session}" is not valid: ${problem}. Use a shorter project name or multiplexer.kind: tmux.`);
      if (await exists(plan.session)) throw new UserError(`zellij session ${plan.session} is already running. Attach with \`zellij attach ${plan.session}\`, or stop it with \`isollm down\`.`);
      await run(zellijArgs.delete(plan.session)); // fails when there is no dead session to clear: fine
      const layout = writeZellijLayout(plan, options.layoutDir, options.template);
      const r = await run(zellijArgs.create(layout, plan.session));
      if (r.exitCode !== 0) throw new UserError(`zellij could not create session ${plan.session} from ${layout}.`, { detail: r.stderr.trim() || r.stdout.trim() });
    },
    async attach(session: string) {
      if ((options.env ?? process.env).ZELLIJ) throw new UserError(`You are inside a zellij session; zellij cannot nest. Detach (Ctrl-o d), then run \`zellij attach ${session}\`.`);
      const r = await $({ stdio: 'inherit', nothrow: true, env })`${bin} ${zellijArgs.attach(session)}`;
      if (r.exitCode !== 0) throw new UserError(`zellij attach ${session} failed (exit ${r.exitCode}).`);
    },
    async kill(session: string) {
      await run(zellijArgs.kill(session)); // non-zero when it is not running: fine, the goal is "not running"
      await run(zellijArgs.delete(session)); // and no resurrectable leftovers
    },
    async setTitles(session: string, titles: Map<string, string>) {
      const list = await run(zellijArgs.listPanes(session));
      if (list.exitCode !== 0) return;
      for (const args of zellijTitleArgs(session, list.stdout, titles)) await run(args);
    },
    async panes(session: string) {
      const r = await run(zellijArgs.listPanes(session));
      if (r.exitCode === 0) return parseZellijPanes(r.stdout);
      if (!(await exists(session))) return [];
      throw new UserError(`zellij could not list the panes of ${session} (list-panes needs zellij ≥ 0.44).`, { detail: r.stderr.trim() });
    },
  };
}
