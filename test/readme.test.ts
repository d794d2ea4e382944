// The README's references against the code they describe: the status JSON model against its schema,
// the configuration defaults against defaults(), the environment variables against what is read.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { defaults } from '../lib/config/load.ts';
import { STATUS_SCHEMA } from '../lib/status/schema.ts';

const ROOT = path.join(import.meta.dirname, '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

type Schema = { type?: string | string[]; properties?: Record<string, Schema>; items?: Schema };

/** Key paths where the README's example and the schema disagree, both ways. */
function keyDifferences(schema: Schema, value: unknown, at: string): string[] {
  const found: string[] = [];
  if (schema.properties && value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const documented = Object.keys(value);
    for (const k of Object.keys(schema.properties)) {
      if (!documented.includes(k)) found.push(`README lacks ${at}.${k}`);
      else found.push(...keyDifferences(schema.properties[k], (value as Record<string, unknown>)[k], `${at}.${k}`));
    }
    for (const k of documented) if (!(k in schema.properties)) found.push(`schema lacks ${at}.${k}`);
  }
  if (schema.items && Array.isArray(value) && value.length) found.push(...keyDifferences(schema.items, value[0], `${at}[]`));
  return found;
}

describe('README', () => {
  it('shows every key of `isollm status --json` (the JSON model), and no other', () => {
    const block = README.split('#### The JSON model')[1].split('```jsonc\n')[1].split('\n```')[0];
    const model = JSON.parse(block.split('\n').map((line) => line.replace(/\s+\/\/.*$/, '')).join('\n'));
    expect(keyDifferences(STATUS_SCHEMA, model, '')).toEqual([]);
  });

  it("gives each configuration key's default as defaults() has it", () => {
    const d = defaults('demo') as unknown as Record<string, unknown>;
    const table = README.split('## Configuration reference')[1].split('\n## ')[0];
    const rows = [...table.matchAll(/^\| `([a-z_.]+)` \| ([^|]*) \|/gm)];
    expect(rows.length).toBeGreaterThan(40);
    for (const [, key, shown] of rows) {
      const value = key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], d);
      const literal = /^`([^`<]*)`(?: \(.*\))?$/.exec(shown.trim());
      // A literal default (`3`, `[]`, `auto`) is the value; null ones are words (none, no limit, the preset's).
      if (literal) expect(parseYaml(literal[1]), key).toEqual(value);
      else if (!['project', 'git.hub', 'network.listen'].includes(key)) expect(value, `${key}: shown as ${shown.trim()}`).toBeNull();
    }
  });

  it('lists every environment variable that isollm reads on the host', () => {
    const names = new Set<string>();
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.(ts|mts|mjs)$/.test(e.name)) for (const m of fs.readFileSync(p, 'utf8').matchAll(/\benv\??\.([A-Z][A-Z0-9_]+)\b/g)) names.add(m[1]);
      }
    };
    for (const dir of ['lib', 'scripts', 'bin']) walk(path.join(ROOT, dir));
    const everywhere = ['PATH', 'HOME'];
    const missing = [...names].filter((n) => !everywhere.includes(n) && !README.includes(`\`${n}\``));
    expect(missing).toEqual([]);
    expect(names.size).toBeGreaterThan(10);
  });
});
