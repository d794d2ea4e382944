#!/usr/bin/env node
// Chaos soak: N workers in loop mode with a scripted agent (bench/soak/agent.sh) work on M tasks that
// commit in steps, sometimes fail and sometimes depend on others, while a seeded fault injector kills
// agents, loops, containers, the queue and `isollm up` at random moments, and fills a worker's disk to
// the brim and frees it (the workers live on a small pool of the soak's own, with quotas, each with a
// root disk of WORKER_DISK: filling one fills no other container's). At the end it checks that
// nothing was lost (see check()) and prints the figures. Exit 1 when a check fails.
//   npm run soak -- [--workers 2] [--tasks 30] [--minutes 3] [--seed 1] [--faults kind,kind] [--keep]
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';
import { loadConfig } from '../lib/config/load.ts';
import { statePaths } from '../lib/project/root.ts';
import { queueClient } from '../lib/queue/daemon.ts';
import type { AuditEntry, Task } from '../lib/queue/types.ts';
import { deleteInstance, execIn, listInstances, startInstance, stopInstance, type Runtime } from '../lib/runtime/client.ts';
import { connectRuntime } from '../lib/runtime/choose.ts';
import { runClient } from '../lib/runtime/client.ts';
import { freePort } from '../test/support/net.ts';
import { helpAndExit } from './usage.ts';

helpAndExit(import.meta.url);

const ROOT = path.resolve(import.meta.dirname, '..');
const CLI = path.join(ROOT, 'scripts', 'isollm.mts');
const AGENT = path.join(ROOT, 'bench', 'soak', 'agent.sh');

const FAULT_KINDS = ['agent-kill', 'loop-kill', 'queue-kill', 'container-stop', 'container-force-restart', 'up-kill', 'down-up', 'disk-full'] as const;
type FaultKind = (typeof FAULT_KINDS)[number];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}
function intArg(name: string, fallback: number): number {
  const v = Number(arg(name, String(fallback)));
  if (!Number.isFinite(v) || v < 0) {
    console.error(`soak: --${name} must be a number, not "${arg(name, '')}"`);
    process.exit(2);
  }
  return v;
}
const WORKERS = intArg('workers', 2);
const TASKS = intArg('tasks', 30);
const MINUTES = intArg('minutes', 3);
const SEED = intArg('seed', 1);
const KEEP = process.argv.includes('--keep');
/** Seconds the agent takes per step (it reaches the workers through agent.env). */
process.env.SOAK_STEP_DELAY = arg('step-delay', '1');
const KINDS = arg('faults', FAULT_KINDS.join(',')).split(',').filter(Boolean) as FaultKind[];
for (const k of KINDS) if (!FAULT_KINDS.includes(k)) (console.error(`soak: unknown fault kind "${k}" (one of ${FAULT_KINDS.join(', ')})`), process.exit(2));
/** Faults of one kind at most, per run (bounded count); each fault is bounded in time by its own timeout. */
const MAX_PER_KIND = intArg('max-per-kind', Math.max(2, Math.round(MINUTES * 1.5)));
/** Each worker's root disk (`limits.disk`) when the disk-full fault is on; the base takes about 0.4 GiB of it. */
const WORKER_DISK = '1GiB';
/** The soak's own pool (btrfs on a loop file, quotas on): the disk faults touch no one else's containers. */
const POOL_SIZE = `${4 + WORKERS}GiB`;
/** The last part of the run is fault-free: the system must recover and settle by itself. */
const SETTLE_MS = Math.min(90_000, MINUTES * 60_000 * 0.3);

/** mulberry32: small, seeded, good enough to replay a run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(SEED);
const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo));

const started = Date.now();
const t = () => ((Date.now() - started) / 1000).toFixed(1).padStart(6);
const log = (msg: string) => console.log(`${t()}s ${msg}`);

type Result = { code: number; out: string };
/** Run a command; resolves with its exit code and output (never throws). `onSpawn` gets the child. */
function run(cmd: string, args: string[], options: { cwd?: string; timeoutMs?: number; onSpawn?: (pid: number) => void } = {}): Promise<Result> {
  return new Promise((resolve) => {
    // npm sets INIT_CWD, which isollm takes for where the user stands: the cwd given here counts.
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    delete env.INIT_CWD;
    const child = spawn(cmd, args, { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    if (child.pid) options.onSpawn?.(child.pid);
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), out });
    });
  });
}
function git(cwd: string, ...args: string[]): Promise<Result> {
  return run('git', args, { cwd });
}

// ---------------------------------------------------------------------------------------------------
// The project

let rt: Runtime;
try {
  rt = await connectRuntime({ image: 'isollm-test' });
} catch (err) {
  console.error(`soak: ${(err as Error).message} Run \`npm run test-env\` first.`);
  process.exit(2);
}
const work = fs.mkdtempSync('/tmp/isollm-soak-');
const root = path.join(work, 'repo');
const hub = path.join(work, 'hub.git');
const project = `soak-${crypto.randomBytes(3).toString('hex')}`;
const pool = KINDS.includes('disk-full') ? project : null;
const isollm = (args: string[], options: { timeoutMs?: number; onSpawn?: (pid: number) => void } = {}) => run(process.execPath, [CLI, ...args], { cwd: root, ...options });

async function setup(): Promise<void> {
  fs.mkdirSync(path.join(root, '.soak'), { recursive: true });
  fs.copyFileSync(AGENT, path.join(root, '.soak', 'agent.sh'));
  fs.writeFileSync(path.join(root, 'README.md'), '# soak\n');
  fs.writeFileSync(path.join(root, '.gitignore'), '.isollm/\n');
  const config = {
    project,
    workers: WORKERS,
    image: 'isollm-test',
    git: { base_branch: 'main', hub },
    agent: { preset: 'custom', command: 'sh', args: ['.soak/agent.sh'], mode: 'loop', env: ['SOAK_STEP_DELAY'], loop: { poll_interval: 1 } },
    queue: { port: await freePort() },
    multiplexer: { kind: 'none' },
    ...(pool ? { limits: { disk: WORKER_DISK }, runtime: { pool } } : {}),
  };
  if (pool) {
    const r = await runClient(rt, ['storage', 'create', pool, 'btrfs', `size=${POOL_SIZE}`], { timeout: 120_000 });
    if (r.exitCode !== 0) throw new Error(`${rt.bin} storage create ${pool}: ${r.stderr.trim()}`);
  }
  fs.writeFileSync(path.join(root, 'isollm.yaml'), YAML.stringify(config));
  for (const args of [['init', '-q', '-b', 'main'], ['add', '.'], ['-c', 'user.name=soak', '-c', 'user.email=soak@localhost', 'commit', '-qm', 'soak base']]) {
    const r = await git(root, ...args);
    if (r.code !== 0) throw new Error(`git ${args.join(' ')}: ${r.out}`);
  }
  const q = await isollm(['queue', 'start']);
  if (q.code !== 0) throw new Error(`isollm queue start: ${q.out}`);
}

const config = () => loadConfig(root);
const client = () => queueClient(root, config());

/** M tasks: 1–4 steps, about one in eight fails after its first commit, one in four depends on an earlier one. */
async function addTasks(): Promise<Task[]> {
  const q = client();
  const tasks: Task[] = [];
  for (let i = 1; i <= TASKS; i++) {
    const fail = random() < 0.125 ? ' fail' : '';
    const task = await q.createTask({ title: `soak ${i} steps=${between(1, 5)}${fail}`, priority: between(0, 5) });
    if (tasks.length && random() < 0.25) await q.addDep(task.id, pick(tasks).id);
    tasks.push(task);
  }
  q.close();
  return tasks;
}

async function containers(): Promise<{ worker: string; name: string; status: string }[]> {
  return (await listInstances(rt, project)).filter((i) => i.worker).map((i) => ({ worker: i.worker!, name: i.name, status: i.status }));
}

// ---------------------------------------------------------------------------------------------------
// Faults

/** Kill -9 every process in the container whose command line contains `pattern` (no pgrep in the image). */
const KILL_SCRIPT = 'n=0; for f in /proc/[0-9]*/cmdline; do p=${f#/proc/}; p=${p%/cmdline}; [ "$p" = $$ ] && continue; case "$(tr "\\0" " " <"$f" 2>/dev/null)" in *"$1"*) kill -9 "$p" 2>/dev/null && n=$((n+1)) ;; esac; done; echo $n';
/** Fill the disk to the brim; prints whether a 64 KiB write fails then (it should). */
const FILL_SCRIPT = [
  'dd if=/dev/zero of=/var/tmp/soak-fill-1 bs=1M 2>/dev/null; sync',
  'dd if=/dev/zero of=/var/tmp/soak-fill-2 bs=4k 2>/dev/null; sync',
  'dd if=/dev/zero of=/var/tmp/soak-fill-3 bs=4k 2>/dev/null',
  'n=$(du -sm /var/tmp/soak-fill-1 | cut -f1)',
  'if head -c 65536 /dev/zero 2>/dev/null >/var/tmp/soak-probe; then echo "filled ${n} MiB, yet a write still fits"; else echo "filled ${n} MiB, full"; fi; rm -f /var/tmp/soak-probe',
].join('\n');
async function killIn(container: string, pattern: string): Promise<number> {
  const r = await execIn(rt, container, ['sh', '-c', KILL_SCRIPT, 'kill', pattern], { timeout: 30_000 }).catch(() => ({ stdout: '0' }));
  return Number(r.stdout.trim()) || 0;
}

async function up(): Promise<Result> {
  const r = await isollm(['up', '--multiplexer', 'none'], { timeoutMs: 300_000 });
  if (r.code !== 0) log(`  isollm up exited ${r.code}: ${r.out.trim().split('\n').slice(-3).join(' | ')}`);
  return r;
}

/** kill -9; a process already gone is no error. */
function signal(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

type Fault = { kind: FaultKind; target: string; at: number; endedAt: number; note: string };
const faults: Fault[] = [];

async function inject(kind: FaultKind): Promise<void> {
  const cs = (await containers()).filter((c) => c.status === 'Running');
  const c = cs.length ? pick(cs) : null;
  const at = Date.now();
  let target = c?.worker ?? 'queue';
  let note = '';
  switch (kind) {
    case 'agent-kill':
      if (!c) return;
      note = `${await killIn(c.name, '.soak/agent.sh')} process(es)`;
      break;
    case 'loop-kill':
      if (!c) return;
      note = `${await killIn(c.name, 'isollm-loop')} process(es)`;
      await sleep(between(1000, 5000));
      await up(); // what a user does when a worker stopped working
      break;
    case 'queue-kill': {
      target = 'queue';
      const pid = Number(fs.readFileSync(statePaths(root).queuePid, 'utf8').trim());
      signal(pid);
      await sleep(between(1000, 8000));
      const r = await isollm(['queue', 'start']);
      note = `pid ${pid}; restart exit ${r.code}`;
      break;
    }
    case 'container-stop':
      if (!c) return;
      await stopInstance(rt, c.name).catch((err) => (note = `stop: ${(err as Error).message}`));
      await sleep(between(1000, 5000));
      await startInstance(rt, c.name).catch((err) => (note += ` start: ${(err as Error).message}`));
      await up();
      break;
    case 'container-force-restart':
      if (!c) return;
      await runClient(rt, ['restart', '--force', c.name], { timeout: 120_000 });
      await up();
      break;
    case 'up-kill': {
      target = 'up';
      let pid = 0;
      const p = isollm(['up', '--multiplexer', 'none'], { onSpawn: (n) => (pid = n) });
      await sleep(between(500, 6000));
      if (pid) signal(pid); // it may have finished already: then this fault is just one more `up`
      await p;
      await up();
      break;
    }
    case 'disk-full': {
      if (!c) return;
      // As root, outside the clone (so no `git add -A` takes it): 1 MiB blocks, then 4 KiB ones for
      // the rest, twice (btrfs settles its quota accounting at sync, which can free a little).
      const filled = await execIn(rt, c.name, ['sh', '-c', FILL_SCRIPT], { timeout: 120_000 }).catch((err) => ({ stdout: `fill: ${(err as Error).message}` }));
      note = filled.stdout.trim();
      await sleep(between(15_000, 40_000));
      await execIn(rt, c.name, ['rm', '-f', '/var/tmp/soak-fill-1', '/var/tmp/soak-fill-2', '/var/tmp/soak-fill-3'], { timeout: 60_000 }).catch((err) => (note += `; free: ${(err as Error).message}`));
      break;
    }
    case 'down-up': {
      target = 'down';
      const r = await isollm(['down'], { timeoutMs: 300_000 });
      note = `down exit ${r.code}`;
      if (r.code !== 0) log(`  isollm down exited ${r.code}: ${r.out.trim().split('\n').slice(-3).join(' | ')}`);
      await up();
      break;
    }
  }
  const fault = { kind, target, at, endedAt: Date.now(), note };
  faults.push(fault);
  log(`fault ${kind} on ${target}${note ? ` (${note})` : ''}, ${((fault.endedAt - at) / 1000).toFixed(1)}s`);
}

// ---------------------------------------------------------------------------------------------------
// Checks

type Journal = { starts: { task: string; run: string; at: number }[]; commits: { task: string; run: string; at: number; sha: string }[] };

async function readJournals(): Promise<Journal> {
  const j: Journal = { starts: [], commits: [] };
  for (const c of await containers()) {
    if (c.status !== 'Running') await startInstance(rt, c.name).catch(() => undefined);
    const r = await execIn(rt, c.name, ['cat', '/home/dev/soak-journal'], { timeout: 30_000 }).catch(() => ({ stdout: '' }));
    for (const line of r.stdout.split('\n')) {
      const f = line.split(' ');
      if (f[0] === 'start') j.starts.push({ task: f[1], run: `${f[2]}/${f[3]}`, at: Number(f[4]) });
      // A line cut short (the disk was full as it was written) has no whole commit id: not counted.
      if (f[0] === 'commit' && /^[0-9a-f]{40}$/.test(f[5] ?? '')) j.commits.push({ task: f[1], run: `${f[2]}/${f[3]}`, at: Number(f[4]), sha: f[5] });
    }
  }
  return j;
}

async function allAudit(): Promise<AuditEntry[]> {
  const q = client();
  const entries: AuditEntry[] = [];
  for (let page = 1; ; page++) {
    const r = await q.audit(page, 100);
    entries.push(...r.data);
    if (page >= r.pagination.total_pages || !r.data.length) break;
  }
  q.close();
  return entries.sort((a, b) => a.id - b.id);
}

type Check = { name: string; ok: boolean; detail: string };

/** Host processes serving the hub: the queue's git http-backend children (their environment names its root). */
function hubBackends(hubDir: string): number[] {
  const mark = `GIT_PROJECT_ROOT=${path.dirname(hubDir)}`;
  return fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(mark);
    } catch {
      return false; // ended, or not ours
    }
  });
}

async function check(tasks: Task[]): Promise<{ checks: Check[]; figures: Record<string, number> }> {
  const checks: Check[] = [];
  const q = client();
  const final = await q.listTasks();
  const summary = await q.summary();
  const audit = await allAudit();
  const byTask = new Map<string, AuditEntry[]>();
  for (const e of audit) if (e.field === 'status') byTask.set(e.task_id, [...(byTask.get(e.task_id) ?? []), e]);

  // 1. Every task done exactly once, or blocked with a reason; none lost, none stuck in progress.
  const lost = tasks.filter((t) => !final.some((f) => f.id === t.id));
  // A task waiting (directly or not) on a blocked one stays open: that is its right state.
  const deps = new Map<string, string[]>();
  for (const f of final) if (f.status === 'open') deps.set(f.id, (await q.deps(f.id)).map((d) => d.parent_id));
  const statusOf = new Map(final.map((f) => [f.id, f.status]));
  const waitsOnBlocked = (id: string, seen = new Set<string>()): boolean =>
    !seen.has(id) && (seen.add(id), (deps.get(id) ?? []).some((p) => statusOf.get(p) === 'blocked' || (statusOf.get(p) === 'open' && waitsOnBlocked(p, seen))));
  const waiting = final.filter((f) => f.status === 'open' && waitsOnBlocked(f.id));
  const unsettled = final.filter((f) => f.status !== 'done' && !(f.status === 'blocked' && f.block_reason) && !waiting.includes(f));
  const doneTwice = final.filter((f) => (byTask.get(f.id) ?? []).filter((e) => e.action === 'done').length > 1);
  q.close();
  checks.push({ name: 'every task done once or blocked with a reason', ok: !lost.length && !unsettled.length && !doneTwice.length,
    detail: `${final.filter((f) => f.status === 'done').length} done, ${final.filter((f) => f.status === 'blocked').length} blocked, ${waiting.length} waiting on a blocked one; lost ${lost.length}, unsettled ${unsettled.map((f) => `${f.id}:${f.status}${f.claimed_by ? `@${f.claimed_by}` : ''}`).join(' ') || 0}, done twice ${doneTwice.length}` });
  const blockedWhy = new Map<string, number>();
  for (const f of final) if (f.status === 'blocked') blockedWhy.set(f.block_reason ?? '?', (blockedWhy.get(f.block_reason ?? '?') ?? 0) + 1);

  // 2. The audit log agrees with the final states, and never shows a claim of a claimed task.
  let disagree = 0;
  let doubleClaims = 0;
  for (const f of final) {
    let state = 'open';
    for (const e of byTask.get(f.id) ?? []) {
      if (e.old_value !== state) disagree++;
      if (e.action === 'claim' && e.old_value === 'in_progress') doubleClaims++;
      state = e.new_value ?? state;
    }
    if (state !== f.status) disagree++;
  }
  checks.push({ name: 'audit log agrees with the final states', ok: disagree === 0, detail: `${audit.length} entries, ${disagree} disagreement(s)` });
  checks.push({ name: 'no task claimed twice at once (audit)', ok: doubleClaims === 0, detail: `${doubleClaims} double claim(s)` });
  checks.push({ name: 'nothing in progress at the end', ok: summary.in_progress.length === 0, detail: summary.in_progress.map((t) => `${t.id}@${t.claimed_by}`).join(' ') || 'none' });

  // 3. Every commit an agent journaled is reachable from a hub branch.
  const journal = await readJournals();
  const heads = (await git(hub, 'for-each-ref', '--format=%(objectname)', 'refs/heads')).out.split('\n').filter(Boolean);
  const reachable = new Set((await git(hub, 'rev-list', ...heads)).out.split('\n').filter(Boolean));
  const missing = journal.commits.filter((c) => !reachable.has(c.sha));
  checks.push({ name: 'every journaled commit reachable from a hub branch', ok: missing.length === 0,
    detail: `${journal.commits.length} commits journaled, ${missing.length} missing${missing.length ? `: ${missing.slice(0, 5).map((m) => `${m.task}@${m.run} ${m.sha.slice(0, 8)}`).join(', ')}` : ''}` });

  // 4. No two workers wrote the same task branch at the same time: each agent run spans its start to
  //    its last commit; runs on one task by different workers must not overlap.
  const spans = new Map<string, { task: string; worker: string; from: number; to: number }>();
  for (const s of journal.starts) spans.set(s.run, { task: s.task, worker: s.run.split('/')[0], from: s.at, to: s.at });
  for (const c of journal.commits) {
    const s = spans.get(c.run);
    if (s) s.to = Math.max(s.to, c.at);
  }
  let overlaps = 0;
  const list = [...spans.values()];
  for (let i = 0; i < list.length; i++)
    for (let k = i + 1; k < list.length; k++) {
      const [a, b] = [list[i], list[k]];
      if (a.task === b.task && a.worker !== b.worker && a.from < b.to && b.from < a.to) overlaps++;
    }
  checks.push({ name: 'no two workers on one task branch at once', ok: overlaps === 0, detail: `${list.length} agent runs, ${overlaps} overlap(s)` });

  // 5. The hub is sound, and so is every worker's clone (a full disk, a kill mid-commit must not break it).
  const fsck = await git(hub, 'fsck', '--no-progress');
  checks.push({ name: 'git fsck on the hub', ok: fsck.code === 0, detail: fsck.code === 0 ? 'clean' : fsck.out.trim().split('\n').slice(0, 3).join(' | ') });
  const broken: string[] = [];
  const cs = await containers();
  for (const c of cs) {
    const r = await execIn(rt, c.name, ['git', '-c', 'safe.directory=*', '-C', '/home/dev/project', 'fsck', '--no-progress'], { timeout: 120_000 }).catch((err) => ({ exitCode: -1, stdout: '', stderr: (err as Error).message }));
    if (r.exitCode !== 0) broken.push(`${c.worker}: ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
  }
  checks.push({ name: "git fsck in every worker's clone", ok: broken.length === 0, detail: broken.length ? broken.join(' | ') : `${cs.length} clean` });

  // 6. Nothing the faults interrupted goes on by itself on the host: a git backend of the hub still
  //    there twice, 3 s apart, after everything settled (one a killed queue left would spin for ever).
  const first = hubBackends(hub);
  await sleep(3_000);
  const lingering = hubBackends(hub).filter((p) => first.includes(p));
  checks.push({ name: 'no git process of the hub left on the host', ok: lingering.length === 0, detail: lingering.length ? `pid ${lingering.join(' ')}` : 'none' });

  // Recovery: from each fault until work moves again — the next claim or done after the fault's end
  // (by the faulted worker when one was hit). None when everything had settled by then.
  const dones = audit.filter((e) => e.field === 'status' && (e.action === 'done' || e.action === 'claim')).map((e) => ({ at: Date.parse(e.changed_at), by: e.changed_by }));
  const recovery = new Map<string, number[]>();
  for (const f of faults) {
    const workerFault = !['queue', 'up', 'down'].includes(f.target);
    const next = dones.find((d) => d.at >= f.endedAt && (!workerFault || d.by === f.target));
    if (next) recovery.set(f.kind, [...(recovery.get(f.kind) ?? []), (next.at - f.at) / 1000]);
  }
  const figures: Record<string, number> = {
    tasks: final.length,
    done: final.filter((f) => f.status === 'done').length,
    blocked: final.filter((f) => f.status === 'blocked').length,
    commits: journal.commits.length,
    losses: lost.length + missing.length,
    double_claims: doubleClaims,
  };
  console.log('\nBlocked, by reason:');
  for (const [why, n] of blockedWhy) console.log(`  ${String(n).padStart(4)}  ${why}`);
  console.log('\nFaults (count, time to recover: median / max from the fault until the next claim or done):');
  for (const kind of KINDS) {
    const n = faults.filter((f) => f.kind === kind).length;
    const r = (recovery.get(kind) ?? []).sort((a, b) => a - b);
    const med = r.length ? r[Math.floor(r.length / 2)].toFixed(1) : '-';
    console.log(`  ${kind.padEnd(24)} ${String(n).padStart(3)}   ${med}s / ${r.length ? r[r.length - 1].toFixed(1) : '-'}s`);
  }
  return { checks, figures };
}

// ---------------------------------------------------------------------------------------------------

async function settled(): Promise<boolean> {
  const q = client();
  try {
    const s = await q.summary();
    // Open tasks that are not ready wait on a blocked one: they stay open, and that is settled.
    return s.ready === 0 && s.counts.in_progress === 0;
  } catch {
    return false;
  } finally {
    q.close();
  }
}

async function cleanup(): Promise<void> {
  if (KEEP) return void console.log(`kept: ${work} (project ${project})`);
  await isollm(['down', '--destroy', '--yes'], { timeoutMs: 300_000 });
  for (const i of await listInstances(rt, project)) await deleteInstance(rt, i.name).catch(() => undefined);
  await isollm(['queue', 'stop']);
  if (pool) await runClient(rt, ['storage', 'delete', pool], { timeout: 120_000 }).catch(() => undefined);
  fs.rmSync(work, { recursive: true, force: true });
}

let failed = true;
try {
  console.log(`isollm soak: ${WORKERS} worker(s), ${TASKS} tasks, ${MINUTES} min, seed ${SEED}, faults ${KINDS.join(',')} (≤ ${MAX_PER_KIND} each); project ${project} in ${work}`);
  await setup();
  const tasks = await addTasks();
  const first = await up();
  if (first.code !== 0) throw new Error('the first `isollm up` failed');
  log('workers up');
  const faultEnd = started + Math.max(30_000, MINUTES * 60_000 - SETTLE_MS);
  const deadline = started + MINUTES * 60_000;
  while (Date.now() < faultEnd && !(await settled())) {
    await sleep(between(2000, 8000));
    // The least used kinds first (in a seeded order), so a short run still sees every kind.
    const used = (k: FaultKind) => faults.filter((f) => f.kind === k).length;
    const least = Math.min(...KINDS.map(used));
    if (least >= MAX_PER_KIND || Date.now() >= faultEnd) break;
    await inject(pick(KINDS.filter((k) => used(k) === least)));
  }
  log('faults over; the system must settle by itself');
  // A user's last move after a bad day: `isollm up` (starts whatever is down); then no more help.
  await up();
  while (Date.now() < deadline && !(await settled())) await sleep(2000);
  log((await settled()) ? 'settled' : 'did not settle before the deadline');
  const { checks, figures } = await check(tasks);
  console.log('\nChecks:');
  for (const c of checks) console.log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  console.log(`\nFigures: seed ${SEED}, ${Object.entries(figures).map(([k, v]) => `${k} ${v}`).join(', ')}, faults ${faults.length}, ${((Date.now() - started) / 1000).toFixed(0)}s`);
  failed = checks.some((c) => !c.ok);
} catch (err) {
  console.error(`soak: ${(err as Error).message}`);
} finally {
  await cleanup().catch((err) => console.error(`cleanup: ${(err as Error).message}`));
}
process.exit(failed ? 1 : 0);
