// POSIX shell quoting for the few places an argv must become one shell string: printing a command
// for the user to copy, and tmux's single-argument form (tmux runs a lone argument with its
// default-shell; two or more arguments it execs directly, so isollm passes argv whenever it can).
// Every argument either matches SAFE and stays bare, or is wrapped in single quotes, inside which a
// POSIX shell treats every byte literally except `'` itself, written as '\'' (close, escaped quote,
// reopen). NUL cannot be passed through argv at all, so it is refused.

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quote one argument so a POSIX shell reads it back byte for byte. */
export function quoteArg(arg: string): string {
  if (arg.includes('\0')) throw new Error('A command argument cannot contain a NUL byte.');
  if (SAFE.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Join an argv into one POSIX shell command line that runs exactly that argv. */
export function quoteArgv(argv: string[]): string {
  return argv.map(quoteArg).join(' ');
}
