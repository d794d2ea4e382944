// Starting agents in workers: their files pushed at every launch (config changes apply, secrets are
// fresh), and the argv that runs them — in a multiplexer pane, or detached inside the container.
import process from 'node:process';
import type { Config } from '../config/load.ts';
import { DISPATCHER } from '../cli/package-files.ts';
import { collectSecrets } from './presets.ts';
import { endExecClients, execOk, findExecClients, type Runtime } from '../runtime/client.ts';
import { execPaneArgs, instanceRef } from '../runtime/argv.ts';
import { agentFiles, baseFiles } from '../worker/plan.ts';
import { remoteAccess } from '../worker/remote.ts';
import { statePaths } from '../project/root.ts';
import { asDev, pushFiles, type WorkerInfo } from '../worker/create.ts';
import type { MuxPlan } from '../mux/index.ts';
import { resolveDashboardSize, sessionName } from '../mux/index.ts';
import { fullViewLines } from '../status/render.ts';
import { landerPaneCommand } from '../land/service.ts';


/**
 * The command inside the worker: the agent itself (interactive; `resume`: continuing its last
 * conversation, after a reboot) or the loop supervisor (which resumes the task it holds by itself).
 */
export function agentCommand(config: Config, resume = false): string[] {
  if (config.agent.mode === 'loop') return ['isollm-loop'];
  return resume ? ['isollm-agent', 'resume'] : ['isollm-agent'];
}

/** A pane's agent command (agentCommand's forms; not `isollm-agent background`, which returns at once). */
export function isAgentCommand(command: string[]): boolean {
  return command[0] === 'isollm-loop' || (command[0] === 'isollm-agent' && command[1] !== 'background');
}

/**
 * End this host's exec clients of agents' panes into these workers: their multiplexer session was
 * killed (or is being made again), and a client whose command inside ignores the hangup, or whose
 * container is gone, would stay forever. A user's own shell into a worker is left alone.
 */
export async function endAgentClients(rt: Runtime, workers: Pick<WorkerInfo, 'container'>[]): Promise<void> {
  await endExecClients(findExecClients(rt, workers.map((w) => w.container), isAgentCommand));
}

function devExec(worker: WorkerInfo) {
  const exec = asDev(worker);
  return { ...exec, env: { ...exec.env, TERM: 'xterm-256color' } };
}

/** argv of a worker's pane: the runtime's exec straight into the container, with a terminal. */
export function paneCommand(rt: Runtime, config: Config, worker: WorkerInfo, resume = false): string[] {
  return [rt.bin, ...execPaneArgs(instanceRef(rt, worker.container), agentCommand(config, resume), devExec(worker))];
}

/** The dashboard pane: this isollm's own `status --watch` on this project. */
export function dashboardCommand(root: string): string[] {
  return [process.execPath, DISPATCHER, 'status', '--watch', '--project', root];
}

/** `resume`: the workers whose agents continue their last conversation. */
export function muxPlan(rt: Runtime, config: Config, root: string, workers: WorkerInfo[], resume: ReadonlySet<string> = new Set()): MuxPlan {
  return {
    session: sessionName(config.project),
    cwd: root,
    dashboard: config.multiplexer.dashboard
      ? { command: dashboardCommand(root), size: resolveDashboardSize(config.multiplexer.dashboard_size, fullViewLines(workers.length)), everyTab: config.multiplexer.dashboard === 'every_tab' }
      : null,
    workers: workers.map((w) => ({ name: w.name, command: paneCommand(rt, config, w, resume.has(w.name)) })),
    // land.auto: the lander runs as a service (lib/land/service.ts); its pane shows it live.
    lander: config.land.auto ? { command: landerPaneCommand(root) } : null,
    layout: config.multiplexer.layout,
    maxPerTab: config.multiplexer.max_panes_per_tab,
  };
}

/**
 * Push the worker's settings and helper scripts (so config changes and a newer isollm reach existing
 * workers), then instructions, argv files and the environment (secrets included, 0600).
 */
export async function prepareAgent(rt: Runtime, config: Config, root: string, worker: WorkerInfo, hostEnv: NodeJS.ProcessEnv = process.env): Promise<{ missing: string[] }> {
  const { values, missing } = collectSecrets(config.agent.env, hostEnv);
  // A remote worker's settings name the queue's HTTPS address (lib/worker/remote.ts).
  const access = rt.remote ? remoteAccess(statePaths(root).dir, config) : null;
  const files = [...baseFiles(config, worker.name, access), ...agentFiles(config, root, worker.name, values)];
  await pushFiles({ rt }, worker.container, files, { uid: worker.devUid, gid: worker.devGid });
  return { missing };
}

/**
 * Start the agent detached inside the worker (no multiplexer); its output goes to agent.log. False
 * when it was running already (nothing started).
 */
export async function startDetachedAgent(rt: Runtime, config: Config, worker: WorkerInfo, resume = false): Promise<boolean> {
  const out = await execOk(rt, worker.container, ['isollm-agent', 'background', ...agentCommand(config, resume)], devExec(worker));
  return !/already running/.test(String(out));
}
