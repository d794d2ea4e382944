// `isollm land --follow`: what the lander's multiplexer pane runs. Shows the service's log live (the
// train's progress: integrating, testing with the test's output tail, landed, handed back), starting
// with its last lines, and says when the lander stops or starts again. It only reads: stopping it
// (closing the pane) never stops the lander.
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { landerFiles, landerPid } from './service.ts';

export const FOLLOW_POLL_MS = 300;
/** Lines of the log shown when the pane starts. */
export const FOLLOW_BACKLOG = 40;
const MAX_READ = 1 << 20;

/** Byte offset of the start of the last `lines` lines of `file` (0 when shorter or missing). */
export function tailOffset(file: string, lines: number): number {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    return 0;
  }
  const from = Math.max(0, size - MAX_READ);
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(size - from);
    fs.readSync(fd, buf, 0, buf.length, from);
    // The last byte is the final newline of the last line: count newlines before it.
    let seen = 0;
    for (let i = buf.length - 2; i >= 0; i--) {
      if (buf[i] === 0x0a && ++seen === lines) return from + i + 1;
    }
    return from;
  } finally {
    fs.closeSync(fd);
  }
}

export type FollowOptions = {
  signal: AbortSignal;
  print(line: string): void;
  pollMs?: number;
  backlog?: number;
};

/** Follow the lander of the project whose state is in `stateDir` until `signal` aborts. */
export async function followLander(stateDir: string, options: FollowOptions): Promise<void> {
  const { log } = landerFiles(stateDir);
  let offset = tailOffset(log, options.backlog ?? FOLLOW_BACKLOG);
  let partial = '';
  let shown: number | null | undefined;
  while (!options.signal.aborted) {
    try {
      const size = fs.existsSync(log) ? fs.statSync(log).size : 0;
      if (size < offset) offset = 0; // the log was replaced: read the new one from its start
      while (size > offset) {
        const buf = Buffer.alloc(Math.min(size - offset, MAX_READ));
        const fd = fs.openSync(log, 'r');
        const n = fs.readSync(fd, buf, 0, buf.length, offset);
        fs.closeSync(fd);
        if (n <= 0) break;
        offset += n;
        const lines = (partial + buf.subarray(0, n).toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) options.print(line);
      }
      // After the log, so a crash's last lines come before the word that it stopped.
      const pid = landerPid(stateDir);
      if (pid !== shown) {
        options.print(pid ? `── lander running (pid ${pid}) ──` : '── lander not running: `isollm up` starts it again (land.auto) ──');
        shown = pid;
      }
    } catch (err) {
      options.print(`── cannot read ${log}: ${(err as Error).message} ──`);
    }
    await sleep(options.pollMs ?? FOLLOW_POLL_MS, undefined, { signal: options.signal }).catch(() => undefined);
  }
}
