// Command-line parsing from one declared spec per command: flags are declared once, unknown ones are
// usage errors (exit 2), and the same spec renders --help.
import { parseArgs as nodeParseArgs } from 'node:util';
import { UsageError } from './errors.ts';

export type FlagSpec = {
  type: 'boolean' | 'string';
  short?: string;
  multiple?: boolean;
  /** Placeholder shown in help, e.g. `N` for `--workers N` (default: the choices, `a|b|c`). */
  value?: string;
  description: string;
  /** The only values allowed: the parser rejects any other, and help lists them. */
  choices?: readonly string[];
  /** A number: the parser checks it is one, from `min` (to `max`), whole unless `fraction`; help shows the range. */
  number?: { min: number; max?: number; fraction?: boolean; unit?: string };
};

export type CommandSpec = {
  /** Full command name as typed, e.g. `isollm task add`. */
  name: string;
  summary: string;
  /** Usage line after the name, e.g. `<title> [flags]`. */
  usage?: string;
  flags?: Record<string, FlagSpec>;
  subcommands?: Record<string, CommandSpec>;
  /** Other names for subcommands, e.g. { ssh: 'shell' }. */
  aliases?: Record<string, string>;
  /** Extra lines printed at the end of --help. */
  notes?: string[];
};

/** Flags every command accepts. */
export const GLOBAL_FLAGS: Record<string, FlagSpec> = {
  project: { type: 'string', value: 'DIR', description: 'the project (default: nearest isollm.yaml from the current directory up)' },
  debug: { type: 'boolean', description: 'print stack traces and child-process details on errors' },
  runtime: { type: 'string', choices: ['lxd', 'incus'], description: 'container runtime to use (default: runtime.kind, else auto; `isollm doctor` says which and why)' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
  version: { type: 'boolean', short: 'v', description: "print isollm's version" },
};

/**
 * Index of the first word that is not a flag nor a flag's value (`--project DIR`, `-n 2`), given the
 * flags known at this level; -1 when there is none before `--`. Global flags may come before a command.
 */
export function firstWord(args: string[], flags: Record<string, FlagSpec> = GLOBAL_FLAGS): number {
  const takesValue = new Set<string>();
  for (const [name, f] of Object.entries(flags)) {
    if (f.type !== 'string') continue;
    takesValue.add(`--${name}`);
    if (f.short) takesValue.add(`-${f.short}`);
  }
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') return -1;
    if (!a.startsWith('-')) return i;
    if (takesValue.has(a)) i++;
  }
  return -1;
}

export type Parsed = {
  /** Subcommand path, e.g. ['dep', 'add'] for `task dep add`; empty for a command without subcommands. */
  path: string[];
  spec: CommandSpec;
  flags: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** Arguments after `--`, kept verbatim. */
  rest: string[];
};

/** Resolve subcommands, then parse flags strictly against the chosen spec. */
export function parseCommand(root: CommandSpec, argv: string[]): Parsed {
  let spec = root;
  const path: string[] = [];
  let args = argv;
  while (spec.subcommands) {
    const first = firstWord(args, { ...GLOBAL_FLAGS, ...spec.flags });
    if (first === -1) break;
    const word = spec.aliases?.[args[first]] ?? args[first];
    const next = spec.subcommands[word];
    if (!next) {
      throw new UsageError(`unknown command "${args[first]}" for \`${spec.name}\` (see \`${spec.name} --help\`)`);
    }
    path.push(word);
    spec = next;
    args = [...args.slice(0, first), ...args.slice(first + 1)];
  }
  const options = { ...GLOBAL_FLAGS, ...spec.flags };
  let result;
  try {
    result = nodeParseArgs({ args, options, strict: true, allowPositionals: true, tokens: true });
  } catch (err) {
    throw new UsageError(`${describeParseError(err)} for \`${spec.name}\` (see \`${spec.name} --help\`)`);
  }
  for (const [name, f] of Object.entries(options)) checkValues(name, f, result.values[name]);
  const terminator = result.tokens.find((t) => t.kind === 'option-terminator');
  const positionals: string[] = [];
  const rest: string[] = [];
  for (const token of result.tokens) {
    if (token.kind !== 'positional') continue;
    if (terminator && token.index > terminator.index) rest.push(token.value);
    else positionals.push(token.value);
  }
  return { path, spec, flags: result.values as Parsed['flags'], positionals, rest };
}

/** The values a flag's spec allows (choices, number range), else a usage error naming the flag. */
function checkValues(name: string, f: FlagSpec, got: string | boolean | (string | boolean)[] | undefined): void {
  for (const v of Array.isArray(got) ? got : got === undefined ? [] : [got]) {
    if (typeof v !== 'string') continue;
    if (f.choices && !f.choices.includes(v)) {
      throw new UsageError(`--${name} must be one of ${f.choices.join(', ')} (got ${JSON.stringify(v)})`);
    }
    if (f.number) {
      const { min, max, fraction, unit } = f.number;
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n) || (!fraction && !Number.isInteger(n)) || n < min || (max !== undefined && n > max)) {
        const what = `${fraction ? 'a number' : 'a whole number'}${unit ? ` of ${unit}` : ''}`;
        throw new UsageError(`--${name} must be ${what} ${max === undefined ? `≥ ${min}` : `from ${min} to ${max}`} (got ${JSON.stringify(v)})`);
      }
    }
  }
}

function describeParseError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const flag = /'(-[^']*)'/.exec(e.message ?? '')?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${flag ?? ''}`.trimEnd();
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return flag ? `flag ${flag.split(' ')[0]} needs a value` : 'a flag is missing its value';
    default:
      return (e.message ?? String(err)).split('\n')[0];
  }
}

/** Help text rendered from the spec. */
export function formatHelp(spec: CommandSpec): string {
  const lines = [`${spec.summary}`, '', `Usage: ${spec.name}${spec.usage ? ' ' + spec.usage : spec.subcommands ? ' <command> [flags]' : ' [flags]'}`];
  if (spec.subcommands) {
    lines.push('', 'Commands:');
    const aliasesOf = (name: string) =>
      Object.entries(spec.aliases ?? {})
        .filter(([, target]) => target === name)
        .map(([alias]) => alias);
    const rows = Object.entries(spec.subcommands).map(([name, sub]) => {
      const aliases = aliasesOf(name);
      const label = `${name}${sub.usage ? ' ' + sub.usage : ''}`;
      return [label, sub.summary + (aliases.length ? ` (alias: ${aliases.join(', ')})` : '')];
    });
    lines.push(...alignRows(rows));
  }
  if (spec.flags && Object.keys(spec.flags).length) {
    lines.push('', 'Flags:', ...formatFlags(spec.flags));
  }
  // A global flag the command declares itself is the command's (its spec wins in parseCommand too): listed once, under Flags.
  const globals = Object.fromEntries(Object.entries(GLOBAL_FLAGS).filter(([name]) => !spec.flags?.[name]));
  lines.push('', 'Global flags:', ...formatFlags(globals));
  if (spec.notes?.length) lines.push('', ...spec.notes);
  return lines.join('\n');
}

/** Help lines for a set of flags, aligned. */
export function formatFlags(flags: Record<string, FlagSpec>): string[] {
  return alignRows(
    Object.entries(flags).map(([name, f]) => {
      const value = f.value ?? f.choices?.join('|');
      const range = f.number ? (f.number.max === undefined ? `≥ ${f.number.min}` : `${f.number.min}-${f.number.max}`) : '';
      const extras = [f.value && f.choices ? `one of ${f.choices.join(', ')}` : '', range, f.multiple ? 'repeatable' : ''].filter(Boolean);
      return [`${f.short ? `-${f.short}, ` : '    '}--${name}${value ? ' ' + value : ''}`, withNote(f.description, extras.join('; '))];
    }),
  );
}

/** `text (note)`, or `text (note; default: …)` when the text already ends in a parenthesis. */
function withNote(text: string, note: string): string {
  if (!note) return text;
  const open = text.lastIndexOf(' (');
  if (text.endsWith(')') && open !== -1) return `${text.slice(0, open)} (${note}; ${text.slice(open + 2)}`;
  return `${text} (${note})`;
}

function alignRows(rows: string[][]): string[] {
  const width = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([a, b]) => `  ${a.padEnd(width)}  ${b}`);
}

/** Read a string flag, or undefined. */
export function flagString(p: Parsed, name: string): string | undefined {
  const v = p.flags[name];
  return typeof v === 'string' ? v : undefined;
}

export function flagBool(p: Parsed, name: string): boolean {
  return p.flags[name] === true;
}

export function flagList(p: Parsed, name: string): string[] {
  const v = p.flags[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

/** A number flag (its spec's `number` range was checked by the parser), or undefined. */
export function flagNumber(p: Parsed, name: string): number | undefined {
  const v = flagString(p, name);
  return v === undefined ? undefined : Number(v);
}

/** Exactly `count` positionals (names in `names`), else a usage error. */
export function expectPositionals(p: Parsed, names: string[], optional = 0): string[] {
  const min = names.length - optional;
  if (p.positionals.length < min) {
    throw new UsageError(`missing ${names[p.positionals.length]} for \`${p.spec.name}\` (see \`${p.spec.name} --help\`)`);
  }
  if (p.positionals.length > names.length) {
    throw new UsageError(`unexpected argument "${p.positionals[names.length]}" for \`${p.spec.name}\``);
  }
  return p.positionals;
}
