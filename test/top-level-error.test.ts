// An error that reaches the top level without being a UserError (a bug, or output isollm did not
// expect): one line naming the command and how to get details, never a bare parser message.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runNode, tmpDir } from './helpers.ts';

function script(name: string, body: string): string {
  const file = path.join(tmpDir(), `${name}.mts`);
  fs.writeFileSync(file, `import { runIfEntry } from ${JSON.stringify(path.join(ROOT, 'lib/cli/run.ts'))};\nrunIfEntry(import.meta.url, async () => {\n${body}\n});\n`);
  return file;
}

describe('top-level errors', () => {
  it('a parser error prints one line naming the command and --debug', () => {
    const r = runNode([script('setup', "JSON.parse('');")]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('✗ isollm setup stopped on an unexpected error: Unexpected end of JSON input (run it again with --debug for details)');
  });

  it('with --debug the stack follows', () => {
    const r = runNode([script('doctor', "throw new TypeError('x is not a function');"), '--debug']);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toBe('✗ isollm doctor stopped on an unexpected error: x is not a function (stack below)');
    expect(lines[1]).toMatch(/^TypeError: x is not a function/);
  });

  it('through the dispatcher it names the command that ran', async () => {
    const { commandLabel } = await import('../lib/cli/run.ts');
    const dispatcher = `file://${path.join(ROOT, 'scripts', 'isollm.mts')}`;
    expect(commandLabel(dispatcher, ['--project', '/x', 'up', '-n', '2'])).toBe('isollm up');
    expect(commandLabel(dispatcher, ['--debug'])).toBe('isollm');
    expect(commandLabel(`file://${path.join(ROOT, 'scripts', 'worker.mts')}`, ['add'])).toBe('isollm worker');
  });
});
