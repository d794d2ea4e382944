// `isollm status`: one JSON model of the project, collected in parallel from its sources (one runtime
// call, one queue summary call, a few git calls, one multiplexer probe). A source that fails becomes
// an error string in the model; status itself never fails because one of them did.
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/load.ts';
import { errorMessage, UserError } from '../cli/errors.ts';
import { aheadBehind, branchCommit, forEachRef, refDir } from '../hub/git.ts';
import { inspectHub, requireHub } from '../hub/hub.ts';
import { readLandNow, type LandNow } from '../land/now.ts';
import { landerPid } from '../land/service.ts';
import { processAlive, statePaths } from '../project/root.ts';
import { queueClient, queueState } from '../queue/daemon.ts';
import type { AgentState } from '../queue/agents.ts';
import type { AgentUsage, Summary } from '../queue/types.ts';
import { connectRuntime, runtimeOptions } from '../runtime/choose.ts';
import { listInstances, lookupImage, type Instance, type Runtime } from '../runtime/client.ts';
import { readSession, type Recovery } from '../project/session.ts';
import { taskPrefix, withHostObjects } from '../hub/sync.ts';
import { workerInfos } from '../worker/create.ts';
import { baseStatus, type BaseStatus } from '../worker/base.ts';

export const STATUS_VERSION = 1;

/** running/stopped/frozen/error as the runtime says; `unknown` when the runtime could not be asked; `absent` for a claimer with no container. */
export type WorkerState = 'running' | 'stopped' | 'frozen' | 'error' | 'unknown' | 'absent';

export type WorkerTask = { id: string; title: string; branch: string; claimed_at: string | null; age_seconds: number | null };

/** What the worker's agent is doing, as its hooks or the loop last reported it; null when nothing was reported. */
export type AgentInfo = {
  state: AgentState['state'];
  since: string;
  /** Seconds in this state. */
  seconds: number;
  detail: string | null;
  /** `limited`: when it resumes, and in how many seconds (0 once due). */
  until: string | null;
  resumes_in_seconds: number | null;
  exit_status: number | null;
  source: string | null;
};

export type WorkerStatus = {
  name: string;
  container: string | null;
  state: WorkerState;
  ipv4: string | null;
  /** The cluster member the container is on (`runtime.targets`); null off a cluster. Always set by collectStatus. */
  location?: string | null;
  task: WorkerTask | null;
  /** Always set by collectStatus (optional only so older fixtures need not name it). */
  agent?: AgentInfo | null;
};

export type TaskCounts = { open: number; in_progress: number; blocked: number; done: number; ready: number; total: number };

export type SyncSummary = {
  hub: string;
  /** False before the first `sync push` / `up`: the other fields are then null / 0. */
  present: boolean;
  base_branch: string;
  /** Commits the host's base has that the hub's lacks, and the reverse. */
  ahead: number | null;
  behind: number | null;
  /** Branches `<branch_prefix>*` in the hub. */
  task_branches: number;
};

/** The merge train: from the queue, plus whether an `isollm land` holds the project's land lock now, and its step. */
export type LandSummary = { unlanded: number; landed_24h: number; handed_back: number; landing_now: boolean; now: LandNow | null };

export type StatusModel = {
  version: number;
  project: string;
  root: string;
  generated_at: string;
  workers: WorkerStatus[] | null;
  tasks: TaskCounts | null;
  sync: SyncSummary | null;
  /** null when the queue did not answer. */
  land: LandSummary | null;
  /** The agents' recorded headless runs, summed (lib/queue/results.ts); null when the queue did not answer. */
  usage: AgentUsage | null;
  /** What the last `up` brought back of the session (after a reboot); null when it had nothing to. */
  recovered: Recovery | null;
  /** The project's base workers are copied from; null before the first build (or when the runtime failed: errors.base). */
  base: BaseStatus | null;
  services: {
    queue: { mode: 'embedded' | 'external'; running: boolean; url: string; pid: number | null };
    multiplexer: { kind: 'zellij' | 'tmux' | 'none' | null; session: string | null; running: boolean };
    runtime: { kind: 'lxd' | 'incus' | null; bin: string | null; remote: string | null };
  };
  errors: { workers?: string; queue?: string; sync?: string; multiplexer?: string; base?: string };
};

export type RuntimeWorker = { name: string; container: string; status: string; ipv4: string | null; location?: string | null };

/** Where each part of the model comes from; tests replace one to simulate a failure. */
export type StatusSources = {
  runtime: () => Runtime | Promise<Runtime>;
  workers: (rt: Runtime) => Promise<RuntimeWorker[]>;
  summary: () => Promise<Summary>;
  /** Agent states per worker (queue extension); an older or external server without it: []. */
  agents: () => Promise<AgentState[]>;
  sync: () => Promise<SyncSummary>;
  multiplexer: (kind: 'zellij' | 'tmux', session: string) => Promise<boolean>;
  base: (rt: Runtime, now: Date) => Promise<BaseStatus | null>;
  now: () => Date;
};

export function defaultSources(root: string, config: Config): StatusSources {
  // One list of the project's instances serves both the workers and the base; the local image the
  // base's key depends on is looked up at the same time (each call is a client process, and on a
  // remote a TLS round trip).
  let listed: Promise<Instance[]> | undefined;
  let image: Promise<string | undefined> | undefined;
  const instances = (rt: Runtime) => {
    image ??= lookupImage(rt, config.image).then((i) => i?.fingerprint, () => undefined);
    return (listed ??= listInstances(rt, config.project));
  };
  return {
    // Not pinged first: a daemon that is down or refuses us fails the list with the same one-line error.
    runtime: () => connectRuntime(runtimeOptions(config), { ping: false }),
    workers: async (rt) =>
      workerInfos(await instances(rt)).map((w) => ({ name: w.name, container: w.container, status: w.instance.status, ipv4: w.instance.ipv4, location: w.instance.location })),
    summary: async () => {
      const client = queueClient(root, config);
      try {
        return await client.summary();
      } finally {
        client.close();
      }
    },
    agents: async () => {
      const client = queueClient(root, config);
      try {
        return await client.agentStates();
      } catch (err) {
        if ((err as { status?: number }).status === 404) return []; // a server without agent states
        throw err;
      } finally {
        client.close();
      }
    },
    sync: () => readSyncSummary(root, config),
    base: async (rt, now) => baseStatus({ rt, config, paths: statePaths(root) }, await instances(rt), now, await image),
    multiplexer: async (kind, session) => {
      // Only the backend in use is loaded: the zellij one pulls in the KDL library (~60 ms).
      if (kind === 'tmux') return (await import('../mux/tmux.ts')).createTmux().exists(session);
      return (await import('../mux/zellij.ts')).createZellij({ layoutDir: statePaths(root).layouts }).exists(session);
    },
    now: () => new Date(),
  };
}

/** Base ahead/behind and the number of task branches in the hub: a handful of git calls, no merge previews. */
export async function readSyncSummary(root: string, config: Config): Promise<SyncSummary> {
  const hub = config.git.hub;
  const base_branch = config.git.base_branch;
  const missing = { hub, present: false, base_branch, ahead: null, behind: null, task_branches: 0 };
  if (!fs.existsSync(hub)) return missing;
  const headPrefix = `refs/heads/${taskPrefix(config)}`;
  const baseRef = `refs/heads/${base_branch}`;
  // The reads go together with the check whose hub they read (their answers count only when it is
  // ours): each git call is a process, and this is the longest chain of them in status.
  const host = branchCommit(root, base_branch);
  // Counted against the hub's base branch by name: an error only counts when that branch exists.
  const counts = Promise.all([host, withHostObjects(root)]).then(([sha, objects]) => (sha ? aheadBehind(hub, baseRef, sha, objects) : null));
  const refs = forEachRef(hub, [refDir(headPrefix), baseRef], ['refname', 'objectname']);
  for (const p of [host, counts, refs]) p.catch(() => undefined);
  const state = (await inspectHub(hub, root)).kind;
  if (state === 'missing') return missing;
  if (state !== 'ours') await requireHub(root, config); // a foreign hub or a non-repository: its one-line error
  if (!(await host)) throw new UserError(`The base branch "${base_branch}" has no commits in ${root}. Commit on it, or set git.base_branch in isollm.yaml.`);
  const listed = await refs;
  const task_branches = listed.filter((r) => r.refname.startsWith(headPrefix) && r.refname !== baseRef).length;
  if (!listed.some((r) => r.refname === baseRef)) return { ...missing, present: true, task_branches };
  const { ahead, behind } = (await counts)!;
  return { hub, present: true, base_branch, ahead, behind, task_branches };
}

const STATES: Record<string, WorkerState> = { running: 'running', stopped: 'stopped', frozen: 'frozen', error: 'error' };

/** Collect the model. Never throws for a failing source: its error lands in `errors`. */
export async function collectStatus(root: string, config: Config, sources: Partial<StatusSources> = {}): Promise<StatusModel> {
  const src = { ...defaultSources(root, config), ...sources };
  const paths = statePaths(root);
  const session = readSession(paths);
  const queue = queueState(root, config);
  let rt: Runtime | null = null;
  const connected = (async () => (rt = await src.runtime()))();
  const [workersR, summaryR, syncR, muxR, agentsR, baseR] = await Promise.allSettled([
    (async () => src.workers(await connected))(),
    src.summary(),
    src.sync(),
    session && session.multiplexer.kind !== 'none' && session.multiplexer.session
      ? src.multiplexer(session.multiplexer.kind, session.multiplexer.session)
      : Promise.resolve(false),
    src.agents(),
    (async () => src.base(await connected, src.now()))(),
  ]);
  const now = src.now();
  const errors: StatusModel['errors'] = {};
  const fail = (key: keyof StatusModel['errors'], r: PromiseSettledResult<unknown>) => {
    if (r.status === 'rejected') errors[key] = oneLine(r.reason);
  };
  fail('workers', workersR);
  fail('queue', summaryR);
  fail('sync', syncR);
  fail('multiplexer', muxR);
  // A runtime that could not be asked is errors.workers already.
  if (workersR.status === 'fulfilled') fail('base', baseR);
  const summary = summaryR.status === 'fulfilled' ? summaryR.value : null;
  const runtimeWorkers = workersR.status === 'fulfilled' ? workersR.value : null;
  const usedRt = rt as Runtime | null;
  return {
    version: STATUS_VERSION,
    project: config.project,
    root,
    generated_at: now.toISOString(),
    // The queue's own error (errors.queue) covers a failed agents call too.
    workers: withAgents(joinWorkers(runtimeWorkers, session?.workers ?? [], summary, config.git.branch_prefix, now), agentsR.status === 'fulfilled' ? agentsR.value : [], now),
    tasks: summary ? { ...summary.counts, ready: summary.ready, total: summary.total } : null,
    sync: syncR.status === 'fulfilled' ? syncR.value : null,
    usage: summary ? (summary.agent_usage ?? { runs: 0, tokens_in: 0, tokens_out: 0, cost_usd: 0, duration_ms: 0, turns: 0 }) : null,
    recovered: session?.recovered ?? null,
    land: summary ? { ...(summary.landing ?? { unlanded: 0, landed_24h: 0, handed_back: 0 }), landing_now: landerRunning(paths.dir) || landerPid(paths.dir) !== null, now: readLandNow(paths.dir) } : null,
    base: baseR.status === 'fulfilled' ? baseR.value : null,
    services: {
      queue: { mode: queue.mode, running: summary !== null, url: queue.url, pid: queue.pid },
      multiplexer: {
        kind: session?.multiplexer.kind ?? null,
        session: session?.multiplexer.session ?? null,
        running: muxR.status === 'fulfilled' && muxR.value,
      },
      runtime: { kind: usedRt?.kind ?? null, bin: usedRt?.bin ?? null, remote: usedRt?.remote ?? null },
    },
    errors,
  };
}

/**
 * One row per container of the project, plus one per agent holding a task without a container here
 * (e.g. the host user). When the runtime could not be asked, the session's workers stand in (`unknown`).
 */
export function joinWorkers(runtime: RuntimeWorker[] | null, sessionWorkers: string[], summary: Summary | null, prefix: string, now: Date): WorkerStatus[] | null {
  const claims = new Map<string, WorkerTask>();
  for (const t of summary?.in_progress ?? []) {
    if (!t.claimed_by || claims.has(t.claimed_by)) continue;
    const at = t.claimed_at ? Date.parse(t.claimed_at) : NaN;
    claims.set(t.claimed_by, {
      id: t.id,
      title: t.title,
      branch: `${prefix}${t.id}`,
      claimed_at: t.claimed_at ?? null,
      age_seconds: Number.isNaN(at) ? null : Math.max(0, Math.floor((now.getTime() - at) / 1000)),
    });
  }
  const rows: WorkerStatus[] =
    runtime?.map((w) => ({ name: w.name, container: w.container, state: STATES[w.status.toLowerCase()] ?? 'error', ipv4: w.ipv4, location: w.location ?? null, task: claims.get(w.name) ?? null })) ??
    sessionWorkers.map((name) => ({ name, container: null, state: 'unknown' as const, ipv4: null, location: null, task: claims.get(name) ?? null }));
  const seen = new Set(rows.map((r) => r.name));
  for (const [agent, task] of claims) {
    if (!seen.has(agent)) rows.push({ name: agent, container: null, state: runtime ? 'absent' : 'unknown', ipv4: null, location: null, task });
  }
  if (!runtime && rows.length === 0) return null;
  return rows;
}

/** Each worker's agent state, by worker name (the socket a report came in on). */
export function withAgents(rows: WorkerStatus[] | null, agents: AgentState[], now: Date): WorkerStatus[] | null {
  if (!rows) return rows;
  const byName = new Map(agents.map((a) => [a.worker, a]));
  const secondsTo = (iso: string) => Math.floor((Date.parse(iso) - now.getTime()) / 1000);
  return rows.map((row) => {
    const a = byName.get(row.name);
    if (!a) return { ...row, agent: null };
    return {
      ...row,
      agent: {
        state: a.state,
        since: a.since,
        seconds: Math.max(0, -secondsTo(a.since)),
        detail: a.detail ?? null,
        until: a.until ?? null,
        resumes_in_seconds: a.until ? Math.max(0, secondsTo(a.until)) : null,
        exit_status: a.exit_status ?? null,
        source: a.source ?? null,
      },
    };
  });
}

/** True when `.isollm/land.lock` names a live process (an `isollm land` running now). */
export function landerRunning(stateDir: string): boolean {
  try {
    const { pid } = JSON.parse(fs.readFileSync(path.join(stateDir, 'land.lock'), 'utf8')) as { pid: number };
    return typeof pid === 'number' && processAlive(pid);
  } catch {
    return false;
  }
}

/** A source's error as one line (the first line of its message). */
function oneLine(err: unknown): string {
  return errorMessage(err).split('\n')[0].trim() || 'failed';
}
