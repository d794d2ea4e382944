#!/usr/bin/env node
// The `isollm` dispatcher: maps a command name to its script and imports it only when it runs.
import { runIfEntry, type Main } from '../lib/cli.ts';
import { UsageError } from '../lib/errors.ts';
import { out } from '../lib/ui.ts';
import { alignedList, COMMANDS } from '../lib/commands.ts';

const VERSION_FLAGS = new Set(['--version', '-v']);

export const main: Main = async (argv) => {
  const index = argv.findIndex((a) => !a.startsWith('-'));
  const before = index === -1 ? argv : argv.slice(0, index);
  if (before.some((a) => VERSION_FLAGS.has(a))) {
    const { default: pkg } = await import('../package.json', { with: { type: 'json' } });
    out(pkg.version);
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
