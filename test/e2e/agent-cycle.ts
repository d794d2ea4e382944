// One real agent CLI in one real worker, loop mode, from `isollm up` to its task done: the project,
// the stand-in model server, the worker (its CLI pushed into the base by agent.install_from the CLI
// cache) and the proxy device that lets it reach the stand-in at the same 127.0.0.1 address
// (workers have no network). Shared by the per-preset full-cycle tests, which assert what is their own.
import { expect } from 'vitest';
import { addDevice, listInstances, type Runtime } from '../../lib/runtime/client.ts';
import { agentClisDir, ensureAgentClis } from '../support/agent-clis.ts';
import { occurrences, startModelServer, type ModelRequest, type ModelServer, type ModelServerOptions } from '../support/model-server.ts';
import { freePort, git } from '../helpers.ts';
import { e2eProject } from './project.ts';
import { e2eConfigYaml } from './runtime-available.ts';

export type AgentRun = { turns: number; tokens_in: number; tokens_out: number; exit_status: number; duration_ms: number; last_message: string; worker: string; format: string; cost_usd?: number };
export type CycleTask = { status: string; block_reason?: string; result?: AgentRun };

export type AgentCycle = {
  tag: string;
  root: string;
  hub: string;
  server: ModelServer;
  /** The task text's marker: it must reach the model exactly once per request. */
  TASK: string;
  /** agent.context's marker: loop mode's instructions must reach the model. */
  CONTEXT: string;
  /** What the agent is made to write into GREETING.md (with its own tool). */
  GREETING: string;
  isollm(args: string[], timeout?: number): string;
  cleanUp(): Promise<void>;
};

/**
 * Make the project and its one worker. `env` gets the stand-in's URL and gives the variables a user
 * would export (their names become agent.env).
 */
export async function agentCycle(rt: Runtime, preset: string, options: {
  /** How the stand-in answers, given the greeting the agent must write. */
  server: (greeting: string) => Omit<ModelServerOptions, 'port'>;
  env: (serverUrl: string) => NodeJS.ProcessEnv;
  /** The line `isollm doctor` gives on how the CLI gets into the base, when it is checked. */
  doctor?: RegExp;
  timeoutMs: number;
}): Promise<AgentCycle> {
  await ensureAgentClis();
  // The variables a user would export, once the stand-in runs.
  const env: NodeJS.ProcessEnv = {};
  const { tag, project, root, hub, cli, isollm, commit, destroy } = e2eProject(preset, env);
  const CONTEXT = `CONTEXT-${tag}`;
  const GREETING = `Hello from the real ${preset}, ${tag}.`;
  const port = await freePort();
  const server = await startModelServer({ port, ...options.server(GREETING) });
  Object.assign(env, options.env(server.url));
  const cleanUp = async () => {
    await destroy(rt, options.timeoutMs);
    await server.close();
  };
  const yaml = e2eConfigYaml({
    project,
    hub,
    port: await freePort(),
    agent: { preset, mode: 'loop', env: Object.keys(env), context: CONTEXT, loop: { poll_interval: 1 }, install: true, install_from: agentClisDir() },
  }).replace('workers: 2', 'workers: 1');
  commit({ 'README.md': `# e2e ${preset}\n`, 'isollm.yaml': yaml });
  if (options.doctor) expect(cli(['doctor']).stdout).toMatch(options.doctor);
  isollm(['worker', 'add'], options.timeoutMs);
  const [worker] = (await listInstances(rt, project)).filter((i) => i.worker);
  await addDevice(rt, worker.name, 'model', { type: 'proxy', bind: 'instance', listen: `tcp:127.0.0.1:${port}`, connect: `tcp:127.0.0.1:${port}` });
  return { tag, root, hub, server, TASK: `TASK-${tag}`, CONTEXT, GREETING, isollm, cleanUp };
}

/** Add the greeting task, run `up`, wait for it to end; it must be done. Its id, the task and the worker's log. */
export async function runGreetingTask(c: AgentCycle, preset: string, waitMs: number): Promise<{ id: string; task: CycleTask; log: string }> {
  const id = (JSON.parse(c.isollm(['task', 'add', `Write the greeting ${c.TASK}`, '-D', 'Put a greeting in GREETING.md.', '--json'])) as { id: string }).id;
  const started = Date.now();
  c.isollm(['up'], waitMs);
  let task: CycleTask = { status: 'open' };
  while (Date.now() - started < waitMs) {
    task = (JSON.parse(c.isollm(['task', 'show', id, '--json'])) as { task: CycleTask }).task;
    if (task.status === 'done' || task.status === 'blocked') break;
    await new Promise((r) => setTimeout(r, 1_000));
  }
  const log = c.isollm(['worker', 'logs', 'worker-1']);
  console.log(`${preset} in a worker: task ${task.status} in ${((Date.now() - started) / 1000).toFixed(1)} s, ${c.server.requests.length} requests to the stand-in`);
  expect({ status: task.status, reason: task.block_reason, log: task.status === 'done' ? '' : log.slice(-3000) }).toEqual({ status: 'done', reason: undefined, log: '' });
  console.log(`${preset}'s run on the task: ${JSON.stringify(task.result)}`);
  return { id, task, log };
}

/** The file the agent's own tool wrote, committed by the loop: one commit on the task's branch in the hub. */
export function expectGreetingOnBranch(c: AgentCycle, id: string): void {
  const branch = `isollm/${id}`;
  expect(git(c.hub, 'show', `${branch}:GREETING.md`)).toBe(c.GREETING);
  expect(git(c.hub, 'rev-list', '--count', `main..${branch}`)).toBe('1');
}

/** What the CLI sent: one credential, the task once per request, loop mode's instructions, its tool's result. */
export function expectModelRequests(c: AgentCycle, model: ModelRequest[], credential: (headers: ModelRequest['headers']) => unknown, expected: string, toolResult: string): void {
  expect(model.length).toBeGreaterThanOrEqual(2);
  expect([...new Set(model.map((r) => credential(r.headers)))]).toEqual([expected]);
  expect(model.map((r) => occurrences(r.raw, c.TASK)).filter((n) => n > 1)).toEqual([]);
  expect(model.some((r) => occurrences(r.raw, c.TASK) === 1)).toBe(true);
  expect(model.some((r) => r.raw.includes(c.CONTEXT) && r.raw.includes('already claimed one task'))).toBe(true);
  expect(model.some((r) => r.raw.includes(toolResult))).toBe(true);
}

/**
 * The worker's log shows the run as a transcript, ending in the final message and the loop's figures;
 * the raw machine-readable output is only in agent-run.log (which must contain `rawMarker`).
 */
export function expectTranscript(c: AgentCycle, id: string, log: string, answer: string, rawMarker: string): void {
  const escaped = answer.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  expect(log).toMatch(new RegExp(`^${escaped}\\n.* isollm-loop: agent run on ${id}: exit 0, `, 'm'));
  expect(log).not.toContain('{"type"');
  console.log(`the worker's log of the run:\n${log.slice(log.indexOf(`claimed ${id}`), log.indexOf(`done ${id}`))}`);
  expect(c.isollm(['worker', 'exec', 'worker-1', '--', 'cat', '/home/dev/.isollm/agent-run.log'])).toContain(rawMarker);
}

/** The figures on the task, summed in `isollm status --json`. */
export function expectUsageInStatus(c: AgentCycle, result: AgentRun, extra: Record<string, number> = {}): void {
  const status = JSON.parse(c.isollm(['status', '--json'])) as { usage: Record<string, number> };
  expect(status.usage).toMatchObject({ runs: 1, tokens_in: result.tokens_in, tokens_out: result.tokens_out, ...extra });
}
