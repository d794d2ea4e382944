// The human-readable transcript of a headless run, made from the CLI's machine-readable output (what
// the loop runs it with): the agent's text, one line per tool call and one per its result, errors.
// Usage is not here: the loop logs it from what the queue read (lib/agent/results.ts). The worker
// has no JSON parser, so the loop sends the output here (through the queue) piece by piece while the
// agent runs and prints what comes back. Lines that are not JSON (stderr) are kept as they are; JSON
// events nobody needs to read (session ids, hooks, step markers) are left out.
import type { OutputFormat } from './presets.ts';

type Json = Record<string, any>;
type Piece = { text: string; /** A fragment of streamed text, continued by the next one. */ delta?: boolean };

/** Longest one-line summary of a tool call or its result (characters). */
export const TOOL_LINE_MAX = 200;
/**
 * Streamed text held back at most (bytes of output), waiting for the rest of its message: well under
 * what the loop sends at once (100 kB), so a piece always gets somewhere.
 */
export const HOLD_MAX_BYTES = 32 * 1024;

const CSI = /\x1b\[[0-9;?]*[ -/]*[@-~]/g;
/** Safe on a terminal: no escape sequences or other control characters; newlines and tabs kept. */
export function printable(text: string): string {
  return text.replace(CSI, '').replace(/\r\n?/g, '\n').replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, '\ufffd');
}

function oneLine(text: string, max = TOOL_LINE_MAX): string {
  const flat = text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** The first line that says something, for a tool's output. */
function firstLine(text: unknown): string {
  if (typeof text !== 'string') return '';
  const line = text.split(/\r?\n/).find((l) => l.trim() !== '') ?? '';
  const more = text.trim().split(/\r?\n/).length > 1 ? ' …' : '';
  return oneLine(line) + more;
}

const SUMMARY_KEYS = ['command', 'cmd', 'file_path', 'filePath', 'path', 'pattern', 'url', 'query', 'prompt', 'description'];

/** A tool's input in a few words: the command or path it is about, else its JSON. */
function summarize(input: unknown): string {
  if (typeof input === 'string') return oneLine(input);
  if (!input || typeof input !== 'object') return '';
  for (const key of SUMMARY_KEYS) {
    const v = (input as Json)[key];
    if (typeof v === 'string' && v.trim()) return oneLine(v);
    if (Array.isArray(v) && v.every((s) => typeof s === 'string') && v.length) return oneLine(v.join(' '));
  }
  return oneLine(JSON.stringify(input));
}

function call(name: unknown, input: unknown): string {
  const what = summarize(input);
  // A shell command reads as one: `→ $ make test`.
  if (name === '$') return `→ $ ${what}`;
  return `→ ${String(name ?? 'tool')}${what ? `: ${what}` : ''}`;
}
const answer = (text: string) => `  ← ${text || '(no output)'}`;

/** Text of a claude content (a string, or blocks of which the text ones count). */
function blockText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.filter((c) => c?.type === 'text' && typeof c.text === 'string').map((c) => c.text).join('\n');
}

// claude -p --output-format stream-json --verbose: one event per message; assistant messages hold
// text and tool_use blocks, user messages the tool results, `result` ends the run.
function claude(e: Json): Piece[] {
  if (e.type === 'system' && e.subtype === 'init' && typeof e.model === 'string') {
    return [{ text: `· claude${typeof e.claude_code_version === 'string' ? ` ${e.claude_code_version}` : ''}, model ${e.model}` }];
  }
  if (e.type === 'assistant') {
    return (e.message?.content ?? []).flatMap((c: Json): Piece[] => {
      if (c?.type === 'text' && typeof c.text === 'string' && c.text.trim()) return [{ text: c.text.trim() }];
      if (c?.type === 'tool_use') return [{ text: call(c.name, c.input) }];
      return [];
    });
  }
  if (e.type === 'user' && Array.isArray(e.message?.content)) {
    return e.message.content.filter((c: Json) => c?.type === 'tool_result').map((c: Json): Piece => {
      const text = firstLine(blockText(c.content));
      return { text: answer(c.is_error ? `error: ${text}` : text) };
    });
  }
  if (e.type === 'result' && (e.is_error || (e.subtype && e.subtype !== 'success'))) {
    return [{ text: `✗ ${oneLine(String(typeof e.result === 'string' && e.result ? e.result : e.subtype ?? 'error'), 500)}` }];
  }
  return [];
}

// codex exec --json: items start and complete (commands, file changes, messages); errors and failed
// turns are events of their own.
function codex(e: Json): Piece[] {
  const item: Json = e.item ?? {};
  if (e.type === 'error' && typeof e.message === 'string') return [{ text: `! ${oneLine(e.message, 500)}` }];
  if (e.type === 'turn.failed') return [{ text: `✗ ${oneLine(String(e.error?.message ?? 'the turn failed'), 500)}` }];
  if (e.type === 'item.started' && item.type === 'command_execution') return [{ text: call('$', item.command) }];
  if (e.type !== 'item.completed') return [];
  switch (item.type) {
    case 'agent_message':
      return typeof item.text === 'string' && item.text.trim() ? [{ text: item.text.trim() }] : [];
    case 'command_execution': {
      const out = firstLine(item.aggregated_output);
      return [{ text: answer(`exit ${item.exit_code ?? '?'}${out ? `: ${out}` : ''}`) }];
    }
    case 'file_change':
      return [{ text: `→ ${(item.changes ?? []).map((c: Json) => `${c?.kind ?? 'change'} ${c?.path ?? ''}`.trim()).join(', ') || 'file change'}` }];
    case 'mcp_tool_call':
      return [{ text: call([item.server, item.tool].filter(Boolean).join('.'), item.arguments) }];
    case 'web_search':
      return [{ text: call('web search', item.query) }];
    case 'error':
      return typeof item.message === 'string' ? [{ text: `! ${oneLine(item.message, 500)}` }] : [];
    default:
      return [];
  }
}

// gemini --output-format stream-json: the answer streams in deltas; tool calls and their results
// are events; `result` ends the run.
function gemini(e: Json): Piece[] {
  if (e.type === 'init' && typeof e.model === 'string') return [{ text: `· gemini, model ${e.model}` }];
  if (e.type === 'message' && e.role === 'assistant' && typeof e.content === 'string') return [{ text: e.content, delta: e.delta === true }];
  if (e.type === 'tool_use') return [{ text: call(e.tool_name, e.parameters) }];
  if (e.type === 'tool_result') {
    const out = firstLine(typeof e.output === 'string' ? e.output : e.error?.message);
    return [{ text: answer(e.status && e.status !== 'success' ? `${e.status}${out ? `: ${out}` : ''}` : out) }];
  }
  if (e.type === 'error' && typeof e.message === 'string') return [{ text: `! ${oneLine(e.message, 500)}` }];
  if (e.type === 'result' && e.status && e.status !== 'success') return [{ text: `✗ ${oneLine(String(e.error?.message ?? e.status), 500)}` }];
  return [];
}

// opencode run --format json: text parts, tool parts (with their state once done), errors; steps
// start and finish around them.
function opencode(e: Json): Piece[] {
  const part: Json = e.part ?? {};
  if (e.type === 'text' && typeof part.text === 'string' && part.text.trim()) return [{ text: part.text.trim() }];
  if (e.type === 'tool_use') {
    const state: Json = part.state ?? {};
    const pieces: Piece[] = [{ text: call(part.tool, state.input ?? state.title) }];
    if (state.status === 'error') pieces.push({ text: answer(`error: ${firstLine(String(state.error ?? ''))}`) });
    else if (state.status === 'completed') pieces.push({ text: answer(firstLine(state.output)) });
    return pieces;
  }
  if (e.type === 'error') {
    const err: Json = e.error ?? {};
    return [{ text: `! ${oneLine([err.name, err.data?.message ?? err.message].filter(Boolean).join(': ') || 'error', 500)}` }];
  }
  return [];
}

const RENDERERS: Record<OutputFormat, (e: Json) => Piece[]> = { claude, codex, gemini, opencode };

function pieces(format: OutputFormat, line: string): Piece[] {
  const text = line.trim();
  if (text.startsWith('{')) {
    try {
      const value = JSON.parse(text);
      if (value && typeof value === 'object' && !Array.isArray(value)) return RENDERERS[format](value);
    } catch {
      // Not JSON after all (or cut): shown as it is.
    }
  }
  return text ? [{ text: line.replace(/\r$/, '') }] : [];
}

export type Transcript = {
  /** The transcript of the lines used: whole lines, each ending in a newline (empty: nothing to show). */
  text: string;
  /** How many lines of the output it used; the rest is to be sent again, with what follows. */
  lines: number;
};

/**
 * The transcript of `output`, a piece of the CLI's output. Only whole lines are used unless `final`
 * (the run ended): a last line without its newline may still be being written. Streamed text (gemini)
 * that may go on in the next piece is held back too, so a message is not broken across pieces —
 * up to HOLD_MAX_BYTES of it.
 */
export function renderTranscript(format: OutputFormat, output: string, final = false): Transcript {
  const all = output.split('\n');
  // The part after the last newline: still being written, unless the run ended.
  const complete = final ? all.filter((l, i) => i < all.length - 1 || l !== '') : all.slice(0, -1);
  const rendered = complete.map((l) => pieces(format, l));
  let used = rendered.length;
  if (!final) {
    // Hold back the trailing run of streamed fragments (and lines that show nothing among them).
    let cut = used;
    while (cut > 0 && rendered[cut - 1].every((p) => p.delta)) cut--;
    const held = rendered.slice(cut).filter((r) => r.length).length;
    const heldBytes = complete.slice(cut).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
    if (held > 0 && heldBytes <= HOLD_MAX_BYTES) used = cut;
  }
  let text = '';
  let open = false;
  for (const piece of rendered.slice(0, used).flat()) {
    const t = printable(piece.text);
    if (piece.delta) {
      text += t;
      open = !t.endsWith('\n');
      continue;
    }
    if (open) text += '\n';
    text += `${t.replace(/\n+$/, '')}\n`;
    open = false;
  }
  if (open) text += '\n';
  return { text, lines: used };
}
