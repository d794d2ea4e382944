// How worker panes are arranged: rows of columns, shared by the zellij and tmux backends.
import type { Layout } from '../config/load.ts';
import { MAX_WORKERS } from '../config/schema.ts';
import { UserError } from '../cli/errors.ts';
import { DASHBOARD_TITLE, LANDER_TITLE, type MuxPlan } from './types.ts';

/** Workers per zellij tab or tmux window unless `multiplexer.max_panes_per_tab` says otherwise. */
export const DEFAULT_MAX_PANES_PER_TAB = 6;

/** Columns of the grid layout: ceil(√n). */
export function gridColumns(n: number): number {
  return Math.ceil(Math.sqrt(n));
}

/**
 * Row lengths, top to bottom, for n workers:
 * horizontal = one row side by side; vertical = one column stacked;
 * grid = ceil(√n) columns, rows filled as evenly as possible (longer rows first);
 * auto = horizontal for 1–2 workers, grid beyond.
 */
export function arrangeRows(n: number, layout: Layout): number[] {
  if (n <= 0) return [];
  if (layout === 'horizontal' || (layout === 'auto' && n <= 2)) return [n];
  if (layout === 'vertical') return Array.from({ length: n }, () => 1);
  const rows = Math.ceil(n / gridColumns(n));
  return Array.from({ length: rows }, (_, i) => Math.floor(n / rows) + (i < n % rows ? 1 : 0));
}

/** Split a list into the fewest consecutive groups of at most `max`, as even as possible (8 → 4 + 4, not 6 + 2). */
export function chunkEvenly<T>(items: T[], max: number): T[][] {
  const count = Math.ceil(items.length / max);
  const groups: T[][] = [];
  let start = 0;
  for (let i = 0; i < count; i++) {
    const size = Math.floor(items.length / count) + (i < items.length % count ? 1 : 0);
    groups.push(items.slice(start, start + size));
    start += size;
  }
  return groups;
}

export type DashboardSize = { percent: number } | { rows: number };

/** The cap on an `auto` dashboard: the full view for up to 7 workers; beyond, the compact view (summary + the busiest). */
export const DASHBOARD_MAX_ROWS = 16;

/**
 * The plan's dashboard size from `multiplexer.dashboard_size`: `auto` → as many rows as the content
 * needs (`contentRows`), at most DASHBOARD_MAX_ROWS; a number → that many rows; a percentage as is.
 * Rows count the dashboard's text: each backend adds its own pane chrome.
 */
export function resolveDashboardSize(setting: string | number, contentRows: number): string {
  if (setting === 'auto') return String(Math.max(1, Math.min(contentRows, DASHBOARD_MAX_ROWS)));
  return String(setting);
}

/** "15%" → {percent: 15}; "8" → {rows: 8}. */
export function parseDashboardSize(size: string): DashboardSize {
  const percent = /^(\d{1,2})%$/.exec(size);
  if (percent && Number(percent[1]) >= 1) return { percent: Number(percent[1]) };
  if (/^\d{1,3}$/.test(size) && Number(size) >= 1) return { rows: Number(size) };
  throw new UserError(`multiplexer.dashboard_size: "${size}" is not a size. Use a percentage like "15%" or a number of rows like "8".`);
}

const PANE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Reject a plan no backend could realise, naming the problem. */
export function checkPlan(plan: MuxPlan): void {
  // What sessionName() makes: tmux would silently rename '.' and ':' (and read them as separators), zellij forbids '/'.
  if (!/^[A-Za-z0-9_-]+$/.test(plan.session)) throw new UserError(`Session name "${plan.session}" is not usable: letters, digits, '_' and '-' only.`);
  const n = plan.workers.length;
  if (n < 1 || n > MAX_WORKERS) throw new UserError(`A session needs 1 to ${MAX_WORKERS} worker panes, not ${n}. Check \`workers\` in isollm.yaml.`);
  const seen = new Set<string>();
  for (const w of plan.workers) {
    if (!PANE_NAME.test(w.name) || w.name === DASHBOARD_TITLE || w.name === LANDER_TITLE) throw new UserError(`Worker pane name "${w.name}" is not usable: letters, digits, '.', '_' and '-' only (and not "${DASHBOARD_TITLE}" or "${LANDER_TITLE}").`);
    if (seen.has(w.name)) throw new UserError(`Worker pane name "${w.name}" appears twice.`);
    seen.add(w.name);
    checkArgv(w.command, `worker ${w.name}`);
  }
  if (plan.maxPerTab !== undefined && !(Number.isInteger(plan.maxPerTab) && plan.maxPerTab >= 1)) throw new UserError(`multiplexer.max_panes_per_tab must be a whole number from 1, not ${plan.maxPerTab}.`);
  if (plan.dashboard) {
    checkArgv(plan.dashboard.command, DASHBOARD_TITLE);
    parseDashboardSize(plan.dashboard.size);
  }
  if (plan.lander) checkArgv(plan.lander.command, LANDER_TITLE);
}

function checkArgv(argv: string[], what: string): void {
  if (argv.length === 0 || argv[0] === '') throw new UserError(`The ${what} pane has no command.`);
  if (argv.some((a) => a.includes('\0'))) throw new UserError(`The ${what} pane command contains a NUL byte.`);
}
