// Pure parts of lib/mux: arrangement, plan checks, session names.
import { describe, expect, test } from 'vitest';
import { arrangeRows, checkPlan, chunkEvenly, DASHBOARD_MAX_ROWS, gridColumns, parseDashboardSize, resolveDashboardSize } from '../lib/mux/arrange.ts';
import { fullViewLines } from '../lib/status/render.ts';
import { sessionName, zellijNameProblem, zellijSessionName, zellijSocketDir } from '../lib/mux/session-name.ts';
import type { MuxPlan } from '../lib/mux/types.ts';
import { UserError } from '../lib/cli/errors.ts';

const plan = (over: Partial<MuxPlan> = {}): MuxPlan => ({
  session: 'isollm-p',
  cwd: '/p',
  dashboard: { command: ['isollm', 'status', '--watch'], size: '15%' },
  workers: [{ name: 'worker-1', command: ['true', 'x'] }],
  layout: 'auto',
  ...over,
});

describe('arrangeRows', () => {
  test('auto: 1–2 side by side, more as a grid', () => {
    expect(arrangeRows(1, 'auto')).toEqual([1]);
    expect(arrangeRows(2, 'auto')).toEqual([2]);
    expect(arrangeRows(3, 'auto')).toEqual([2, 1]);
    expect(arrangeRows(5, 'auto')).toEqual([3, 2]);
  });
  test('horizontal is one row, vertical one column', () => {
    expect(arrangeRows(4, 'horizontal')).toEqual([4]);
    expect(arrangeRows(3, 'vertical')).toEqual([1, 1, 1]);
  });
  test('grid: widest row has ceil(√n) columns, rows differ by at most one, every worker placed', () => {
    for (let n = 1; n <= 32; n++) {
      const rows = arrangeRows(n, 'grid');
      expect(Math.max(...rows), `n=${n}`).toBe(gridColumns(n));
      expect(Math.max(...rows) - Math.min(...rows), `n=${n}`).toBeLessThanOrEqual(1);
      expect(rows.reduce((a, b) => a + b, 0)).toBe(n);
    }
    expect(arrangeRows(7, 'grid')).toEqual([3, 2, 2]);
    expect(arrangeRows(32, 'grid')).toEqual([6, 6, 5, 5, 5, 5]);
  });
});

test('chunkEvenly spreads items over the fewest groups', () => {
  const nums = (n: number) => Array.from({ length: n }, (_, i) => i);
  expect(chunkEvenly(nums(6), 6).map((g) => g.length)).toEqual([6]);
  expect(chunkEvenly(nums(8), 6).map((g) => g.length)).toEqual([4, 4]);
  expect(chunkEvenly(nums(32), 6).map((g) => g.length)).toEqual([6, 6, 5, 5, 5, 5]);
  expect(chunkEvenly(nums(13), 6).flat()).toEqual(nums(13));
});

test('parseDashboardSize takes percentages and rows', () => {
  expect(parseDashboardSize('15%')).toEqual({ percent: 15 });
  expect(parseDashboardSize('8')).toEqual({ rows: 8 });
  for (const bad of ['0%', '100%', '15 %', '', 'big', '0', '-3']) expect(() => parseDashboardSize(bad), bad).toThrow(UserError);
});

test('dashboard_size auto: as tall as the full view, at most DASHBOARD_MAX_ROWS; a set size as it is', () => {
  expect(resolveDashboardSize('auto', fullViewLines(2))).toBe('12');
  expect(resolveDashboardSize('auto', fullViewLines(6))).toBe('16');
  expect(resolveDashboardSize('auto', fullViewLines(32))).toBe(String(DASHBOARD_MAX_ROWS));
  expect(resolveDashboardSize(8, fullViewLines(2))).toBe('8');
  expect(resolveDashboardSize('20%', fullViewLines(2))).toBe('20%');
  expect(parseDashboardSize(resolveDashboardSize('auto', 0))).toEqual({ rows: 1 });
});

describe('checkPlan', () => {
  test('accepts a sound plan', () => {
    expect(() => checkPlan(plan())).not.toThrow();
  });
  test.each([
    ['no workers', { workers: [] }, /1 to 32 worker panes/],
    ['too many', { workers: Array.from({ length: 33 }, (_, i) => ({ name: `w${i}`, command: ['x'] })) }, /not 33/],
    ['duplicate', { workers: [{ name: 'a', command: ['x'] }, { name: 'a', command: ['y'] }] }, /appears twice/],
    ['bad name', { workers: [{ name: 'a b', command: ['x'] }] }, /not usable/],
    ['dashboard name', { workers: [{ name: 'dashboard', command: ['x'] }] }, /not usable/],
    ['empty argv', { workers: [{ name: 'a', command: [] }] }, /no command/],
    ['NUL', { workers: [{ name: 'a', command: ['x', 'a\0b'] }] }, /NUL/],
    ['bad size', { dashboard: { command: ['x'], size: 'huge' } }, /dashboard_size/],
  ] as const)('rejects %s', (_, over, message) => {
    expect(() => checkPlan(plan(over as Partial<MuxPlan>))).toThrow(message);
  });
});

describe('session names', () => {
  test('isollm-<project>, with nothing tmux or zellij would trip on', () => {
    expect(sessionName('shop')).toBe('isollm-shop');
    expect(sessionName('my.app:v2/x')).toBe('isollm-my-app-v2-x');
    expect(sessionName('...')).toBe('isollm-project');
  });
  test('zellij socket dir follows ZELLIJ_SOCKET_DIR, then XDG_RUNTIME_DIR, then the temp dir', () => {
    expect(zellijSocketDir({ ZELLIJ_SOCKET_DIR: '/s' }, 1000)).toBe('/s/contract_version_1');
    expect(zellijSocketDir({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000)).toBe('/run/user/1000/zellij/contract_version_1');
    expect(zellijSocketDir({}, 1000)).toMatch(/zellij-1000\/contract_version_1$/);
  });
  test('zellij rules: no "/", no dot names, socket path under 108 bytes', () => {
    const dir = '/run/user/1000/zellij/contract_version_1'; // 40 bytes: 66 left for the name
    expect(zellijNameProblem('isollm-shop', dir)).toBeNull();
    expect(zellijNameProblem('a/b', dir)).toMatch(/'\/'/);
    expect(zellijNameProblem('..', dir)).toMatch(/dot/);
    expect(zellijNameProblem('x'.repeat(66), dir)).toBeNull();
    expect(zellijNameProblem('x'.repeat(67), dir)).toMatch(/66 bytes/);
  });
  test('a long project name is shortened with a stable hash so the socket path fits', () => {
    const dir = '/run/user/1000/zellij/contract_version_1';
    const long = 'p'.repeat(100);
    const name = zellijSessionName(long, dir);
    expect(zellijNameProblem(name, dir)).toBeNull();
    expect(name).toMatch(/^isollm-p+-[0-9a-f]{6}$/);
    expect(zellijSessionName(long, dir)).toBe(name);
    expect(zellijSessionName('p'.repeat(99), dir)).not.toBe(name);
    expect(() => zellijSessionName('shop', '/' + 'd'.repeat(100))).toThrow(/ZELLIJ_SOCKET_DIR/);
  });
});
