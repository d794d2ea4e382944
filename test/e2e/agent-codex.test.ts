// The real codex in a real worker, in loop mode, from `isollm up` to the task done on its branch:
// agent.install pushes codex's native build into the project's base from the CLI cache
// (agent.install_from), the stand-in model server on the host answers the OpenAI Responses API
// (streaming) with one call of codex's own code-mode `exec` tool that writes a file, then a final
// answer. The loop claims the task, codex writes the file, the loop commits, pushes, records what
// codex reported (exec --json) and marks the task done; the worker's log shows the run as a transcript.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USAGE } from '../support/model-server.ts';
import { agentCycle, expectGreetingOnBranch, expectModelRequests, expectTranscript, expectUsageInStatus, runGreetingTask, type AgentCycle } from './agent-cycle.ts';
import { e2eRuntime } from './runtime-available.ts';

const rt = await e2eRuntime('agent-codex');
const KEY = `sk-e2e-${process.pid}-0123456789abcdefghij`;
const ANSWER = 'I wrote GREETING.md.';
const TIMEOUT_MS = 300_000;
let c: AgentCycle;

describe.skipIf(!rt)('the real codex in a worker, loop mode, through the stand-in model server', () => {
  beforeAll(async () => {
    c = await agentCycle(rt!, 'codex', {
      server: (greeting) => ({ command: `printf '%s\\n' '${greeting}' > GREETING.md`, answer: ANSWER }),
      // The README's variables, exported as a user would; the base URL is the same inside (proxy device).
      env: (url) => ({ OPENAI_API_KEY: KEY, OPENAI_BASE_URL: `${url}/v1` }),
      doctor: /✓ agent CLI install: codex pushed into the base from .*x86_64-unknown-linux-musl \(no network needed\)/,
      timeoutMs: TIMEOUT_MS,
    });
  }, TIMEOUT_MS);
  afterAll(() => c?.cleanUp(), TIMEOUT_MS);

  it('up: the loop claims the task, codex writes the file with its own tool, the task is done on its branch with what codex reported', async () => {
    expect(c.isollm(['worker', 'exec', 'worker-1', '--', 'sh', '-c', 'readlink /usr/local/bin/codex; codex --version'])).toMatch(/^\/opt\/isollm-agent\/codex\/bin\/codex\ncodex-cli 0\.171\.0/);
    const { id, task, log } = await runGreetingTask(c, 'codex', 240_000);
    expectGreetingOnBranch(c, id);
    // What codex sent: the key, the task once per request, loop mode's instructions (AGENTS.md), the tool's output.
    expectModelRequests(c, c.server.requests.filter((r) => r.api === 'openai' && r.method === 'POST'), (h) => h.authorization, `Bearer ${KEY}`, '_call_output');

    // What codex reported (exec --json) is on the task: the usage of each request as the stand-in gave it.
    const result = task.result!;
    expect(result).toMatchObject({ worker: 'worker-1', format: 'codex', exit_status: 0, turns: 1, last_message: ANSWER });
    expect(result.tokens_in % USAGE.input).toBe(0);
    expect(result.tokens_in / USAGE.input).toBeGreaterThanOrEqual(2);
    expect(result.tokens_out).toBe((result.tokens_in / USAGE.input) * USAGE.output);
    expect(result).not.toHaveProperty('cost_usd'); // codex reports none: none is made up
    expectUsageInStatus(c, result, { cost_usd: 0 });
    // The transcript: the command codex's tool ran and its exit.
    expect(log).toMatch(/^→ \$ .*GREETING\.md.*\n {2}← exit 0\n/m);
    expectTranscript(c, id, log, ANSWER, '"type":"turn.completed"');
  }, TIMEOUT_MS);
});
