// Starting agents in workers: their files pushed at every launch (config changes apply, secrets are
// fresh), and the argv that runs them — in a multiplexer pane, or detached inside the container.
import path from 'node:path';
import process from 'node:process';
import type { Config } from '../config/load.ts';
import { DISPATCHER } from '../cli/package-files.ts';
import { collectSecrets } from './presets.ts';
import { execOk, type Runtime } from '../runtime/client.ts';
import { execPaneArgs } from '../runtime/argv.ts';
import { agentFiles, baseFiles } from '../worker/plan.ts';
import { asDev, pushFiles, type WorkerInfo } from '../worker/create.ts';
import type { MuxPlan } from '../mux/index.ts';
import { resolveDashboardSize, sessionName } from '../mux/index.ts';
import { fullViewLines } from '../status/render.ts';
import { landerPaneCommand } from '../land/service.ts';


/** The command inside the worker: the agent itself (interactive) or the loop supervisor. */
export function agentCommand(config: Config): string[] {
  return config.agent.mode === 'loop' ? ['isollm-loop'] : ['isollm-agent'];
}

function devExec(worker: WorkerInfo) {
  const exec = asDev(worker);
  return { ...exec, env: { ...exec.env, TERM: 'xterm-256color' } };
}

/** argv of a worker's pane: the runtime's exec straight into the container, with a terminal. */
export function paneCommand(rt: Runtime, config: Config, worker: WorkerInfo): string[] {
  return [rt.bin, ...execPaneArgs(worker.container, agentCommand(config), devExec(worker))];
}

/** The dashboard pane: this isollm's own `status --watch` on this project. */
export function dashboardCommand(root: string): string[] {
  return [process.execPath, DISPATCHER, 'status', '--watch', '--project', root];
}

export function muxPlan(rt: Runtime, config: Config, root: string, workers: WorkerInfo[]): MuxPlan {
  return {
    session: sessionName(config.project),
    cwd: root,
    dashboard: config.multiplexer.dashboard
      ? { command: dashboardCommand(root), size: resolveDashboardSize(config.multiplexer.dashboard_size, fullViewLines(workers.length)), everyTab: config.multiplexer.dashboard === 'every_tab' }
      : null,
    workers: workers.map((w) => ({ name: w.name, command: paneCommand(rt, config, w) })),
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
  const files = [...baseFiles(config, worker.name), ...agentFiles(config, root, worker.name, values)];
  await pushFiles({ rt }, worker.container, files, { uid: worker.devUid, gid: worker.devGid });
  return { missing };
}

/** Start the agent detached inside the worker (no multiplexer); its output goes to agent.log. */
export async function startDetachedAgent(rt: Runtime, config: Config, worker: WorkerInfo): Promise<void> {
  await execOk(rt, worker.container, ['isollm-agent', 'background', ...agentCommand(config)], devExec(worker));
}
