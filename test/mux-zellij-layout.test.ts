// Zellij layouts: serialised with kdljs, parsed back, every node checked against shared/zellij.md.
import fs from 'node:fs';
import path from 'node:path';
import { parse, type Node } from 'kdljs';
import { describe, expect, test } from 'vitest';
import type { Layout } from '../lib/config/load.ts';
import { gridColumns } from '../lib/mux/arrange.ts';
import type { MuxPlan } from '../lib/mux/types.ts';
import { formatZellijLayout, writeZellijLayout, ZELLIJ_FRAME_ROWS } from '../lib/mux/zellij-layout.ts';
import { tmpDir } from './helpers.ts';

// From shared/zellij.md (read from zellij's kdl_layout_parser.rs): anything else is rejected.
const PANE_KEYS = new Set(['borderless', 'focus', 'name', 'size', 'plugin', 'command', 'edit', 'cwd', 'args', 'close_on_exit', 'start_suspended', 'split_direction', 'pane', 'children', 'stacked', 'expanded', 'exclude_from_sync', 'contents_file', 'default_fg', 'default_bg']);
const BOOLEAN_KEYS = new Set(['borderless', 'focus', 'close_on_exit', 'start_suspended', 'stacked', 'expanded', 'exclude_from_sync']);
const STRING_KEYS = new Set(['name', 'command', 'edit', 'cwd', 'contents_file', 'default_fg', 'default_bg']);
const GOLDEN = path.join(import.meta.dirname, 'fixtures', 'zellij');
const LAYOUTS: Layout[] = ['auto', 'horizontal', 'vertical', 'grid'];

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

describe.each(LAYOUTS)('layout %s', (layout) => {
  test.each([1, 2, 3, 4, 5, 6, 32])('%i workers', (n) => {
    const plan = makePlan(n, layout);
    const text = formatZellijLayout(plan);
    expect(text, 'KDL v1 booleans, not v2 #true').not.toMatch(/#(true|false|null)\b/);
    const doc = parseBack(text);
    expect(doc.map((d) => d.name)).toEqual(['layout']);
    const [dashboard, area, bar] = doc[0].children;
    expect(doc[0].children).toHaveLength(3);
    const commandPanes: Node[] = [];
    for (const pane of doc[0].children) checkPane(pane, commandPanes);

    // dashboard on top, sized, running its argv
    expect(dashboard.properties).toMatchObject({ name: 'dashboard', size: '15%' });
    expect(argv(dashboard)).toEqual(plan.dashboard!.command);
    // compact bar at the bottom
    expect(bar.properties).toEqual({ size: 1, borderless: true });

    // one pane per worker, in order, each running its own argv with the project cwd
    const workers = commandPanes.filter((p) => p.properties.name !== 'dashboard');
    expect(workers.map((p) => p.properties.name)).toEqual(plan.workers.map((w) => w.name));
    workers.forEach((p, i) => {
      expect(argv(p)).toEqual(plan.workers[i].command);
      expect(p.properties.cwd).toBe('/home/me/demo');
    });
    // focus on the first worker only
    expect(commandPanes.filter((p) => p.properties.focus === true).map((p) => p.properties.name)).toEqual(['worker-1']);

    const rows = rowLengths(area);
    expect(rows.reduce((a, b) => a + b, 0)).toBe(n);
    if (layout === 'horizontal' || (layout === 'auto' && n <= 2)) expect(rows).toEqual([n]);
    else if (layout === 'vertical') expect(rows).toEqual(Array(n).fill(1));
    else expect(Math.max(...rows)).toBe(gridColumns(n));
  });
});

describe('golden files', () => {
  const cases = LAYOUTS.flatMap((layout) => [1, 2, 3, 4].map((n) => [layout, n] as const));
  test.each(cases)('%s with %i workers', (layout, n) => {
    const file = path.join(GOLDEN, `${layout}-${n}.kdl`);
    const text = formatZellijLayout(makePlan(n, layout));
    if (process.env.UPDATE_GOLDEN) fs.writeFileSync(file, text);
    expect(text).toBe(fs.readFileSync(file, 'utf8'));
  });
});

test('without a dashboard, the workers take the screen', () => {
  const doc = parseBack(formatZellijLayout(makePlan(2, 'auto', false)));
  expect(doc[0].children).toHaveLength(2);
  expect(doc[0].children[0].properties.split_direction).toBe('vertical');
});

test('a dashboard size in rows is an integer, its frame added (8 rows of text: 10); one-word commands get no empty args', () => {
  const plan = { ...makePlan(1, 'auto'), dashboard: { command: ['top'], size: '8' } };
  const [dashboard] = parseBack(formatZellijLayout(plan))[0].children;
  expect(dashboard.properties.size).toBe(8 + ZELLIJ_FRAME_ROWS);
  expect(dashboard.children).toEqual([]);
});

test('awkward strings survive the round trip', () => {
  const nasty = ['sh', '-c', 'echo "$X" \\ \'q\'\n\ttab', 'ünï'];
  const plan = { ...makePlan(1, 'auto'), cwd: '/tmp/a "b"\\c', workers: [{ name: 'w.1_x', command: nasty }] };
  const panes: Node[] = [];
  for (const p of parseBack(formatZellijLayout(plan))[0].children) checkPane(p, panes);
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
