// pickMultiplexer, and the zellij backend's decisions against a stand-in `zellij` (no zellij can be
// installed here: shared/zellij.md). The stand-in logs its argv and keeps a session list in a file.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { UserError } from '../lib/cli/errors.ts';
import { findOnPath, INSTALL_HINT, pickMultiplexer } from '../lib/mux/pick.ts';
import { createZellij, parseZellijPanes, parseZellijSessions, zellijArgs } from '../lib/mux/zellij.ts';
import type { MuxPlan } from '../lib/mux/types.ts';
import { tmpDir } from './helpers.ts';

function binDir(names: string[], script = '#!/bin/sh\nexit 0\n'): string {
  const dir = tmpDir('isollm-bin-');
  for (const name of names) fs.writeFileSync(path.join(dir, name), script, { mode: 0o755 });
  return dir;
}

describe('pickMultiplexer', () => {
  const opts = (PATH: string) => ({ layoutDir: '/unused', env: { PATH } });
  test('auto prefers zellij, then tmux, then none with an install hint', () => {
    expect(pickMultiplexer('auto', opts(binDir(['zellij', 'tmux']))).mux?.kind).toBe('zellij');
    expect(pickMultiplexer('auto', opts(binDir(['tmux']))).mux?.kind).toBe('tmux');
    const none = pickMultiplexer('auto', opts(binDir([])));
    expect(none).toEqual({ mux: null, hint: INSTALL_HINT });
    expect(INSTALL_HINT).toContain('apt-get install tmux');
  });
  test('an explicit kind must be installed', () => {
    expect(pickMultiplexer('tmux', opts(binDir(['tmux']))).mux?.kind).toBe('tmux');
    expect(() => pickMultiplexer('zellij', opts(binDir(['tmux'])))).toThrow(UserError);
    expect(() => pickMultiplexer('tmux', opts(binDir(['zellij'])))).toThrow(/apt-get install tmux/);
    expect(pickMultiplexer('none', opts(binDir(['tmux'])))).toEqual({ mux: null, hint: null });
  });
  test('findOnPath skips non-executables and directories', () => {
    const dir = binDir([]);
    fs.writeFileSync(path.join(dir, 'tmux'), '', { mode: 0o644 });
    fs.mkdirSync(path.join(dir, 'zellij'));
    expect(findOnPath('tmux', { PATH: dir })).toBeNull();
    expect(findOnPath('zellij', { PATH: dir })).toBeNull();
    expect(findOnPath('sh', { PATH: `${dir}:/bin:/usr/bin` })).toMatch(/\/sh$/);
  });
});

describe('zellij output parsers', () => {
  test('list-sessions --no-formatting: live and dead sessions', () => {
    const out = 'isollm-shop [Created 2m 3s ago] (current)\nold [Created 1h ago] (EXITED - attach to resurrect)\nbare\n';
    expect(parseZellijSessions(out)).toEqual([
      { name: 'isollm-shop', dead: false },
      { name: 'old', dead: true },
      { name: 'bare', dead: false },
    ]);
    expect(parseZellijSessions('\x1b[32;1misollm-x\x1b[m [Created 1s ago]\n')).toEqual([{ name: 'isollm-x', dead: false }]);
  });
  test('list-panes --json: terminal panes in reading order, held panes are dead', () => {
    const json = JSON.stringify([
      { id: 2, is_plugin: false, title: 'worker-1', pane_x: 0, pane_y: 10, tab_position: 0, terminal_command: 'lxc exec p-worker-1 -- isollm-loop', exited: false, is_held: true, exit_status: 1 },
      { id: 0, is_plugin: true, title: 'compact-bar', pane_x: 0, pane_y: 40, tab_position: 0 },
      { id: 1, is_plugin: false, title: 'dashboard', pane_x: 0, pane_y: 0, tab_position: 0, terminal_command: 'isollm status --watch', exited: false },
    ]);
    expect(parseZellijPanes(json)).toEqual([
      { title: 'dashboard', command: 'isollm status --watch', dead: false, exitStatus: null },
      { title: 'worker-1', command: 'lxc exec p-worker-1 -- isollm-loop', dead: true, exitStatus: 1 },
    ]);
  });
});

// A stand-in zellij: logs "ZELLIJ=<value> argv…" per call; sessions live in $STATE, one per line.
const FAKE_ZELLIJ = `#!/bin/sh
echo "ZELLIJ=\${ZELLIJ-unset} $*" >> "$LOG"
case "$*" in
  "list-sessions --no-formatting") [ -s "$STATE" ] || { echo "No active zellij sessions found." >&2; exit 1; }; cat "$STATE" ;;
  "--layout "*" attach --create-background "*) cp "$2" "$LOG.layout"; echo "$5 [Created 0s ago]" >> "$STATE" ;;
  "kill-session "*) grep -v "^$2 " "$STATE" > "$STATE.new"; mv "$STATE.new" "$STATE" ;;
  "delete-session --force "*) exit 2 ;;
  "--session "*" action list-panes --json") echo '[{"id":1,"is_plugin":false,"title":"worker-1","terminal_command":"true x"}]' ;;
  "attach "*) exit 0 ;;
esac
`;

test('zellij backend: clears a dead session, writes the layout, creates in the background, lists, kills', async () => {
  const dir = tmpDir();
  const bin = path.join(binDir(['zellij'], FAKE_ZELLIJ), 'zellij');
  const log = path.join(dir, 'log');
  const state = path.join(dir, 'state');
  fs.writeFileSync(state, '');
  const layoutDir = path.join(dir, '.isollm', 'layouts');
  const env = { PATH: process.env.PATH, LOG: log, STATE: state, ZELLIJ: '0', ZELLIJ_SESSION_NAME: 'outer', XDG_RUNTIME_DIR: '/run/user/1000' };
  const mux = createZellij({ layoutDir, bin, env });
  const plan: MuxPlan = { session: 'isollm-demo', cwd: dir, layout: 'auto', dashboard: null, workers: [{ name: 'worker-1', command: ['true', 'x'] }] };

  expect(await mux.exists('isollm-demo')).toBe(false);
  await mux.createDetached(plan);
  expect(await mux.exists('isollm-demo')).toBe(true);
  const layoutFile = path.join(layoutDir, 'isollm-demo.kdl');
  expect(fs.readFileSync(`${log}.layout`, 'utf8')).toBe(fs.readFileSync(layoutFile, 'utf8'));
  expect(await mux.panes('isollm-demo')).toEqual([{ title: 'worker-1', command: 'true x', dead: false, exitStatus: null }]);
  await expect(mux.createDetached(plan)).rejects.toThrow(/already running/);
  await expect(mux.attach('isollm-demo')).rejects.toThrow(/cannot nest/); // ZELLIJ is set: we are inside zellij
  await mux.kill('isollm-demo');
  expect(await mux.exists('isollm-demo')).toBe(false);

  const calls = fs.readFileSync(log, 'utf8').trim().split('\n');
  // zellij's in-session variables never reach it: with them, --layout would open a tab in that session
  expect(calls.every((c) => c.startsWith('ZELLIJ=unset '))).toBe(true);
  expect(calls.map((c) => c.slice('ZELLIJ=unset '.length))).toEqual([
    zellijArgs.listSessions(),
    zellijArgs.listSessions(),
    zellijArgs.delete('isollm-demo'),
    zellijArgs.create(layoutFile, 'isollm-demo'),
    zellijArgs.listSessions(),
    zellijArgs.listPanes('isollm-demo'),
    zellijArgs.listSessions(),
    zellijArgs.kill('isollm-demo'),
    zellijArgs.delete('isollm-demo'),
    zellijArgs.listSessions(),
  ].map((a) => a.join(' ')));
});
