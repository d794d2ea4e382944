// The real opencode in a real worker, in loop mode, from `isollm up` to the task done on its branch:
// agent.install pushes opencode's native build into the project's base from the CLI cache
// (agent.install_from); the stand-in model server on the host answers the Anthropic Messages API
// (streaming, which opencode's anthropic provider speaks, pointed there by OPENCODE_CONFIG_CONTENT)
// with one call of opencode's own `write` tool, then a final answer. The loop claims the task,
// opencode writes the file, the loop commits, pushes, records what opencode reported (run --format
// json) and marks the task done; the worker's log shows the run as a transcript, not as JSON.
// opencode's plugin package is in the base (installed by the host's npm): the run does not wait
// for opencode's own install of it, which without network took about 70 s of every run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USAGE } from '../support/model-server.ts';
import { agentCycle, expectGreetingOnBranch, expectModelRequests, expectTranscript, expectUsageInStatus, runGreetingTask, type AgentCycle } from './agent-cycle.ts';
import { e2eRuntime } from './runtime-available.ts';

const rt = await e2eRuntime('agent-opencode');
const KEY = `sk-ant-e2e-${process.pid}-0123456789abcdefghij`;
const ANSWER = 'I wrote GREETING.md.';
const TIMEOUT_MS = 300_000;
let c: AgentCycle;

describe.skipIf(!rt)('the real opencode in a worker, loop mode, through the stand-in model server', () => {
  beforeAll(async () => {
    c = await agentCycle(rt!, 'opencode', {
      server: (greeting) => ({ tool: { name: 'write', input: { filePath: '/home/dev/project/GREETING.md', content: `${greeting}\n` } }, answer: ANSWER }),
      // The README's variables, exported as a user would; the base URL is the same inside (proxy device).
      env: (url) => ({
        ANTHROPIC_API_KEY: KEY,
        OPENCODE_CONFIG_CONTENT: JSON.stringify({ provider: { anthropic: { options: { baseURL: `${url}/v1` } } }, model: 'anthropic/claude-sonnet-4-5' }),
      }),
      doctor: /✓ agent CLI install: opencode pushed into the base from .*opencode-ai\/bin \(no network needed\); @opencode-ai\/plugin@1\.18\.33 into ~\/\.config\/opencode by the host's npm/,
      timeoutMs: TIMEOUT_MS,
    });
  }, TIMEOUT_MS);
  afterAll(() => c?.cleanUp(), TIMEOUT_MS);

  it('up: the loop claims the task, opencode writes the file with its own tool, the task is done on its branch with what opencode reported', async () => {
    expect(c.isollm(['worker', 'exec', 'worker-1', '--', 'sh', '-c', 'readlink /usr/local/bin/opencode; opencode --version'])).toMatch(/^\/opt\/isollm-agent\/opencode\/opencode\.exe\n1\.18\.33/);
    // The plugin package opencode wants in its config directory is there, dev's (opencode installs into it only when it can write it).
    const dir = '/home/dev/.config/opencode';
    const cat = (file: string) => JSON.parse(c.isollm(['worker', 'exec', 'worker-1', '--', 'cat', `${dir}/${file}`])) as Record<string, unknown>;
    expect(c.isollm(['worker', 'exec', 'worker-1', '--', 'stat', '-c', '%U', dir, `${dir}/node_modules/@opencode-ai/plugin`])).toBe('dev\ndev\n');
    expect(cat('node_modules/@opencode-ai/plugin/package.json').version).toBe('1.18.33');
    // What opencode checks before it installs: the lockfile's root lists what package.json does.
    expect(cat('package.json')).toEqual({ dependencies: { '@opencode-ai/plugin': '1.18.33' } });
    expect((cat('package-lock.json').packages as Record<string, { dependencies?: object }>)[''].dependencies).toEqual({ '@opencode-ai/plugin': '1.18.33' });
    const { id, task, log } = await runGreetingTask(c, 'opencode', 240_000);
    expectGreetingOnBranch(c, id);
    // What opencode sent: the key, the task once per request, loop mode's instructions (AGENTS.md), the write tool's result.
    expectModelRequests(c, c.server.requests.filter((r) => r.api === 'anthropic' && r.method === 'POST' && !r.path.includes('count_tokens')), (h) => h['x-api-key'], KEY, '"tool_result"');

    // What opencode reported (run --format json) is on the task: each step's usage as the stand-in gave it.
    const result = task.result!;
    expect(result).toMatchObject({ worker: 'worker-1', format: 'opencode', exit_status: 0, last_message: ANSWER });
    expect(result.turns).toBeGreaterThanOrEqual(2);
    expect([result.tokens_in, result.tokens_out]).toEqual([USAGE.input * result.turns, USAGE.output * result.turns]);
    expect(result.cost_usd).toBeGreaterThan(0);
    // No wait for an install: opencode's log of the run, which read its config directory, has no failed
    // install in it (`background dependency install failed`, 70 s into the run), and the run took
    // seconds (21 s on the loaded machine; 91 s with the wait).
    const opencodeLog = c.isollm(['worker', 'exec', 'worker-1', '--', 'sh', '-c', 'cat /home/dev/.local/share/opencode/log/*.log']);
    expect(opencodeLog).toContain(`message=loading path=${dir}/opencode.json`);
    expect(opencodeLog.split('\n').filter((l) => /dependency install|install failed|NpmInstall/i.test(l))).toEqual([]);
    expect(result.duration_ms).toBeLessThan(50_000);
    expectUsageInStatus(c, result, { cost_usd: result.cost_usd!, turns: result.turns });
    // The transcript: opencode's write tool and the answer to it.
    expect(log).toMatch(/^→ write: \/home\/dev\/project\/GREETING\.md\n {2}← .+\n/m);
    expectTranscript(c, id, log, ANSWER, '"type":"step_finish"');
    // When each event came (ms after the first): where opencode spends its time.
    const raw = c.isollm(['worker', 'exec', 'worker-1', '--', 'cat', '/home/dev/.isollm/agent-run.log']);
    const events = raw.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string; timestamp: number; part?: { tool?: string; state?: { time?: { start: number; end: number } } } });
    console.log(`opencode's events: ${events.map((e) => `${e.type}${e.part?.tool ? ` ${e.part.tool} (${(e.part.state?.time?.end ?? 0) - (e.part.state?.time?.start ?? 0)} ms)` : ''} +${e.timestamp - events[0].timestamp} ms`).join(', ')}`);
  }, TIMEOUT_MS);
});
