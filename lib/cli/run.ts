// The one place that turns errors into a line on stderr and an exit code.
import process from 'node:process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, UsageError, UserError } from './errors.ts';
import { ce, info, out, SYMBOLS } from './ui.ts';
import { firstWord, formatHelp, parseCommand, type CommandSpec, type Parsed } from './args.ts';
import { packageVersion } from './package-files.ts';

export type Main = (argv: string[]) => Promise<number | void>;

/**
 * The arguments of this script when it is the process entry point — `node scripts/x.mts …` or
 * `zx scripts/x.mts …` — else null (it was imported, e.g. by the dispatcher or a test).
 */
export function entryArgs(moduleUrl: string, argv = process.argv): string[] | null {
  const self = fileURLToPath(moduleUrl);
  for (let i = 1; i <= 2 && i < argv.length; i++) {
    if (path.resolve(argv[i]) === self) return argv.slice(i + 1);
  }
  return null;
}

/** Run `main` when this module is the entry point. */
export function runIfEntry(moduleUrl: string, main: Main): void {
  const args = entryArgs(moduleUrl);
  if (args) void run(main, args, commandLabel(moduleUrl, args));
}

/** What the user ran, for an error that reaches the top: `isollm setup` (the dispatcher: its command). */
export function commandLabel(moduleUrl: string, args: string[]): string {
  const name = path.basename(fileURLToPath(moduleUrl)).replace(/\.(m?[jt]s)$/, '');
  if (name !== 'isollm') return `isollm ${name}`;
  const word = firstWord(args);
  return word === -1 ? 'isollm' : `isollm ${args[word]}`;
}

export async function run(main: Main, args: string[], label = 'isollm'): Promise<void> {
  // `isollm task list | head`: the reader went away; stop quietly instead of crashing on EPIPE.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  // Before the real parse (which may be what fails): --debug anywhere, but not in the args after `--`.
  const dashDash = args.indexOf('--');
  const debug = (dashDash === -1 ? args : args.slice(0, dashDash)).includes('--debug') || Boolean(process.env.ISOLLM_DEBUG);
  try {
    applyRuntimeFlag(args);
    const code = await main(args);
    process.exitCode = code ?? EXIT.ok;
  } catch (err) {
    process.exitCode = reportError(err, debug, label);
  }
}

/** Where `--runtime` goes: the runtime layer reads it, and every isollm this process starts inherits it. */
export const RUNTIME_ENV = 'ISOLLM_RUNTIME';

/** `--runtime lxd|incus` anywhere before `--`, for every command (the one rule for it is in lib/runtime/choose.ts). */
export function applyRuntimeFlag(args: string[], env: NodeJS.ProcessEnv = process.env): void {
  const end = args.includes('--') ? args.indexOf('--') : args.length;
  for (let i = 0; i < end; i++) {
    const value = args[i] === '--runtime' ? args[i + 1] : args[i].startsWith('--runtime=') ? args[i].slice('--runtime='.length) : undefined;
    if (value === undefined) continue;
    if (value !== 'lxd' && value !== 'incus') throw new UsageError(`--runtime must be one of lxd, incus (got ${JSON.stringify(value)})`);
    env[RUNTIME_ENV] = value;
  }
}

/** Print an error as one line (details and stack only where they help) and return its exit code. */
export function reportError(err: unknown, debug: boolean, label = 'isollm'): number {
  if (err instanceof UserError) {
    if (err.exitCode === EXIT.ok) {
      info(err.message);
      return EXIT.ok;
    }
    info(`${ce.red(SYMBOLS.fail)} ${err.message}`);
    if (err.detail) info(err.detail.replace(/\s+$/, ''));
    if (debug) {
      if (err.cause) info(String((err.cause as Error).stack ?? err.cause));
      info(String(err.stack));
    }
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  const sys = err as NodeJS.ErrnoException;
  if (sys?.syscall && sys.code) {
    // A file or process the OS refused (EACCES on a path, ENOTDIR, EPERM…): its message names both.
    info(`${ce.red(SYMBOLS.fail)} ${message.split('\n')[0]}${debug ? '' : ' (check that path and its permissions; --debug for details)'}`);
    if (debug) info(String(sys.stack ?? err));
    return EXIT.failure;
  }
  // A bug or an output isollm did not expect: one line saying what was running, never a bare parser message.
  info(`${ce.red(SYMBOLS.fail)} ${label} stopped on an unexpected error: ${message.split('\n')[0] || err?.constructor?.name || 'no message'} (${debug ? 'stack below' : 'run it again with --debug for details'})`);
  if (debug) info(String((err as Error)?.stack ?? err));
  return EXIT.failure;
}

/**
 * Parse argv against a spec; prints help (or the version) and returns null for --help (--version), so a
 * command reads:
 *   const p = parse(SPEC, argv); if (!p) return;
 */
export function parse(spec: CommandSpec, argv: string[]): Parsed | null {
  const parsed = parseCommand(spec, argv);
  if (parsed.flags.version) {
    out(packageVersion());
    return null;
  }
  if (parsed.flags.help) {
    out(formatHelp(parsed.spec));
    return null;
  }
  if (parsed.spec.subcommands) {
    // A command group with no subcommand given: show what it offers.
    out(formatHelp(parsed.spec));
    return null;
  }
  return parsed;
}
