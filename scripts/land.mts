#!/usr/bin/env node
// isollm land: bring done tasks into the hub's base branch, tested, in dependency order.
import process from 'node:process';
import { errorMessage, type CommandSpec, flagBool, flagNumber, info, type Main, out, parse, printJson, runIfEntry, UserError } from 'isollm/cli';
import { loadConfig } from 'isollm/config';
import { claimLander, eventLines, followLander, land, landerFiles, openTester, releaseLander, summaryLines, watchLanding } from 'isollm/land';
import { requireProjectRoot, statePaths } from 'isollm/project';
import { queueClient } from 'isollm/queue';
import { connectRuntime, runtimeOptions } from 'isollm/runtime';

export const SPEC: CommandSpec = {
  name: 'isollm land',
  summary: 'land done tasks on the base branch: integrate, test in a container, advance when green',
  usage: '[ID…] [flags]',
  flags: {
    all: { type: 'boolean', description: 'every done task not landed yet (the default without IDs)' },
    'dry-run': { type: 'boolean', description: 'show the order it would land in; change nothing' },
    batch: { type: 'string', value: 'N', number: { min: 1, max: 64 }, description: 'tasks per test run, bisected when red (default land.batch)' },
    json: { type: 'boolean', description: 'print the result as JSON' },
    watch: { type: 'boolean', description: 'keep landing as tasks finish (what land.auto runs next to the workers)' },
    interval: { type: 'string', value: 'S', number: { min: 1, max: 3600 }, description: 'with --watch: seconds between runs (default 10)' },
    follow: { type: 'boolean', description: 'show the land.auto lander\'s progress live, as its multiplexer pane does (lands nothing)' },
  },
  notes: ['Config: land.strategy (merge|rebase|squash), land.test (argv), land.max_attempts, land.batch, land.timeout.'],
};

export const main: Main = async (argv) => {
  const p = parse(SPEC, argv);
  if (!p) return;
  const root = requireProjectRoot(typeof p.flags.project === 'string' ? p.flags.project : undefined);
  const stateDir = statePaths(root).dir;
  const stop = new AbortController();
  if (flagBool(p, 'follow')) {
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(signal, () => stop.abort());
    out(`Lander of ${root} (land.auto), live from ${landerFiles(stateDir).log}:`);
    await followLander(stateDir, { signal: stop.signal, print: (line) => out(line) });
    return 0;
  }
  const config = loadConfig(root);
  const queue = queueClient(root, config);
  const deps = {
    queue,
    openTester: async (progress: (line: string) => void) => openTester(await connectRuntime(runtimeOptions(config)), config, progress),
    event: (e: Parameters<typeof eventLines>[0]) => eventLines(e).forEach((line) => info(line)),
  };
  const options = { ids: p.positionals.length ? p.positionals : undefined, dryRun: flagBool(p, 'dry-run'), batch: flagNumber(p, 'batch') };
  try {
    if (flagBool(p, 'watch')) {
      // One lander per project: the one `up` started (land.auto), or one run here by hand.
      const other = claimLander(stateDir, process.pid);
      if (other !== null) throw new UserError(`A lander already runs for this project (pid ${other}). \`isollm land --follow\` shows what it does; \`isollm down\` stops it.`);
      for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(signal, () => stop.abort());
      const interval = flagNumber(p, 'interval') ?? 10;
      info(`Landing done tasks onto ${config.git.base_branch} every ${interval}s (Ctrl-C stops).`);
      try {
        await watchLanding(() => land(root, config, options, deps), {
          intervalMs: interval * 1000,
          signal: stop.signal,
          onReport: (r) => void (r.plan.length && summaryLines(r).forEach((line) => info(line))),
          onError: (err) => info(`✗ ${errorMessage(err)}`),
        });
      } finally {
        releaseLander(stateDir, process.pid);
      }
      return 0;
    }
    const report = await land(root, config, options, deps);
    if (flagBool(p, 'json')) printJson(report);
    else for (const line of summaryLines(report)) out(line);
    return report.handed_back.length ? 1 : 0;
  } finally {
    queue.close();
  }
};

runIfEntry(import.meta.url, main);
