// The real opencode in a real worker, in loop mode, from `isollm up` to the task done on its branch:
// agent.install pushes opencode's native build into the project's base from the CLI cache
// (agent.install_from); the stand-in model server on the host answers the Anthropic Messages API
// (streaming, which opencode's anthropic provider speaks, pointed there by OPENCODE_CONFIG_CONTENT)
// with one call of opencode's own `write` tool, then a final answer; the container reaches it at
// 127.0.0.1 through a proxy device (workers have no network). The loop claims the task, opencode
// writes the file, the loop commits, pushes, records what opencode reported (run --format json) and
// marks the task done; the worker's log shows the run as a transcript, not as JSON.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDevice, deleteInstance, listInstances } from '../../lib/runtime/client.ts';
import { agentClisDir, ensureAgentClis } from '../support/agent-clis.ts';
import { occurrences, startModelServer, USAGE, type ModelServer } from '../support/model-server.ts';
import { freePort, git, runCli } from '../helpers.ts';
import { e2eConfigYaml, e2eRuntime } from './runtime-available.ts';

const rt = await e2eRuntime('agent-opencode');
const tag = crypto.randomBytes(3).toString('hex');
const project = `e2e-opencode-${tag}`;
const work = fs.mkdtempSync(path.join('/tmp', 'isollm-e2e-opencode-'));
const root = path.join(work, 'repo');
const hub = path.join(work, 'hub.git');
const KEY = `sk-ant-e2e-${tag}-0123456789abcdefghij`;
const CONTEXT = `CONTEXT-${tag}`;
const TASK = `TASK-${tag}`;
const GREETING = `Hello from the real opencode, ${tag}.\n`;
const ANSWER = 'I wrote GREETING.md.';
const TIMEOUT_MS = 300_000;
let server: ModelServer;
let env: NodeJS.ProcessEnv = {};

function isollm(args: string[], timeout = 120_000): string {
  const r = runCli(args, { cwd: root, env, timeout });
  if (r.code !== 0) throw new Error(`isollm ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

describe.skipIf(!rt)('the real opencode in a worker, loop mode, through the stand-in model server', () => {
  beforeAll(async () => {
    await ensureAgentClis();
    const port = await freePort();
    server = await startModelServer({
      port,
      tool: { name: 'write', input: { filePath: '/home/dev/project/GREETING.md', content: GREETING } },
      answer: ANSWER,
    });
    // The README's variables, exported as a user would; the base URL is the same inside (proxy device).
    env = {
      ANTHROPIC_API_KEY: KEY,
      OPENCODE_CONFIG_CONTENT: JSON.stringify({ provider: { anthropic: { options: { baseURL: `${server.url}/v1` } } }, model: 'anthropic/claude-sonnet-4-5' }),
    };
    fs.mkdirSync(root);
    git(root, 'init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(root, 'README.md'), '# e2e opencode\n');
    fs.writeFileSync(path.join(root, '.gitignore'), '.isollm/\n');
    const yaml = e2eConfigYaml({
      project,
      hub,
      port: await freePort(),
      agent: { preset: 'opencode', mode: 'loop', env: ['ANTHROPIC_API_KEY', 'OPENCODE_CONFIG_CONTENT'], context: CONTEXT, loop: { poll_interval: 1 }, install: true, install_from: agentClisDir() },
    }).replace('workers: 2', 'workers: 1');
    fs.writeFileSync(path.join(root, 'isollm.yaml'), yaml);
    git(root, 'add', '.');
    git(root, 'commit', '-qm', 'initial');
    expect(runCli(['doctor'], { cwd: root, env }).stdout).toMatch(/✓ agent CLI install: opencode pushed into the base from .*opencode-ai\/bin \(no network needed\)/);
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

  it('up: the loop claims the task, opencode writes the file with its own tool, the task is done on its branch with what opencode reported', async () => {
    expect(isollm(['worker', 'exec', 'worker-1', '--', 'sh', '-c', 'readlink /usr/local/bin/opencode; opencode --version'])).toMatch(/^\/opt\/isollm-agent\/opencode\/opencode\.exe\n1\.18\.33/);
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
    console.log(`opencode in a worker: task ${task.status} in ${((Date.now() - started) / 1000).toFixed(1)} s, ${server.requests.length} requests to the stand-in`);
    expect({ status: task.status, reason: task.block_reason, log: task.status === 'done' ? '' : log.slice(-3000) }).toEqual({ status: 'done', reason: undefined, log: '' });

    // The file opencode's write tool wrote, committed by the loop, on the task's branch in the hub.
    const branch = `isollm/${id}`;
    expect(git(hub, 'show', `${branch}:GREETING.md`)).toBe(GREETING.trimEnd());
    expect(git(hub, 'rev-list', '--count', `main..${branch}`)).toBe('1');

    // What opencode sent: the key, the task once per request, loop mode's instructions (AGENTS.md).
    const model = server.requests.filter((r) => r.api === 'anthropic' && r.method === 'POST' && !r.path.includes('count_tokens'));
    expect(model.length).toBeGreaterThanOrEqual(2);
    expect([...new Set(model.map((r) => r.headers['x-api-key']))]).toEqual([KEY]);
    expect(model.map((r) => occurrences(r.raw, TASK)).filter((n) => n > 1)).toEqual([]);
    expect(model.some((r) => occurrences(r.raw, TASK) === 1)).toBe(true);
    expect(model.some((r) => r.raw.includes(CONTEXT) && r.raw.includes('already claimed one task'))).toBe(true);
    // The write tool's result came back in the conversation.
    expect(model.some((r) => r.raw.includes('"tool_result"'))).toBe(true);

    // What opencode reported (run --format json) is on the task: each step's usage as the stand-in gave it.
    const result = task.result as { turns: number; tokens_in: number; tokens_out: number; exit_status: number; duration_ms: number; last_message: string; worker: string; format: string; cost_usd?: number };
    console.log(`opencode's run on the task: ${JSON.stringify(result)}`);
    expect(result).toMatchObject({ worker: 'worker-1', format: 'opencode', exit_status: 0, last_message: ANSWER });
    expect(result.turns).toBeGreaterThanOrEqual(2);
    expect([result.tokens_in, result.tokens_out]).toEqual([USAGE.input * result.turns, USAGE.output * result.turns]);
    expect(result.cost_usd).toBeGreaterThan(0);
    const status = JSON.parse(isollm(['status', '--json'])) as { usage: Record<string, number> };
    expect(status.usage).toMatchObject({ runs: 1, tokens_in: result.tokens_in, tokens_out: result.tokens_out, cost_usd: result.cost_usd, turns: result.turns });
    // The worker's log shows the run as a transcript (opencode's write tool, its answer, the final
    // message), then the figures; the raw --format json only in agent-run.log.
    expect(log).toMatch(/^→ write: \/home\/dev\/project\/GREETING\.md\n {2}← .+\n/m);
    expect(log).toMatch(new RegExp(`^I wrote GREETING\\.md\\.\\n.* isollm-loop: agent run on ${id}: exit 0, `, 'm'));
    expect(log).not.toContain('{"type"');
    console.log(`the worker's log of the run:\n${log.slice(log.indexOf(`claimed ${id}`), log.indexOf(`done ${id}`))}`);
    const raw = isollm(['worker', 'exec', 'worker-1', '--', 'cat', '/home/dev/.isollm/agent-run.log']);
    expect(raw).toContain('"type":"step_finish"');
    // When each event came (ms after the first): where opencode spends its time.
    const events = raw.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string; timestamp: number; part?: { tool?: string; state?: { time?: { start: number; end: number } } } });
    console.log(`opencode's events: ${events.map((e) => `${e.type}${e.part?.tool ? ` ${e.part.tool} (${(e.part.state?.time?.end ?? 0) - (e.part.state?.time?.start ?? 0)} ms)` : ''} +${e.timestamp - events[0].timestamp} ms`).join(', ')}`);
  }, TIMEOUT_MS);
});
