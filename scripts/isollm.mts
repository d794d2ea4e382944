#!/usr/bin/env node
// The `isollm` dispatcher: maps a command name to its script and imports it only when it runs. Global
// flags may come before the command (`isollm --project X status`); they are handed to the command.
import { alignedList, COMMANDS, firstWord, formatFlags, GLOBAL_FLAGS, type Main, out, packageVersion, parseCommand, runIfEntry, UsageError } from 'isollm/cli';

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
