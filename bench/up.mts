#!/usr/bin/env node
// Time from `isollm up --detach --multiplexer none` to every agent started (the loop supervisor
// running in each worker), cold (no containers) and warm (containers stopped by `isollm down`).
//   npm run bench:up [-- --sizes 1,2,4] [-- --image isollm-test]
// Each size uses a fresh temp project with the demo agent in loop mode; everything is destroyed after.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { deleteInstance, execIn, listInstances, type Runtime } from '../lib/runtime/client.ts';
import { connectRuntime, RUNTIME_ENV } from '../lib/runtime/choose.ts';
import { freePort } from '../test/support/net.ts';
import { initRepo } from '../test/support/repo.ts';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
};
const SIZES = (arg('sizes') ?? '1,2,4').split(',').map(Number);
const IMAGE = arg('image') ?? 'isollm-test';
const CLI = path.join(import.meta.dirname, '..', 'scripts', 'isollm.mts');
const UP_TIMEOUT_MS = 10 * 60_000;
const AGENT_WAIT_MS = 60_000;
const POLL_MS = 100;
const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
delete env.INIT_CWD;

function isollm(root: string, args: string[]): void {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: root, env, encoding: 'utf8', timeout: UP_TIMEOUT_MS });
  if (r.status !== 0) throw new Error(`isollm ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
}

async function tempProject(project: string): Promise<{ dir: string; root: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-bench-up-'));
  const root = path.join(dir, 'repo');
  const config = `project: ${project}\nimage: ${IMAGE}\ngit:\n  hub: ${path.join(dir, 'hub.git')}\nagent:\n  preset: custom\n  command: isollm-demo-agent\n  mode: loop\nqueue:\n  port: ${await freePort()}\nmultiplexer:\n  kind: none\n`;
  initRepo(root, { 'README.md': '# bench\n', '.gitignore': '.isollm/\n', 'isollm.yaml': config });
  return { dir, root };
}

// The agent started = the pid `isollm-agent background` recorded is a live isollm-loop.
const LOOP_LIVE = `read -r p s < /home/dev/.isollm/agent.pid && tr '\\0' ' ' < "/proc/$p/cmdline" | grep -q isollm-loop`;

async function agentsStarted(rt: Runtime, project: string, n: number): Promise<void> {
  const deadline = Date.now() + AGENT_WAIT_MS;
  let pending = (await listInstances(rt, project)).map((i) => i.name);
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

// The same rule as the CLI, and the CLI runs it spawns told the outcome.
const rt = await connectRuntime({ image: IMAGE });
process.env[RUNTIME_ENV] = rt.kind;
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const rows: string[][] = [];
for (const n of SIZES) {
  const project = `bench-up-${crypto.randomBytes(3).toString('hex')}`;
  const { dir, root } = await tempProject(project);
  try {
    const cold = await timeUp(rt, root, project, n);
    isollm(root, ['down', '--yes']);
    const warm = await timeUp(rt, root, project, n);
    rows.push([String(n), s(cold.up), s(cold.agents), s(warm.up), s(warm.agents)]);
    console.error(`N=${n}: cold ${s(cold.agents)}, warm ${s(warm.agents)}`);
  } finally {
    spawnSync(process.execPath, [CLI, 'down', '--destroy', '--yes'], { cwd: root, env, timeout: UP_TIMEOUT_MS });
    for (const i of await listInstances(rt, project)) await deleteInstance(rt, i.name);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const head = ['N', 'cold: up returned', 'cold: agents started', 'warm: up returned', 'warm: agents started'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells: string[]) => cells.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
console.log(`isollm up --detach --multiplexer none · image ${IMAGE} · ${rt.kind} · ${os.cpus().length} cores · Node ${process.version}`);
console.log(line(head));
for (const r of rows) console.log(line(r));
