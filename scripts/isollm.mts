#!/usr/bin/env node
// The `isollm` dispatcher: maps a command name to its script and imports it only when it runs.
import { alignedList, COMMANDS, type Main, out, packageVersion, runIfEntry, UsageError } from 'isollm/cli';

const VERSION_FLAGS = new Set(['--version', '-v']);

export const main: Main = async (argv) => {
  const index = argv.findIndex((a) => !a.startsWith('-'));
  const before = index === -1 ? argv : argv.slice(0, index);
  if (before.some((a) => VERSION_FLAGS.has(a))) {
    out(packageVersion());
    return;
  }
  if (index === -1) {
    const unknown = before.find((a) => !['--help', '-h', '--debug'].includes(a));
    if (unknown) throw new UsageError(`unknown flag ${unknown} (see \`isollm --help\`)`);
    out(usage());
    return;
  }
  const name = argv[index];
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`unknown command "${name}" (see \`isollm --help\`)`);
  const script = (await command.load()) as { main: Main };
  return script.main([...before, ...argv.slice(index + 1)]);
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
    'Run `isollm <command> --help` for its flags. Global flags: --project DIR, --debug, --help, --version.',
  ].join('\n');
}

runIfEntry(import.meta.url, main);
