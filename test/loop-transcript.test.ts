// templates/isollm-loop with an agent that writes claude's REAL stream-json output (the captured
// fixture) as claude does, line by line: the loop's log shows it as a transcript while the agent still
// runs (the queue renders it), never the JSON; the raw output stays in ~/.isollm/agent-run.log and is
// what the queue reads for the task's result. An agent killed mid-run, or a loop stopped with Ctrl-C,
// behave as without a transcript.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ROOT } from './helpers.ts';
import { until, worker } from './loop-helpers.ts';

const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'agent-output', 'claude.jsonl');

// Up to the tool's result (line 6), a commit, a line on stderr; the rest once $MARK/go exists.
const AGENT = `#!/bin/sh
echo $$ > "$MARK/agent.pid"
head -n 6 '${FIXTURE}'
echo work > work.txt && git add work.txt && git commit -qm work
echo 'warning: something on stderr' >&2
until [ -e "$MARK/go" ]; do sleep 0.1; done
tail -n +7 '${FIXTURE}'
`;

const alive = (pid: number) => {
  try { process.kill(pid, 0); return true; } catch { return false; }
};

describe('isollm-loop: the agent\'s output as a transcript in the log', () => {
  it('shows each line as claude writes it, as text, tool call and answer; the raw JSON only in agent-run.log', async () => {
    const w = await worker(AGENT);
    const api = w.api();
    const id = (await api.call('POST', '/tasks', { body: { title: 'write work' } })).json.id as string;
    const loop = w.startLoop({ ISOLLM_AGENT_OUTPUT: 'claude', ISOLLM_GIVE_UP_AFTER: '2' });

    // While the agent waits, the log already has what it wrote: rendered.
    await until('the tool call in the log', () => loop.log().includes('→ Bash: touch /home/isollm-agt-11dadc/ran-claude-loop'));
    await until('the tool\'s answer in the log', () => loop.log().includes('  ← (Bash completed with no output)'));
    expect(loop.log()).not.toContain('The task is done 11dadc.');
    expect(alive(Number(fs.readFileSync(path.join(w.dir, 'agent.pid'), 'utf8')))).toBe(true);
    fs.writeFileSync(path.join(w.dir, 'go'), '');

    expect(await loop.exited, loop.log()).toBe(0);
    const log = loop.log();
    const lines = log.split('\n');
    const from = lines.findIndex((l) => l.startsWith('· claude'));
    expect(lines.slice(from, from + 5)).toEqual([
      '· claude 2.1.332, model claude-opus-5-5',
      '→ Bash: touch /home/isollm-agt-11dadc/ran-claude-loop',
      '  ← (Bash completed with no output)',
      'warning: something on stderr',
      'The task is done 11dadc.',
    ]);
    expect(lines[from + 5]).toMatch(new RegExp(`isollm-loop: agent run on ${id}: exit 0, [\\d.]+ s, 2 turn\\(s\\), 2468 tokens in, 112 out, \\$0\\.0121$`));
    expect(log).not.toContain('{"');
    // The raw output is kept, and is what the task's result was read from.
    const raw = fs.readFileSync(path.join(w.dir, 'disk', 'home', '.isollm', 'agent-run.log'), 'utf8');
    expect(raw).toContain('"type":"result"');
    expect(raw).toContain('{"type":"assistant"');
    const task = (await api.call('GET', `/tasks/${id}`)).json;
    expect(task).toMatchObject({ status: 'done', result: { exit_status: 0, tokens_in: 2468, tokens_out: 112, last_message: 'The task is done 11dadc.' } });
  }, 60_000);

  it('an agent killed mid-run: what it wrote is shown, the task goes back for another run', async () => {
    const w = await worker(AGENT);
    const api = w.api();
    const id = (await api.call('POST', '/tasks', { body: { title: 'write work' } })).json.id as string;
    const loop = w.startLoop({ ISOLLM_AGENT_OUTPUT: 'claude' });
    await until('the tool call in the log', () => loop.log().includes('→ Bash: touch'));
    process.kill(Number(fs.readFileSync(path.join(w.dir, 'agent.pid'), 'utf8')), 'SIGKILL');
    // (The loop takes it up again at once: the log says it gave it back.)
    await until('the task given back', () => loop.log().includes(`gave ${id} back`), 45_000);
    expect(loop.log()).toContain(`gave ${id} back for another run: the agent was killed by signal 9 (exit status 137)`);
    expect(loop.log()).toContain('  ← (Bash completed with no output)');
    expect(loop.log()).not.toContain('{"');
    process.kill(-loop.pid, 'SIGKILL');
  }, 60_000);

  it('gemini\'s answer streamed over seconds is one line of text in the log, not one per piece', async () => {
    const delta = (content: string) => JSON.stringify({ type: 'message', role: 'assistant', content, delta: true });
    const w = await worker(`#!/bin/sh
echo '${delta('I will write ')}'
sleep 1.5
echo '${delta('the file')}'
sleep 1.5
echo '${delta(' now.')}'
echo '${JSON.stringify({ type: 'tool_use', tool_name: 'write_file', parameters: { file_path: 'work.txt', content: 'work' } })}'
echo work > work.txt && git add work.txt && git commit -qm work
echo '${JSON.stringify({ type: 'tool_result', status: 'success', output: 'Wrote work.txt' })}'
sleep 1.5
echo '${delta('Done.')}'
echo '${JSON.stringify({ type: 'result', status: 'success', stats: { input_tokens: 10, output_tokens: 2 } })}'
`);
    const id = (await w.api().call('POST', '/tasks', { body: { title: 'stream' } })).json.id as string;
    const loop = w.startLoop({ ISOLLM_AGENT_OUTPUT: 'gemini', ISOLLM_GIVE_UP_AFTER: '2' });
    expect(await loop.exited, loop.log()).toBe(0);
    const lines = loop.log().split('\n');
    const from = lines.indexOf('I will write the file now.');
    expect(lines.slice(from, from + 4), loop.log()).toEqual(['I will write the file now.', '→ write_file: work.txt', '  ← Wrote work.txt', 'Done.']);
    expect(lines[from + 4]).toMatch(new RegExp(`agent run on ${id}: exit 0, .*10 tokens in, 2 out`));
  }, 60_000);

  it('a line longer than what the loop sends at once is left out, saying so; what follows is shown', async () => {
    const big = JSON.stringify({ type: 'user', message: { content: [{ type: 'tool_result', content: 'x'.repeat(150_000) }] } });
    const after = JSON.stringify({ type: 'assistant', message: { content: [{ type: 'text', text: 'After the big one.' }] } });
    const w = await worker(`#!/bin/sh
printf '%s\\n' '${big}' '${after}'
echo work > work.txt && git add work.txt && git commit -qm work
`);
    const id = (await w.api().call('POST', '/tasks', { body: { title: 'big' } })).json.id as string;
    const loop = w.startLoop({ ISOLLM_AGENT_OUTPUT: 'claude', ISOLLM_GIVE_UP_AFTER: '2' });
    expect(await loop.exited, loop.log()).toBe(0);
    expect(loop.log()).toMatch(new RegExp(`isollm-loop: a line of ${big.length + 1} bytes left out of the transcript \\(it is in .*agent-run.log\\)\nAfter the big one.\n.*agent run on ${id}: exit 0`));
    expect(loop.log()).not.toContain('xxxx');
  }, 60_000);

  it('a queue that does not render transcripts (another airyra server): the raw lines are shown instead', async () => {
    const w = await worker(AGENT);
    // A proxy in front of the queue that knows no /transcript.
    const proxy = http.createServer((req, res) => {
      if (req.url?.endsWith('/transcript')) {
        req.resume();
        res.writeHead(404, { 'content-type': 'text/plain' }).end('error: NOT_FOUND: No such endpoint\n');
        return;
      }
      const upstream = http.request(`${w.queueUrl}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
    const id = (await w.api().call('POST', '/tasks', { body: { title: 'write work' } })).json.id as string;
    fs.writeFileSync(path.join(w.dir, 'go'), '');
    const loop = w.startLoop({ ISOLLM_AGENT_OUTPUT: 'claude', ISOLLM_GIVE_UP_AFTER: '2', ISOLLM_QUEUE_URL: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` });
    expect(await loop.exited, loop.log()).toBe(0);
    // Every line the agent wrote, as it wrote it, in order.
    const raw = fs.readFileSync(FIXTURE, 'utf8').split('\n').filter(Boolean);
    const log = loop.log();
    expect(raw.map((l) => log.indexOf(l)).every((at, i, all) => at >= 0 && (i === 0 || at > all[i - 1]))).toBe(true);
    expect(log).toContain(`agent run on ${id}: exit 0`);
  }, 60_000);

  it('Ctrl-C on the loop stops the agent it runs in the background too', async () => {
    const w = await worker(AGENT);
    const api = w.api();
    await api.call('POST', '/tasks', { body: { title: 'write work' } });
    const loop = w.startLoop({ ISOLLM_AGENT_OUTPUT: 'claude' });
    await until('the tool call in the log', () => loop.log().includes('→ Bash: touch'));
    const agent = Number(fs.readFileSync(path.join(w.dir, 'agent.pid'), 'utf8'));
    process.kill(loop.pid, 'SIGINT');
    expect(await loop.exited).toBe(130);
    await until('the agent to stop', () => !alive(agent), 5_000);
  }, 60_000);
});
