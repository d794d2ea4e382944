#!/usr/bin/env node
// isollm land: bring done tasks into the hub's base branch, tested, in dependency order.
import { type CommandSpec, flagBool, flagNumber, info, type Main, out, parse, printJson, runIfEntry } from 'isollm/cli';
import { loadConfig } from 'isollm/config';
import { eventLines, land, openTester, summaryLines } from 'isollm/land';
import { requireProjectRoot } from 'isollm/project';
import { queueClient } from 'isollm/queue';
import { connectRuntime } from 'isollm/runtime';

export const SPEC: CommandSpec = {
  name: 'isollm land',
  summary: 'land done tasks on the base branch: integrate, test in a container, advance when green',
  usage: '[ID…] [flags]',
  flags: {
    all: { type: 'boolean', description: 'every done task not landed yet (the default without IDs)' },
    'dry-run': { type: 'boolean', description: 'show the order it would land in; change nothing' },
    batch: { type: 'string', value: 'N', number: { min: 1, max: 64 }, description: 'tasks per test run, bisected when red (default land.batch)' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  notes: ['Config: land.strategy (merge|rebase|squash), land.test (argv), land.max_attempts, land.batch, land.timeout.'],
};

export const main: Main = async (argv) => {
  const p = parse(SPEC, argv);
  if (!p) return;
  const root = requireProjectRoot(typeof p.flags.project === 'string' ? p.flags.project : undefined);
  const config = loadConfig(root);
  const queue = queueClient(root, config);
  try {
    const report = await land(root, config, { ids: p.positionals.length ? p.positionals : undefined, dryRun: flagBool(p, 'dry-run'), batch: flagNumber(p, 'batch') }, {
      queue,
      openTester: async (progress) => openTester(await connectRuntime(config.runtime.kind), config, progress),
      event: (e) => eventLines(e).forEach((line) => info(line)),
    });
    if (flagBool(p, 'json')) printJson(report);
    else for (const line of summaryLines(report)) out(line);
    return report.handed_back.length ? 1 : 0;
  } finally {
    queue.close();
  }
};

runIfEntry(import.meta.url, main);
