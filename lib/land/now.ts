// What a running `isollm land` does right now, for `isollm status` (the train: queued, testing, landed,
// handed back): .isollm/land-now.json, written at each step by the run that holds the land lock and
// removed when the run ends. One left by a killed run names a dead pid and is ignored.
import fs from 'node:fs';
import path from 'node:path';
import { processAlive, writeFileAtomic } from '../project/root.ts';

export type LandNow = { step: 'integrating' | 'testing'; tasks: string[]; since: string };

export const landNowFile = (stateDir: string) => path.join(stateDir, 'land-now.json');

export function writeLandNow(stateDir: string, now: Omit<LandNow, 'since'>, at = new Date()): void {
  writeFileAtomic(landNowFile(stateDir), `${JSON.stringify({ pid: process.pid, ...now, since: at.toISOString() })}\n`, 0o600);
}

export function clearLandNow(stateDir: string): void {
  fs.rmSync(landNowFile(stateDir), { force: true });
}

/** The step a live run is at, or null (no run, between runs, or the file of a run that died). */
export function readLandNow(stateDir: string): LandNow | null {
  try {
    const v = JSON.parse(fs.readFileSync(landNowFile(stateDir), 'utf8')) as LandNow & { pid: number };
    if (!processAlive(v.pid) || (v.step !== 'integrating' && v.step !== 'testing') || !Array.isArray(v.tasks)) return null;
    return { step: v.step, tasks: v.tasks.map(String), since: String(v.since) };
  } catch {
    return null;
  }
}
