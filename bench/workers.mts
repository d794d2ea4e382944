#!/usr/bin/env node
// `worker add` against the runtime's own cost, in one run, on the same pool and image: for N = 1, 4, 8
// in parallel, a bare launch of the image until exec works, a bare copy of the project's base until
// exec works, and isollm creating N workers from a warm base (as `worker add -n N` does). Prints each
// t(N) (median of --runs, best in brackets), isollm's ratio to both, t(4)/t(1), the cold base build,
// where a worker's time goes, when the queue listened in every new worker (the boot goes on after a
// worker is handed out), and the busy CPU of the whole machine per container (on a quiet machine:
// the daemon, the client, the boot; a step that burns CPU slows every parallel one on few cores).
// Cleans up after itself.
//   npm run bench:workers [-- --image ALIAS] [--runs N] [--counts 1,4,8]
// The runtime is the one every command picks (auto: Incus when both are installed and neither holds
// the bench's fresh project); ISOLLM_RUNTIME=lxd|incus picks one.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { loadConfig } from '../lib/config/load.ts';
import { ensureHub } from '../lib/hub/hub.ts';
import { ensureQueue, stopQueue } from '../lib/queue/daemon.ts';
import { copyInstance, deleteInstance, FAST_POOL, launchInstance, listInstances, listStoragePools, waitForExec } from '../lib/runtime/client.ts';
import { ensureBase } from '../lib/worker/base.ts';
import { createWorkers } from '../lib/worker/create.ts';
import { workerContext } from '../lib/worker/ops.ts';
import { containerName } from '../lib/worker/plan.ts';
import { freePort } from '../test/support/net.ts';
import { initRepo } from '../test/support/repo.ts';
import { helpAndExit } from './usage.ts';

helpAndExit(import.meta.url);

const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const IMAGE = arg('--image') ?? 'isollm-test';
const RUNS = Number(arg('--runs') ?? 1);
const COUNTS = (arg('--counts') ?? '1,4,8').split(',').map(Number);
/** The issue's goals: isollm t(N) / raw t(N) ≤ 1.3 for each N, and isollm t(4) / isollm t(1) ≤ 1.6. */
const TARGET_VS_RAW = 1.3;
const TARGET_SCALING = 1.6;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-bench-workers-'));
const root = path.join(dir, 'project');
initRepo(root);
const project = `bench-wk-${process.pid}`;
fs.writeFileSync(path.join(root, 'isollm.yaml'), `project: ${project}\nimage: ${IMAGE}\nqueue:\n  port: ${await freePort()}\ngit:\n  hub: ${path.join(dir, 'hub.git')}\nagent:\n  install: false\n`);

const ctx = await workerContext(root, loadConfig(root));
await ensureHub(root, ctx.config);
await ensureQueue(root, ctx.config);
const storage = (await listStoragePools(ctx.rt)).includes(FAST_POOL) ? FAST_POOL : undefined;

/** ms spent in each step, summed over the workers of one run. */
type Steps = Map<string, number[]>;
const rawNames = (kind: string, count: number) => Array.from({ length: count }, (_, i) => `bench-${kind}-${process.pid}-${i + 1}`);

/** Busy CPU time of the whole machine so far, in ms (user+nice+system+irq+softirq from /proc/stat). */
function hostCpuMs(): number {
  const [, user, nice, system, , , irq, softirq] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return ((user + nice + system + irq + softirq) * 1000) / 100;
}
/** CPU ms per measurement label, last run: the machine has few cores, and a step that burns CPU slows every parallel one. */
const cpu = new Map<string, number>();

async function timed(work: () => Promise<unknown>, label?: string): Promise<number> {
  const started = performance.now();
  const cpuBefore = hostCpuMs();
  await work();
  if (label) cpu.set(label, hostCpuMs() - cpuBefore);
  return performance.now() - started;
}

/** A bare launch of the image, N in parallel, until exec works; then deleted. */
async function rawLaunch(count: number): Promise<number> {
  const names = rawNames('launch', count);
  const ms = await timed(() => Promise.all(names.map(async (name) => (await launchInstance(ctx.rt, { name, image: IMAGE, storage }), await waitForExec(ctx.rt, name)))), `launch ${count}`);
  await Promise.all(names.map((n) => deleteInstance(ctx.rt, n)));
  return ms;
}

/** A bare copy of the (stopped) base, N in parallel, until exec works; then deleted. */
async function rawCopy(count: number, base: string): Promise<number> {
  const names = rawNames('copy', count);
  const ms = await timed(() => Promise.all(names.map(async (name) => (await copyInstance(ctx.rt, { source: base, name }), await waitForExec(ctx.rt, name)))), `copy ${count}`);
  await Promise.all(names.map((n) => deleteInstance(ctx.rt, n)));
  return ms;
}

/**
 * Constant text: exits 0 once something listens on 127.0.0.1:$1 (the queue's socket unit) in the
 * worker, as /proc/net/tcp writes the address ($2: hex port). Polls for up to 30 s.
 */
const QUEUE_LISTENS = 'i=0; until grep -q " 0100007F:$1 00000000:0000 0A " /proc/net/tcp; do i=$((i+1)); [ "$i" -lt 1500 ] || exit 1; sleep 0.02; done';
const queuePortHex = ctx.config.queue.port.toString(16).toUpperCase().padStart(4, '0');

async function isollmAdd(count: number, base: Awaited<ReturnType<typeof ensureBase>>['base']): Promise<{ ms: number; listening: number; steps: Steps }> {
  const names = Array.from({ length: count }, (_, i) => `worker-${i + 1}`);
  const steps: Steps = new Map();
  const last = new Map<string, { step: string; at: number }>();
  const mark = (worker: string, step: string) => {
    const now = performance.now();
    const prev = last.get(worker);
    if (prev) steps.set(prev.step, [...(steps.get(prev.step) ?? []), now - prev.at]);
    last.set(worker, { step: step.startsWith('copying') ? 'copy' : step, at: now });
  };
  const started = performance.now();
  const cpuBefore = hostCpuMs();
  const { failed } = await createWorkers(ctx, names, base, mark);
  for (const name of names) mark(name, 'end');
  const ms = performance.now() - started;
  cpu.set(`isollm ${count}`, hostCpuMs() - cpuBefore);
  if (failed.length) throw new Error(`creation failed: ${failed.map((f) => `${f.name}: ${(f.error as Error).message}`).join('; ')}`);
  // A worker is handed out once it runs; the rest of its boot brings up the queue's socket unit
  // (isollm-task waits for it): when that happened, from the same start.
  await Promise.all(names.map((n) => waitForExec(ctx.rt, containerName(project, n), 30_000, ['sh', '-c', QUEUE_LISTENS, 'sh', queuePortHex])));
  const listening = performance.now() - started;
  await removeWorkers();
  return { ms, listening, steps };
}

async function removeWorkers(): Promise<void> {
  const workers = (await listInstances(ctx.rt, project)).filter((i) => i.worker);
  await Promise.all(workers.map((i) => deleteInstance(ctx.rt, i.name)));
  for (const i of workers) await ctx.queue.closeSocket(i.worker!).catch(() => undefined);
}

const s = (ms: number) => (ms / 1000).toFixed(2);
const verdict = (value: number, target: number) => `${value.toFixed(2)} (target ≤ ${target.toFixed(1)}) ${value <= target ? 'OK' : 'MISSED'}`;

try {
  console.log(`isollm worker bench: ${ctx.rt.kind}, image ${IMAGE}, pool ${storage ?? 'default'}, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}, ${RUNS} run(s) each: median (best)`);
  const buildMs = await timed(() => ensureBase(ctx));
  const { base } = await ensureBase(ctx);
  console.log(`cold base build (no setup_script): ${s(buildMs)}s`);
  const t = { launch: new Map<number, number[]>(), copy: new Map<number, number[]>(), isollm: new Map<number, number[]>(), listening: new Map<number, number[]>() };
  const steps = new Map<number, Steps>();
  const push = (m: Map<number, number[]>, n: number, ms: number) => m.set(n, [...(m.get(n) ?? []), ms]);
  for (let run = 0; run < RUNS; run++) {
    for (const n of COUNTS) {
      push(t.launch, n, await rawLaunch(n));
      push(t.copy, n, await rawCopy(n, base.name));
      const r = await isollmAdd(n, base);
      push(t.isollm, n, r.ms);
      push(t.listening, n, r.listening);
      steps.set(n, r.steps);
    }
  }
  // The machine is shared: each figure is the median of the runs (the best run in brackets), and
  // the ratios are of medians, each run's raw and isollm figures taken side by side.
  const median = (xs: number[]) => {
    const v = [...xs].sort((a, b) => a - b);
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  };
  const fig = (m: Map<number, number[]>, n: number) => `${s(median(m.get(n)!))}s${RUNS > 1 ? ` (${s(Math.min(...m.get(n)!))})` : ''}`;
  for (const n of COUNTS) {
    const own = median(t.isollm.get(n)!);
    console.log(
      `N=${n}: raw launch ${fig(t.launch, n)}  raw copy ${fig(t.copy, n)}  worker add ${fig(t.isollm, n)}  ` +
        `ratio vs launch ${verdict(own / median(t.launch.get(n)!), TARGET_VS_RAW)}  vs copy ${(own / median(t.copy.get(n)!)).toFixed(2)}`,
    );
    const rows = [...steps.get(n)!.entries()].map(([step, ms]) => `${step} ${s(ms.reduce((a, b) => a + b, 0) / ms.length)}s`);
    console.log(`  mean per worker (last run): ${rows.join(', ')}; the queue listening in all ${n} after ${fig(t.listening, n)}`);
    const perWorker = (label: string) => `${s(cpu.get(`${label} ${n}`)! / n)}s`;
    console.log(`  busy CPU of the machine per container (last run): raw launch ${perWorker('launch')}, raw copy ${perWorker('copy')}, worker add ${perWorker('isollm')}`);
  }
  if (COUNTS.includes(1) && COUNTS.includes(4)) {
    const scale = (m: Map<number, number[]>) => (median(m.get(4)!) / median(m.get(1)!)).toFixed(2);
    console.log(`worker add t(4)/t(1) = ${verdict(median(t.isollm.get(4)!) / median(t.isollm.get(1)!), TARGET_SCALING)}  (raw launch ${scale(t.launch)}, raw copy ${scale(t.copy)} in the same run)`);
  }
} finally {
  const left = await listInstances(ctx.rt, project).catch(() => []);
  await Promise.all(left.map((i) => deleteInstance(ctx.rt, i.name).catch(() => undefined)));
  for (const kind of ['launch', 'copy']) for (const n of rawNames(kind, Math.max(...COUNTS))) await deleteInstance(ctx.rt, n).catch(() => undefined);
  await stopQueue(root, ctx.config).catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
}
