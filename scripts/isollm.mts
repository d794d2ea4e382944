#!/usr/bin/env node
// The `isollm` dispatcher: maps a command name to its script and imports it only when it runs. Global
// flags may come before the command (`isollm --project X status`); they are handed to the command.
import module from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Main } from 'isollm/cli';

// Node's compile cache (on disk, keyed by each file's content): a command starts without
// transpiling and compiling its modules again (~100 ms of `isollm status`). It must be on before the
// first of them loads, hence the dynamic import after it. bin/isollm.mjs turns it on before this
// file (then this is a no-op); here for a checkout's scripts run directly, as the tests do.
try {
  const cacheHome = process.env.XDG_CACHE_HOME?.startsWith('/') ? process.env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  module.enableCompileCache?.(path.join(cacheHome, 'isollm', 'compile-cache'));
} catch {
  // No cache (an unwritable home): only slower.
}
const { alignedList, COMMANDS, firstWord, formatFlags, GLOBAL_FLAGS, out, packageVersion, parseCommand, runIfEntry, UsageError } = await import('isollm/cli');

const SPEC = { name: 'isollm', summary: 'isollm' };

export const main: Main = async (argv) => {
  const index = firstWord(argv);
  if (index === -1) {
    // No command: only global flags (checked, so a typo is a usage error); --version prints it.
    out(parseCommand(SPEC, argv).flags.version ? packageVersion() : usage());
    return;
  }
  const name = argv[index];
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`unknown command "${name}" (see \`isollm --help\`)`);
  const script = (await command.load()) as { main: Main };
  return script.main([...argv.slice(0, index), ...argv.slice(index + 1)]);
};

function usage(): string {
  return [
    'isollm: many AI coding agents in parallel, each in its own LXD/Incus container.',
    '',
    'Usage: isollm <command> [flags]',
    '',
    'Commands:',
    ...alignedList(),
    '',
    'Global flags (before or after the command):',
    ...formatFlags(GLOBAL_FLAGS),
    '',
    'Run `isollm <command> --help` for its flags.',
  ].join('\n');
}

runIfEntry(import.meta.url, main);
