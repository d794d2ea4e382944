// The human-readable transcript of a headless run (lib/agent/transcript.ts), made from each CLI's
// REAL machine-readable output (test/fixtures/agent-output, captured from the pinned CLIs by
// test/e2e/agent-clis.test.ts against the stand-in model server): whole, and piece by piece as the
// loop sends it while the agent runs; and the way there from the worker (isollm-task transcript).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { OutputFormat } from '../lib/agent/presets.ts';
import { HOLD_MAX_BYTES, renderTranscript } from '../lib/agent/transcript.ts';
import { ROOT, runScript } from './helpers.ts';
import { projectApi, testServer } from './queue-helpers.ts';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'agent-output');
const captured = (name: string) => fs.readFileSync(path.join(FIXTURES, `${name}.jsonl`), 'utf8');
const HOME = '/home/isollm-agt-11dadc';
const ANSWER = 'The task is done 11dadc.';

const EXPECTED: Record<OutputFormat, string[]> = {
  claude: [
    '· claude 2.1.332, model claude-opus-5-5',
    `→ Bash: touch ${HOME}/ran-claude-loop`,
    '  ← (Bash completed with no output)',
    ANSWER,
  ],
  // codex reports its failed WebSocket attempts (the stand-in speaks HTTP only) as errors: shown, one line each.
  codex: [
    ...[2, 3, 4, 5].map((n) => `! Reconnecting... ${n}/5 (unexpected status 404 Not Found: 2 {} 0, url: ws://127.0.0.1:35461/v1/responses)`),
    '! Falling back from WebSockets to HTTPS transport. unexpected status 404 Not Found: 2 {} 0, url: ws://127.0.0.1:35461/v1/responses',
    `→ $ /bin/sh -lc 'touch ${HOME}/ran-codex-loop'`,
    '  ← exit 0',
    ANSWER,
  ],
  gemini: [
    '· gemini, model auto',
    `→ run_shell_command: touch ${HOME}/ran-gemini-loop`,
    '  ← (no output)',
    ANSWER,
  ],
  opencode: [
    `→ bash: touch ${HOME}/ran-opencode-loop`,
    '  ← (no output)',
    ANSWER,
  ],
};

/** What the loop does: pieces of what was written so far, the lines not used sent again with what follows. */
function asTheLoopSends(format: OutputFormat, output: string, cuts: number[]): string {
  const bytes = Buffer.from(output);
  let off = 0;
  let shown = '';
  for (const written of [...cuts, bytes.length]) {
    const final = written === bytes.length;
    const piece = bytes.subarray(off, written).toString('utf8');
    const t = renderTranscript(format, piece, final);
    shown += t.text;
    if (final) break;
    off += Buffer.byteLength(piece.split('\n').slice(0, t.lines).map((l) => `${l}\n`).join(''));
  }
  return shown;
}

describe('the transcript of each CLI\'s real output', () => {
  for (const format of Object.keys(EXPECTED) as OutputFormat[]) {
    it(`${format}: the agent's text, its tool call and the tool's answer, one line each; no JSON`, () => {
      const t = renderTranscript(format, captured(format), true);
      expect(t.text).toBe(EXPECTED[format].map((l) => `${l}\n`).join(''));
      expect(t.text).not.toContain('{"');
    });

    it(`${format}: piece by piece as the loop sends it (cut anywhere, mid-line too) it reads the same`, () => {
      const output = captured(format);
      const size = Buffer.byteLength(output);
      // Every line boundary, a cut inside every line, and a few random ones.
      const cuts = new Set<number>();
      let at = 0;
      for (const line of output.split('\n')) {
        cuts.add(at + Math.floor(Buffer.byteLength(line) / 2));
        at += Buffer.byteLength(line) + 1;
        cuts.add(at);
      }
      for (let i = 0; i < 20; i++) cuts.add(Math.floor(Math.random() * size));
      const sorted = [...cuts].filter((c) => c > 0 && c < size).sort((a, b) => a - b);
      expect(asTheLoopSends(format, output, sorted)).toBe(renderTranscript(format, output, true).text);
      for (let i = 0; i < 10; i++) {
        const some = sorted.filter(() => Math.random() < 0.3);
        expect(asTheLoopSends(format, output, some)).toBe(renderTranscript(format, output, true).text);
      }
    });
  }

  it('a line still being written is not used until its newline comes (or the run ends)', () => {
    const line = JSON.stringify({ type: 'item.completed', item: { type: 'agent_message', text: 'half' } });
    expect(renderTranscript('codex', line.slice(0, 20))).toEqual({ text: '', lines: 0 });
    expect(renderTranscript('codex', `${line}\n${line.slice(0, 20)}`)).toEqual({ text: 'half\n', lines: 1 });
    // At the end a cut line is shown as it is: it is all there is.
    expect(renderTranscript('codex', line.slice(0, 20), true)).toEqual({ text: `${line.slice(0, 20)}\n`, lines: 1 });
  });

  it('gemini\'s streamed answer stays one text when its pieces are sent apart, held back while it may go on', () => {
    const delta = (content: string) => JSON.stringify({ type: 'message', role: 'assistant', content, delta: true });
    const tool = JSON.stringify({ type: 'tool_use', tool_name: 'read_file', parameters: { file_path: 'a.txt' } });
    expect(renderTranscript('gemini', `${delta('I will ')}\n${delta('read it.')}\n`)).toEqual({ text: '', lines: 0 });
    expect(renderTranscript('gemini', `${delta('I will ')}\n${delta('read it.')}\n${tool}\n`)).toEqual({ text: 'I will read it.\n→ read_file: a.txt\n', lines: 3 });
    expect(renderTranscript('gemini', `${delta('I will ')}\n${delta('read it.')}\n`, true)).toEqual({ text: 'I will read it.\n', lines: 2 });
    // A long answer is not held back for ever: past HOLD_MAX_BYTES it is shown as far as it goes.
    const lines = Math.ceil(HOLD_MAX_BYTES / 100);
    const long = Array.from({ length: lines }, () => delta('x'.repeat(100))).join('\n') + '\n';
    expect(renderTranscript('gemini', long)).toEqual({ text: `${'x'.repeat(100 * lines)}\n`, lines });
    const short = Array.from({ length: 10 }, () => delta('x'.repeat(100))).join('\n') + '\n';
    expect(renderTranscript('gemini', short).lines).toBe(0);
  });

  it('lines that are not JSON (stderr) are kept; escape sequences never reach the terminal', () => {
    const evil = JSON.stringify({ type: 'item.completed', item: { type: 'agent_message', text: 'done\x1b]52;c;evil\x07 \x1b[31mred\x1b[0m' } });
    const t = renderTranscript('codex', `Warning: something on stderr\n{not json\n${evil}\n\n`, true);
    expect(t.text).toBe('Warning: something on stderr\n{not json\ndone\ufffd]52;c;evil\ufffd red\n');
  });

  it('a tool call is one line, however long its input; a failed one says so', () => {
    const command = `echo ${'a'.repeat(500)}\necho second line`;
    const t = renderTranscript('claude', [
      JSON.stringify({ type: 'assistant', message: { content: [{ type: 'tool_use', name: 'Bash', input: { command } }, { type: 'tool_use', name: 'Mystery', input: { x: 1 } }] } }),
      JSON.stringify({ type: 'user', message: { content: [{ type: 'tool_result', is_error: true, content: [{ type: 'text', text: 'permission denied\nmore' }] }] } }),
      JSON.stringify({ type: 'result', subtype: 'error_max_turns', is_error: true }),
    ].join('\n'), true);
    const lines = t.text.split('\n');
    expect(lines[0]).toMatch(/^→ Bash: echo a{100,}…$/);
    expect(lines[0].length).toBeLessThanOrEqual(210);
    expect(lines.slice(1)).toEqual(['→ Mystery: {"x":1}', '  ← error: permission denied …', '✗ error_max_turns', '']);
  });
});

function helper(env: Record<string, string>, input: string, ...args: string[]) {
  return runScript(path.join(ROOT, 'templates', 'isollm-task'), env, args, input);
}

describe('isollm-task transcript → the queue', () => {
  it('prints how many lines were used, then the transcript; --final uses them all', async () => {
    const s = await testServer();
    const env = { ISOLLM_QUEUE_PORT: String(s.port), ISOLLM_PROJECT: 'proj' };
    const output = captured('claude');
    const whole = await helper(env, output, 'transcript', '--format', 'claude', '--final');
    expect(whole).toMatchObject({ code: 0, stdout: `lines: ${output.split('\n').filter(Boolean).length}\n${EXPECTED.claude.join('\n')}\n` });
    // Cut mid-line: the whole lines only.
    const cut = output.slice(0, output.indexOf('"type":"user"'));
    const part = await helper(env, cut, 'transcript', '--format', 'claude');
    expect(part).toMatchObject({ code: 0, stdout: `lines: ${cut.split('\n').length - 1}\n${EXPECTED.claude.slice(0, 2).join('\n')}\n` });
    // Nothing to show: the count alone.
    expect(await helper(env, '', 'transcript', '--format', 'claude')).toMatchObject({ code: 0, stdout: 'lines: 0\n' });
  });

  it('bad input: one clear line, exit 1 (the queue) or 2 (usage)', async () => {
    const s = await testServer();
    const env = { ISOLLM_QUEUE_PORT: String(s.port), ISOLLM_PROJECT: 'proj' };
    const bad = await helper(env, 'x\n', 'transcript', '--format', 'vim');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('isollm-task: VALIDATION_FAILED: Validation failed\n');
    expect((await helper(env, '', 'transcript')).code).toBe(2);
    const api = projectApi(s, 'proj');
    const json = await api.call('POST', '/transcript', { body: { format: 'codex', output: 1, final: 'maybe' } });
    expect([json.status, json.json.error.context.details]).toEqual([400, ['output must be text', 'final must be true or false']]);
    expect((await api.call('GET', '/transcript')).status).toBe(405);
  });
});
