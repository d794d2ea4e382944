// Zellij layouts: serialised with kdljs, parsed back, every node checked against shared/zellij.md.
import fs from 'node:fs';
import path from 'node:path';
import { parse, type Node } from 'kdljs';
import { describe, expect, test } from 'vitest';
import type { Layout } from '../lib/config/load.ts';
import { gridColumns } from '../lib/mux/arrange.ts';
import { LANDER_ROWS, type MuxPlan } from '../lib/mux/types.ts';
import { parseZellijTemplate } from '../lib/mux/zellij-template.ts';
import { formatZellijLayout, writeZellijLayout, ZELLIJ_FRAME_ROWS } from '../lib/mux/zellij-layout.ts';
import { tmpDir } from './helpers.ts';

// From shared/zellij.md (read from zellij's kdl_layout_parser.rs): anything else is rejected.
const PANE_KEYS = new Set(['borderless', 'focus', 'name', 'size', 'plugin', 'command', 'edit', 'cwd', 'args', 'close_on_exit', 'start_suspended', 'split_direction', 'pane', 'children', 'stacked', 'expanded', 'exclude_from_sync', 'contents_file', 'default_fg', 'default_bg']);
const BOOLEAN_KEYS = new Set(['borderless', 'focus', 'close_on_exit', 'start_suspended', 'stacked', 'expanded', 'exclude_from_sync']);
const STRING_KEYS = new Set(['name', 'command', 'edit', 'cwd', 'contents_file', 'default_fg', 'default_bg']);
const GOLDEN = path.join(import.meta.dirname, 'fixtures', 'zellij');
const LAYOUTS: Layout[] = ['auto', 'horizontal', 'vertical', 'grid'];
const LANDER = { command: ['/usr/bin/node', '/opt/isollm/scripts/isollm.mts', 'land', '--follow', '--project', '/home/me/demo'] };

function makePlan(n: number, layout: Layout, dashboard = true): MuxPlan {
  return {
    session: 'isollm-demo',
    cwd: '/home/me/demo',
    layout,
    dashboard: dashboard ? { command: ['/usr/bin/node', '/opt/isollm/scripts/isollm.mts', 'status', '--watch'], size: '15%' } : null,
    workers: Array.from({ length: n }, (_, i) => ({
      name: `worker-${i + 1}`,
      command: ['lxc', 'exec', `demo-worker-${i + 1}`, '--user', '1000', '--cwd', '/home/dev/project', '--', 'isollm-loop'],
    })),
  };
}

function parseBack(text: string): Node[] {
  const r = parse(text);
  expect(r.errors).toEqual([]);
  return r.output!;
}

/** Check one pane node (and its subtree) against zellij's rules; collect the command panes. */
function checkPane(pane: Node, found: Node[]): void {
  expect(pane.name).toBe('pane');
  expect(pane.values).toEqual([]);
  for (const [key, value] of Object.entries(pane.properties)) {
    expect(PANE_KEYS.has(key), `pane property ${key}`).toBe(true);
    if (BOOLEAN_KEYS.has(key)) expect(typeof value, key).toBe('boolean');
    if (STRING_KEYS.has(key)) expect(typeof value, key).toBe('string');
  }
  const { size, split_direction: dir } = pane.properties;
  if (size !== undefined) expect(typeof size === 'number' ? Number.isInteger(size) && size > 0 : /^\d{1,2}%$/.test(String(size))).toBe(true);
  if (dir !== undefined) expect(['vertical', 'horizontal']).toContain(dir);
  for (const child of pane.children) {
    expect(PANE_KEYS.has(child.name), `child node ${child.name}`).toBe(true);
    if (child.name === 'args') {
      expect(pane.properties.command, 'args goes with command').toBeTypeOf('string');
      expect(child.values.length).toBeGreaterThan(0);
      for (const v of child.values) expect(typeof v).toBe('string');
    } else if (child.name === 'plugin') {
      expect(Object.keys(child.properties)).toEqual(['location']);
    } else {
      checkPane(child, found);
    }
  }
  if (pane.properties.command !== undefined) {
    expect(pane.properties.close_on_exit, 'command panes stay open').toBe(false);
    expect(pane.children.filter((c) => c.name === 'pane')).toEqual([]);
    found.push(pane);
  }
}

const argv = (pane: Node) => [pane.properties.command, ...(pane.children.find((c) => c.name === 'args')?.values ?? [])];

/** The worker area's rows: the lengths of its side-by-side groups. */
function rowLengths(area: Node): number[] {
  const row = (n: Node) => (n.properties.command !== undefined ? 1 : n.children.length);
  if (area.properties.command !== undefined) return [1];
  if (area.properties.split_direction === 'vertical') return [area.children.length];
  return area.children.map(row);
}

/** Every tab: properties zellij knows, its panes checked; returns the command panes of each tab. */
function checkLayout(doc: Node[]): { tabs: Node[]; panes: Node[][] } {
  expect(doc.map((d) => d.name)).toEqual(['layout']);
  const tabs = doc[0].children.filter((c) => c.name === 'tab');
  expect(tabs.length, 'tabs only at the top').toBe(doc[0].children.length);
  const panes = tabs.map((tab) => {
    for (const key of Object.keys(tab.properties)) expect(['name', 'focus', 'cwd', 'split_direction', 'hide_floating_panes']).toContain(key);
    const found: Node[] = [];
    for (const pane of tab.children) checkPane(pane, found);
    return found;
  });
  return { tabs, panes };
}

const WORKER_COUNTS = [1, 2, 3, 4, 5, 6, 7, 8, 13, 32];

describe.each(LAYOUTS)('layout %s', (layout) => {
  test.each(WORKER_COUNTS)('%i workers', (n) => {
    const plan = makePlan(n, layout);
    const text = formatZellijLayout(plan);
    expect(text, 'KDL v1 booleans, not v2 #true').not.toMatch(/#(true|false|null)\b/);
    const { tabs, panes } = checkLayout(parseBack(text));

    // at most 6 workers a tab, spread evenly over the fewest tabs, named agents / agents 1, 2, …
    const shares = panes.map((p) => p.filter((x) => x.properties.name !== 'dashboard').length);
    expect(shares.length).toBe(Math.ceil(n / 6));
    expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
    expect(tabs.map((t) => t.properties.name)).toEqual(tabs.length === 1 ? ['agents'] : tabs.map((_, i) => `agents ${i + 1}`));
    expect(tabs.map((t) => t.properties.focus === true)).toEqual(tabs.map((_, i) => i === 0));

    tabs.forEach((tab, i) => {
      const [first, area, bar] = tab.children;
      const hasDashboard = i === 0;
      expect(tab.children).toHaveLength(hasDashboard ? 3 : 2);
      if (hasDashboard) {
        // dashboard on top, sized, running its argv
        expect(first.properties).toMatchObject({ name: 'dashboard', size: '15%' });
        expect(argv(first)).toEqual(plan.dashboard!.command);
      }
      const workerArea = hasDashboard ? area : first;
      // compact bar at the bottom
      expect((hasDashboard ? bar : area).properties).toEqual({ size: 1, borderless: true });
      const rows = rowLengths(workerArea);
      const k = shares[i];
      expect(rows.reduce((a, b) => a + b, 0)).toBe(k);
      if (layout === 'horizontal' || (layout === 'auto' && k <= 2)) expect(rows).toEqual([k]);
      else if (layout === 'vertical') expect(rows).toEqual(Array(k).fill(1));
      else expect(Math.max(...rows)).toBe(gridColumns(k));
      // focus on the tab's first worker only
      const workers = panes[i].filter((p) => p.properties.name !== 'dashboard');
      expect(panes[i].filter((p) => p.properties.focus === true)).toEqual([workers[0]]);
    });

    // one pane per worker, in order over the tabs, each running its own argv with the project cwd
    const workers = panes.flat().filter((p) => p.properties.name !== 'dashboard');
    expect(workers.map((p) => p.properties.name)).toEqual(plan.workers.map((w) => w.name));
    workers.forEach((p, i) => {
      expect(argv(p)).toEqual(plan.workers[i].command);
      expect(p.properties.cwd).toBe('/home/me/demo');
    });
  });
});

test('max_panes_per_tab and the dashboard on every tab', () => {
  const plan = makePlan(8, 'auto');
  plan.maxPerTab = 3;
  plan.dashboard!.everyTab = true;
  const { tabs, panes } = checkLayout(parseBack(formatZellijLayout(plan)));
  expect(tabs.map((t) => t.properties.name)).toEqual(['agents 1', 'agents 2', 'agents 3']);
  expect(panes.map((p) => p.map((x) => x.properties.name))).toEqual([
    ['dashboard', 'worker-1', 'worker-2', 'worker-3'],
    ['dashboard', 'worker-4', 'worker-5', 'worker-6'],
    ['dashboard', 'worker-7', 'worker-8'],
  ]);
  for (const p of panes) expect(argv(p[0])).toEqual(plan.dashboard!.command);
});

describe('golden files: the default template', () => {
  const variants: Array<[string, MuxPlan]> = [
    ...LAYOUTS.flatMap((layout) => [1, 3, 6, 8, 32].map((n): [string, MuxPlan] => [`${layout}-${n}`, makePlan(n, layout)])),
    ['every-tab-8', { ...makePlan(8, 'auto'), dashboard: { ...makePlan(8, 'auto').dashboard!, everyTab: true } }],
    ['no-dashboard-3', makePlan(3, 'auto', false)],
    ['rows-dashboard-8', { ...makePlan(8, 'grid'), dashboard: { ...makePlan(8, 'grid').dashboard!, size: '16' } }],
    ['lander-8', { ...makePlan(8, 'auto'), lander: LANDER }],
    ['lander-no-dashboard-3', { ...makePlan(3, 'auto', false), lander: LANDER }],
  ];
  test.each(variants)('%s', (name, plan) => {
    const file = path.join(GOLDEN, `${name}.kdl`);
    const text = formatZellijLayout(plan);
    if (process.env.UPDATE_GOLDEN) fs.writeFileSync(file, text);
    expect(text).toBe(fs.readFileSync(file, 'utf8'));
    // parsed back: zellij's grammar node by node, and every pane's argv exactly
    const { panes } = checkLayout(parseBack(text));
    const commands = panes.flat().map(argv);
    const named = (name: unknown) => (name === 'dashboard' ? plan.dashboard!.command : name === 'lander' ? plan.lander!.command : plan.workers.find((w) => w.name === name)!.command);
    expect(commands).toEqual(panes.flat().map((p) => named(p.properties.name)));
    expect(commands.filter((c) => c[0] === 'lxc')).toHaveLength(plan.workers.length);
  });
  test('no stray golden files', () => {
    expect(fs.readdirSync(GOLDEN).sort()).toEqual(variants.map(([name]) => `${name}.kdl`).sort());
  });
});

describe('the lander (land.auto)', () => {
  test('right of the dashboard in the first tab`s strip (which has the dashboard`s size), 40% wide; not in other tabs; focus stays on worker-1', () => {
    const plan = { ...makePlan(8, 'auto'), lander: LANDER };
    plan.dashboard!.everyTab = true;
    const { tabs, panes } = checkLayout(parseBack(formatZellijLayout(plan)));
    const strip = tabs[0].children[0];
    expect(strip.properties).toEqual({ split_direction: 'vertical', size: '15%' });
    expect(strip.children.map((p) => p.properties.name)).toEqual(['dashboard', 'lander']);
    expect(strip.children[1].properties.size).toBe('40%');
    expect(argv(strip.children[1])).toEqual(LANDER.command);
    expect(panes.map((p) => p.filter((x) => x.properties.name === 'lander').length)).toEqual([1, 0]);
    expect(panes.map((p) => p.filter((x) => x.properties.name === 'dashboard').length)).toEqual([1, 1]);
    expect(panes.flat().filter((p) => p.properties.focus === true).map((p) => p.properties.name)).toEqual(['worker-1', 'worker-5']);
  });
  test('without a dashboard: its own strip on top, LANDER_ROWS of text', () => {
    const { tabs } = checkLayout(parseBack(formatZellijLayout({ ...makePlan(3, 'auto', false), lander: LANDER })));
    expect(tabs[0].children[0].properties).toMatchObject({ name: 'lander', size: LANDER_ROWS + ZELLIJ_FRAME_ROWS });
  });
  test('a template without a dashboard placeholder: right before the worker area, wherever that is', () => {
    const template = parseZellijTemplate('layout {\n  tab name="work" {\n    pane split_direction="vertical" {\n      pane command="htop" close_on_exit=false\n      isollm-workers\n    }\n  }\n}\n', 'mine.kdl');
    const { tabs } = checkLayout(parseBack(formatZellijLayout({ ...makePlan(2, 'auto', false), lander: LANDER }, template)));
    const split = tabs[0].children[0];
    expect(split.children.map((p) => p.properties.name ?? p.properties.command ?? p.properties.split_direction)).toEqual(['htop', 'lander', 'vertical']);
  });
});

test('without a dashboard, the workers take the screen', () => {
  const doc = parseBack(formatZellijLayout(makePlan(2, 'auto', false)));
  expect(doc[0].children[0].children).toHaveLength(2);
  expect(doc[0].children[0].children[0].properties.split_direction).toBe('vertical');
});

test('a dashboard size in rows is an integer, its frame added (8 rows of text: 10); one-word commands get no empty args', () => {
  const plan = { ...makePlan(1, 'auto'), dashboard: { command: ['top'], size: '8' } };
  const [dashboard] = parseBack(formatZellijLayout(plan))[0].children[0].children;
  expect(dashboard.properties.size).toBe(8 + ZELLIJ_FRAME_ROWS);
  expect(dashboard.children).toEqual([]);
});

test('awkward strings survive the round trip', () => {
  const nasty = ['sh', '-c', 'echo "$X" \\ \'q\'\n\ttab', 'ünï'];
  const plan = { ...makePlan(1, 'auto'), cwd: '/tmp/a "b"\\c', workers: [{ name: 'w.1_x', command: nasty }] };
  const panes: Node[] = [];
  for (const p of parseBack(formatZellijLayout(plan))[0].children[0].children) checkPane(p, panes);
  const worker = panes.find((p) => p.properties.name === 'w.1_x')!;
  expect(argv(worker)).toEqual(nasty);
  expect(worker.properties.cwd).toBe('/tmp/a "b"\\c');
});

test('writeZellijLayout writes <dir>/<session>.kdl', () => {
  const dir = path.join(tmpDir(), '.isollm', 'layouts');
  const file = writeZellijLayout(makePlan(3, 'grid'), dir);
  expect(file).toBe(path.join(dir, 'isollm-demo.kdl'));
  expect(fs.readFileSync(file, 'utf8')).toBe(formatZellijLayout(makePlan(3, 'grid')));
});
