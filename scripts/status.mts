#!/usr/bin/env node
// isollm status [--brief|--json|--schema] [--watch [--interval S]]: workers, tasks, hub and services.
import process from 'node:process';
import { styleText } from 'node:util';
import { type CommandSpec, flagBool, flagNumber, flagString, type Main, out, parse, printJson, runIfEntry, SYMBOLS, UsageError } from 'isollm/cli';
import { loadConfig } from 'isollm/config';
import { requireProjectRoot } from 'isollm/project';
import { collectStatus, fitLine, type FrameSize, renderBrief, renderFull, retitlePanes, STATUS_SCHEMA, watchStatus } from 'isollm/status';

export const DEFAULT_INTERVAL_S = 2;
const MIN_INTERVAL_S = 0.1;

export const SPEC: CommandSpec = {
  name: 'isollm status',
  summary: 'workers, tasks, sync and services at a glance',
  flags: {
    brief: { type: 'boolean', short: 'b', description: 'one line' },
    json: { type: 'boolean', description: 'print the status model as JSON (schema: --schema)' },
    schema: { type: 'boolean', description: 'print the JSON Schema of --json' },
    watch: { type: 'boolean', short: 'w', description: 'redraw until Ctrl-C' },
    interval: { type: 'string', value: 'S', number: { min: MIN_INTERVAL_S, fraction: true, unit: 'seconds' }, description: `seconds between redraws with --watch (default ${DEFAULT_INTERVAL_S})` },
  },
  notes: ['A source that fails (runtime, queue, hub) is shown as an error in the view; status still exits 0.'],
};

export const main: Main = async (argv) => {
  const p = parse(SPEC, argv);
  if (!p) return;
  if (p.positionals.length) throw new UsageError(`unexpected argument "${p.positionals[0]}" for \`isollm status\``);
  if (flagBool(p, 'schema')) return printJson(STATUS_SCHEMA);
  const brief = flagBool(p, 'brief');
  const json = flagBool(p, 'json');
  const watch = flagBool(p, 'watch');
  if (brief && json) throw new UsageError('--brief and --json do not go together for `isollm status`');
  if (watch && json) throw new UsageError('--watch does not go with --json; run `isollm status --json` in a loop instead');
  const intervalText = flagString(p, 'interval');
  if (intervalText !== undefined && !watch) throw new UsageError('--interval only applies with --watch');
  const interval = flagNumber(p, 'interval') ?? DEFAULT_INTERVAL_S;

  const root = requireProjectRoot(flagString(p, 'project'));
  // Colour as styleText would decide it for stdout (TTY, NO_COLOR, FORCE_COLOR).
  const color = styleText('red', 'x', { stream: process.stdout }) !== 'x';
  const width = () => (process.stdout.isTTY ? (process.stdout.columns ?? 80) : Infinity);
  // The config is read each round in watch mode, so an edit to isollm.yaml shows up (or its error does).
  // Watching (the dashboard pane) also keeps the pane titles saying what each agent does.
  const collect = async () => {
    const model = await collectStatus(root, loadConfig(root));
    if (watch) await retitlePanes(model, root);
    return model;
  };
  // Only --watch fits the rows (the dashboard pane); a one-off status prints everything and scrolls.
  const render = (m: Awaited<ReturnType<typeof collect>>, s: FrameSize) => (brief ? [fitLine(renderBrief(m), s.width)] : renderFull(m, { width: s.width, rows: s.rows, color, clock: watch }));

  if (!watch) {
    const model = await collect();
    if (json) printJson(model);
    else render(model, { width: width(), rows: Infinity }).forEach((line) => out(line));
    return;
  }
  const ac = new AbortController();
  const stop = () => {
    // A second Ctrl-C while a source is slow to answer: leave now.
    if (ac.signal.aborted) process.exit(130);
    ac.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    await watchStatus({
      intervalMs: interval * 1000,
      collect,
      render,
      renderError: (message, s) => [fitLine(`${SYMBOLS.fail} isollm status: ${message}`, s.width), `retrying every ${interval}s; Ctrl-C to stop`],
      stream: process.stdout,
      signal: ac.signal,
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
};

runIfEntry(import.meta.url, main);
