// How `isollm land` shows a run: one progress line per step (with the test output's tail when it is
// red) and a summary. Plain strings; the script decides where they go.
import { c, SYMBOLS } from '../cli/ui.ts';
import type { LandEvent, LandReport } from './land.ts';
import { failureSummary } from './land.ts';

const short = (sha: string) => sha.slice(0, 7);
const ids = (items: { id: string }[]) => items.map((i) => i.id).join(', ');

export function eventLines(e: LandEvent): string[] {
  switch (e.kind) {
    case 'tester':
      return [`  ${c.dim(e.line)}`];
    case 'integrating':
      return [`${SYMBOLS.arrow} ${e.item.id} integrating onto ${short(e.onto)}  ${c.dim(e.item.title)}`];
    case 'testing':
      return [`${SYMBOLS.running} testing ${ids(e.items)} at ${short(e.commit)}`];
    case 'tested': {
      const head = `${e.outcome.passed ? SYMBOLS.ok : SYMBOLS.fail} test ${e.outcome.passed ? 'passed' : `failed (exit ${e.outcome.exitCode ?? 'timeout'})`} in ${e.outcome.seconds.toFixed(1)}s`;
      return e.outcome.passed ? [head] : [head, ...e.outcome.tail.split('\n').slice(-10).map((l) => `  ${SYMBOLS.branch.slice(0, 1)} ${l}`)];
    }
    case 'landed':
      return [`${SYMBOLS.ok} landed ${e.item.id} (${short(e.commit)})`];
    case 'handed-back':
      return [`${SYMBOLS.fail} handed back ${e.item.id}: ${failureSummary(e.failure)}`];
    case 'waiting':
      return [`${SYMBOLS.stopped} ${e.item.id} waits: its parent ${e.on} did not land`];
  }
}

export function summaryLines(r: LandReport): string[] {
  if (r.dry_run) {
    const lines = r.plan.length ? [`Would land onto ${r.base}@${short(r.from ?? '')}, in this order:`, ...r.plan.map((t, i) => `  ${i + 1}. ${t.id}  ${t.title}`)] : ['Nothing to land.'];
    for (const w of r.waiting) lines.push(`  waits: ${w.id} (on ${w.on.join(', ')})  ${w.title}`);
    return lines;
  }
  if (!r.plan.length) return [r.waiting.length ? `Nothing to land: ${r.waiting.map((w) => `${w.id} waits on ${w.on.join(', ')}`).join('; ')}.` : 'Nothing to land.'];
  const lines = [`${r.base}: ${short(r.from ?? '')} → ${short(r.to ?? '')}; landed ${r.landed.length}, handed back ${r.handed_back.length}, waiting ${r.waiting.length}; ${r.test_runs} test run(s), ${r.seconds}s`];
  for (const h of r.handed_back) lines.push(`  ${h.id} ${h.status === 'blocked' ? 'blocked (attempts used up)' : 'reopened'}: ${h.reason}`);
  return lines;
}
