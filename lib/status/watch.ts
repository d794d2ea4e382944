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

/** What a frame may fill: columns and rows (Infinity without a terminal). */
export type FrameSize = { width: number; rows: number };

export type WatchOptions<M> = {
  intervalMs: number;
  /** Gather one model; a throw is shown in the view and retried next round. */
  collect: () => Promise<M>;
  /** Lines for the frame; they should fit `size` (ttyFrame drops what is below the last row). */
  render: (model: M, size: FrameSize) => string[];
  /** Lines shown when `collect` itself threw. */
  renderError: (message: string, size: FrameSize) => string[];
  stream: WatchStream;
  signal: AbortSignal;
};

/** One in-place frame: home, every line then clear-to-eol, clear below. No newline after the last line (it would scroll). */
export function ttyFrame(lines: string[], rows = Infinity): string {
  return ESC.home + lines.slice(0, rows).map((l) => l + ESC.clearLine).join('\n') + ESC.clearBelow;
}

export async function watchStatus<M>(o: WatchOptions<M>): Promise<void> {
  const tty = Boolean(o.stream.isTTY);
  // Read at each draw: a resize redraws the last model at the new size.
  const size = (): FrameSize => (tty ? { width: o.stream.columns ?? 80, rows: o.stream.rows ?? 24 } : { width: Infinity, rows: Infinity });
  let last: (() => string[]) | null = null;
  let frames = 0;
  const draw = () => {
    if (!last) return;
    const lines = last();
    if (tty) o.stream.write(ttyFrame(lines, size().rows));
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
        last = () => o.render(model, size());
      } catch (err) {
        const message = errorMessage(err);
        last = () => o.renderError(message, size());
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
