// `isollm down` and the salvage shared with `worker reset` / `worker remove`: find unsaved work in
// every worker, save it to the hub, give tasks back, then stop or destroy. A failing step is
// reported and the remaining safe steps still run.
import type { Config } from '../config/load.ts';
import { errorMessage } from '../cli/errors.ts';
import type { Reporter } from '../cli/report.ts';
import { ce } from '../cli/ui.ts';
import { gcHub } from '../hub/hub.ts';
import { statePaths } from '../project/root.ts';
import { landerPid, stopLander } from '../land/service.ts';
import { queueClient, queueState, stopQueue } from '../queue/daemon.ts';
import { createSnapshot, deleteInstance, startInstance, stopInstance, waitForExec } from '../runtime/client.ts';
import type { SalvageResult } from '../worker/salvage-git.ts';
import { inspectWorkers, salvageWorker, stopAgents, type WorkerWork } from '../worker/salvage.ts';
import { endAgentClients } from '../agent/launch.ts';
import { acquireLock, clearSession, readSession } from '../project/session.ts';
import { pickMultiplexer, sessionName, type Multiplexer } from '../mux/index.ts';
import { detachWorker, listWorkers, type WorkerContext, type WorkerInfo } from '../worker/create.ts';
import { workerContext } from '../worker/ops.ts';
import { pruneBases, withBaseLock } from '../worker/base.ts';
import { salvageStamp } from '../worker/salvage-report.ts';
import { isDefaultWorkerName } from '../worker/plan.ts';

export type StepReport = { step: string; ok: boolean; detail: string };

/** Each step as one ✓/✗ line, for DownHooks.report. */
export function stepPrinter(report: Reporter): (step: StepReport) => void {
  return (step) => {
    if (step.ok) report.ok(`${step.step}${step.detail ? ce.dim(` ${step.detail}`) : ''}`);
    else report.fail(`${step.step}: ${step.detail}`);
  };
}

export type DownPlan = { save: boolean; destroy: boolean; salvage: boolean };

export type DownHooks = {
  /** Called with the unsaved work before anything changes; returns what to do with it. */
  decide(works: WorkerWork[]): Promise<'salvage' | 'discard' | 'cancel'>;
  /** Called before destroying, after listing; false cancels the whole `down` (nothing changed). */
  confirmDestroy(works: WorkerWork[]): Promise<boolean>;
  report(step: StepReport): void;
};

/** `nothing`: no worker running, no queue, no multiplexer session, no session file: nothing was done. */
export type DownResult = { steps: StepReport[]; salvaged: SalvageResult[]; cancelled: boolean; nothing?: boolean };

export async function down(root: string, config: Config, plan: Omit<DownPlan, 'salvage'>, hooks: DownHooks): Promise<DownResult> {
  const paths = statePaths(root);
  const release = acquireLock(paths, 'down');
  const steps: StepReport[] = [];
  const salvaged: SalvageResult[] = [];
  const run = async (step: string, work: () => Promise<string | void>) => {
    try {
      const detail = (await work()) ?? '';
      steps.push({ step, ok: true, detail });
    } catch (err) {
      steps.push({ step, ok: false, detail: errorMessage(err) });
    }
    hooks.report(steps[steps.length - 1]);
  };
  try {
    let ctx: WorkerContext | null = null;
    let workers: WorkerInfo[] = [];
    // Containers started here only to look inside; stopped again when the user cancels.
    const startedToLook: WorkerInfo[] = [];
    const listing = (async () => {
      ctx = await workerContext(root, config);
      workers = await listWorkers(ctx);
    })();
    // `down` again after `down` (or before any `up`): say so instead of repeating every step.
    if (await listing.then(() => nothingToDo(root, config, workers, plan), () => false)) return { steps, salvaged, cancelled: false, nothing: true };
    await run('Workers found', async () => {
      await listing;
      if (plan.destroy) {
        // Destroying loses what a stopped container holds: start them to look.
        for (const w of workers.filter((w) => w.instance.status !== 'Running')) {
          await startInstance(ctx!.rt, w.container);
          startedToLook.push(w);
          await waitForExec(ctx!.rt, w.container);
          w.instance.status = 'Running';
        }
      }
      return workers.map((w) => w.name).join(', ') || 'none';
    });

    const works = ctx ? await inspectWorkers(ctx, workers) : [];
    const unsaved = works.filter((w) => (w.report && !w.report.clean) || (w.error && w.worker.instance.status === 'Running'));
    let decision: 'salvage' | 'discard' | 'cancel' = 'salvage';
    if (unsaved.length) decision = await hooks.decide(works);
    if (decision === 'cancel' || (plan.destroy && !(await hooks.confirmDestroy(works)))) {
      // "Nothing was changed" must hold: put back to sleep what was woken only to be inspected.
      for (const w of startedToLook) await stopInstance(ctx!.rt, w.container).catch(() => undefined);
      return { steps, salvaged, cancelled: true };
    }

    // From here on things change. First nothing may keep working: the multiplexer session goes, and
    // agents running detached stop; only then is the work looked at again and saved.
    await run('Multiplexer session stopped', () => stopMuxSession(root, config));
    if (ctx) await endAgentClients((ctx as WorkerContext).rt, workers);
    const running = workers.filter((w) => w.instance.status === 'Running');
    if (ctx) await Promise.all(running.map((w) => stopAgents(ctx!, w)));

    /** Workers whose work is not known to be safe: never destroyed in this run. */
    const unsafe = new Set<string>();
    if (decision === 'salvage' && ctx) {
      const c: WorkerContext = ctx;
      const now = new Date();
      const current = await inspectWorkers(c, running);
      for (const w of current.filter((w) => w.report && !w.report.clean)) {
        await run(`Salvage ${w.worker.name}`, async () => {
          const result = await salvageWorker(c, w, now);
          if (!result) return 'clean';
          salvaged.push(result);
          if (!result.ok) {
            unsafe.add(w.worker.name);
            throw new Error(`NOT SAVED: ${result.failures.map((f) => `${f.from}: ${f.error}`).join('; ')}`);
          }
          return [...new Set(result.saved.map((s) => `${s.from} → ${s.branch}`))].join(', ');
        });
      }
      for (const w of current.filter((w) => w.error)) {
        unsafe.add(w.worker.name);
        steps.push({ step: `Salvage ${w.worker.name}`, ok: false, detail: `could not inspect: ${w.error}` });
        hooks.report(steps[steps.length - 1]);
      }
    }

    await run('Tasks released', async () => {
      const state = queueState(root, config);
      // A queue that is down cannot be asked; `up` releases tasks of workers that are gone.
      if (state.mode !== 'external' && !state.running) return 'queue not running';
      const client = queueClient(root, config);
      const names = new Set(workers.map((w) => w.name));
      const held = (await client.summary()).in_progress.filter((t) => t.claimed_by && (names.has(t.claimed_by) || isDefaultWorkerName(t.claimed_by)));
      for (const t of held) await client.release(t.id, true);
      return held.map((t) => t.id).join(', ') || 'none held';
    });


    if (ctx) {
      const c: WorkerContext = ctx;
      if (plan.save) {
        const snapshot = `isollm-${salvageStamp(new Date())}`;
        for (const w of workers) await run(`Snapshot ${w.name}`, async () => (await createSnapshot(c.rt, w.container, snapshot), snapshot));
      }
      for (const w of workers) {
        if (plan.destroy && unsafe.has(w.name)) {
          await run(`Destroy ${w.name}`, async () => {
            throw new Error('skipped: its work is NOT SAVED (see above). Fix that and run `isollm down --destroy` again, or drop the work with --discard.');
          });
        } else if (plan.destroy) {
          await run(`Destroy ${w.name}`, async () => {
            await deleteInstance(c.rt, w.container);
            await detachWorker(c, w.name).catch(() => undefined);
          });
        } else if (w.instance.status === 'Running') {
          await run(`Stop ${w.name}`, () => stopInstance(c.rt, w.container));
        }
      }
      // The project's base goes with its last worker (the next `up` builds it again).
      if (plan.destroy) await run('Bases removed', async () => (await withBaseLock(c, 'down', () => pruneBases(c, null))).join(', ') || 'none unused');
      // Remote workers' credentials end with the session (`up` gives running workers new ones).
      if (c.rt.remote) await run('Credentials revoked', async () => (await c.queue.revokeAll()).join(', ') || 'none');
    }

    // Before the queue goes: an interrupted landing leaves the hub's base as it was.
    if (landerPid(paths.dir)) await run('Lander stopped', async () => void (await stopLander(paths.dir)));
    await run('Queue stopped', async () => {
      const { stopped, state } = await stopQueue(root, config);
      return state.mode === 'external' ? 'external: left alone' : stopped ? '' : 'was not running';
    });
    await run('Hub gc', async () => ((await gcHub(config.git.hub, { workersRunning: false })) ? '' : 'no hub'));
    clearSession(paths);
    return { steps, salvaged, cancelled: false };
  } finally {
    release();
  }
}

/** The multiplexer session `up` started (per session.json, else the configured kind), when it is running. */
async function liveMuxSession(root: string, config: Config): Promise<{ mux: Multiplexer; session: string } | null> {
  const paths = statePaths(root);
  const session = readSession(paths)?.multiplexer ?? { kind: config.multiplexer.kind, session: sessionName(config.project) };
  if (session.kind === 'none' || !session.session) return null;
  const { mux } = pickMultiplexer(session.kind, { layoutDir: paths.layouts });
  return mux && (await mux.exists(session.session)) ? { mux, session: session.session } : null;
}

/** True when there is nothing left to stop: no running worker, no queue, no multiplexer session, no session file. */
async function nothingToDo(root: string, config: Config, workers: WorkerInfo[], plan: Omit<DownPlan, 'salvage'>): Promise<boolean> {
  if (workers.some((w) => w.instance.status === 'Running')) return false;
  // --destroy and --save still have work while stopped workers exist.
  if ((plan.destroy || plan.save) && workers.length) return false;
  // An external queue may still hold tasks of these workers: not "nothing" (releasing is cheap).
  const queue = queueState(root, config);
  if (queue.mode === 'external' || queue.running) return false;
  if (readSession(statePaths(root))) return false;
  if (landerPid(statePaths(root).dir)) return false;
  return !(await liveMuxSession(root, config).catch(() => null));
}

export type { Config, WorkerWork };

/** Kill the project's multiplexer session, if one runs. */
async function stopMuxSession(root: string, config: Config): Promise<string> {
  const live = await liveMuxSession(root, config);
  if (!live) return 'none running';
  await live.mux.kill(live.session);
  return live.session;
}
