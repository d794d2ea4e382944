// The real Claude Code in a real worker, in loop mode: the stand-in model server on the host answers
// the Messages API (streaming) with one tool_use of claude's own Write tool, then a final answer; the
// container reaches it at 127.0.0.1 through a proxy device (workers have no network). The loop claims
// the task, claude writes the file, the loop commits, pushes and marks the task done; the worker's log
// shows the run as a transcript, not as JSON.
// agent.install puts claude (one native executable) into the project's base from the CLI cache
// (agent.install_from), so every worker has it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDevice, deleteInstance, listInstances } from '../../lib/runtime/client.ts';
import { agentClisDir, ensureAgentClis } from '../support/agent-clis.ts';
import { occurrences, startModelServer, USAGE, type ModelServer } from '../support/model-server.ts';
import { freePort, git, runCli } from '../helpers.ts';
import { e2eConfigYaml, e2eRuntime } from './runtime-available.ts';

const rt = await e2eRuntime('agent-claude');
const tag = crypto.randomBytes(3).toString('hex');
const project = `e2e-claude-${tag}`;
const work = fs.mkdtempSync(path.join('/tmp', 'isollm-e2e-claude-'));
const root = path.join(work, 'repo');
const hub = path.join(work, 'hub.git');
const KEY = `sk-ant-e2e-${tag}-0123456789abcdefghij`;
const CONTEXT = `CONTEXT-${tag}`;
const TASK = `TASK-${tag}`;
const GREETING = `Hello from the real Claude Code, ${tag}.\n`;
const TIMEOUT_MS = 240_000;
let server: ModelServer;
let env: NodeJS.ProcessEnv = {};

function isollm(args: string[], timeout = 120_000): string {
  const r = runCli(args, { cwd: root, env, timeout });
  if (r.code !== 0) throw new Error(`isollm ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

describe.skipIf(!rt)('the real claude in a worker, loop mode, through the stand-in model server', () => {
  beforeAll(async () => {
    await ensureAgentClis();
    const port = await freePort();
    server = await startModelServer({
      port,
      tool: { name: 'Write', input: { file_path: '/home/dev/project/GREETING.md', content: GREETING } },
      answer: 'I wrote GREETING.md.',
    });
    // The names in agent.env, exported as a user would; the base URL is the same inside (proxy device).
    env = { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: server.url };
    fs.mkdirSync(root);
    git(root, 'init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(root, 'README.md'), '# e2e claude\n');
    fs.writeFileSync(path.join(root, '.gitignore'), '.isollm/\n');
    const yaml = e2eConfigYaml({
      project,
      hub,
      port: await freePort(),
      // agent.install from the CLI cache: claude's native binary pushed into the base (no network there).
      agent: { preset: 'claude', mode: 'loop', env: ['ANTHROPIC_API_KEY', 'ANTHROPIC_BASE_URL'], context: CONTEXT, loop: { poll_interval: 1 }, install: true, install_from: agentClisDir() },
    }).replace('workers: 2', 'workers: 1');
    fs.writeFileSync(path.join(root, 'isollm.yaml'), yaml);
    git(root, 'add', '.');
    git(root, 'commit', '-qm', 'initial');
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

  it('claims the task, claude writes the file with its own tool, the loop commits, pushes and marks it done', async () => {
    const id = (JSON.parse(isollm(['task', 'add', `Write the greeting ${TASK}`, '-D', 'Put a greeting in GREETING.md.', '--json'])) as { id: string }).id;
    // In the worker because the base has it: agent.install pushed and linked it.
    expect(isollm(['worker', 'exec', 'worker-1', '--', 'sh', '-c', 'readlink /usr/local/bin/claude; claude --version'])).toMatch(/^\/opt\/isollm-agent\/claude\/claude\.exe\n2\.1\.332 /);
    const started = Date.now();
    isollm(['up'], TIMEOUT_MS);
    let task: { status: string; block_reason?: string; result?: Record<string, unknown> } = { status: 'open' };
    while (Date.now() - started < 180_000) {
      task = (JSON.parse(isollm(['task', 'show', id, '--json'])) as { task: typeof task }).task;
      if (task.status === 'done' || task.status === 'blocked') break;
      await new Promise((r) => setTimeout(r, 1_000));
    }
    const log = runCli(['worker', 'logs', 'worker-1'], { cwd: root, env }).stdout;
    console.log(`claude in a worker: task ${task.status} in ${((Date.now() - started) / 1000).toFixed(1)} s, ${server.requests.length} requests to the stand-in`);
    expect({ status: task.status, reason: task.block_reason, log: task.status === 'done' ? '' : log.slice(-3000) }).toEqual({ status: 'done', reason: undefined, log: '' });

    // The file claude wrote, committed by the loop, on the task's branch in the hub.
    const branch = `isollm/${id}`;
    expect(git(hub, 'show', `${branch}:GREETING.md`)).toBe(GREETING.trimEnd());
    expect(git(hub, 'rev-list', '--count', `main..${branch}`)).toBe('1');

    // What claude sent: the key, the task once per request, the instructions (loop mode's).
    const model = server.requests.filter((r) => r.api === 'anthropic' && r.method === 'POST');
    expect(model.length).toBeGreaterThanOrEqual(2);
    expect([...new Set(model.map((r) => r.headers['x-api-key']))]).toEqual([KEY]);
    expect(model.map((r) => occurrences(r.raw, TASK))).toContain(1);
    expect(model.map((r) => occurrences(r.raw, TASK)).filter((n) => n > 1)).toEqual([]);
    expect(model.some((r) => r.raw.includes(CONTEXT) && r.raw.includes('already claimed one task'))).toBe(true);
    // The Write tool's result came back in the conversation (the second turn).
    expect(model.some((r) => r.raw.includes('"tool_result"'))).toBe(true);

    // What claude reported (stream-json) is on the task: every turn's usage as the stand-in gave it.
    const result = task.result as { turns: number; tokens_in: number; tokens_out: number; cost_usd: number; exit_status: number; duration_ms: number; last_message: string; worker: string; format: string };
    console.log(`claude's run on the task: ${JSON.stringify(result)}`);
    expect(result).toMatchObject({ worker: 'worker-1', format: 'claude', exit_status: 0, last_message: 'I wrote GREETING.md.' });
    expect(result.turns).toBeGreaterThanOrEqual(2);
    expect([result.tokens_in, result.tokens_out]).toEqual([USAGE.input * result.turns, USAGE.output * result.turns]);
    expect(result.cost_usd).toBeGreaterThan(0);
    expect(result.duration_ms).toBeGreaterThan(0);
    expect(isollm(['task', 'show', id])).toMatch(new RegExp(`Last agent run[\\s\\S]*tokens +${result.tokens_in} in, ${result.tokens_out} out[\\s\\S]*said +I wrote GREETING.md.`));
    const status = JSON.parse(isollm(['status', '--json'])) as { usage: Record<string, number> };
    expect(status.usage).toMatchObject({ runs: 1, tokens_in: result.tokens_in, tokens_out: result.tokens_out, cost_usd: result.cost_usd, turns: result.turns });
    // The worker's log shows the run as a transcript (claude's own tool call, its answer, the final
    // message), then the figures; the raw stream-json only in agent-run.log.
    expect(log).toMatch(/^· claude 2\.1\.332, model /m);
    expect(log).toMatch(/^→ Write: \/home\/dev\/project\/GREETING\.md\n {2}← .+\n/m);
    expect(log).toMatch(new RegExp(`^I wrote GREETING\\.md\\.\\n.* isollm-loop: agent run on ${id}: exit 0, `, 'm'));
    expect(log).not.toContain('{"type"');
    console.log(`the worker's log of the run:\n${log.slice(log.indexOf(`claimed ${id}`), log.indexOf(`done ${id}`))}`);
    expect(isollm(['worker', 'exec', 'worker-1', '--', 'cat', '/home/dev/.isollm/agent-run.log'])).toContain('"type":"result"');
  }, TIMEOUT_MS);
});

