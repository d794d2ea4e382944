// Structured results of headless runs: each CLI's parser on its REAL output (test/fixtures/agent-output,
// captured from the pinned CLIs run by test/e2e/agent-clis.test.ts against the stand-in model server,
// whose every answer reports 1234 tokens in and 56 out), and the way from isollm-task to the task.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { planAgent, presetOutput } from '../lib/agent/presets.ts';
import { LAST_MESSAGE_MAX, parseRunOutput } from '../lib/agent/results.ts';
import { defaults } from '../lib/config/load.ts';
import { agentRunLines } from '../lib/queue/format.ts';
import { ROOT, runScript, tmpDir } from './helpers.ts';
import { call, projectApi, testServer } from './queue-helpers.ts';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'agent-output');
const captured = (name: string) => fs.readFileSync(path.join(FIXTURES, `${name}.jsonl`), 'utf8');
const ANSWER = 'The task is done 11dadc.';

describe('what each CLI reports, read from its real output', () => {
  it('claude stream-json: the result event (2 model turns of 1234 in / 56 out), its cost and answer', () => {
    expect(parseRunOutput('claude', captured('claude'))).toEqual({ tokens_in: 2468, tokens_out: 112, cost_usd: 0.012112, turns: 2, last_message: ANSWER });
  });

  it('codex exec --json: turn.completed usage, the last agent_message; no cost (codex reports none)', () => {
    expect(parseRunOutput('codex', captured('codex'))).toEqual({ tokens_in: 2468, tokens_out: 112, turns: 1, last_message: ANSWER });
  });

  it('gemini stream-json: the result stats (3 requests, a routing one included), the streamed answer; no cost, no turns', () => {
    expect(parseRunOutput('gemini', captured('gemini'))).toEqual({ tokens_in: 3702, tokens_out: 168, last_message: ANSWER });
  });

  it('opencode --format json: step_finish tokens and cost summed over its 2 steps, the last text', () => {
    expect(parseRunOutput('opencode', captured('opencode'))).toEqual({ tokens_in: 2468, tokens_out: 112, cost_usd: 0.009084, turns: 2, last_message: ANSWER });
  });

  it('the tail of the output, cut mid-line, with stderr lines in it, reads the same', () => {
    for (const cli of ['claude', 'codex', 'opencode'] as const) {
      const text = captured(cli);
      const lines = text.split('\n');
      // Cut inside the first line and mix stderr in: the totals are at the end.
      const tail = `${lines[0].slice(20)}\nsome warning on stderr\n${lines.slice(1, -2).join('\n')}\n{not json\n${lines.slice(-2).join('\n')}`;
      expect(parseRunOutput(cli, tail)).toEqual(parseRunOutput(cli, text));
    }
  });

  it('nothing reported: no field at all, never a guess', () => {
    for (const cli of ['claude', 'codex', 'gemini', 'opencode'] as const) {
      expect(parseRunOutput(cli, '')).toEqual({});
      expect(parseRunOutput(cli, 'Error: could not reach the model\n')).toEqual({});
    }
    // A claude run cut off before its result event: only the last assistant text is known.
    const cut = captured('claude').split('\n').filter((l) => !l.includes('"type":"result"')).join('\n');
    expect(parseRunOutput('claude', cut)).toEqual({ last_message: ANSWER });
  });

  it('a long last message is cut to LAST_MESSAGE_MAX characters', () => {
    const long = 'x'.repeat(LAST_MESSAGE_MAX * 2);
    const out = JSON.stringify({ type: 'item.completed', item: { type: 'agent_message', text: long } });
    const msg = parseRunOutput('codex', out).last_message!;
    expect(msg).toHaveLength(LAST_MESSAGE_MAX);
    expect(msg.endsWith('…')).toBe(true);
  });

  it('every npm preset asks its CLI for machine-readable output; aider and custom agents have none', () => {
    const config = defaults('p');
    for (const [preset, flags] of [['claude', ['--output-format', 'stream-json', '--verbose']], ['codex', ['--json']], ['gemini', ['--output-format', 'stream-json']], ['opencode', ['--format', 'json']]] as const) {
      const plan = planAgent({ ...config.agent, preset });
      expect(plan.output).toBe(preset);
      expect(presetOutput(preset)).toBe(preset);
      expect(plan.headless.join(' ')).toContain(flags.join(' '));
      expect(plan.interactive.join(' ')).not.toContain(flags[0]);
    }
    expect(presetOutput('aider')).toBeNull();
    expect(presetOutput('custom')).toBeNull();
  });
});

function helper(env: Record<string, string>, ...args: string[]) {
  return runScript(path.join(ROOT, 'templates', 'isollm-task'), env, args);
}

describe('recording a run on the task (isollm-task result → the queue)', () => {
  it('the worker holding the task records it; the task shows it, the summary sums every run', async () => {
    const s = await testServer();
    const api = projectApi(s, 'proj');
    const env = { ISOLLM_QUEUE_PORT: String(s.port), ISOLLM_PROJECT: 'proj', ISOLLM_TASK_STATE: path.join(tmpDir(), 'current'), ISOLLM_AGENT: 'w1' };
    const id = (await helper(env, 'add', 'a task')).stdout.trim();
    expect((await helper(env, 'next')).code).toBe(0);
    const output = path.join(FIXTURES, 'claude.jsonl');

    // Another worker, on its own socket, may not record on it.
    const w2 = { unix: (await s.addSocket('w2')).path };
    const other = await call(w2, 'POST', `/v1/projects/proj/tasks/${id}/result`, { body: { exit_status: 0, duration_ms: 5 } });
    expect([other.status, other.json.error.code]).toEqual([403, 'NOT_OWNER']);

    const rec = await helper(env, 'result', '--exit', '0', '--duration-ms', '4321', '--format', 'claude', '--output', output);
    expect(rec).toMatchObject({ code: 0, stdout: `exit 0, 4.3 s, 2 turn(s), 2468 tokens in, 112 out, $0.0121\nsaid: ${ANSWER}\n` });
    const task = (await api.call('GET', `/tasks/${id}`)).json;
    expect(task.result).toMatchObject({ worker: 'w1', format: 'claude', exit_status: 0, duration_ms: 4321, tokens_in: 2468, tokens_out: 112, cost_usd: 0.012112, turns: 2, last_message: ANSWER });
    expect(Date.parse(task.result.recorded_at)).not.toBeNaN();
    expect(agentRunLines(task.result).join('\n')).toContain(`said       ${ANSWER}`);

    // A failed second run without machine-readable output (a custom agent): exit and duration only.
    expect((await helper(env, 'result', id, '--exit', '3', '--duration-ms', '1000')).code).toBe(0);
    const after = (await api.call('GET', `/tasks/${id}`)).json.result;
    expect(after).toEqual({ worker: 'w1', exit_status: 3, duration_ms: 1000, recorded_at: after.recorded_at });
    expect((await api.call('GET', '/summary')).json.agent_usage).toEqual({ runs: 2, tokens_in: 2468, tokens_out: 112, cost_usd: 0.012112, duration_ms: 5321, turns: 2 });
    // The history (newest first) says what was recorded.
    const history = (await api.call('GET', `/tasks/${id}/history`)).json as { action: string; new_value?: string }[];
    expect(history.filter((e) => e.action === 'result').map((e) => e.new_value)).toEqual(['exit 3, 1.0 s', 'exit 0, 4.3 s, 2 turn(s), 2468 tokens in, 112 out, $0.0121']);
  });

  it('bad input: one clear answer, nothing recorded', async () => {
    const s = await testServer();
    const api = projectApi(s, 'proj');
    const id = (await api.call('POST', '/tasks', { body: { title: 't' } })).json.id;
    const bad = await api.call('POST', `/tasks/${id}/result`, { body: { exit_status: 'x', duration_ms: -1, format: 'vim' } });
    expect(bad.status).toBe(400);
    expect(bad.json.error.context.details).toEqual(['exit_status must be a whole number from -1 to 255', 'duration_ms must be a whole number from 0 to 1000000000000', 'format must be one of claude, codex, gemini, opencode']);
    expect((await api.call('GET', '/summary')).json.agent_usage.runs).toBe(0);
    expect((await helper({ ISOLLM_QUEUE_PORT: String(s.port), ISOLLM_PROJECT: 'proj' }, 'result', id, '--exit', '0')).code).toBe(2);
    // From the host, any task; control characters in the message never reach the terminal.
    const out = JSON.stringify({ type: 'item.completed', item: { type: 'agent_message', text: 'done\x1b]52;c;evil\x07\nsecond line' } });
    const ok = await api.call('POST', `/tasks/${id}/result`, { body: { exit_status: 0, duration_ms: 1, format: 'codex', output: out } });
    expect(ok.status).toBe(200);
    expect(ok.json.result.last_message).toBe('done\ufffd]52;c;evil\ufffd\nsecond line');
  });
});
