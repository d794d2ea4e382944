// Every bench answers --help with its opening comment and starts nothing (they make containers,
// queues and temp projects as soon as they run).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { benchUsage } from '../bench/usage.ts';
import { NODE, ROOT } from './helpers.ts';

const benches = fs.readdirSync(path.join(ROOT, 'bench')).filter((f) => f.endsWith('.mts'));

describe('bench --help', () => {
  it('is the comment at the top, without slashes or shebang', () => {
    expect(benchUsage('#!/usr/bin/env node\n// What it measures.\n//   npm run bench:x [-- --n 3]\nimport x from "y";\n// later\n')).toBe('What it measures.\n  npm run bench:x [-- --n 3]\n');
  });

  it.each(benches)('%s prints its usage and exits 0 at once', (file) => {
    const r = spawnSync(NODE, [path.join(ROOT, 'bench', file), '--help'], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ISOLLM_RUNTIME: 'none-such' } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/npm run (bench:\w+|soak)/);
    expect(r.stdout).not.toMatch(/^\/\//m);
  });
});
