#!/usr/bin/env node
// isollm up: start the queue, the hub, the workers and their agents, and show them.
import process from 'node:process';
import { canPrompt, type CommandSpec, flagBool, flagNumber, flagString, formatDuration, info, type Main, ok, parse, runIfEntry, terminalReporter } from 'isollm/cli';
import { loadConfig, MAX_WORKERS, MULTIPLEXER_KINDS, type MultiplexerKind } from 'isollm/config';
import { requireProjectRoot } from 'isollm/project';
import { up } from 'isollm/flows';

export const SPEC: CommandSpec = {
  name: 'isollm up',
  summary: 'start the queue, the workers and their agents, and show them',
  flags: {
    workers: { type: 'string', short: 'n', value: 'N', number: { min: 1, max: MAX_WORKERS }, description: 'how many workers (default: workers in isollm.yaml)' },
    base: { type: 'string', value: 'BRANCH', description: 'base branch for new task branches (default: git.base_branch)' },
    force: { type: 'boolean', description: "start even when the hub's base is behind this repository's" },
    detach: { type: 'boolean', short: 'd', description: 'do not attach to the multiplexer session' },
    multiplexer: { type: 'string', short: 'm', choices: MULTIPLEXER_KINDS, description: 'the multiplexer (default: multiplexer.kind)' },
  },
  notes: ['Run it again to reattach, or with -n to scale up; nothing is duplicated.'],
};

export const main: Main = async (argv) => {
  const p = parse(SPEC, argv);
  if (!p) return;
  const started = Date.now();
  const root = requireProjectRoot(flagString(p, 'project'));
  const base = flagString(p, 'base');
  const config = loadConfig(root, base ? { git: { base_branch: base } } : {});
  const result = await up(root, config, {
    count: flagNumber(p, 'workers'),
    force: flagBool(p, 'force'),
    multiplexer: flagString(p, 'multiplexer') as MultiplexerKind | undefined,
  }, terminalReporter);
  const names = result.workers.map((w) => w.name).join(', ');
  ok(`${result.workers.length} agent(s) at work (${names}) in ${formatDuration(Date.now() - started)}.`);
  if (result.mux && result.session) {
    if (result.reused) info(`The ${result.mux.kind} session ${result.session} was already running.`);
    if (!flagBool(p, 'detach') && canPrompt() && process.stdout.isTTY) {
      await result.mux.attach(result.session);
      return;
    }
    info(`Watch them: ${result.mux.kind === 'tmux' ? `tmux attach -t ${result.session}` : `zellij attach ${result.session}`}  ·  status: isollm status  ·  stop: isollm down`);
  } else {
    info('Follow an agent: isollm worker logs worker-1 -f  ·  status: isollm status  ·  stop: isollm down');
  }
  return result.failures.length ? 1 : 0;
};

runIfEntry(import.meta.url, main);
