#!/usr/bin/env node
// npm run demo: set up the host, make a sample project with a backlog, and watch two scripted agents
// finish it in containers. `--clean` takes it all down again.
import path from 'node:path';
import { type CommandSpec, flagBool, flagInt, flagString, formatDuration, info, type Main, ok, parse, runIfEntry, UsageError } from 'isollm/cli';
import { MULTIPLEXER_KINDS, type MultiplexerKind } from 'isollm/config';
import { cleanDemo, defaultDemoDir, DEMO_IMAGE, DEMO_NAME, isTerminal, runDemo } from 'isollm/flows';
import { startDir } from 'isollm/project';
import type { RuntimeName } from 'isollm/runtime';

export const SPEC: CommandSpec = {
  name: 'npm run demo --',
  summary: 'watch scripted agents finish a small backlog in containers (no LLM account needed)',
  flags: {
    dir: { type: 'string', value: 'DIR', description: `where the sample project goes (default: ${defaultDemoDir()})` },
    clean: { type: 'boolean', description: 'remove the demo: its containers, queue, hub and sample project' },
    yes: { type: 'boolean', short: 'y', description: 'ask nothing (set up the host without asking)' },
    workers: { type: 'string', short: 'n', value: 'N', description: 'how many workers (default: 2)' },
    image: { type: 'string', value: 'ALIAS', description: `image for the workers, built locally when missing (default: ${DEMO_IMAGE})` },
    runtime: { type: 'string', value: 'lxd|incus', description: 'container runtime (default: the installed one, else lxd)' },
    name: { type: 'string', value: 'NAME', description: `project name, which names the containers (default: ${DEMO_NAME})` },
    multiplexer: { type: 'string', short: 'm', value: 'KIND', description: 'zellij, tmux or none (default: auto on a terminal, none elsewhere)' },
    delay: { type: 'string', value: 'SECONDS', description: 'how long the demo agent works on each task (default: 3)' },
    timeout: { type: 'string', value: 'SECONDS', description: 'give up when the backlog is not finished by then (default: 300)' },
  },
  notes: [
    'Leaves the demo running so you can look around; `npm run demo -- --clean` removes it.',
    'Running it again starts over with a fresh sample project.',
  ],
};

export const main: Main = async (argv) => {
  const p = parse(SPEC, argv);
  if (!p) return;
  const started = Date.now();
  const dir = path.resolve(startDir(), flagString(p, 'dir') ?? defaultDemoDir());
  if (flagBool(p, 'clean')) {
    if (await cleanDemo(dir)) ok(`The demo in ${dir} is gone (the image stays for next time).`);
    else info(`No demo in ${dir}: nothing to clean.`);
    return;
  }
  const runtime = flagString(p, 'runtime');
  if (runtime !== undefined && runtime !== 'lxd' && runtime !== 'incus') throw new UsageError(`--runtime must be lxd or incus (got ${JSON.stringify(runtime)})`);
  const multiplexer = flagString(p, 'multiplexer');
  if (multiplexer !== undefined && !(MULTIPLEXER_KINDS as readonly string[]).includes(multiplexer)) {
    throw new UsageError(`--multiplexer must be one of ${MULTIPLEXER_KINDS.join(', ')} (got "${multiplexer}")`);
  }
  const terminal = isTerminal();
  const result = await runDemo({
    dir,
    name: flagString(p, 'name') ?? DEMO_NAME,
    image: flagString(p, 'image') ?? DEMO_IMAGE,
    runtime: runtime as RuntimeName | undefined,
    workers: flagInt(p, 'workers', 1, 8) ?? 2,
    delay: flagInt(p, 'delay', 0, 600) ?? 3,
    timeoutMs: (flagInt(p, 'timeout', 10, 3600) ?? 300) * 1000,
    yes: flagBool(p, 'yes'),
    multiplexer: (multiplexer as MultiplexerKind | undefined) ?? (terminal ? 'auto' : 'none'),
    attach: terminal,
  });
  const done = result.tasks.filter((t) => t.status === 'done').length;
  ok(`Demo finished in ${formatDuration(Date.now() - started)}: ${done} of ${result.tasks.length} tasks done, each on its own branch.`);
  return done === result.tasks.length ? 0 : 1;
};

runIfEntry(import.meta.url, main);
