// The real Claude Code in a real worker, in loop mode: the stand-in model server on the host answers
// the Messages API (streaming) with one tool_use of claude's own Write tool, then a final answer. The
// loop claims the task, claude writes the file, the loop commits, pushes and marks the task done; the
// worker's log shows the run as a transcript, not as JSON. agent.install puts claude (one native
// executable) into the project's base from the CLI cache (agent.install_from), so every worker has it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USAGE } from '../support/model-server.ts';
import { agentCycle, expectGreetingOnBranch, expectModelRequests, expectTranscript, expectUsageInStatus, runGreetingTask, type AgentCycle } from './agent-cycle.ts';
import { e2eRuntime } from './runtime-available.ts';

const rt = await e2eRuntime('agent-claude');
const KEY = `sk-ant-e2e-${process.pid}-0123456789abcdefghij`;
const ANSWER = 'I wrote GREETING.md.';
const TIMEOUT_MS = 240_000;
let c: AgentCycle;

describe.skipIf(!rt)('the real claude in a worker, loop mode, through the stand-in model server', () => {
  beforeAll(async () => {
    c = await agentCycle(rt!, 'claude', {
      server: (greeting) => ({ tool: { name: 'Write', input: { file_path: '/home/dev/project/GREETING.md', content: `${greeting}\n` } }, answer: ANSWER }),
      // The names in agent.env, exported as a user would; the base URL is the same inside (proxy device).
      env: (url) => ({ ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: url }),
      timeoutMs: TIMEOUT_MS,
    });
  }, TIMEOUT_MS);
  afterAll(() => c?.cleanUp(), TIMEOUT_MS);

  it('claims the task, claude writes the file with its own tool, the loop commits, pushes and marks it done', async () => {
    // In the worker because the base has it: agent.install pushed and linked it.
    expect(c.isollm(['worker', 'exec', 'worker-1', '--', 'sh', '-c', 'readlink /usr/local/bin/claude; claude --version'])).toMatch(/^\/opt\/isollm-agent\/claude\/claude\.exe\n2\.1\.332 /);
    const { id, task, log } = await runGreetingTask(c, 'claude', 180_000);
    expectGreetingOnBranch(c, id);
    // What claude sent: the key, the task once per request, the instructions (loop mode's), the Write tool's result.
    expectModelRequests(c, c.server.requests.filter((r) => r.api === 'anthropic' && r.method === 'POST'), (h) => h['x-api-key'], KEY, '"tool_result"');

    // What claude reported (stream-json) is on the task: every turn's usage as the stand-in gave it.
    const result = task.result!;
    expect(result).toMatchObject({ worker: 'worker-1', format: 'claude', exit_status: 0, last_message: ANSWER });
    expect(result.turns).toBeGreaterThanOrEqual(2);
    expect([result.tokens_in, result.tokens_out]).toEqual([USAGE.input * result.turns, USAGE.output * result.turns]);
    expect(result.cost_usd).toBeGreaterThan(0);
    expect(result.duration_ms).toBeGreaterThan(0);
    expect(c.isollm(['task', 'show', id])).toMatch(new RegExp(`Last agent run[\\s\\S]*tokens +${result.tokens_in} in, ${result.tokens_out} out[\\s\\S]*said +I wrote GREETING.md.`));
    expectUsageInStatus(c, result, { cost_usd: result.cost_usd!, turns: result.turns });
    // The transcript: claude's version and model, its own tool call and the answer to it.
    expect(log).toMatch(/^· claude 2\.1\.332, model /m);
    expect(log).toMatch(/^→ Write: \/home\/dev\/project\/GREETING\.md\n {2}← .+\n/m);
    expectTranscript(c, id, log, ANSWER, '"type":"result"');
  }, TIMEOUT_MS);
});
