#!/usr/bin/env node
// Wall time of `isollm status --json` as a user runs it (a fresh child process each time).
//   npm run bench:status [-- --project DIR] [-- --runs N]
// With --project: that project as it is (e.g. after `isollm up` with 4 workers). Without: a temp
// project with a running queue (started by `isollm queue start`), a hub, and a few tasks.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { freePort } from '../test/support/net.ts';
import { initRepo } from '../test/support/repo.ts';
import { helpAndExit } from './usage.ts';

helpAndExit(import.meta.url);

const TARGET_MS = 500;
const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
};
const RUNS = Number(arg('runs')) || 20;
// The bin a user runs (it turns on Node's compile cache before loading the dispatcher).
const CLI = path.join(import.meta.dirname, '..', 'bin', 'isollm.mjs');
const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
delete env.INIT_CWD;

function isollm(root: string, args: string[]): { ms: number; stdout: string } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: root, env, encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`isollm ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { ms, stdout: r.stdout };
}

/** A temp project: git repo, isollm.yaml, running queue, hub, five tasks. */
async function tempProject(): Promise<{ root: string; cleanup: () => void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-bench-status-'));
  const root = path.join(dir, 'demo');
  initRepo(root);
  fs.writeFileSync(path.join(root, 'isollm.yaml'), `project: bench-status\nqueue:\n  port: ${await freePort()}\ngit:\n  hub: ${path.join(dir, 'hub.git')}\n`);
  isollm(root, ['queue', 'start']);
  isollm(root, ['sync', 'push']);
  for (let i = 1; i <= 5; i++) isollm(root, ['task', 'add', `task ${i}`]);
  return {
    root,
    cleanup: () => {
      spawnSync(process.execPath, [CLI, 'queue', 'stop'], { cwd: root, env });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const given = arg('project');
const { root, cleanup } = given ? { root: path.resolve(given), cleanup: () => {} } : await tempProject();
try {
  const first = JSON.parse(isollm(root, ['status', '--json']).stdout);
  const workers = (first.workers ?? []) as { state: string }[];
  const running = workers.filter((w) => w.state === 'running').length;
  const errors = Object.entries(first.errors as Record<string, string>).map(([k, v]) => `${k}: ${v}`);
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push(isollm(root, ['status', '--json']).ms);
  const base: number[] = [];
  for (let i = 0; i < Math.min(RUNS, 10); i++) base.push(isollm(root, ['--version']).ms);
  times.sort((a, b) => a - b);
  base.sort((a, b) => a - b);
  const p50 = times[Math.floor(times.length / 2)];
  console.log(`isollm status --json: ${RUNS} runs, ${running}/${workers.length} workers running, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(2)}, Node ${process.version}`);
  if (errors.length) console.log(`sources with errors: ${errors.join(' | ')}`);
  console.log(`p50 ${p50.toFixed(0)} ms   max ${times.at(-1)!.toFixed(0)} ms   (\`isollm --version\` p50 ${base[Math.floor(base.length / 2)].toFixed(0)} ms: Node start-up)`);
  console.log(p50 <= TARGET_MS ? `within the ${TARGET_MS} ms target` : `OVER the ${TARGET_MS} ms target`);
  if (p50 > TARGET_MS) process.exitCode = 1;
} finally {
  cleanup();
}
