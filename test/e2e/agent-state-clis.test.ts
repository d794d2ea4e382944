// The real Codex and opencode CLIs report their state through what isollm installs for them: codex's
// hooks (~/.codex/hooks.json) and `notify` program (~/.codex/config.toml), and opencode's plugin
// (~/.config/opencode/plugin/), all
// calling templates/isollm-state, which reports to a real queue. Each CLI (pinned,
// test/support/agent-clis.ts) runs as a throwaway non-root user whose home holds the files isollm
// pushes into a worker (agentFiles), against the stand-in model server, which has it run one shell
// command: headless as the loop runs it, and interactively in a tmux pane where the task is typed in.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAgentState } from '../../lib/queue/agents.ts';
import { defaults } from '../../lib/config/load.ts';
import { agentFiles } from '../../lib/worker/plan.ts';
import { ensureAgentClis } from '../support/agent-clis.ts';
import { agentTools, freshHome, killUserProcesses, removeUser, sh, systemDir, typeIntoTui, waitFor } from '../support/throwaway-user.ts';
import { startModelServer, type ModelServer } from '../support/model-server.ts';
import { NODE, spawnAsync } from '../helpers.ts';
import type { QueueEvent } from '../../lib/queue/events.ts';
import { testServer, watchStates } from '../queue-helpers.ts';
import { E2E_REQUIRED } from './runtime-available.ts';

const asRoot = process.getuid?.() === 0;
if (!asRoot) {
  const message = 'e2e codex/opencode state: needs root to create the throwaway non-root user.';
  if (E2E_REQUIRED) throw new Error(`${message} Required here (CI / ISOLLM_E2E=1).`);
  console.warn(`⚠ SKIPPED ${message}`);
}

const tag = crypto.randomBytes(3).toString('hex');
const user = `isollm-st-${tag}`;
const home = `/home/${user}`;
const project = path.join(home, 'project');
const KEY = `sk-test-${tag}-0123456789abcdefghij`;

type Cli = 'codex' | 'opencode' | 'gemini';
const ENV: Record<Cli, (url: string) => Record<string, string>> = {
  codex: (url) => ({ OPENAI_API_KEY: KEY, OPENAI_BASE_URL: `${url}/v1` }),
  gemini: (url) => ({ GEMINI_API_KEY: KEY, GOOGLE_GEMINI_BASE_URL: url }),
  opencode: (url) => ({
    ANTHROPIC_API_KEY: KEY,
    OPENCODE_CONFIG_CONTENT: JSON.stringify({ provider: { anthropic: { options: { baseURL: `${url}/v1` } } }, model: 'anthropic/claude-sonnet-4-5' }),
  }),
};

describe.skipIf(!asRoot)('codex and opencode report the agent state', () => {
  let bin = '';
  // isollm-state and isollm-agent, for the user.
  let tools = '';
  // Root's system files of a worker (gemini's hooks).
  let sys = { dir: '', env: {} as Record<string, string> };
  beforeAll(async () => {
    bin = await ensureAgentClis();
    sys = systemDir(tag);
    sh('useradd', ['--create-home', '--shell', '/bin/sh', user]);
    tools = agentTools('isollm-st-');
  }, 300_000);
  afterAll(async () => {
    if (asRoot) await removeUser(user);
    if (tools) fs.rmSync(tools, { recursive: true, force: true });
    if (sys.dir) fs.rmSync(sys.dir, { recursive: true, force: true });
  });

  function prepareHome(cli: Cli, mode: 'loop' | 'interactive', secrets: Record<string, string>): void {
    const config = defaults('states');
    config.agent = { ...config.agent, preset: cli, mode, env: Object.keys(secrets) };
    freshHome(user, home, sys.dir, project, agentFiles(config, project, 'worker-7', secrets));
  }

  const asUser = (queuePort: number, args: string[], extra: string[] = []) => [
    'runuser', '-u', user, '--', 'env', '-i',
    `HOME=${home}`, `USER=${user}`, `PATH=${tools}:${bin}:${path.dirname(NODE)}:/usr/bin:/bin`, 'ISOLLM_WORKER=worker-7', `ISOLLM_QUEUE_URL=http://127.0.0.1:${queuePort}`, `ISOLLM_OPENCODE_EVENTS=${home}/events.log`, ...Object.entries(sys.env).map(([k, v]) => `${k}=${v}`), ...extra,
    'sh', '-c', 'cd "$1" && shift && exec "$@"', 'sh', project, ...args,
  ];

  async function headless(cli: Cli, model: ModelServer, queuePort: number): Promise<{ code: number | null; out: string }> {
    const prompt = path.join(home, '.isollm', 'prompt.txt');
    fs.writeFileSync(prompt, `Task ar-${tag}: run the command\n`);
    sh('chown', [`${user}:${user}`, prompt]);
    const [cmd, ...args] = asUser(queuePort, ['sh', path.join(tools, 'isollm-agent'), 'headless', prompt]);
    const { code, output } = await spawnAsync(cmd, args, { timeout: 150_000, killSignal: 'SIGKILL' });
    void model;
    return { code, out: output };
  }

  async function interactive(cli: Cli, model: ModelServer, queuePort: number, states: { seen: string[] }, done: () => boolean, env: string[] = []): Promise<void> {
    const socket = path.join('/tmp', `isollm-st-${tag}-${cli}.tmux`);
    const tmux = (...args: string[]) => spawnSync('tmux', ['-S', socket, ...args], { encoding: 'utf8' });
    const screen = () => tmux('capture-pane', '-p', '-t', 'agent').stdout ?? '';
    try {
      expect(tmux('new-session', '-d', '-s', 'agent', '-x', '200', '-y', '50', ...asUser(queuePort, ['sh', path.join(tools, 'isollm-agent')], ['TERM=xterm-256color', ...env])).status).toBe(0);
      const task = `Task ar-${tag}: run the command`;
      const tui = { name: cli, screen, send: (...keys: string[]) => void tmux('send-keys', '-t', 'agent', ...keys) };
      await typeIntoTui(tui, task, () => model.requests.some((r) => r.raw.includes(task)), { settleMs: 3_000, tries: 6 });
      await waitFor(`${cli} done and idle`, done, 120_000, () => `${states.seen.join(' → ')}\n${screen()}`);
    } finally {
      tmux('kill-server');
      await killUserProcesses(user);
    }
  }

  for (const cli of ['codex', 'opencode', 'gemini'] as const) {
    it(`${cli} headless: its hook reports to the queue`, async () => {
      const queue = await testServer();
      const marker = path.join(home, `ran-${cli}`);
      const model = await startModelServer({ command: `touch ${marker}`, answer: 'Done.' });
      const states = watchStates(queue, 'worker-7');
      try {
        prepareHome(cli, 'loop', ENV[cli](model.url));
        const { code, out } = await headless(cli, model, queue.port);
        await new Promise((r) => setTimeout(r, 1_000)); // a hook still on its way
        states.stop();
        console.log(`${cli} headless: ${states.seen.join(' → ')}`);
        if (cli === 'opencode') console.log(fs.readFileSync(`${home}/events.log`, 'utf8'));
        expect({ code, out: code === 0 ? '' : out.slice(-2000) }).toEqual({ code: 0, out: '' });
        expect(fs.existsSync(marker)).toBe(true);
        // (what follows the agent's exit is the loop's to report)
        const working = states.seen.findIndex((s) => s.startsWith(`working ${cli}:`));
        expect(working).toBeGreaterThanOrEqual(0);
        expect(states.seen.slice(working).some((s) => s.startsWith(`idle ${cli}:`))).toBe(true);
      } finally {
        states.stop();
        await killUserProcesses(user);
        await model.close();
      }
    }, 240_000);

    it(`${cli} interactive: working while it runs the command, idle at its prompt after`, async () => {
      const queue = await testServer();
      const marker = path.join(home, `ran-${cli}-i`);
      const model = await startModelServer({ command: `touch ${marker}`, answer: 'Done.' });
      const states = watchStates(queue, 'worker-7');
      try {
        prepareHome(cli, 'interactive', ENV[cli](model.url));
        await interactive(cli, model, queue.port, states, () => fs.existsSync(marker) && getAgentState(queue.store, 'worker-7')?.state === 'idle' && /^idle \w+:/.test(states.seen.at(-1) ?? ''));
        states.stop();
        console.log(`${cli} interactive: ${states.seen.join(' → ')}`);
        expect(states.seen.at(-1)).toMatch(new RegExp(`^idle ${cli}:`));
        expect(states.seen.some((s) => s.startsWith(`working ${cli}:`))).toBe(true);
      } finally {
        states.stop();
        await model.close();
      }
    }, 330_000);
  }

  // A turn that fails on the quota fires neither codex's Stop hook nor its notify: only its session
  // transcript records `task_complete` with the error, which the watcher isollm-state starts at
  // UserPromptSubmit reads. The API's own answer: 429 insufficient_quota, no reset time (so the
  // backoff), and the queue ends the limit at that time by itself.
  it('codex interactive: a turn that ends on the quota (429 insufficient_quota) is limited until the backoff, then idle again', async () => {
    const events: QueueEvent[] = [];
    const queue = await testServer({ emit: (e) => events.push(e) });
    const model = await startModelServer({ limit: { kind: 'insufficient_quota', message: 'You exceeded your current quota, please check your plan and billing details.' } });
    const states = watchStates(queue, 'worker-7');
    const BACKOFF = 20;
    try {
      prepareHome('codex', 'interactive', ENV.codex(model.url));
      const over = () => states.seen.includes(`idle isollm:limit-reset`);
      await interactive('codex', model, queue.port, states, over, [`ISOLLM_LIMIT_BACKOFF=${BACKOFF}`]);
      states.stop();
      console.log(`codex limit: ${states.seen.join(' → ')}`);
      const limitedAt = states.seen.indexOf('limited codex:task_complete');
      expect(limitedAt).toBeGreaterThan(states.seen.indexOf('working codex:UserPromptSubmit'));
      expect(states.seen.slice(limitedAt)).toEqual(['limited codex:task_complete', 'idle isollm:limit-reset']);
      const limited = events.find((e) => e.event === 'worker_limited')!;
      expect(limited.agent!.detail).toMatch(/^usage limit: usage_limit_exceeded: Quota exceeded/);
      const secs = (Date.parse(limited.agent!.until!) - Date.parse(limited.agent!.since)) / 1000;
      expect(secs).toBeGreaterThan(BACKOFF - 3);
      expect(secs).toBeLessThanOrEqual(BACKOFF + 1);
      const resumed = events.filter((e) => e.event === 'worker_resumed');
      expect(resumed).toHaveLength(1);
      expect(Date.parse(resumed[0].at)).toBeGreaterThanOrEqual(Date.parse(limited.agent!.until!));
      expect(events.map((e) => e.event)).toEqual(['worker_limited', 'worker_resumed']);
    } finally {
      states.stop();
      await model.close();
    }
  }, 330_000);
});
