#!/usr/bin/env node
// isollm down: save unsaved work to the hub, release tasks, stop (or destroy) everything.
import { askConfirm, askSelect, askTyped, CancelledError, canPrompt, ce, type CommandSpec, fail, flagBool, flagString, info, type Main, ok, parse, runIfEntry, terminalReporter, UserError } from 'isollm/cli';
import { down, stepPrinter, type WorkerWork } from 'isollm/flows';
import { loadConfig } from 'isollm/config';
import { requireProjectRoot } from 'isollm/project';
import { renderSalvageResults, renderWorkSummary } from 'isollm/worker';

export const SPEC: CommandSpec = {
  name: 'isollm down',
  summary: 'save unsaved work, release tasks, stop everything',
  flags: {
    save: { type: 'boolean', description: 'snapshot every worker (isollm-<stamp>) before stopping it' },
    destroy: { type: 'boolean', description: 'delete the containers instead of stopping them (asks you to type "destroy")' },
    yes: { type: 'boolean', short: 'y', description: 'ask nothing: salvage unsaved work, confirm --destroy' },
    discard: { type: 'boolean', description: 'drop unsaved work instead of saving it (asks unless --yes)' },
  },
  notes: ['Unsaved work is committed and pushed to the hub (task branch, or <prefix>salvage/<worker>-<stamp>).'],
};

export const main: Main = async (argv) => {
  const p = parse(SPEC, argv);
  if (!p) return;
  const root = requireProjectRoot(flagString(p, 'project'));
  const yes = flagBool(p, 'yes');
  const discard = flagBool(p, 'discard');
  const destroy = flagBool(p, 'destroy');

  const showWork = (works: WorkerWork[]) => {
    const rows = works.filter((w) => w.report).map((w) => ({ worker: w.worker.name, report: w.report! }));
    info(ce.bold('Unsaved work:'));
    for (const line of renderWorkSummary(rows, { ignored: true })) info(`  ${line}`);
    for (const w of works.filter((w) => w.error)) info(`  ${w.worker.name}  ${w.error}`);
  };

  const result = await down(
    root,
    loadConfig(root),
    { save: flagBool(p, 'save'), destroy },
    {
      async decide(works) {
        showWork(works);
        if (discard) {
          if (yes) return 'discard';
          if (!canPrompt()) throw new UserError('--discard drops the work listed above: add --yes to confirm.');
          return (await askConfirm('Drop this work for good?', false, '--yes')) ? 'discard' : 'cancel';
        }
        if (yes || !canPrompt()) return 'salvage';
        const choice = await askSelect('What should happen to it?', ['salvage to the hub', 'discard', 'cancel'], 'salvage to the hub', '--yes or --discard');
        return choice === 'discard' ? 'discard' : choice === 'cancel' ? 'cancel' : 'salvage';
      },
      async confirmDestroy(works) {
        if (yes) return true;
        if (!canPrompt()) throw new UserError('--destroy deletes every worker container: add --yes to confirm.');
        showWork(works);
        return askTyped('This deletes every worker container of the project.', 'destroy', '--yes');
      },
      report: stepPrinter(terminalReporter),
    },
  );
  if (result.cancelled) throw new CancelledError('Cancelled; nothing was changed.');
  if (result.nothing) return void ok('Nothing to do: no worker is running, and no queue or multiplexer session is up.');
  if (result.salvaged.length) for (const line of renderSalvageResults(result.salvaged)) info(line);
  const failed = result.steps.filter((s) => !s.ok).length;
  if (failed) {
    fail(`${failed} step(s) failed; see above. Run \`isollm down\` again once fixed — it is safe to repeat.`);
    return 1;
  }
  ok(destroy ? 'Everything is down and the workers are gone.' : 'Everything is down. `isollm up` starts it again.');
};

runIfEntry(import.meta.url, main);
