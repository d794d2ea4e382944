// The one shell-quoting helper, checked against real shells.
import { spawnSync } from 'node:child_process';
import { expect, test } from 'vitest';
import { findOnPath } from '../lib/mux/pick.ts';
import { quoteArg, quoteArgv } from '../lib/cli/shell-quote.ts';

const NASTY = [
  'plain',
  '',
  ' ',
  'two words',
  "it's",
  "''",
  '"double"',
  '$HOME',
  '${HOME}',
  '$(id)',
  '`id`',
  'a\nb',
  'tab\there',
  'back\\slash',
  '\\',
  '*',
  '~',
  '~/x',
  '#not-a-comment',
  '-n',
  '--',
  'a;b&&c||d|e',
  '<in >out 2>&1',
  '!bang',
  'glob[ab]?',
  '{a,b}',
  'üñí©ødé',
  "mixed 'single' and \"double\" $and `ticks`",
];

const shells = ['sh', 'bash', 'dash'].filter((s) => findOnPath(s));

test.each(shells)('%s reads every quoted argument back byte for byte', (shell) => {
  // printf '%s\0' prints each argument NUL-terminated; the shell sees only the quoted string.
  const line = quoteArgv(['printf', '%s\\0', ...NASTY]);
  const r = spawnSync(shell, ['-c', line], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout.split('\0').slice(0, -1)).toEqual(NASTY);
});

test('safe words stay bare, everything else is single-quoted', () => {
  expect(quoteArg('lxc')).toBe('lxc');
  expect(quoteArg('/home/dev/project')).toBe('/home/dev/project');
  expect(quoteArg('--user=1000')).toBe('--user=1000');
  expect(quoteArg('')).toBe("''");
  expect(quoteArg('a b')).toBe("'a b'");
  expect(quoteArg("it's")).toBe("'it'\\''s'");
  expect(quoteArgv(['echo', '$X'])).toBe("echo '$X'");
});

test('NUL cannot travel in argv and is refused', () => {
  expect(() => quoteArg('a\0b')).toThrow(/NUL/);
});
