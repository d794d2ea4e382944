// The multiplexer contract: a plain-data plan in, a backend (zellij or tmux) that realises it.
import type { Layout } from '../config/load.ts';

/** One pane to run: a title and the argv it starts with (never a shell string). */
export type PaneSpec = { name: string; command: string[] };

/** Everything a backend needs to build a session. Pure data: tests compare it, `--dry-run` can print it. */
export type MuxPlan = {
  session: string;
  /** Working directory for every pane (the project root on the host). */
  cwd: string;
  /** The status pane on top; `size` is a percentage ("15%") or a number of rows of text ("8"), kept when the window is resized. */
  dashboard: { command: string[]; size: string; /** In every tab (window), not only the first. */ everyTab?: boolean } | null;
  workers: PaneSpec[];
  /**
   * The lander's pane (land.auto): in the first tab (window) only, right of the dashboard in its strip
   * (LANDER_SHARE of the width), or alone in that strip when there is no dashboard (LANDER_ROWS tall).
   */
  lander?: { command: string[] } | null;
  layout: Layout;
  /** At most this many workers per zellij tab or tmux window (default 6); more are spread evenly over several. */
  maxPerTab?: number;
};

/** A pane as the backend reports it. `command` is the backend's own rendering of the start command. */
export type PaneInfo = { title: string; command: string; dead: boolean; exitStatus: number | null };

export type MuxKind = 'zellij' | 'tmux';

export interface Multiplexer {
  readonly kind: MuxKind;
  /** Create the session in the background; throws a UserError if it exists or the backend fails. */
  createDetached(plan: MuxPlan): Promise<void>;
  /** Attach in the foreground on the caller's TTY; resolves when the user detaches. */
  attach(session: string): Promise<void>;
  /** True when a live session of this name exists (a dead, resurrectable zellij session is not live). */
  exists(session: string): Promise<boolean>;
  /** Stop the session and its panes; no error when it does not exist. */
  kill(session: string): Promise<void>;
  /** Panes in reading order (dashboard and lander first, then workers), or [] when the session does not exist. */
  panes(session: string): Promise<PaneInfo[]>;
  /** Show each worker's state in its pane title: worker name → `worker-3 ⏳ waiting 2m`. No-op without the session. */
  setTitles(session: string, titles: Map<string, string>): Promise<void>;
}

/** Title of the dashboard pane in every backend. */
export const DASHBOARD_TITLE = 'dashboard';
/** Title of the lander's pane in every backend. */
export const LANDER_TITLE = 'lander';
/** The lander's share of the top strip's width, next to the dashboard (percent). */
export const LANDER_SHARE = 40;
/** Rows of text of the lander's strip when there is no dashboard to share one with. */
export const LANDER_ROWS = 8;
