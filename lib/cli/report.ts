// How a flow tells what happens as it goes: through a Reporter its entry point hands it. Flows never
// print themselves; scripts pass `terminalReporter` (stderr lines, stdout results), tests can record.
import { fail, info, ok, out, step, warn } from './ui.ts';

export type Reporter = {
  info(line: string): void;
  ok(line: string): void;
  warn(line: string): void;
  fail(line: string): void;
  /** A result line (stdout). */
  out(line: string): void;
  /** A named step: shown while it runs, then ✓ or ✗ with its time; its error is rethrown. */
  step<T>(title: string, work: () => Promise<T>): Promise<T>;
};

/** The reporter of a command run in a terminal or a pipe. */
export const terminalReporter: Reporter = { info, ok, warn, fail, out, step };
