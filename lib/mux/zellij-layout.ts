// Zellij layouts as kdljs (KDL v1) documents: never concatenated strings. See shared/zellij.md.
import fs from 'node:fs';
import path from 'node:path';
import { format, type Document, type Node, type Value } from 'kdljs';
import { writeFileAtomic } from '../project/root.ts';
import { arrangeRows, checkPlan, parseDashboardSize } from './arrange.ts';
import { DASHBOARD_TITLE, type MuxPlan, type PaneSpec } from './types.ts';

/** The bottom bar: one line with the mode and the keys to detach (Ctrl-o d) — zellij's own compact-bar plugin. */
const BAR_PLUGIN = 'zellij:compact-bar';
/** A framed pane's frame takes its top and bottom row (zellij draws frames inside the pane's size). */
export const ZELLIJ_FRAME_ROWS = 2;

function node(name: string, properties: Record<string, Value> = {}, children: Node[] = [], values: Value[] = []): Node {
  // kdljs prints a tag for every tag that is not `undefined` (even ''); its typings say string.
  const tags = { values: values.map(() => undefined), properties: {} } as unknown as Node['tags'];
  return { name, values, properties, children, tags };
}

/** A pane running argv directly: `command` is argv[0], `args` the rest; kept open (close_on_exit=false) after it exits. */
function commandPane(title: string, argv: string[], cwd: string, extra: Record<string, Value> = {}): Node {
  const args = argv.length > 1 ? [node('args', {}, [], argv.slice(1))] : []; // zellij rejects an empty `args`
  return node('pane', { name: title, command: argv[0], cwd, close_on_exit: false, ...extra }, args);
}

/** The worker area: rows stacked top to bottom, each row's panes side by side. */
function workerArea(plan: MuxPlan): Node {
  const rows = arrangeRows(plan.workers.length, plan.layout);
  let next = 0;
  const worker = (w: PaneSpec): Node => commandPane(w.name, w.command, plan.cwd, next++ === 0 ? { focus: true } : {});
  const rowNodes = rows.map((count) => {
    const panes = plan.workers.slice(next, next + count).map(worker);
    return panes.length === 1 ? panes[0] : node('pane', { split_direction: 'vertical' }, panes);
  });
  return rowNodes.length === 1 ? rowNodes[0] : node('pane', { split_direction: 'horizontal' }, rowNodes);
}

/** The layout document for a plan: dashboard on top, the workers below, the compact bar at the bottom. */
export function buildZellijLayout(plan: MuxPlan): Document {
  checkPlan(plan);
  const panes: Node[] = [];
  if (plan.dashboard) {
    const size = parseDashboardSize(plan.dashboard.size);
    panes.push(commandPane(DASHBOARD_TITLE, plan.dashboard.command, plan.cwd, { size: 'percent' in size ? `${size.percent}%` : size.rows + ZELLIJ_FRAME_ROWS }));
  }
  panes.push(workerArea(plan));
  panes.push(node('pane', { size: 1, borderless: true }, [node('plugin', { location: BAR_PLUGIN })]));
  return [node('layout', {}, panes)];
}

export function formatZellijLayout(plan: MuxPlan): string {
  // escapeCommon off only spares '/' its (valid but noisy) `\/`; quotes, backslashes and control characters are still escaped.
  return format(buildZellijLayout(plan), { escapeCommon: false });
}

/** Write `<dir>/<session>.kdl` atomically and return its path. */
export function writeZellijLayout(plan: MuxPlan, dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${plan.session}.kdl`);
  writeFileAtomic(file, formatZellijLayout(plan));
  return file;
}
