#!/usr/bin/env node
import { askSelect, askText, canPrompt, type CommandSpec, flagBool, flagNumber, flagString, info, type Main, ok, parse, runIfEntry } from 'isollm/cli';
import { CONFIG_FILE, startDir } from 'isollm/project';
import { INIT_PRESETS, initProject } from 'isollm/flows';
import { type AgentPreset, MAX_WORKERS } from 'isollm/config';

export const SPEC: CommandSpec = {
  name: 'isollm init',
  summary: `create ${CONFIG_FILE} in this git repository (asks on a terminal; flags or defaults elsewhere)`,
  flags: {
    name: { type: 'string', value: 'NAME', description: 'project name (default: the directory name, made LXC-safe)' },
    workers: { type: 'string', value: 'N', number: { min: 1, max: MAX_WORKERS }, description: 'number of workers (default: 3)' },
    image: { type: 'string', value: 'IMAGE', description: 'image the workers launch from (default: images:debian/12)' },
    agent: { type: 'string', choices: INIT_PRESETS, description: `agent preset (default: claude; for a custom agent set agent.preset and agent.command in ${CONFIG_FILE} afterwards)` },
    base: { type: 'string', value: 'BRANCH', description: 'base branch for task branches (default: the current branch)' },
    yes: { type: 'boolean', short: 'y', description: 'ask nothing: take the defaults for anything not given' },
    force: { type: 'boolean', description: `overwrite an existing ${CONFIG_FILE}` },
  },
  notes: ['Run it inside a git repository with at least one commit; isollm.yaml goes at the top of the repository, with .isollm/ (added to .gitignore).'],
};

export const main: Main = async (argv) => {
  const p = parse(SPEC, argv);
  if (!p) return;
  const result = await initProject({
    dir: startDir(flagString(p, 'project')),
    name: flagString(p, 'name'),
    workers: flagNumber(p, 'workers'),
    image: flagString(p, 'image'),
    agent: flagString(p, 'agent') as AgentPreset | undefined,
    base: flagString(p, 'base'),
    // Ask on a terminal for what the flags did not give; --yes or no terminal: the defaults.
    ask: flagBool(p, 'yes') || !canPrompt() ? undefined : { text: askText, select: askSelect },
    force: flagBool(p, 'force'),
  });
  const a = result.answers;
  ok(`Wrote ${result.config} (project ${a.name}, ${a.workers} workers, ${a.agent}, image ${a.image}, base ${a.base})`);
  if (result.gitignoreUpdated) ok('Added .isollm/ to .gitignore');
  info('Next: `isollm doctor` to check the machine, then `isollm up`.');
};

runIfEntry(import.meta.url, main);
