// The real Claude Code CLI's own hooks report its state: claude (pinned, test/support/agent-clis.ts)
// runs headless as a throwaway non-root user whose home holds the files isollm pushes into a worker
// (agentFiles: ~/.claude/settings.json with the hooks), against the stand-in model server, which has
// it run one shell command. The hooks call templates/isollm-state, which reports to a real queue.
// Interactively, without the preset's --dangerously-skip-permissions, claude asks permission for the
// command: working → waiting → (approved in its tmux pane) working → idle, and the queue emits
// exactly one agent_waiting event (what notify.command gets).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAgentState } from '../../lib/queue/agents.ts';
import type { QueueEvent } from '../../lib/queue/events.ts';
import { defaults } from '../../lib/config/load.ts';
import { agentFiles } from '../../lib/worker/plan.ts';
import { ensureAgentClis } from '../support/agent-clis.ts';
import { agentTools, freshHome, killUserProcesses, removeUser, sh, typeIntoTui, waitFor } from '../support/throwaway-user.ts';
import { startModelServer } from '../support/model-server.ts';
import { NODE, spawnAsync } from '../helpers.ts';
import { testServer, watchStates } from '../queue-helpers.ts';
import { E2E_REQUIRED } from './runtime-available.ts';

const asRoot = process.getuid?.() === 0;
if (!asRoot) {
  const message = 'e2e claude hooks: needs root to create the throwaway non-root user.';
  if (E2E_REQUIRED) throw new Error(`${message} Required here (CI / ISOLLM_E2E=1).`);
  console.warn(`⚠ SKIPPED ${message}`);
}

const tag = crypto.randomBytes(3).toString('hex');
const user = `isollm-hk-${tag}`;
const home = `/home/${user}`;
const project = path.join(home, 'project');

describe.skipIf(!asRoot)('claude hooks report the agent state', () => {
  let bin = '';
  // isollm-state and isollm-agent, for the user.
  let tools = '';
  beforeAll(async () => {
    bin = await ensureAgentClis();
    sh('useradd', ['--create-home', '--shell', '/bin/sh', user]);
    tools = agentTools('isollm-hk-');
  }, 300_000);
  afterAll(async () => {
    if (asRoot) await removeUser(user);
    if (tools) fs.rmSync(tools, { recursive: true, force: true });
  });

  /** The user's home as isollm would push it for `mode`, a project, and the stand-in's credentials. */
  function prepareHome(mode: 'loop' | 'interactive', modelUrl: string): void {
    const secrets = { ANTHROPIC_API_KEY: `sk-test-${tag}-0123456789abcdefghij`, ANTHROPIC_BASE_URL: modelUrl };
    const config = defaults('hooks');
    config.agent = { ...config.agent, preset: 'claude', mode, env: Object.keys(secrets) };
    freshHome(user, home, null, project, agentFiles(config, project, 'worker-7', secrets));
  }

  const userEnv = (queuePort: number) => [`HOME=${home}`, `USER=${user}`, `PATH=${tools}:${bin}:${path.dirname(NODE)}:/usr/bin:/bin`, `ISOLLM_WORKER=worker-7`, `ISOLLM_QUEUE_URL=http://127.0.0.1:${queuePort}`];
  const asUser = (queuePort: number, args: string[], extra: string[] = []) => ['runuser', '-u', user, '--', 'env', '-i', ...userEnv(queuePort), ...extra, 'sh', '-c', 'cd "$1" && shift && exec "$@"', 'sh', project, ...args];

  it('interactive: asking permission is waiting; approved, it works on and is idle at its prompt', async () => {
    const events: QueueEvent[] = [];
    const queue = await testServer({ emit: (e) => events.push(e) });
    const marker = path.join(home, 'ran-permission');
    const model = await startModelServer({ command: `touch ${marker}`, answer: 'Done.' });
    const socket = path.join('/tmp', `isollm-hk-${tag}.tmux`);
    const tmux = (...args: string[]) => spawnSync('tmux', ['-S', socket, ...args], { encoding: 'utf8' });
    const screen = () => tmux('capture-pane', '-p', '-t', 'agent').stdout ?? '';
    const tui = { name: 'claude', screen, send: (...keys: string[]) => void tmux('send-keys', '-t', 'agent', ...keys) };
    const states = watchStates(queue, 'worker-7');
    try {
      prepareHome('interactive', model.url);
      // The preset skips permission prompts; this run must ask (not auto mode's own check either).
      fs.writeFileSync(path.join(home, '.isollm', 'agent.argv'), 'claude\n--permission-mode\ndefault\n');
      sh('chown', ['-R', `${user}:${user}`, home]);
      expect(tmux('new-session', '-d', '-s', 'agent', '-x', '200', '-y', '50', ...asUser(queue.port, ['sh', path.join(tools, 'isollm-agent')], ['TERM=xterm-256color'])).status).toBe(0);
      const task = `Task ar-${tag}: run the command`;
      await typeIntoTui(tui, task, () => model.requests.some((r) => r.raw.includes(task)));
      await waitFor('the permission question', () => getAgentState(queue.store, 'worker-7')?.state === 'waiting', 90_000, () => `${states.seen.join(' → ')}\n${screen()}`);
      expect(fs.existsSync(marker)).toBe(false);
      await new Promise((r) => setTimeout(r, 1_000));
      tmux('send-keys', '-t', 'agent', 'Enter'); // "1. Yes"
      await waitFor('the command run and claude idle', () => fs.existsSync(marker) && getAgentState(queue.store, 'worker-7')?.state === 'idle', 90_000, () => `${states.seen.join(' → ')}\n${screen()}`);
      states.stop();
      console.log(`claude permission: ${states.seen.join(' → ')}`);
      const order = states.seen.map((s) => s.split(' ')[0]).filter((s, i, a) => s !== a[i - 1]);
      const from = order.indexOf('working');
      expect(order.slice(from, from + 4)).toEqual(['working', 'waiting', 'working', 'idle']);
      expect(states.seen.find((s) => s.startsWith('waiting'))).toMatch(/^waiting claude:(PermissionRequest|Notification:permission_prompt)$/);
      expect(events.filter((e) => e.event === 'agent_waiting')).toHaveLength(1);
      expect(getAgentState(queue.store, 'worker-7')!.detail ?? '').not.toMatch(/\x1b/);
    } finally {
      states.stop();
      tmux('kill-server');
      await model.close();
    }
  }, 330_000);

  it('interactive: a usage limit from the model server is `limited` until the reset it names, not ended by claude going idle', async () => {
    const events: QueueEvent[] = [];
    const queue = await testServer({ emit: (e) => events.push(e) });
    const model = await startModelServer({ limit: { message: 'This request would exceed your account\'s rate limit. Try again in 2 hours.' } });
    const socket = path.join('/tmp', `isollm-hk-${tag}-limit.tmux`);
    const tmux = (...args: string[]) => spawnSync('tmux', ['-S', socket, ...args], { encoding: 'utf8' });
    const screen = () => tmux('capture-pane', '-p', '-t', 'agent').stdout ?? '';
    const tui = { name: 'claude', screen, send: (...keys: string[]) => void tmux('send-keys', '-t', 'agent', ...keys) };
    const states = watchStates(queue, 'worker-7');
    try {
      await killUserProcesses(user);
      prepareHome('interactive', model.url);
      sh('chown', ['-R', `${user}:${user}`, home]);
      const started = Date.now();
      expect(tmux('new-session', '-d', '-s', 'agent', '-x', '200', '-y', '50', ...asUser(queue.port, ['sh', path.join(tools, 'isollm-agent')], ['TERM=xterm-256color'])).status).toBe(0);
      const task = `Task ar-${tag}: hit the limit`;
      await typeIntoTui(tui, task, () => model.requests.some((r) => r.raw.includes(task)));
      await waitFor('limited', () => getAgentState(queue.store, 'worker-7')?.state === 'limited', 90_000, () => `${states.seen.join(' → ')}\n${screen()}`);
      const st = getAgentState(queue.store, 'worker-7')!;
      console.log(`claude limit: ${states.seen.join(' → ')}; until ${st.until}; ${st.detail}`);
      expect(st.source).toBe('claude:StopFailure');
      expect(Date.parse(st.until!) - started).toBeGreaterThan(7100_000);
      expect(Date.parse(st.until!) - Date.now()).toBeLessThan(7300_000);
      // claude at its prompt again (its own idle events) leaves it limited.
      await new Promise((r) => setTimeout(r, 5_000));
      expect(getAgentState(queue.store, 'worker-7')?.state).toBe('limited');
      expect(events.filter((e) => e.event === 'worker_limited')).toHaveLength(1);
    } finally {
      states.stop();
      tmux('kill-server');
      await killUserProcesses(user);
      await model.close();
    }
  }, 330_000);

  it('headless: SessionStart, UserPromptSubmit, PreToolUse/PostToolUse, Stop and SessionEnd reach the queue', async () => {
    const queue = await testServer();
    const marker = path.join(home, 'ran-hooks');
    const model = await startModelServer({ command: `touch ${marker}`, answer: 'Done.' });
    try {
      prepareHome('loop', model.url);
      const settings = JSON.parse(fs.readFileSync(path.join(home, '.claude', 'settings.json'), 'utf8'));
      expect(settings.skipDangerousModePermissionPrompt).toBe(true); // the preset's own key, kept
      const prompt = path.join(home, '.isollm', 'prompt.txt');
      fs.writeFileSync(prompt, `Task ar-${tag}: run the command\n`);
      sh('chown', ['-R', `${user}:${user}`, home]);

      const { seen, stop } = watchStates(queue, 'worker-7');
      const [cmd, ...args] = asUser(queue.port, ['sh', path.join(tools, 'isollm-agent'), 'headless', prompt]);
      const { code, output } = await spawnAsync(cmd, args, { timeout: 150_000, killSignal: 'SIGKILL' });
      stop();
      expect({ code, out: code === 0 ? '' : output.slice(-2000) }).toEqual({ code: 0, out: '' });
      expect(fs.existsSync(marker)).toBe(true);
      console.log(`claude hooks: ${seen.join(' → ')}`);
      // It worked (a prompt, a tool) before it stopped, and the session's end is the last word.
      expect(seen.some((s) => /^working claude:(UserPromptSubmit|PreToolUse|PostToolUse)$/.test(s))).toBe(true);
      expect(seen.at(-1)).toBe('exited claude:SessionEnd');
      const working = seen.findIndex((s) => s.startsWith('working'));
      expect(seen.slice(working).some((s) => s === 'idle claude:Stop' || s === 'exited claude:SessionEnd')).toBe(true);
    } finally {
      await model.close();
    }
  }, 240_000);
});
