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

describe('flag values declared in the spec', () => {
  const UP: CommandSpec = {
    name: 'isollm up',
    summary: 'up',
    flags: {
      multiplexer: { type: 'string', short: 'm', choices: ['zellij', 'tmux', 'none'], description: 'the multiplexer' },
      workers: { type: 'string', short: 'n', value: 'N', number: { min: 1, max: 32 }, description: 'how many' },
      interval: { type: 'string', value: 'S', number: { min: 0.1, fraction: true, unit: 'seconds' }, description: 'between redraws' },
      tag: { type: 'string', multiple: true, value: 'T', choices: ['a', 'b'], description: 'tags' },
    },
  };
  const usage = (args: string[]) => {
    try {
      parseCommand(UP, args);
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError);
      return (err as Error).message;
    }
    return 'accepted';
  };

  it('accepts the allowed values', () => {
    const p = parseCommand(UP, ['-m', 'tmux', '-n', '32', '--interval', '0.5', '--tag', 'a', '--tag', 'b']);
    expect(p.flags).toMatchObject({ multiplexer: 'tmux', workers: '32', interval: '0.5', tag: ['a', 'b'] });
  });

  it.each([
    [['-m', 'screen'], '--multiplexer must be one of zellij, tmux, none (got "screen")'],
    [['--workers', '0'], '--workers must be a whole number from 1 to 32 (got "0")'],
    [['--workers', '33'], '--workers must be a whole number from 1 to 32 (got "33")'],
    [['--workers', '2.5'], '--workers must be a whole number from 1 to 32 (got "2.5")'],
    [['--workers', ''], '--workers must be a whole number from 1 to 32 (got "")'],
    [['--workers=three'], '--workers must be a whole number from 1 to 32 (got "three")'],
    [['--interval', '0'], '--interval must be a number of seconds ≥ 0.1 (got "0")'],
    [['--interval', 'Infinity'], '--interval must be a number of seconds ≥ 0.1 (got "Infinity")'],
    [['--tag', 'a', '--tag', 'c'], '--tag must be one of a, b (got "c")'],
  ])('rejects %j as a usage error', (args, message) => {
    expect(usage(args)).toBe(message);
  });

  it('help lists the choices and the range', () => {
    const help = formatHelp(UP);
    expect(help).toMatch(/^ {2}-m, --multiplexer zellij\|tmux\|none +the multiplexer$/m);
    expect(help).toMatch(/^ {2}-n, --workers N +how many \(1-32\)$/m);
    expect(help).toMatch(/--interval S +between redraws \(≥ 0\.1\)$/m);
    expect(help).toMatch(/--tag T +tags \(one of a, b; repeatable\)$/m);
  });
});
