import { describe, expect, it } from 'vitest';
import { formatHelp, parseCommand, type CommandSpec } from '../lib/cli/args.ts';
import { UsageError } from '../lib/cli/errors.ts';

const SPEC: CommandSpec = {
  name: 'isollm task',
  summary: 'tasks',
  subcommands: {
    add: { name: 'isollm task add', summary: 'add', usage: '<title>', flags: { priority: { type: 'string', short: 'p', description: 'p' }, 'depends-on': { type: 'string', short: 'd', multiple: true, description: 'd' } } },
    dep: { name: 'isollm task dep', summary: 'deps', subcommands: { add: { name: 'isollm task dep add', summary: 'x' } } },
  },
  aliases: { new: 'add' },
};

describe('parseCommand', () => {
  it('resolves nested subcommands, aliases, repeatable flags and args after --', () => {
    const p = parseCommand(SPEC, ['new', '-p', 'high', 'fix it', '-d', 'ar-1', '--depends-on', 'ar-2', '--', '-x']);
    expect(p.path).toEqual(['add']);
    expect(p.flags.priority).toBe('high');
    expect(p.flags['depends-on']).toEqual(['ar-1', 'ar-2']);
    expect(p.positionals).toEqual(['fix it']);
    expect(p.rest).toEqual(['-x']);
    expect(parseCommand(SPEC, ['dep', 'add']).path).toEqual(['dep', 'add']);
  });

  it('rejects unknown commands and flags with one line and exit code 2', () => {
    expect(() => parseCommand(SPEC, ['nope'])).toThrow('unknown command "nope" for `isollm task`');
    try {
      parseCommand(SPEC, ['add', '--bogus']);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).exitCode).toBe(2);
      expect((err as Error).message).toBe('unknown flag --bogus for `isollm task add` (see `isollm task add --help`)');
    }
  });

  it('renders help with commands, aliases and flags', () => {
    const help = formatHelp(SPEC);
    expect(help).toContain('add <title>');
    expect(help).toContain('(alias: new)');
    expect(formatHelp(SPEC.subcommands!.add)).toMatch(/-d, --depends-on\s+d \(repeatable\)/);
  });
});
