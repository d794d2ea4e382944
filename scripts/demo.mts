#!/usr/bin/env node
// isollm demo (npm run demo in a checkout): set up the host, make a sample project with a backlog, and watch two scripted agents
// finish it in containers. `--clean` takes it all down again.
import path from 'node:path';
import process from 'node:process';
import { type CommandSpec, confirmPlan, flagBool, flagNumber, flagString, formatDuration, info, type Main, ok, parse, runIfEntry, terminalReporter } from 'isollm/cli';
import { MULTIPLEXER_KINDS, type MultiplexerKind, RUNTIME_KINDS } from 'isollm/config';
import { cleanDemo, defaultDemoDir, DEMO_IMAGE, DEMO_NAME, isTerminal, runDemo } from 'isollm/flows';
import { startDir } from 'isollm/project';
import type { RuntimeName } from 'isollm/runtime';

// The name it was started by: npm names the script it runs.
const NAME = process.env.npm_lifecycle_event === 'demo' ? 'npm run demo --' : 'isollm demo';

export const SPEC: CommandSpec = {
  name: NAME,
  summary: 'watch scripted agents finish a small backlog in containers (no LLM account needed)',
  flags: {
    dir: { type: 'string', value: 'DIR', description: `where the sample project goes (default: ${defaultDemoDir()})` },
    clean: { type: 'boolean', description: 'remove the demo: its containers, queue, hub and sample project' },
    yes: { type: 'boolean', short: 'y', description: 'ask nothing (set up the host without asking)' },
    workers: { type: 'string', short: 'n', value: 'N', number: { min: 1, max: 8 }, description: 'how many workers (default: 2)' },
    image: { type: 'string', value: 'ALIAS', description: `image for the workers, built locally when missing (default: ${DEMO_IMAGE})` },
    runtime: { type: 'string', choices: RUNTIME_KINDS.filter((k) => k !== 'auto'), description: 'container runtime (default: the installed one, else lxd)' },
    name: { type: 'string', value: 'NAME', description: `project name, which names the containers (default: ${DEMO_NAME})` },
    multiplexer: { type: 'string', short: 'm', choices: MULTIPLEXER_KINDS, description: 'the multiplexer (default: auto on a terminal, none elsewhere)' },
    delay: { type: 'string', value: 'SECONDS', number: { min: 0, max: 600 }, description: 'how long the demo agent works on each task (default: 3)' },
    timeout: { type: 'string', value: 'SECONDS', number: { min: 10, max: 3600 }, description: 'give up when the backlog is not finished by then (default: 300)' },
  },
  notes: [
    `Leaves the demo running so you can look around; \`${NAME} --clean\` removes it.`,
    'Running it again starts over with a fresh sample project.',
  ],
};

export const main: Main = async (argv) => {
  const p = parse(SPEC, argv);
  if (!p) return;
  const started = Date.now();
  const dir = path.resolve(startDir(), flagString(p, 'dir') ?? defaultDemoDir());
  if (flagBool(p, 'clean')) {
    if (await cleanDemo(dir, terminalReporter)) ok(`The demo in ${dir} is gone (the image stays for next time).`);
    else info(`No demo in ${dir}: nothing to clean.`);
    return;
  }
  const multiplexer = flagString(p, 'multiplexer') as MultiplexerKind | undefined;
  const terminal = isTerminal();
  const result = await runDemo({
    dir,
    name: flagString(p, 'name') ?? DEMO_NAME,
    image: flagString(p, 'image') ?? DEMO_IMAGE,
    runtime: flagString(p, 'runtime') as RuntimeName | undefined,
    workers: flagNumber(p, 'workers') ?? 2,
    delay: flagNumber(p, 'delay') ?? 3,
    timeoutMs: (flagNumber(p, 'timeout') ?? 300) * 1000,
    confirm: confirmPlan(flagBool(p, 'yes'), 'The demo'),
    multiplexer: multiplexer ?? (terminal ? 'auto' : 'none'),
    attach: terminal,
  }, terminalReporter);
  const done = result.tasks.filter((t) => t.status === 'done').length;
  ok(`Demo finished in ${formatDuration(Date.now() - started)}: ${done} of ${result.tasks.length} tasks done, each on its own branch.`);
  return done === result.tasks.length ? 0 : 1;
};

runIfEntry(import.meta.url, main);
