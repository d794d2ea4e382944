// Rules the layout keeps (issue 12), checked on the sources: only entry points print, the config is
// loaded once per command (in scripts/ or a flow) and passed down, a flag's allowed values are in its
// spec, and each rule lives in one place.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.ts';

/** Every .ts/.mts file under `dir` (relative to the checkout), with its text. */
function sources(dir: string): { file: string; text: string }[] {
  const out: { file: string; text: string }[] = [];
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !/\.m?ts$/.test(entry.name)) continue;
    const file = path.relative(ROOT, path.join(entry.parentPath, entry.name));
    out.push({ file, text: fs.readFileSync(path.join(ROOT, file), 'utf8') });
  }
  return out;
}

const LIB = sources('lib');
const SCRIPTS = sources('scripts');
/** The queue server's own process: an entry point that logs to its file. */
const LIB_ENTRY_POINTS = ['lib/queue/main.ts'];

const where = (files: { file: string; text: string }[], pattern: RegExp) => files.filter((f) => pattern.test(f.text)).map((f) => f.file);

describe('the rules of the layout', () => {
  it('the source tree is where these checks look', () => {
    expect(LIB.map((f) => f.file)).toContain('lib/flows/up.ts');
    expect(SCRIPTS.map((f) => f.file)).toContain('scripts/isollm.mts');
  });

  it('only entry points print or ask: below lib/cli nothing writes to the terminal; flows report and ask through callbacks', () => {
    const below = LIB.filter((f) => !f.file.startsWith('lib/cli/') && !LIB_ENTRY_POINTS.includes(f.file));
    const printers = new Set(['info', 'ok', 'warn', 'fail', 'out', 'printJson', 'step', 'confirmPlan', 'terminalReporter', 'askText', 'askConfirm', 'askSelect', 'askTyped', 'openEditor']);
    const importsPrinter = below.filter((f) =>
      [...f.text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'\.\.\/cli\/(?:ui|report|index)\.ts'/g)].some((m) =>
        m[1].split(',').some((name) => printers.has(name.trim().replace(/^type\s+/, ''))),
      ),
    );
    expect(importsPrinter).toEqual([]);
    expect(where(below, /\bconsole\.\w+\(|process\.(stdout|stderr)\.write\(/)).toEqual([]);
  });

  it('isollm.yaml is read only by the command: scripts/ or a flow, once, then passed down', () => {
    const readers = where(LIB, /\b(loadConfig|readConfig)\(/).filter((f) => !f.startsWith('lib/config/'));
    expect(readers.every((f) => f.startsWith('lib/flows/')), readers.join(', ')).toBe(true);
    // No default parameter quietly reading it again.
    expect(where(LIB, /,\s*config(:\s*\w+)?\s*=\s*loadConfig\(/)).toEqual([]);
  });

  it("a flag's allowed values are declared in its spec, not checked by hand in a script", () => {
    expect(where(SCRIPTS, /must be (one of|a whole number|a number|lxd or incus)/)).toEqual([]);
  });

  it.each([
    ['MAX_WORKERS', /export const MAX_WORKERS\b/],
    ['template rendering', /\\\{\\\{\(\\w\+\)\\\}\\\}/],
    ['shell quoting', /'\\\\''/],
    ['the worker names isollm gives', /\^worker-/],
    ['a worker name given by hand', /\^\[a-z\]\[a-z0-9\]\*/],
  ])('%s lives in one place', (_, pattern) => {
    expect(where([...LIB, ...SCRIPTS], pattern)).toHaveLength(1);
  });
});
