#!/usr/bin/env node
// Time from `isollm up --detach --multiplexer none` to every agent started (the loop supervisor
// running in each worker), cold (no containers, no base) and warm (containers stopped by `isollm
// down`), next to a bare launch of N containers of the image (until exec works) in the same run.
// With --setup-seconds S the project has a setup_script that takes S seconds: the base runs it once,
// and the bench checks cold ≤ S + 1.3 × raw t(N) + warm, and times a worker added afterwards (it must
// run no setup_script at all).
//   npm run bench:up [-- --sizes 1,2,4] [--image isollm-test] [--setup-seconds 30]
// Each size uses a fresh temp project with the demo agent in loop mode; everything is destroyed after.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { deleteInstance, execIn, FAST_POOL, launchInstance, listInstances, listStoragePools, waitForExec, type Runtime } from '../lib/runtime/client.ts';
import { connectRuntime, RUNTIME_ENV } from '../lib/runtime/choose.ts';
import { freePort } from '../test/support/net.ts';
import { initRepo } from '../test/support/repo.ts';
import { helpAndExit } from './usage.ts';

helpAndExit(import.meta.url);

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
};
const SIZES = (arg('sizes') ?? '1,2,4').split(',').map(Number);
const IMAGE = arg('image') ?? 'isollm-test';
const SETUP_SECONDS = Number(arg('setup-seconds') ?? 0);
/** The issue's goal for a cold `up` with a setup_script: S + 1.3 × raw t(N) + the warm figure. */
const TARGET_VS_RAW = 1.3;
const CLI = path.join(import.meta.dirname, '..', 'scripts', 'isollm.mts');
const UP_TIMEOUT_MS = 10 * 60_000;
const AGENT_WAIT_MS = 60_000;
const POLL_MS = 100;
const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
delete env.INIT_CWD;

function isollm(root: string, args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: root, env, encoding: 'utf8', timeout: UP_TIMEOUT_MS });
  if (r.status !== 0) throw new Error(`isollm ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stderr;
}

async function tempProject(project: string): Promise<{ dir: string; root: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-bench-up-'));
  const root = path.join(dir, 'repo');
  const setup = SETUP_SECONDS ? `setup_script: |\n  echo setting-up\n  sleep ${SETUP_SECONDS}\n` : '';
  const config = `project: ${project}\nimage: ${IMAGE}\ngit:\n  hub: ${path.join(dir, 'hub.git')}\nagent:\n  preset: custom\n  command: isollm-demo-agent\n  mode: loop\nqueue:\n  port: ${await freePort()}\nmultiplexer:\n  kind: none\n${setup}`;
  initRepo(root, { 'README.md': '# bench\n', '.gitignore': '.isollm/\n', 'isollm.yaml': config });
  return { dir, root };
}

// The agent started = the pid `isollm-agent background` recorded is a live isollm-loop.
const LOOP_LIVE = `read -r p s < /home/dev/.isollm/agent.pid && tr '\\0' ' ' < "/proc/$p/cmdline" | grep -q isollm-loop`;

async function agentsStarted(rt: Runtime, project: string, n: number): Promise<void> {
  const deadline = Date.now() + AGENT_WAIT_MS;
  let pending = (await listInstances(rt, project)).filter((i) => i.worker).map((i) => i.name);
  if (pending.length !== n) throw new Error(`expected ${n} workers, found ${pending.length}`);
  while (pending.length) {
    const live = await Promise.all(pending.map(async (c) => (await execIn(rt, c, ['sh', '-c', LOOP_LIVE])).exitCode === 0));
    pending = pending.filter((_, i) => !live[i]);
    if (!pending.length) return;
    if (Date.now() > deadline) throw new Error(`agents not started after ${AGENT_WAIT_MS / 1000}s: ${pending.join(', ')}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** ms until `up` returned, and until every agent ran. */
async function timeUp(rt: Runtime, root: string, project: string, n: number): Promise<{ up: number; agents: number }> {
  const t0 = performance.now();
  isollm(root, ['up', '-n', String(n), '--detach', '--multiplexer', 'none']);
  const up = performance.now() - t0;
  await agentsStarted(rt, project, n);
  return { up, agents: performance.now() - t0 };
}

/** A bare launch of the image, n in parallel, until exec works; then deleted. */
async function rawLaunch(rt: Runtime, n: number): Promise<number> {
  const names = Array.from({ length: n }, (_, i) => `bench-up-raw-${process.pid}-${i + 1}`);
  const storage = (await listStoragePools(rt)).includes(FAST_POOL) ? FAST_POOL : undefined;
  const t0 = performance.now();
  try {
    await Promise.all(names.map(async (name) => (await launchInstance(rt, { name, image: IMAGE, storage }), await waitForExec(rt, name))));
    return performance.now() - t0;
  } finally {
    await Promise.all(names.map((name) => deleteInstance(rt, name).catch(() => undefined)));
  }
}

// The same rule as the CLI, and the CLI runs it spawns told the outcome.
const rt = await connectRuntime({ image: IMAGE });
process.env[RUNTIME_ENV] = rt.kind;
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const rows: string[][] = [];
const checks: string[] = [];
for (const n of SIZES) {
  const project = `bench-up-${crypto.randomBytes(3).toString('hex')}`;
  const { dir, root } = await tempProject(project);
  try {
    const raw = await rawLaunch(rt, n);
    const cold = await timeUp(rt, root, project, n);
    isollm(root, ['down', '--yes']);
    const warm = await timeUp(rt, root, project, n);
    let added = '';
    if (SETUP_SECONDS) {
      const t0 = performance.now();
      const out = isollm(root, ['worker', 'add']);
      const ms = performance.now() - t0;
      added = s(ms);
      const ran = out.includes('setting-up') || out.includes('running setup_script');
      // The warm figure: `up` making N workers from the base already built (workers deleted, base kept).
      isollm(root, ['down', '--yes']);
      for (const i of (await listInstances(rt, project)).filter((i) => i.worker)) await deleteInstance(rt, i.name);
      const warmBase = await timeUp(rt, root, project, n);
      const target = SETUP_SECONDS * 1000 + TARGET_VS_RAW * raw + warmBase.agents;
      checks.push(
        `N=${n}: cold ${s(cold.agents)} ≤ ${SETUP_SECONDS} s + ${TARGET_VS_RAW} × raw ${s(raw)} + warm-base up ${s(warmBase.agents)} = ${s(target)}: ${cold.agents <= target ? 'OK' : 'MISSED'}` +
          ` · worker ${n + 1} added later in ${added}, setup_script ${ran ? 'RAN (MISSED)' : 'not run (OK)'}`,
      );
    }
    rows.push([String(n), s(raw), s(cold.up), s(cold.agents), s(warm.up), s(warm.agents), ...(SETUP_SECONDS ? [added] : [])]);
    console.error(`N=${n}: raw ${s(raw)}, cold ${s(cold.agents)}, warm ${s(warm.agents)}${added ? `, one more worker ${added}` : ''}`);
  } finally {
    spawnSync(process.execPath, [CLI, 'down', '--destroy', '--yes'], { cwd: root, env, timeout: UP_TIMEOUT_MS });
    for (const i of await listInstances(rt, project)) await deleteInstance(rt, i.name);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const head = ['N', 'raw launch', 'cold: up returned', 'cold: agents started', 'warm: up returned', 'warm: agents started', ...(SETUP_SECONDS ? ['worker add after'] : [])];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells: string[]) => cells.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
const setupNote = SETUP_SECONDS ? ` · setup_script ${SETUP_SECONDS} s` : '';
console.log(`isollm up --detach --multiplexer none · image ${IMAGE} · ${rt.kind} · ${os.cpus().length} cores · Node ${process.version}${setupNote}`);
console.log(line(head));
for (const r of rows) console.log(line(r));
for (const c of checks) console.log(c);
