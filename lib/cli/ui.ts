// Output: colour that degrades without a TTY, one symbol table, progress on stderr, prompts only on a TTY.
import { styleText } from 'node:util';
import process from 'node:process';
import { CancelledError, UserError } from './errors.ts';

type Style = Parameters<typeof styleText>[0];

export const SYMBOLS = {
  ok: '✓',
  fail: '✗',
  warn: '!',
  running: '●',
  stopped: '○',
  arrow: '→',
  branch: '└─',
} as const;

function paint(stream: NodeJS.WriteStream, style: Style, text: string): string {
  // styleText honours NO_COLOR, FORCE_COLOR and whether the stream is a TTY.
  return styleText(style, text, { stream });
}

/** Colour for text bound to stdout. */
export const c = {
  bold: (s: string) => paint(process.stdout, 'bold', s),
  dim: (s: string) => paint(process.stdout, 'dim', s),
  red: (s: string) => paint(process.stdout, 'red', s),
  green: (s: string) => paint(process.stdout, 'green', s),
  yellow: (s: string) => paint(process.stdout, 'yellow', s),
  cyan: (s: string) => paint(process.stdout, 'cyan', s),
};

/** Colour for text bound to stderr. */
export const ce = {
  bold: (s: string) => paint(process.stderr, 'bold', s),
  dim: (s: string) => paint(process.stderr, 'dim', s),
  red: (s: string) => paint(process.stderr, 'red', s),
  green: (s: string) => paint(process.stderr, 'green', s),
  yellow: (s: string) => paint(process.stderr, 'yellow', s),
  cyan: (s: string) => paint(process.stderr, 'cyan', s),
};

/** Data goes to stdout. */
export function out(line = ''): void {
  process.stdout.write(line + '\n');
}

/** Progress and notes go to stderr, so stdout stays machine-readable. */
export function info(line: string): void {
  process.stderr.write(line + '\n');
}

export function ok(line: string): void {
  info(`${ce.green(SYMBOLS.ok)} ${line}`);
}

export function warn(line: string): void {
  info(`${ce.yellow(SYMBOLS.warn)} ${line}`);
}

export function fail(line: string): void {
  info(`${ce.red(SYMBOLS.fail)} ${line}`);
}

export function printJson(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/** True when a person can answer a prompt: stdin and stderr are TTYs and we are not in CI. */
export function canPrompt(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY && !process.env.CI);
}

const SPINNER_FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * Run `work` with a spinner on stderr (only on a TTY, never in CI); prints ✓/✗ with the elapsed time.
 * Returns what `work` returns.
 */
export async function step<T>(title: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const live = Boolean(process.stderr.isTTY && !process.env.CI);
  let frame = 0;
  const timer = live
    ? setInterval(() => {
        process.stderr.write(`\r${ce.cyan(SPINNER_FRAMES[frame++ % SPINNER_FRAMES.length])} ${title}`);
      }, 80)
    : undefined;
  const clear = () => {
    if (timer) {
      clearInterval(timer);
      process.stderr.write('\r\x1b[2K');
    }
  };
  try {
    const result = await work();
    clear();
    ok(`${title} ${ce.dim(formatDuration(Date.now() - started))}`);
    return result;
  } catch (err) {
    clear();
    fail(`${title} ${ce.dim(formatDuration(Date.now() - started))}`);
    throw err;
  }
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${m}m${String(s).padStart(2, '0')}s`;
}

/** Age like `12s`, `12m`, `3h`, `2d`. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/**
 * Text an agent wrote (a commit subject, a file name) as a line on the user's terminal: control
 * characters (escape sequences that could move the cursor, set the title or write the clipboard)
 * become U+FFFD, as the queue does with task text.
 */
export function terminalText(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, '\ufffd');
}

/** Left-aligned columns; widths ignore ANSI colour codes. */
export function table(rows: string[][]): string[] {
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visible(cell))));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat(widths[i] - visible(cell))))
      .join('  ')
      .trimEnd(),
  );
}

// Prompts: enquirer, loaded only when a prompt is really shown.
type PromptOptions = { name: string; message: string; initial?: unknown; choices?: unknown[]; validate?: (v: string) => boolean | string };

async function prompt<T>(options: PromptOptions & { type: string }, flagHint: string): Promise<T> {
  if (!canPrompt()) throw new UserError(`Cannot ask "${options.message}" without a terminal. Pass ${flagHint}.`);
  const { default: Enquirer } = await import('enquirer');
  const enquirer = new Enquirer();
  enquirer.on('prompt', (p: { emit: (event: string, ...args: unknown[]) => boolean }) => {
    // On Node >= 24.2, Ctrl-C makes enquirer 2.4.1 pause a readline it already closed, which throws
    // out of its 'close' handler and kills the process (enquirer/enquirer#483). The interface is
    // closed either way, so swallow exactly that and let the cancel go on.
    const emit = p.emit.bind(p);
    p.emit = (event, ...args) => {
      try {
        return emit(event, ...args);
      } catch (err) {
        if (event === 'close' && (err as NodeJS.ErrnoException).code === 'ERR_USE_AFTER_CLOSE') return true;
        throw err;
      }
    };
  });
  try {
    const answers = (await enquirer.prompt({ ...options, stdout: process.stderr } as never)) as Record<string, T>;
    return answers[options.name];
  } catch (err) {
    // enquirer rejects with an empty string on Ctrl-C / Esc.
    if (err === '' || err === undefined) throw new CancelledError();
    throw err;
  }
}

export function askText(message: string, initial: string, flagHint: string, validate?: (v: string) => boolean | string): Promise<string> {
  return prompt<string>({ type: 'input', name: 'value', message, initial, validate }, flagHint);
}

export function askConfirm(message: string, initial: boolean, flagHint: string): Promise<boolean> {
  return prompt<boolean>({ type: 'confirm', name: 'value', message, initial }, flagHint);
}

export function askSelect(message: string, choices: string[], initial: string, flagHint: string): Promise<string> {
  return prompt<string>({ type: 'select', name: 'value', message, choices, initial: Math.max(0, choices.indexOf(initial)) }, flagHint);
}

/** The confirm hook of `isollm setup` and the demo: print the plan; --yes goes ahead, a TTY asks, anything else refuses naming --yes. */
export function confirmPlan(yes: boolean, what = 'isollm setup'): (plan: string[]) => Promise<boolean> {
  return async (plan) => {
    info(`${what} will, where not already done:`);
    for (const line of plan) info(`  - ${line}`);
    if (yes) return true;
    if (!canPrompt()) throw new UserError('Setup needs to change the system; run it in a terminal to be asked, or pass --yes.');
    return askConfirm('Go ahead?', true, '--yes');
  };
}

/** Typed confirmation: the user must type `word` exactly. */
export async function askTyped(message: string, word: string, flagHint: string): Promise<boolean> {
  const answer = await askText(`${message} Type "${word}" to confirm`, '', flagHint);
  return answer.trim() === word;
}
