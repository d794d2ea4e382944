// `isollm up`: from a repository with a backlog to N agents at work, each step reported, nothing
// duplicated when run again.
import { resolveHome, type Config, type MultiplexerKind } from '../config/load.ts';
import { UserError, errorMessage } from '../cli/errors.ts';
import { ensureHub } from '../hub/hub.ts';
import { statePaths } from '../project/root.ts';
import { ensureLander, landerFiles } from '../land/service.ts';
import { ensureQueue, queueClient } from '../queue/daemon.ts';
import { acquireLock, readSession, writeSession, type RecoveredWorker, type Recovery, type Session } from '../project/session.ts';
import { planAgent } from '../agent/presets.ts';
import { recoveredWords } from '../status/agent-view.ts';
import { checkStaleness } from '../hub/sync.ts';
import { c, formatDuration, SYMBOLS } from '../cli/ui.ts';
import type { Reporter } from '../cli/report.ts';
import { attachWorker, createWorkers, listWorkers, removeHalfMade, type WorkerContext, type WorkerInfo } from '../worker/create.ts';
import { basesOf, ensureBase, isFromBase, lockBases, pruneBases, type BaseInfo } from '../worker/base.ts';
import { listInstances } from '../runtime/client.ts';
import { startWorker, workerContext } from '../worker/ops.ts';
import { stopAgents } from '../worker/salvage.ts';
import { isDefaultWorkerName, nextWorkerNames } from '../worker/plan.ts';
import { revokeStrayCredentials } from '../worker/stray-credentials.ts';
import { endAgentClients, muxPlan, prepareAgent, startDetachedAgent } from '../agent/launch.ts';
import { LANDER_TITLE, pickMultiplexer, type Multiplexer, type MuxPlan, type PaneInfo } from '../mux/index.ts';

export type UpOptions = { count?: number; force: boolean; multiplexer?: MultiplexerKind };

export type UpResult = {
  config: Config;
  workers: WorkerInfo[];
  mux: Multiplexer | null;
  session: string | null;
  /** True when the multiplexer session was already there (nothing restarted). */
  reused: boolean;
  failures: string[];
};

/**
 * `config` is the command's one load of isollm.yaml, with `up --base` already applied to it. Each
 * step, warning and failure goes to `report` as it happens (failures are also in the result).
 */
export async function up(root: string, config: Config, options: UpOptions, report: Reporter): Promise<UpResult> {
  const paths = statePaths(root);
  const want = options.count ?? config.workers;
  const kind = options.multiplexer ?? config.multiplexer.kind;

  // Before anything starts: a missing multiplexer, or a layout template / tmux_conf that is wrong, stops here.
  const projectFile = (p: string | null) => (p === null ? null : resolveHome(p, root));
  const { mux, hint } = pickMultiplexer(kind, { layoutDir: paths.layouts, template: projectFile(config.multiplexer.template), tmuxConf: projectFile(config.multiplexer.tmux_conf) });
  for (const line of await checkStaleness(root, config, { force: options.force })) report.warn(line);
  const release = acquireLock(paths, 'up');
  let releaseBases = () => {};
  // A base just built is stopped while its first copies boot and the agents start; the base lock is held until then.
  let baseFinished: Promise<void> = Promise.resolve();
  try {
    await report.step('Hub', () => ensureHub(root, config));
    const ctx = await workerContext(root, config);
    if (hint) report.warn(hint);
    // The queue starts while the base is readied (a build waits for it once its container runs, so
    // a queue that cannot start still stops a build early); everything after the base needs it.
    // No spinner: the base's lines print meanwhile.
    const queueStart = Date.now();
    const took = () => c.dim(formatDuration(Date.now() - queueStart));
    const queueUp = ensureQueue(root, config).then(
      () => report.ok(`Queue ${took()}`),
      (err) => (report.fail(`Queue ${took()}`), Promise.reject(err)),
    );
    queueUp.catch(() => undefined); // awaited below: no unhandled rejection meanwhile

    // Workers: keep running ones, start stopped ones, create the missing ones in parallel. Under
    // the base lock: a `worker add` running now is not mistaken for a half-made worker, nor its base.
    releaseBases = await lockBases(ctx, 'up', (line) => report.info(line));
    const listed = await listWorkers(ctx);
    // Half-made workers (removed below, once the queue is up) are made again.
    const existing = listed.filter((w) => w.ready);
    const missing = nextWorkerNames(existing.map((w) => w.name), Math.max(0, want - existing.length));
    // The base: built once, rebuilt when what went into it changed (even with no worker to create).
    const hasBase = basesOf(await listInstances(ctx.rt, config.project)).length > 0;
    const base = missing.length || hasBase ? await readyBase(ctx, existing, report, missing.length > 0, queueUp) : null;
    const failures: string[] = [];
    const chosen = existing.slice(0, want);
    await queueUp;
    for (const name of await removeHalfMade(ctx, listed)) report.warn(`${name} was left half-made by an interrupted run; it is created again.`);
    // After the base is ready (its build revokes its own): a credential no worker holds goes — a
    // base's that a build could not revoke or was killed before it did, a deleted worker's.
    if (ctx.rt.remote) {
      for (const name of await revokeStrayCredentials(queueClient(root, config), existing.map((w) => w.name))) report.warn(`Revoked the credential of ${name}: no worker of this project has that name.`);
    }
    // Stopped workers start in parallel: each mostly waits for its container to boot (its queue
    // socket opened first: the queue must be up).
    const running = chosen.filter((w) => w.instance.status === 'Running').map((w) => w.name);
    const stopped = chosen.filter((w) => w.instance.status !== 'Running');
    const startedContainers = new Set<string>();
    if (stopped.length) {
      const started = await report.step(`Start ${stopped.map((w) => w.name).join(', ')}`, () => Promise.allSettled(stopped.map((w) => startWorker(ctx, w))));
      started.forEach((r, i) => {
        if (r.status === 'fulfilled') {
          startedContainers.add(stopped[i].name);
          return void running.push(stopped[i].name);
        }
        report.fail(`${stopped[i].name}: ${errorMessage(r.reason)}`);
        failures.push(`${stopped[i].name}: ${errorMessage(r.reason)}`);
      });
    }
    // Workers already running (started above, or never stopped): their door to the queue reopened.
    for (const w of chosen.filter((w) => w.instance.status === 'Running')) await attachWorker(ctx, w);
    const previous = readSession(paths);
    // Before creating any worker: a worker re-created under the name of one that crashed or was
    // deleted must not inherit that one's claimed task (its fresh clone knows nothing of it).
    await releaseOrphans(root, config, report, running, [...existing.map((w) => w.name), ...(previous?.workers ?? [])]);
    if (missing.length && base) {
      report.info(`Creating ${missing.join(', ')} from ${base.name}…`);
      const created = await createWorkers(ctx, missing, base, (w, s) => report.info(`  ${c.dim(w)} ${SYMBOLS.arrow} ${s}`));
      baseFinished = created.baseFinished;
      for (const w of created.created) report.ok(`${w.name} ready`);
      for (const f of created.failed) {
        report.fail(`${f.name}: ${errorMessage(f.error)}`);
        failures.push(`${f.name}: ${errorMessage(f.error)}`);
      }
    }
    void baseFinished.then(() => releaseBases());
    if (existing.length > want) report.info(`${existing.length - want} more worker(s) exist and stay as they are (\`isollm worker remove\` to drop them).`);
    const workers = (await listWorkers(ctx)).filter((w) => w.instance.status === 'Running').slice(0, want);
    if (!workers.length) throw new UserError('No worker is running, so no agent was started. See the errors above, then run `isollm up` again.');

    // Agents: files first (instructions, argv, secrets), then start them.
    const missingSecrets = new Set<string>();
    await report.step('Agents prepared', async () => {
      const prepared = await Promise.all(workers.map((w) => prepareAgent(ctx.rt, config, root, w)));
      for (const name of prepared.flatMap((p) => p.missing)) missingSecrets.add(name);
    });
    if (missingSecrets.size) report.warn(`agent.env names ${[...missingSecrets].join(', ')}, not set here: the agents start without them.`);

    // land.auto: the train runs next to the workers, so the base moves forward by itself. Started (or
    // started again after a crash) before the session, so its pane shows it from the first moment.
    if (config.land.auto) {
      const lander = ensureLander(root, paths.dir, config.agent.loop.poll_interval);
      report.ok(lander.started ? `Lander started (land.auto; pid ${lander.pid}, log ${landerFiles(paths.dir).log})` : `Lander running (pid ${lander.pid})`);
    }

    // Workers of the last session (no `down` since) whose agents start again — after a reboot, a
    // closed multiplexer session — continue: interactive agents with their CLI's resume option, the
    // loop with the task it holds.
    const lastSession = new Set(previous?.workers ?? []);
    const resume = new Set(workers.map((w) => w.name).filter((n) => lastSession.has(n)));
    let restarted: string[] = [];
    let reused = false;
    let session: string | null = null;
    if (mux) {
      const plan = muxPlan(ctx.rt, config, root, workers, resume);
      session = plan.session;
      const live = await mux.exists(plan.session);
      const keep = live ? sessionToKeep(await mux.panes(plan.session), plan, previous?.workers ?? []) : { reuse: false, ended: [] };
      if (keep.reuse) reused = true;
      else {
        if (keep.ended.length) report.info(`No agent runs in the pane of ${keep.ended.join(', ')} any more (its worker was reset or restarted, or the agent exited): the ${mux.kind} session is made again.`);
        if (live) await mux.kill(plan.session);
        // The old session's agent clients (killed just now, or left by a session that ended
        // without isollm) must not linger next to the new ones.
        await endAgentClients(ctx.rt, [...existing, ...workers]);
        // Nor their agents inside the workers, which may outlive the clients for a moment: a new
        // pane's loop or agent that still found one would leave it be and exit, and nothing would run.
        if (live) await Promise.all(workers.map((w) => stopAgents(ctx, w)));
        await report.step(`${mux.kind} session ${plan.session}`, () => mux.createDetached(plan));
        restarted = [...resume];
      }
    } else {
      if (config.agent.mode === 'interactive') report.warn('agent.mode is interactive but there is no multiplexer: agents run without a terminal, which most interactive agents refuse.');
      await report.step('Agents started in the background', async () => {
        const started = await Promise.all(workers.map((w) => startDetachedAgent(ctx.rt, config, w, resume.has(w.name))));
        restarted = workers.filter((w, i) => started[i] && resume.has(w.name)).map((w) => w.name);
      });
    }
    const recovery = restarted.length ? await recoveryOf(root, config, restarted, startedContainers) : null;
    for (const w of recovery?.workers ?? []) report.ok(`Recovered ${recoveredWords(w)}`);
    const now = new Date().toISOString();
    const record: Session = {
      project: config.project,
      started_at: previous?.started_at ?? now,
      updated_at: now,
      workers: workers.map((w) => w.name),
      multiplexer: { kind: mux?.kind ?? 'none', session },
      agent: { preset: config.agent.preset, mode: config.agent.mode },
      ...(recovery ?? previous?.recovered ? { recovered: recovery ?? previous?.recovered } : {}),
    };
    writeSession(paths, record);
    return { config, workers, mux, session, reused, failures };
  } finally {
    await baseFinished;
    releaseBases();
    release();
  }
}

/**
 * Whether the live session can stay as it is: the same workers as the last `up`, the lander's pane
 * as land.auto says, and every worker's pane still running its agent. A pane whose command ended
 * (its container was reset, stopped or restarted under it; an agent or loop that exited) keeps its
 * place on screen but runs nothing: `ended` names those workers, and the session is made again.
 */
export function sessionToKeep(panes: PaneInfo[], plan: MuxPlan, previousWorkers: string[]): { reuse: boolean; ended: string[] } {
  const names = plan.workers.map((w) => w.name);
  // zellij's titles carry the state after the name (`worker-3 ⏳ waiting 2m`; lib/mux/titles.ts).
  const workerOf = (p: PaneInfo) => names.find((n) => p.title === n || p.title.startsWith(`${n} `));
  const ended = panes.filter((p) => p.dead && workerOf(p)).map((p) => workerOf(p)!);
  const sameWorkers = previousWorkers.join() === names.join();
  // land.auto switched on or off since: the session is made again with (or without) the lander's pane.
  const sameLander = panes.some((p) => p.title === LANDER_TITLE) === Boolean(plan.lander);
  return { reuse: sameWorkers && sameLander && ended.length === 0, ended };
}

/**
 * The project's current base, built when missing or outdated (saying why, with setup_script's
 * output as it runs); older bases that no worker uses are removed. `forCopies`: the caller hands
 * it to createWorkers next (a base just built is left running for it: see ensureBase). A build
 * waits for `after` (the queue starting) once its container runs.
 */
export async function readyBase(ctx: WorkerContext, existing: WorkerInfo[], report: Pick<Reporter, 'info' | 'ok'>, forCopies: boolean, after?: Promise<unknown>): Promise<BaseInfo> {
  const { base, built } = await ensureBase(ctx, {
    forCopies,
    after,
    building: (reason, name) => report.info(`Building the project's base ${name} (${reason})…`),
    progress: (s) => report.info(`  ${c.dim('base')} ${SYMBOLS.arrow} ${s}`),
  });
  if (built) {
    report.ok(`Base ${base.name} ready`);
    const older = existing.filter((w) => !isFromBase(w, base)).map((w) => w.name);
    if (older.length) report.info(`${older.join(', ')} keep their work on the older base; \`isollm worker reset <name>\` makes one again from the new base (its work is saved first).`);
  }
  for (const name of await pruneBases(ctx, base.name)) report.info(`Removed the old base ${name}: no worker uses it.`);
  return base;
}

/** What `up` brought back of the last session: each restarted worker, how, and the task it goes on with. */
async function recoveryOf(root: string, config: Config, restarted: string[], startedContainers: Set<string>): Promise<Recovery> {
  const summary = await queueClient(root, config).summary();
  const held = new Map(summary.in_progress.filter((t) => t.claimed_by).map((t) => [t.claimed_by!, t.id]));
  const mode = config.agent.mode === 'loop' ? 'loop' : 'interactive';
  const resumedWith = mode === 'loop' ? null : planAgent(config.agent).resumeWords;
  const workers = restarted.map((name): RecoveredWorker => ({ name, container_started: startedContainers.has(name), mode, resumed_with: resumedWith, task: held.get(name) ?? null }));
  return { at: new Date().toISOString(), workers };
}

/** Tasks claimed by workers that no longer exist (a crash, a deleted container) go back to the queue. */
async function releaseOrphans(root: string, config: Config, report: Reporter, live: string[], known: string[]): Promise<void> {
  const client = queueClient(root, config);
  const summary = await client.summary();
  for (const task of summary.in_progress) {
    const holder = task.claimed_by ?? '';
    const ours = known.includes(holder) || isDefaultWorkerName(holder);
    if (ours && !live.includes(holder)) {
      await client.release(task.id, true);
      report.warn(`Released ${task.id}: it was claimed by ${holder}, which is not running.`);
    }
  }
}
