// Recovery after a host reboot with the real Claude Code, interactive in tmux, in a real worker: the
// stand-in model server has claude claim its task with `isollm-task next` (its own Bash tool). Then
// what a reboot leaves — the container stopped with `lxc stop --force`, the queue daemon killed, the
// tmux server gone — and `isollm up`: the worker is back holding the same task, claude runs again
// with `--continue`, and the next prompt goes to the model with the conversation from before the
// reboot. The claude binary is pushed into the worker from the CLI cache (as agent-claude does).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDevice, execIn, listInstances, pushFile } from '../../lib/runtime/client.ts';
import { sessionName } from '../../lib/mux/index.ts';
import { agentClisDir, ensureAgentClis } from '../support/agent-clis.ts';
import { startModelServer, type ModelServer } from '../support/model-server.ts';
import { typeIntoTui } from '../support/throwaway-user.ts';
import { freePort } from '../helpers.ts';
import { e2eProject } from './project.ts';
import { e2eConfigYaml, e2eRuntime } from './runtime-available.ts';

const rt = await e2eRuntime('recovery-claude');
// The stand-in's URL and the key go into the CLI's environment once the stand-in runs.
const env: NodeJS.ProcessEnv = {};
const { tag, project, root, hub, cli, isollm, tmux, commit, destroy } = e2eProject('recc', env);
const session = sessionName(project);
const KEY = `sk-ant-e2e-${tag}-0123456789abcdefghij`;
const WORD = `WORD-${tag}`;
const TIMEOUT_MS = 300_000;
let server: ModelServer;
let container = '';

const pane = () => tmux('list-panes', '-s', '-t', session, '-F', '#{pane_id}\t#{@isollm_title}').stdout.trim().split('\n').map((l) => l.split('\t')).find((p) => p[1] === 'worker-1')?.[0] ?? '';
const screen = () => tmux('capture-pane', '-p', '-t', pane()).stdout ?? '';
const worker1 = () => (JSON.parse(isollm(['status', '--json'])) as { workers: { name: string; task: { id: string } | null; agent: { state: string; source: string | null } | null }[] }).workers.find((w) => w.name === 'worker-1')!;

async function until(what: string, ok: () => boolean, timeoutMs = 150_000, show: () => string = screen): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${show()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Wait for claude's screen to stop changing, then type `text` and press Enter until the model gets it. */
async function prompt(text: string): Promise<void> {
  const sent = () => server.requests.some((r) => r.raw.includes(text));
  const tui = { name: 'claude', screen, send: (...keys: string[]) => void tmux('send-keys', '-t', pane(), ...keys) };
  await typeIntoTui(tui, text, sent, { settleMs: 3_000, tries: 8, tryMs: 5_000, everyMs: 500 });
  await until('the prompt to reach the model', sent, 10_000);
}

describe.skipIf(!rt)('recovery after a reboot with the real claude, interactive', () => {
  beforeAll(async () => {
    await ensureAgentClis();
    const port = await freePort();
    server = await startModelServer({ port, command: 'isollm-task next', answer: 'I hold my task now.' });
    Object.assign(env, { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: server.url });
    const yaml = e2eConfigYaml({ project, hub, port: await freePort(), agent: { preset: 'claude', mode: 'interactive', env: ['ANTHROPIC_API_KEY', 'ANTHROPIC_BASE_URL'] } }).replace('workers: 2', 'workers: 1');
    commit({ 'README.md': '# e2e recovery claude\n', 'isollm.yaml': yaml });
    isollm(['worker', 'add'], TIMEOUT_MS);
    [{ name: container }] = (await listInstances(rt!, project)).filter((i) => i.worker);
    const binary = path.join(agentClisDir(), 'node_modules', '@anthropic-ai', 'claude-code', 'bin', 'claude.exe');
    await pushFile(rt!, container, binary, '/usr/local/bin/claude', { uid: 0, gid: 0, mode: 0o755 });
    await addDevice(rt!, container, 'model', { type: 'proxy', bind: 'instance', listen: `tcp:127.0.0.1:${port}`, connect: `tcp:127.0.0.1:${port}` });
  }, TIMEOUT_MS);

  afterAll(async () => {
    await destroy(rt, TIMEOUT_MS);
    await server?.close();
  }, TIMEOUT_MS);

  it('claude holds its task; after the reboot `up` restarts it with --continue, holding the same task, its conversation kept', async () => {
    const id = (JSON.parse(isollm(['task', 'add', `Remember ${WORD}`, '--json'])) as { id: string }).id;
    isollm(['up', '--multiplexer', 'tmux', '--detach'], TIMEOUT_MS);
    await prompt(`Take your task and remember ${WORD}.`);
    await until('claude to claim the task', () => worker1().task?.id === id);
    await until('claude idle at its prompt', () => worker1().agent?.state === 'idle');

    // The reboot.
    const stop = spawnSync(rt!.bin, ['stop', '--force', container], { encoding: 'utf8' });
    expect(stop.status, stop.stderr).toBe(0);
    process.kill(Number(fs.readFileSync(path.join(root, '.isollm', 'queue.pid'), 'utf8')), 'SIGKILL');
    tmux('kill-server');
    const before = server.requests.length;

    const up = cli(['up', '--multiplexer', 'tmux', '--detach'], TIMEOUT_MS);
    expect(up.code, up.stderr + up.stdout).toBe(0);
    expect(up.stdout + up.stderr).toContain(`Recovered worker-1 (container started, restarted agent: claude --continue, resumed task ${id})`);
    expect(isollm(['status'])).toContain(`recovered `);
    // Every process's argv (NUL-separated; the image has no ps): claude runs with --continue.
    const procs = await execIn(rt!, container, ['find', '/proc', '-maxdepth', '2', '-name', 'cmdline', '-exec', 'cat', '{}', '+']);
    expect(procs.stdout).toContain('claude\0--dangerously-skip-permissions\0--continue\0');

    // Its conversation is the one from before: the next prompt reaches the model with the first one.
    await prompt('What did you have to remember?');
    const next = server.requests.slice(before).find((r) => r.raw.includes('What did you have to remember?'))!;
    expect(next.raw).toContain(`Take your task and remember ${WORD}.`);
    expect(next.raw).toContain('isollm-task next');
    await until('claude idle again', () => worker1().agent?.state === 'idle');

    // The same task, held by the same worker, claimed once.
    const shown = JSON.parse(isollm(['task', 'show', id, '--json'])) as { task: { status: string; claimed_by: string }; history: { action: string; field: string }[] };
    expect(shown.task).toMatchObject({ status: 'in_progress', claimed_by: 'worker-1' });
    expect(shown.history.filter((h) => h.field === 'status').map((h) => h.action)).toEqual(['claim']);
  }, 3 * TIMEOUT_MS);
});
