#!/usr/bin/env node
// isollm setup: install and initialise the container runtime and make the image available.
import { type CommandSpec, confirmPlan, flagBool, flagString, info, type Main, out, parse, printJson, runIfEntry } from 'isollm/cli';
import { DEFAULT_IMAGE, loadConfig, RUNTIME_KINDS } from 'isollm/config';
import { type RuntimeName, setupHost } from 'isollm/runtime';
import { findProjectRoot, startDir } from 'isollm/project';

export const SPEC: CommandSpec = {
  name: 'isollm setup',
  summary: 'install and initialise the container runtime (LXD or Incus) and the image',
  flags: {
    runtime: { type: 'string', choices: RUNTIME_KINDS.filter((k) => k !== 'auto'), description: 'runtime to set up (default: the one every command would use, see `isollm doctor`; with neither installed, lxd)' },
    image: { type: 'string', value: 'ALIAS', description: 'image to make available (default: the configured image)' },
    yes: { type: 'boolean', short: 'y', description: 'do not ask before changing the system' },
    json: { type: 'boolean', description: 'print the steps as JSON' },
  },
  notes: ['Idempotent: every step checks first; a second run says "nothing to do".', 'Uses sudo for system changes when not run as root.'],
};

export const main: Main = async (argv) => {
  const p = parse(SPEC, argv);
  if (!p) return;
  const runtimeFlag = flagString(p, 'runtime');
  const root = findProjectRoot(startDir(flagString(p, 'project')));
  const config = root ? loadConfig(root) : null;
  const image = flagString(p, 'image') ?? config?.image ?? DEFAULT_IMAGE;
  const yes = flagBool(p, 'yes');

  const result = await setupHost({
    runtime: runtimeFlag as RuntimeName | undefined,
    kind: config?.runtime.kind,
    project: config?.project,
    image,
    log: info,
    confirm: confirmPlan(yes),
  });

  if (flagBool(p, 'json')) return printJson(result);
  const done = result.steps.filter((r) => r.status === 'done');
  if (done.length === 0) out('Nothing to do: the host is ready.');
  else out(`Done: ${done.map((r) => r.title + (r.note ? ` (${r.note})` : '')).join('; ')}.`);
};

runIfEntry(import.meta.url, main);
