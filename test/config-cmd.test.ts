import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { editorCommand, splitWords } from '../lib/cli/editor.ts';
import { NODE, ROOT, runCli, tmpDir } from './helpers.ts';
import { startTerminal } from './tmux.ts';

function project(text: string): string {
  const dir = tmpDir('isollm-proj-');
  fs.writeFileSync(path.join(dir, 'isollm.yaml'), text);
  return dir;
}

/** An editor that replaces the file with `content` (its arguments are logged, to check the word split). */
function fakeEditor(content: string): { command: string; log: string } {
  const dir = tmpDir('isollm-editor-');
  const log = path.join(dir, 'args.log');
  const script = path.join(dir, 'my editor.sh');
  fs.writeFileSync(path.join(dir, 'content'), content);
  fs.writeFileSync(script, `#!/bin/sh\nprintf '%s\\n' "$@" > '${log}'\nfor f; do :; done\ncat '${dir}/content' > "$f"\n`, { mode: 0o755 });
  return { command: `'${script}'`, log };
}

describe('isollm config show', () => {
  it('prints the resolved config with defaults marked and secret values never shown', () => {
    const dir = project('project: shop\nworkers: 2\nqueue:\n  url: https://q.example/\nagent:\n  env: [ANTHROPIC_API_KEY]\n');
    const r = runCli(['config', 'show'], { cwd: dir, env: { ANTHROPIC_API_KEY: 'sk-never-shown' } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines).toContain('project: shop');
    expect(lines).toContain('workers: 2');
    expect(lines).toContain('image: images:debian/12 # (default)');
    expect(lines).toContain('  dashboard: true # (default)');
    expect(lines).toContain('  env: [ANTHROPIC_API_KEY]');
    expect(lines).toContain('  url: https://q.example/');
    expect(r.stdout).not.toContain('sk-never-shown');
  });

  it('--json prints the resolved config from a subdirectory', () => {
    const dir = project('workers: 4\nqueue:\n  url: http://h:1/\n');
    fs.mkdirSync(path.join(dir, 'a/b'), { recursive: true });
    const r = runCli(['config', 'show', '--json'], { cwd: path.join(dir, 'a/b') });
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.workers).toBe(4);
    expect(json.multiplexer.dashboard).toBe(true);
    expect(json.queue.url).toBe('http://h:1/');
  });

  it('prints every problem and exits 1 for an invalid file', () => {
    const dir = project('workers: 0\nimage: ""\n');
    const r = runCli(['config', 'show'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').slice(0, 2)).toEqual([
      '✗ isollm.yaml:1: workers: must be a whole number from 1 to 32 (got 0)',
      'isollm.yaml:2: image: must be a non-empty string (got "")',
    ]);
  });

  it('says to run init when there is no isollm.yaml', () => {
    const dir = tmpDir();
    const r = runCli(['config', 'show'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`✗ No isollm.yaml in ${dir} or above. Run \`isollm init\` there first, or pass --project DIR.`);
  });
});

describe('isollm config edit', () => {
  it('runs $EDITOR split into words, and accepts a valid result', () => {
    const dir = project('workers: 2\n');
    const editor = fakeEditor('workers: 6\n');
    const r = runCli(['config', 'edit'], { cwd: dir, env: { EDITOR: `${editor.command} -w --flag="a b"`, VISUAL: '' } });
    expect(r.stderr).toContain('is valid');
    expect(r.code).toBe(0);
    expect(fs.readFileSync(editor.log, 'utf8')).toBe(`-w\n--flag=a b\n${path.join(dir, 'isollm.yaml')}\n`);
    expect(fs.readFileSync(path.join(dir, 'isollm.yaml'), 'utf8')).toBe('workers: 6\n');
  });

  it('prefers $VISUAL, and without a terminal prints the problems and exits 1', () => {
    const dir = project('workers: 2\n');
    const editor = fakeEditor('workers: 99\nwokers: 1\n');
    const r = runCli(['config', 'edit'], { cwd: dir, env: { VISUAL: editor.command, EDITOR: 'false' } });
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').slice(0, 2)).toEqual([
      '✗ isollm.yaml:1: workers: must be a whole number from 1 to 32 (got 99)',
      'isollm.yaml:2: wokers: unknown key; did you mean workers?',
    ]);
  });

  it('names the variable to fix when the editor cannot start', () => {
    const dir = project('workers: 2\n');
    const r = runCli(['config', 'edit'], { cwd: dir, env: { VISUAL: '', EDITOR: 'no-such-editor-xyz' } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('✗ Cannot start the editor "no-such-editor-xyz": ENOENT. Set $VISUAL or $EDITOR to an editor you have.');
  });

  it('on a terminal offers to reopen an invalid file until it is fixed', async () => {
    const dir = project('workers: 2\n');
    const state = tmpDir('isollm-editor-');
    // First save is invalid, the second one fixes it.
    const script = path.join(state, 'ed.sh');
    fs.writeFileSync(script, `#!/bin/sh\nfor f; do :; done\nif [ -e '${state}/once' ]; then echo 'workers: 7' > "$f"; else touch '${state}/once'; echo 'workers: 0' > "$f"; fi\n`, { mode: 0o755 });
    const term = startTerminal([NODE, path.join(ROOT, 'scripts/isollm.mts'), 'config', 'edit'], { cwd: dir, env: { EDITOR: script, VISUAL: '' } });
    await term.waitFor(/Reopen the editor/);
    expect(term.screen()).toContain('✗ isollm.yaml:1: workers: must be a whole number from 1 to 32 (got 0)');
    term.keys('Enter');
    await term.waitFor(/is valid/);
    expect(await term.exitCode()).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'isollm.yaml'), 'utf8')).toBe('workers: 7\n');
  });
});

describe('editor command words', () => {
  it.each([
    ['code -w', ['code', '-w']],
    ['  vim  ', ['vim']],
    ['"/opt/My Editor/edit" --wait', ['/opt/My Editor/edit', '--wait']],
    ["emacsclient -a '' -t", ['emacsclient', '-a', '', '-t']],
    ['my\\ editor "say \\"hi\\"" a\'b\'c', ['my editor', 'say "hi"', 'abc']],
  ])('%j', (line, words) => expect(splitWords(line)).toEqual(words));

  it('rejects an unterminated quote and falls back to vi', () => {
    expect(() => splitWords('"code -w')).toThrow('Unterminated " in editor command: "code -w');
    expect(editorCommand({})).toEqual(['vi']);
    expect(editorCommand({ VISUAL: ' ', EDITOR: 'nano' })).toEqual(['nano']);
  });
});
