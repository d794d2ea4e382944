// Every npm preset (claude, codex, gemini, opencode) in both modes, run for real on the host: the
// pinned CLI (test/support/agent-clis.ts), as a throwaway non-root user whose home holds exactly the
// files isollm pushes into a worker (agentFiles, moved from /home/dev to that home), started by the
// worker's own isollm-agent — headless on a prompt as isollm-loop writes it, or interactively in a
// tmux pane where the task is typed in. A stand-in model server on 127.0.0.1 checks what arrives: the
// task text exactly once, the instructions file, the credentials; and asks the agent to run a shell
// command outside the project, which only happens when no trust or permission prompt stands in the
// way. (aider is a Python package that cannot be installed here: its argv is covered by unit tests.)
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaults, type Config } from '../../lib/config/load.ts';
import { agentFiles } from '../../lib/worker/plan.ts';
import { ensureAgentClis, type AgentCli } from '../support/agent-clis.ts';
import { freshHome, killUserProcesses, removeUser, sh, systemDir, typeIntoTui, waitFor as waitEvery } from '../support/throwaway-user.ts';
import { occurrences, startModelServer, USAGE, type ModelRequest, type ModelServer } from '../support/model-server.ts';
import { parseRunOutput } from '../../lib/agent/results.ts';
import { NODE, ROOT, spawnAsync } from '../helpers.ts';
import { E2E_REQUIRED } from './runtime-available.ts';

// The screen is read every 250 ms.
const waitFor = (what: string, ok: () => boolean, timeoutMs: number, onTimeout?: () => string) => waitEvery(what, ok, timeoutMs, onTimeout, 250);

const asRoot = process.getuid?.() === 0;
if (!asRoot) {
  const message = 'e2e agent CLIs: needs root to create the throwaway non-root user.';
  if (E2E_REQUIRED) throw new Error(`${message} Required here (CI / ISOLLM_E2E=1).`);
  console.warn(`⚠ SKIPPED ${message}`);
}

const LAUNCHER = path.join(ROOT, 'templates', 'isollm-agent');
const tag = crypto.randomBytes(3).toString('hex');
const user = `isollm-agt-${tag}`;
const home = `/home/${user}`;
const project = path.join(home, 'project');
const ANSWER = `The task is done ${tag}.`;
let bin = '';
// Root's system files of a worker (gemini's hooks), made in beforeAll.
let sys = { dir: '', env: {} as Record<string, string> };

type Case = {
  /** Host variables named in agent.env, as the user would export them. */
  env: (url: string) => Record<string, string>;
  /** The credential as the stand-in server must see it. */
  auth: (r: ModelRequest) => string | undefined;
  expectedAuth: string;
};

const KEY = `sk-test-${tag}-0123456789abcdefghij`;
const CASES: Record<AgentCli, Case> = {
  claude: {
    env: (url) => ({ ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: url }),
    auth: (r) => r.headers['x-api-key'] as string | undefined,
    expectedAuth: KEY,
  },
  // The README's variable: isollm hands it to codex in ~/.codex/auth.json.
  codex: {
    env: (url) => ({ OPENAI_API_KEY: KEY, OPENAI_BASE_URL: `${url}/v1` }),
    auth: (r) => r.headers.authorization as string | undefined,
    expectedAuth: `Bearer ${KEY}`,
  },
  gemini: {
    env: (url) => ({ GEMINI_API_KEY: KEY, GOOGLE_GEMINI_BASE_URL: url }),
    auth: (r) => r.headers['x-goog-api-key'] as string | undefined,
    expectedAuth: KEY,
  },
  opencode: {
    env: (url) => ({
      ANTHROPIC_API_KEY: KEY,
      OPENCODE_CONFIG_CONTENT: JSON.stringify({ provider: { anthropic: { options: { baseURL: `${url}/v1` } } }, model: 'anthropic/claude-sonnet-4-5' }),
    }),
    auth: (r) => r.headers['x-api-key'] as string | undefined,
    expectedAuth: KEY,
  },
};

/** A fresh home (a first run for every CLI) with a project and the files isollm would push. */
function prepareHome(config: Config, secrets: Record<string, string>): void {
  freshHome(user, home, sys.dir, project, agentFiles(config, project, 'worker-1', secrets));
}

/** argv that runs `args` as the test user with a clean environment, in the project. */
function asUser(args: string[], extraEnv: Record<string, string> = {}): string[] {
  const env = [`HOME=${home}`, `USER=${user}`, `PATH=${bin}:${path.dirname(NODE)}:/usr/local/bin:/usr/bin:/bin`, ...Object.entries({ ...sys.env, ...extraEnv }).map(([k, v]) => `${k}=${v}`)];
  return ['runuser', '-u', user, '--', 'env', '-i', ...env, 'sh', '-c', 'cd "$1" && shift && exec "$@"', 'sh', project, ...args];
}

function config(preset: AgentCli, mode: 'loop' | 'interactive', names: string[], context: string): Config {
  const c = defaults('agents');
  c.agent = { ...c.agent, preset, mode, env: names, context };
  return c;
}

/** What every run must show the stand-in server. */
function checkRequests(server: ModelServer, c: Case, taskMarker: string, contextMarker: string): void {
  const model = server.requests.filter((r) => r.api !== 'other' && r.method === 'POST');
  expect(model.length).toBeGreaterThan(0);
  // The task text exactly once: in some request, and never twice in one.
  expect(model.some((r) => occurrences(r.raw, taskMarker) === 1)).toBe(true);
  expect(model.map((r) => occurrences(r.raw, taskMarker)).filter((n) => n > 1)).toEqual([]);
  // The instructions file was read.
  expect(model.some((r) => r.raw.includes(contextMarker))).toBe(true);
  // Credentials on every model request.
  expect([...new Set(model.map((r) => c.auth(r)))]).toEqual([c.expectedAuth]);
}

describe.skipIf(!asRoot).each(Object.keys(CASES) as AgentCli[])('%s, as isollm prepares it', (preset) => {
  const c = CASES[preset];

  beforeAll(async () => {
    bin ||= await ensureAgentClis();
    if (!sys.dir) sys = systemDir(tag);
    if (!fs.existsSync(home)) {
      sh('useradd', ['--create-home', '--shell', '/bin/sh', user]);
      fs.chmodSync(home, 0o750);
    }
  }, 300_000);

  it('loop mode: headless on the loop\'s prompt', async () => {
    const marker = path.join(home, `ran-${preset}-loop`);
    const server = await startModelServer({ command: `touch ${marker}`, answer: ANSWER });
    try {
      const taskMarker = `TASK-${tag}-${preset}-loop`;
      const contextMarker = `CONTEXT-${tag}-${preset}-loop`;
      const env = c.env(server.url);
      prepareHome(config(preset, 'loop', Object.keys(env), contextMarker), env);
      // The prompt exactly as isollm-loop writes it.
      const prompt = path.join(home, '.isollm', 'prompt.txt');
      fs.writeFileSync(prompt, `Task ar-${tag}: ${taskMarker}\n\nYou are on branch isollm/ar-${tag} in ${project}. Do the task, then commit your work.\n`);
      sh('chown', [`${user}:${user}`, prompt]);
      const [cmd, ...args] = asUser(['sh', LAUNCHER, 'headless', prompt]);
      const started = Date.now();
      const { code, stdout, stderr } = await spawnAsync(cmd, args, { timeout: 150_000, killSignal: 'SIGKILL' });
      console.log(`${preset} loop: exit ${code} in ${((Date.now() - started) / 1000).toFixed(1)} s, ${server.requests.length} requests`);
      // ISOLLM_CAPTURE_DIR=dir: keep the CLI's output (how test/fixtures/agent-output was made).
      if (process.env.ISOLLM_CAPTURE_DIR) fs.writeFileSync(path.join(process.env.ISOLLM_CAPTURE_DIR, `${preset}.jsonl`), stdout);
      expect({ code, stderr: code === 0 ? '' : stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });
      expect(stdout).toContain(ANSWER);
      checkRequests(server, c, taskMarker, contextMarker);
      expect(fs.existsSync(marker)).toBe(true);
      // What isollm reads from this CLI's machine-readable output (every stand-in answer: 1234 in, 56 out).
      const report = parseRunOutput(preset, stdout);
      console.log(`${preset} loop: reported ${JSON.stringify(report)}`);
      expect(report.last_message).toBe(ANSWER);
      expect(report.tokens_in! % USAGE.input).toBe(0);
      expect(report.tokens_out).toBe((report.tokens_in! / USAGE.input) * USAGE.output);
      expect(report.tokens_in).toBeGreaterThanOrEqual(2 * USAGE.input);
    } finally {
      await killUserProcesses(user);
      await server.close();
    }
  }, 180_000);

  it('interactive mode: the task typed into its pane', async () => {
    const marker = path.join(home, `ran-${preset}-interactive`);
    const server = await startModelServer({ command: `touch ${marker}`, answer: ANSWER });
    const socket = path.join('/tmp', `isollm-agt-${tag}-${preset}.tmux`);
    const tmux = (...args: string[]) => spawnSync('tmux', ['-S', socket, ...args], { encoding: 'utf8' });
    const screen = () => tmux('capture-pane', '-p', '-t', 'agent').stdout ?? '';
    try {
      const taskMarker = `TASK-${tag}-${preset}-interactive`;
      const contextMarker = `CONTEXT-${tag}-${preset}-interactive`;
      const env = c.env(server.url);
      prepareHome(config(preset, 'interactive', Object.keys(env), contextMarker), env);
      const started = Date.now();
      // The pane's command in a worker: isollm-agent with a terminal.
      expect(tmux('new-session', '-d', '-s', 'agent', '-x', '200', '-y', '50', ...asUser(['sh', LAUNCHER], { TERM: 'xterm-256color' })).status).toBe(0);
      const tui = { name: preset, screen, send: (...keys: string[]) => void tmux('send-keys', '-t', 'agent', ...keys) };
      await typeIntoTui(tui, `Task ar-${tag}: ${taskMarker}`, () => server.requests.some((r) => r.raw.includes(taskMarker)), { everyMs: 250 });
      // The command ran, and its result went back to the model.
      const done = () => fs.existsSync(marker) && server.requests.filter((r) => r.raw.includes(taskMarker)).length >= 2;
      await waitFor(`${preset} to work on the typed task`, done, 90_000, screen);
      console.log(`${preset} interactive: worked in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      checkRequests(server, c, taskMarker, contextMarker);
    } finally {
      tmux('kill-server');
      fs.rmSync(socket, { force: true });
      await killUserProcesses(user);
      await server.close();
    }
  }, 330_000);
});

afterAll(async () => {
  if (!asRoot || !fs.existsSync(home)) return;
  await removeUser(user);
  if (sys.dir) fs.rmSync(sys.dir, { recursive: true, force: true });
});
