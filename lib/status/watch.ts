// `status --watch`: collect, draw, sleep, until the signal aborts. On a terminal it draws in place on
// the alternate screen (cursor home, each line followed by clear-to-end-of-line, then clear below),
// so nothing flickers and the user's scrollback is back when it ends; the cursor is hidden meanwhile.
// Without a terminal it prints each frame in full, frames separated by one blank line.
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../cli/errors.ts';

export const ESC = {
  enter: '\x1b[?1049h\x1b[?25l', // alternate screen, hide cursor
  leave: '\x1b[?25h\x1b[?1049l', // show cursor, main screen
  home: '\x1b[H',
  clearLine: '\x1b[K',
  clearBelow: '\x1b[J',
} as const;

export type WatchStream = {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
  rows?: number;
  on?(event: 'resize', fn: () => void): unknown;
  off?(event: 'resize', fn: () => void): unknown;
};

export type WatchOptions<M> = {
  intervalMs: number;
  /** Gather one model; a throw is shown in the view and retried next round. */
  collect: () => Promise<M>;
  render: (model: M, width: number) => string[];
  /** Lines shown when `collect` itself threw. */
  renderError: (message: string, width: number) => string[];
  stream: WatchStream;
  signal: AbortSignal;
};

/** One in-place frame: home, every line then clear-to-eol, clear below. No newline after the last line (it would scroll). */
export function ttyFrame(lines: string[], rows = Infinity): string {
  return ESC.home + lines.slice(0, rows).map((l) => l + ESC.clearLine).join('\n') + ESC.clearBelow;
}

export async function watchStatus<M>(o: WatchOptions<M>): Promise<void> {
  const tty = Boolean(o.stream.isTTY);
  const width = () => (tty ? (o.stream.columns ?? 80) : Infinity);
  let last: (() => string[]) | null = null;
  let frames = 0;
  const draw = () => {
    if (!last) return;
    const lines = last();
    if (tty) o.stream.write(ttyFrame(lines, o.stream.rows ?? Infinity));
    else o.stream.write((frames > 0 ? '\n' : '') + lines.join('\n') + '\n');
    frames++;
  };
  const aborted = new Promise<null>((resolve) => o.signal.addEventListener('abort', () => resolve(null), { once: true }));
  if (tty) {
    o.stream.write(ESC.enter);
    o.stream.on?.('resize', draw);
  }
  try {
    while (!o.signal.aborted) {
      try {
        const model = await Promise.race([o.collect(), aborted]);
        if (model === null || o.signal.aborted) break;
        last = () => o.render(model, width());
      } catch (err) {
        const message = errorMessage(err);
        last = () => o.renderError(message, width());
      }
      draw();
      await sleep(o.intervalMs, undefined, { signal: o.signal }).catch(() => undefined); // aborted: the loop ends
    }
  } finally {
    if (tty) {
      o.stream.off?.('resize', draw);
      o.stream.write(ESC.leave);
    }
  }
}
