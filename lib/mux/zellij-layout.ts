// Zellij layouts as kdljs (KDL v1) documents: the template (templates/zellij-layout.kdl or the user's)
// with its placeholder nodes replaced by real nodes, then serialised — never concatenated strings.
// See shared/zellij.md.
import fs from 'node:fs';
import path from 'node:path';
import { format, type Document, type Node, type Value } from 'kdljs';
import { writeFileAtomic } from '../project/root.ts';
import { arrangeRows, checkPlan, chunkEvenly, DEFAULT_MAX_PANES_PER_TAB, parseDashboardSize } from './arrange.ts';
import { DASHBOARD_TITLE, LANDER_ROWS, LANDER_SHARE, LANDER_TITLE, type MuxPlan, type PaneSpec } from './types.ts';
import { DASHBOARD_NODE, DEFAULT_ZELLIJ_TEMPLATE, PASSED_THROUGH, readZellijTemplate, WORKERS_NODE, type ZellijTemplate } from './zellij-template.ts';

/** A framed pane's frame takes its top and bottom row (zellij draws frames inside the pane's size). */
export const ZELLIJ_FRAME_ROWS = 2;
/** Tab names: `agents`, or `agents 1`, `agents 2`, … when the workers need several tabs. */
export const TAB_NAME = 'agents';

let defaultTemplate: ZellijTemplate | null = null;
/** isollm's own layout, read once. */
export function defaultZellijTemplate(): ZellijTemplate {
  defaultTemplate ??= readZellijTemplate(DEFAULT_ZELLIJ_TEMPLATE);
  return defaultTemplate;
}

function node(name: string, properties: Record<string, Value> = {}, children: Node[] = [], values: Value[] = []): Node {
  // kdljs prints a tag for every tag that is not `undefined` (even ''); its typings say string.
  const tags = { values: values.map(() => undefined), properties: {} } as unknown as Node['tags'];
  return { name, values, properties, children, tags };
}

/** A deep copy without type annotations (zellij reads none), so a template is never changed by filling it. */
function copy(n: Node, children: Node[] = n.children.map((c) => copy(c))): Node {
  return node(n.name, { ...n.properties }, children, [...n.values]);
}

/** A pane running argv directly: `command` is argv[0], `args` the rest; kept open (close_on_exit=false) after it exits. */
function commandPane(title: string, argv: string[], cwd: string, extra: Record<string, Value> = {}): Node {
  const args = argv.length > 1 ? [node('args', {}, [], argv.slice(1))] : []; // zellij rejects an empty `args`
  return node('pane', { name: title, command: argv[0], cwd, close_on_exit: false, ...extra }, args);
}

/** The worker area: rows stacked top to bottom, each row's panes side by side; focus on its first worker. */
function workerArea(plan: MuxPlan, workers: PaneSpec[], extra: Record<string, Value>): Node {
  const rows = arrangeRows(workers.length, plan.layout);
  let next = 0;
  const worker = (w: PaneSpec): Node => commandPane(w.name, w.command, plan.cwd, next++ === 0 ? { focus: true } : {});
  const rowNodes = rows.map((count) => {
    const panes = workers.slice(next, next + count).map(worker);
    return panes.length === 1 ? panes[0] : node('pane', { split_direction: 'vertical' }, panes);
  });
  const area = rowNodes.length === 1 ? rowNodes[0] : node('pane', { split_direction: 'horizontal' }, rowNodes);
  Object.assign(area.properties, extra);
  return area;
}

const zellijSize = (size: string): Value => {
  const s = parseDashboardSize(size);
  return 'percent' in s ? `${s.percent}%` : s.rows + ZELLIJ_FRAME_ROWS;
};

/**
 * The strip on top where the dashboard placeholder is: the dashboard (when wanted), with the lander
 * (when `lander`) right of it; the lander alone when there is no dashboard.
 */
function stripPane(plan: MuxPlan, extra: Record<string, Value>, dashboard: boolean, lander: boolean): Node | null {
  const dash = dashboard && plan.dashboard ? plan.dashboard : null;
  const land = lander && plan.lander ? plan.lander : null;
  const { size: sized, ...rest } = extra;
  if (dash && land) {
    const panes = [commandPane(DASHBOARD_TITLE, dash.command, plan.cwd, rest), commandPane(LANDER_TITLE, land.command, plan.cwd, { size: `${LANDER_SHARE}%`, ...rest })];
    return node('pane', { split_direction: 'vertical', size: sized ?? zellijSize(dash.size) }, panes);
  }
  if (dash) return commandPane(DASHBOARD_TITLE, dash.command, plan.cwd, { size: zellijSize(dash.size), ...extra });
  if (land) return commandPane(LANDER_TITLE, land.command, plan.cwd, { size: LANDER_ROWS + ZELLIJ_FRAME_ROWS, ...extra });
  return null;
}

/**
 * Copies of `nodes` with the placeholders replaced: workers (when given), the dashboard (when wanted)
 * and the lander (when wanted: next to the dashboard placeholder, or above the workers when the
 * template has no dashboard placeholder there).
 */
function fill(nodes: Node[], plan: MuxPlan, workers: PaneSpec[] | null, dashboard: boolean, lander = false): Node[] {
  const landerAboveWorkers = lander && !nodes.some(holdsDashboard);
  return nodes.flatMap((n): Node[] => {
    if (n.name === WORKERS_NODE) {
      if (!workers) return [];
      const strip = landerAboveWorkers ? stripPane(plan, {}, false, true) : null;
      return [...(strip ? [strip] : []), workerArea(plan, workers, n.properties)];
    }
    if (n.name === DASHBOARD_NODE) {
      const pane = stripPane(plan, n.properties, dashboard, lander);
      return pane ? [pane] : [];
    }
    // The lander goes down the branch that holds the workers (or the dashboard beside them).
    const carries = lander && (holdsDashboard(n) || (landerAboveWorkers && holdsWorkers(n)));
    return [copy(n, fill(n.children, plan, workers, dashboard, carries))];
  });
}

function holdsDashboard(n: Node): boolean {
  return n.name === DASHBOARD_NODE || n.children.some(holdsDashboard);
}

function holdsWorkers(n: Node): boolean {
  return n.name === WORKERS_NODE || n.children.some(holdsWorkers);
}

/**
 * The layout for a plan: the template's worker tab (or, without tabs, its whole layout) once per share
 * of the workers — at most `plan.maxPerTab` each, spread evenly (8 → 4 + 4) — named `agents 1`, …;
 * the dashboard in the first of them, or in each with `dashboard.everyTab`; the lander (land.auto)
 * in the first only, right of the dashboard; the rest as written.
 */
export function buildZellijLayout(plan: MuxPlan, template: ZellijTemplate = defaultZellijTemplate()): Document {
  checkPlan(plan);
  const shares = chunkEvenly(plan.workers, plan.maxPerTab ?? DEFAULT_MAX_PANES_PER_TAB);
  const everyTab = plan.dashboard?.everyTab === true;
  const top = template.layout.children;
  const hasTabs = top.some((n) => n.name === 'tab');
  // Without tabs, everything but the templates and swap layouts is the body of the one worker tab.
  const workerTab = hasTabs ? top.find((n) => n.name === 'tab' && holdsWorkers(n))! : node('tab', {}, top.filter((n) => !PASSED_THROUGH.has(n.name)));
  const tabs = shares.map((workers, i) => {
    const name = `${workerTab.properties.name ?? TAB_NAME}${shares.length > 1 ? ` ${i + 1}` : ''}`;
    const { focus: _focus, ...properties } = workerTab.properties;
    return node('tab', { ...properties, name, ...(i === 0 ? { focus: true } : {}) }, fill(workerTab.children, plan, workers, i === 0 || everyTab, i === 0 && Boolean(plan.lander)));
  });
  const children: Node[] = [];
  for (const n of top) {
    if (n === workerTab) children.push(...tabs);
    else if (hasTabs || PASSED_THROUGH.has(n.name)) children.push(...fill([n], plan, null, true));
  }
  if (!hasTabs) children.push(...tabs);
  return [node('layout', {}, children)];
}

export function formatZellijLayout(plan: MuxPlan, template?: ZellijTemplate): string {
  // escapeCommon off only spares '/' its (valid but noisy) `\/`; quotes, backslashes and control characters are still escaped.
  return format(buildZellijLayout(plan, template), { escapeCommon: false });
}

/** Write `<dir>/<session>.kdl` atomically and return its path. */
export function writeZellijLayout(plan: MuxPlan, dir: string, template?: ZellijTemplate): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${plan.session}.kdl`);
  writeFileAtomic(file, formatZellijLayout(plan, template));
  return file;
}
