// The real codex in a real worker, in loop mode, from `isollm up` to the task done on its branch:
// agent.install pushes codex's native build into the project's base from the CLI cache
// (agent.install_from), the stand-in model server on the host answers the OpenAI Responses API
// (streaming) with one call of codex's own code-mode `exec` tool that writes a file, then a final
// answer; the container reaches it at 127.0.0.1 through a proxy device (workers have no network).
// The loop claims the task, codex writes the file, the loop commits, pushes, records what codex
// reported (exec --json) and marks the task done; the worker's log shows the run as a transcript.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDevice, deleteInstance, listInstances } from '../../lib/runtime/client.ts';
import { agentClisDir, ensureAgentClis } from '../support/agent-clis.ts';
import { occurrences, startModelServer, USAGE, type ModelServer } from '../support/model-server.ts';
import { freePort, git, runCli } from '../helpers.ts';
import { e2eConfigYaml, e2eRuntime } from './runtime-available.ts';

const rt = await e2eRuntime('agent-codex');
const tag = crypto.randomBytes(3).toString('hex');
const project = `e2e-codex-${tag}`;
const work = fs.mkdtempSync(path.join('/tmp', 'isollm-e2e-codex-'));
const root = path.join(work, 'repo');
const hub = path.join(work, 'hub.git');
const KEY = `sk-e2e-${tag}-0123456789abcdefghij`;
const CONTEXT = `CONTEXT-${tag}`;
const TASK = `TASK-${tag}`;
const GREETING = `Hello from the real codex, ${tag}.`;
const ANSWER = 'I wrote GREETING.md.';
const TIMEOUT_MS = 300_000;
let server: ModelServer;
let env: NodeJS.ProcessEnv = {};

function isollm(args: string[], timeout = 120_000): string {
  const r = runCli(args, { cwd: root, env, timeout });
  if (r.code !== 0) throw new Error(`isollm ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

describe.skipIf(!rt)('the real codex in a worker, loop mode, through the stand-in model server', () => {
  beforeAll(async () => {
    await ensureAgentClis();
    const port = await freePort();
    server = await startModelServer({ port, command: `printf '%s\\n' '${GREETING}' > GREETING.md`, answer: ANSWER });
    // The README's variables, exported as a user would; the base URL is the same inside (proxy device).
    env = { OPENAI_API_KEY: KEY, OPENAI_BASE_URL: `${server.url}/v1` };
    fs.mkdirSync(root);
    git(root, 'init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(root, 'README.md'), '# e2e codex\n');
    fs.writeFileSync(path.join(root, '.gitignore'), '.isollm/\n');
    const yaml = e2eConfigYaml({
      project,
      hub,
      port: await freePort(),
      agent: { preset: 'codex', mode: 'loop', env: ['OPENAI_API_KEY', 'OPENAI_BASE_URL'], context: CONTEXT, loop: { poll_interval: 1 }, install: true, install_from: agentClisDir() },
    }).replace('workers: 2', 'workers: 1');
    fs.writeFileSync(path.join(root, 'isollm.yaml'), yaml);
    git(root, 'add', '.');
    git(root, 'commit', '-qm', 'initial');
    // doctor says how codex gets into the base.
    expect(runCli(['doctor'], { cwd: root, env }).stdout).toMatch(/✓ agent CLI install: codex pushed into the base from .*x86_64-unknown-linux-musl \(no network needed\)/);
    isollm(['worker', 'add'], TIMEOUT_MS);
    const [worker] = (await listInstances(rt!, project)).filter((i) => i.worker);
    await addDevice(rt!, worker.name, 'model', { type: 'proxy', bind: 'instance', listen: `tcp:127.0.0.1:${port}`, connect: `tcp:127.0.0.1:${port}` });
  }, TIMEOUT_MS);

  afterAll(async () => {
    runCli(['down', '--destroy', '--yes'], { cwd: root, env, timeout: TIMEOUT_MS });
    if (rt) for (const i of await listInstances(rt, project)) await deleteInstance(rt, i.name);
    runCli(['queue', 'stop'], { cwd: root, env });
    await server?.close();
    fs.rmSync(work, { recursive: true, force: true });
  }, TIMEOUT_MS);

  it('up: the loop claims the task, codex writes the file with its own tool, the task is done on its branch with what codex reported', async () => {
    expect(isollm(['worker', 'exec', 'worker-1', '--', 'sh', '-c', 'readlink /usr/local/bin/codex; codex --version'])).toMatch(/^\/opt\/isollm-agent\/codex\/bin\/codex\ncodex-cli 0\.171\.0/);
    const id = (JSON.parse(isollm(['task', 'add', `Write the greeting ${TASK}`, '-D', 'Put a greeting in GREETING.md.', '--json'])) as { id: string }).id;
    const started = Date.now();
    isollm(['up'], TIMEOUT_MS);
    let task: { status: string; block_reason?: string; result?: Record<string, unknown> } = { status: 'open' };
    while (Date.now() - started < 240_000) {
      task = (JSON.parse(isollm(['task', 'show', id, '--json'])) as { task: typeof task }).task;
      if (task.status === 'done' || task.status === 'blocked') break;
      await new Promise((r) => setTimeout(r, 1_000));
    }
    const log = runCli(['worker', 'logs', 'worker-1'], { cwd: root, env }).stdout;
    console.log(`codex in a worker: task ${task.status} in ${((Date.now() - started) / 1000).toFixed(1)} s, ${server.requests.length} requests to the stand-in`);
    expect({ status: task.status, reason: task.block_reason, log: task.status === 'done' ? '' : log.slice(-3000) }).toEqual({ status: 'done', reason: undefined, log: '' });

    // The file codex's tool wrote, committed by the loop, on the task's branch in the hub.
    const branch = `isollm/${id}`;
    expect(git(hub, 'show', `${branch}:GREETING.md`)).toBe(GREETING);
    expect(git(hub, 'rev-list', '--count', `main..${branch}`)).toBe('1');

    // What codex sent: the key, the task once per request, loop mode's instructions (AGENTS.md).
    const model = server.requests.filter((r) => r.api === 'openai' && r.method === 'POST');
    expect(model.length).toBeGreaterThanOrEqual(2);
    expect([...new Set(model.map((r) => r.headers.authorization))]).toEqual([`Bearer ${KEY}`]);
    expect(model.map((r) => occurrences(r.raw, TASK)).filter((n) => n > 1)).toEqual([]);
    expect(model.some((r) => occurrences(r.raw, TASK) === 1)).toBe(true);
    expect(model.some((r) => r.raw.includes(CONTEXT) && r.raw.includes('already claimed one task'))).toBe(true);
    // The tool's output came back in the conversation.
    expect(model.some((r) => r.raw.includes('_call_output'))).toBe(true);

    // What codex reported (exec --json) is on the task: the usage of each request as the stand-in gave it.
    const result = task.result as { turns: number; tokens_in: number; tokens_out: number; exit_status: number; duration_ms: number; last_message: string; worker: string; format: string; cost_usd?: number };
    console.log(`codex's run on the task: ${JSON.stringify(result)}`);
    expect(result).toMatchObject({ worker: 'worker-1', format: 'codex', exit_status: 0, turns: 1, last_message: ANSWER });
    expect(result.tokens_in % USAGE.input).toBe(0);
    expect(result.tokens_in / USAGE.input).toBeGreaterThanOrEqual(2);
    expect(result.tokens_out).toBe((result.tokens_in / USAGE.input) * USAGE.output);
    expect(result).not.toHaveProperty('cost_usd'); // codex reports none: none is made up
    const status = JSON.parse(isollm(['status', '--json'])) as { usage: Record<string, number> };
    expect(status.usage).toMatchObject({ runs: 1, tokens_in: result.tokens_in, tokens_out: result.tokens_out, cost_usd: 0 });
    // The worker's log shows the run as a transcript (the command codex's tool ran, its exit, the
    // final message), then the figures; the raw exec --json only in agent-run.log.
    expect(log).toMatch(/^→ \$ .*GREETING\.md.*\n {2}← exit 0\n/m);
    expect(log).toMatch(new RegExp(`^I wrote GREETING\\.md\\.\\n.* isollm-loop: agent run on ${id}: exit 0, `, 'm'));
    expect(log).not.toContain('{"type"');
    console.log(`the worker's log of the run:\n${log.slice(log.indexOf(`claimed ${id}`), log.indexOf(`done ${id}`))}`);
    expect(isollm(['worker', 'exec', 'worker-1', '--', 'cat', '/home/dev/.isollm/agent-run.log'])).toContain('"type":"turn.completed"');
  }, TIMEOUT_MS);
});
