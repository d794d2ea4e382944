// `isollm land --watch`: the train running by itself (land.auto). One run after another, `interval`
// apart; a run that fails (the queue restarting, the base moved under it) is reported and the next
// one tries again. Stops when `signal` aborts, between runs.
import { setTimeout as sleep } from 'node:timers/promises';
import type { LandReport } from './land.ts';

export async function watchLanding(
  run: () => Promise<LandReport>,
  options: { intervalMs: number; signal: AbortSignal; onReport(r: LandReport): void; onError(err: unknown): void },
): Promise<void> {
  while (!options.signal.aborted) {
    try {
      options.onReport(await run());
    } catch (err) {
      options.onError(err);
    }
    await sleep(options.intervalMs, undefined, { signal: options.signal }).catch(() => undefined);
  }
}
