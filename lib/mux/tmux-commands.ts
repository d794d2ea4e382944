// tmux as data: the plan → one tmux command list (run as ONE invocation), and parsers of its output.
//
// Panes are built by splitting, not by `select-layout tiled`, so the dashboard stays a strip on top
// and the worker area follows the same rows-of-columns arrangement as the zellij layouts:
//   - a window holds at most plan.maxPerTab (multiplexer.max_panes_per_tab, 6) workers, spread
//     evenly over the fewest windows (8 workers → 4 + 4); the first window (or, with everyTab, each)
//     also has the dashboard strip, its height set again by a window-resized hook; the lander's pane
//     (land.auto) goes right of the dashboard in the first window's strip (or is that strip alone),
//     split off last and the focus given back to the first worker (`{last}`);
//   - the first pane of each row starts with the row's LAST worker; the row is then filled right to
//     left (`split-window -h -b`), rows bottom-up (`select-pane {up-of}`), so the pane left active in
//     every window is its first worker;
//   - every size is a percentage of the pane being split, so all rows and columns come out even.
// Everything goes to the server in one invocation (commands separated by ';'): the server runs the
// list before it reaps any child, so `remain-on-exit` is in place even for a command that exits at once.
import { arrangeRows, chunkEvenly, DEFAULT_MAX_PANES_PER_TAB, parseDashboardSize } from './arrange.ts';
import { DASHBOARD_TITLE, LANDER_ROWS, LANDER_SHARE, LANDER_TITLE, type MuxPlan, type PaneInfo, type PaneSpec } from './types.ts';

export const TMUX_WORKERS_PER_WINDOW = DEFAULT_MAX_PANES_PER_TAB;
/** Size of a detached session until a client attaches (tmux then rescales the panes to the terminal). */
export const TMUX_DETACHED_SIZE = { columns: 240, rows: 64 } as const;
/** Pane option holding the worker name: programs may rewrite pane_title with escape sequences, user options they cannot. */
export const TITLE_OPTION = '@isollm_title';
// The worker's name, then what its agent does (@isollm_state, set by the dashboard; see titles.ts).
const BORDER_FORMAT = ` #{?${TITLE_OPTION},#{${TITLE_OPTION}}#{?@isollm_state, #{@isollm_state},},#{pane_title}} `;

/** Which tmux server: `-L name` (a socket in tmux's dir), `-S path`, and an optional config file for a new server (`-f /dev/null` in tests). */
export type TmuxServer = { socketName?: string; socketPath?: string; configFile?: string };

export function tmuxServerArgs(server: TmuxServer = {}): string[] {
  return [
    ...(server.socketPath ? ['-S', server.socketPath] : server.socketName ? ['-L', server.socketName] : []),
    ...(server.configFile ? ['-f', server.configFile] : []),
  ];
}

/** Runs its arguments ("$@", never a command line), then holds the pane's pty a second before exiting with their status. */
export const PANE_HOLD_SCRIPT = '"$@"; s=$?; sleep 1; exit $s';

/**
 * A pane's argv as tmux arguments: `sh -c PANE_HOLD_SCRIPT isollm-pane ARGV…` (two or more arguments:
 * tmux ≥ 3.0 execs them directly, with no shell of its own). tmux before 3.7 closes a pane's pty as
 * soon as its process exits, dropping what the program wrote last if the kernel had not handed it to
 * tmux yet (tmux commit 9e3653a6, tmux#4807): a dead pane then showed nothing of why it died
 * (a printf pane was blank 17 times in 300 on a loaded machine; 0 in 300 with the hold).
 */
export function tmuxPaneCommand(argv: string[]): string[] {
  return ['sh', '-c', PANE_HOLD_SCRIPT, 'isollm-pane', ...argv];
}

/**
 * One tmux command as the line tmux parses (hooks take a command line, not argv): every argument in
 * single quotes, inside which tmux's parser takes every character literally. Only for arguments
 * isollm builds itself; a quote in one is refused.
 */
export function tmuxCommandLine(argv: string[]): string {
  for (const a of argv) if (a.includes("'")) throw new Error(`A tmux hook argument cannot contain a quote: ${a}`);
  return argv.map((a) => `'${a}'`).join(' ');
}

/** Exact-match targets: a bare name would also match a longer session or window by prefix. */
export const sessionTarget = (session: string) => `=${session}`;
const windowTarget = (session: string, window: string) => `=${session}:=${window}`;

/** Window names: `agents`, or `agents-1`, `agents-2`, … when the workers need more than one window. */
export function tmuxWindowNames(workers: number, perWindow = TMUX_WORKERS_PER_WINDOW): string[] {
  const windows = Math.ceil(workers / perWindow);
  return windows === 1 ? ['agents'] : Array.from({ length: windows }, (_, i) => `agents-${i + 1}`);
}

const percent = (part: number, whole: number) => `${Math.round((100 * part) / whole)}%`;

/**
 * The tmux command list (without the `tmux` binary and server flags) that builds the plan's session.
 * `sourceFile` (multiplexer.tmux_conf) is sourced right after the session exists, before isollm's own
 * window options, so the user's key bindings and status line apply and the pane options isollm relies
 * on still hold.
 */
export function buildTmuxCreate(plan: MuxPlan, options: { sourceFile?: string; /** Window hooks (`set-hook -w`) need tmux ≥ 3.2. */ windowHooks?: boolean } = {}): string[][] {
  const commands: string[][] = [];
  const perWindow = plan.maxPerTab ?? TMUX_WORKERS_PER_WINDOW;
  const names = tmuxWindowNames(plan.workers.length, perWindow);
  chunkEvenly(plan.workers, perWindow).forEach((workers, index) => {
    const target = windowTarget(plan.session, names[index]);
    const dashboard = index === 0 || plan.dashboard?.everyTab ? plan.dashboard : null;
    const lander = index === 0 ? (plan.lander ?? null) : null;
    // The strip on top: the dashboard (the lander right of it), or the lander alone.
    const top: PaneSpec | null = dashboard ? { name: DASHBOARD_TITLE, command: dashboard.command } : lander ? { name: LANDER_TITLE, command: lander.command } : null;
    const stripSize = dashboard ? dashboard.size : lander ? String(LANDER_ROWS) : null;
    const label = (title: string) => {
      commands.push(['set-option', '-p', '-t', target, TITLE_OPTION, title], ['select-pane', '-t', target, '-T', title]);
    };
    const rows = arrangeRows(workers.length, plan.layout);
    const rowStart = rows.map((_, r) => rows.slice(0, r).reduce((a, b) => a + b, 0));
    const lastOfRow = (r: number): PaneSpec => workers[rowStart[r] + rows[r] - 1];

    const first = top ?? lastOfRow(0);
    const where = ['-n', names[index], '-c', plan.cwd];
    commands.push(
      index === 0
        ? ['new-session', '-d', '-s', plan.session, ...where, '-x', String(TMUX_DETACHED_SIZE.columns), '-y', String(TMUX_DETACHED_SIZE.rows), '--', ...tmuxPaneCommand(first.command)]
        : ['new-window', '-d', '-t', `${sessionTarget(plan.session)}:`, ...where, '--', ...tmuxPaneCommand(first.command)],
      ...(index === 0 && options.sourceFile ? [['source-file', options.sourceFile]] : []),
      ['set-option', '-w', '-t', target, 'remain-on-exit', 'on'],
      ['set-option', '-w', '-t', target, 'pane-border-status', 'top'],
      ['set-option', '-w', '-t', target, 'pane-border-format', BORDER_FORMAT],
    );
    label(first.name);

    const split = (direction: '-h' | '-v', size: string | null, w: PaneSpec, before: boolean) => {
      commands.push(['split-window', direction, ...(before ? ['-b'] : []), '-t', target, ...(size ? ['-l', size] : []), '-c', plan.cwd, '--', ...tmuxPaneCommand(w.command)]);
      label(w.name);
    };
    if (stripSize) {
      split('-v', null, lastOfRow(0), false);
      const size = parseDashboardSize(stripSize);
      const resize = ['resize-pane', '-t', `${target}.{top-left}`, '-y', 'percent' in size ? `${size.percent}%` : String(size.rows)];
      // tmux takes rows from the top pane first when the window shrinks (a client attaching at 50 rows
      // left a 4-row dashboard of a 64-row session): set the height again after every resize.
      commands.push(resize, ...(options.windowHooks === false ? [] : [['set-hook', '-w', '-t', target, 'window-resized', tmuxCommandLine(resize)]]));
    }
    // One full-width pane per row, top to bottom; the new pane gets the share of the rows below.
    for (let r = 1; r < rows.length; r++) split('-v', percent(rows.length - r, rows.length - r + 1), lastOfRow(r), false);
    // Fill the rows bottom-up, each right to left, ending on the first worker.
    for (let r = rows.length - 1; r >= 0; r--) {
      if (r < rows.length - 1) commands.push(['select-pane', '-t', `${target}.{up-of}`]);
      for (let m = 1; m < rows[r]; m++) split('-h', percent(rows[r] - m, rows[r] - m + 1), workers[rowStart[r] + rows[r] - 1 - m], true);
    }
    if (dashboard && lander) {
      commands.push(['split-window', '-h', '-t', `${target}.{top-left}`, '-l', `${LANDER_SHARE}%`, '-c', plan.cwd, '--', ...tmuxPaneCommand(lander.command)]);
      label(LANDER_TITLE);
      commands.push(['select-pane', '-t', `${target}.{last}`]);
    }
  });
  commands.push(['select-window', '-t', windowTarget(plan.session, names[0])]);
  return commands;
}

/** Join a command list into one tmux argv: `a ; b ; c` (each ';' a separate argument). */
export function joinTmuxCommands(commands: string[][]): string[] {
  return commands.flatMap((c, i) => (i === 0 ? c : [';', ...c]));
}

/** The `list-panes -F` format parsePanes reads. pane_title goes last: a program may put anything in it. */
export const PANE_FORMAT = ['#{pane_dead}', '#{pane_dead_status}', `#{${TITLE_OPTION}}`, '#{pane_start_command}', '#{pane_title}'].join('\t');

/** Parse `list-panes -F PANE_FORMAT`. tmux shows the start command in its own escaped form (e.g. `sleep "\$HOME"`). */
export function parseTmuxPanes(stdout: string): PaneInfo[] {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [dead, status, title, command, ...paneTitle] = line.split('\t');
      return {
        title: title || paneTitle.join('\t'),
        command,
        dead: dead === '1',
        exitStatus: dead === '1' && status !== '' ? Number(status) : null,
      };
    });
}

/** "tmux 3.3a" → [3, 3]; null when the version cannot be read (e.g. a build from git: then assume it is recent). */
export function parseTmuxVersion(stdout: string): [number, number] | null {
  const m = /(\d+)\.(\d+)/.exec(stdout);
  return m ? [Number(m[1]), Number(m[2])] : null;
}
