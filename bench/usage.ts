// `--help` for a bench: its opening comment, printed before it starts any real work.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

/** When `--help` or `-h` is given, print the comment at the top of the bench at `url` and exit 0. */
export function helpAndExit(url: string, argv = process.argv.slice(2)): void {
  if (!argv.includes('--help') && !argv.includes('-h')) return;
  process.stdout.write(benchUsage(fs.readFileSync(fileURLToPath(url), 'utf8')));
  process.exit(0);
}

/** The leading `//` comment lines of a script (after its shebang), without the slashes. */
export function benchUsage(source: string): string {
  const lines = source.split('\n');
  if (lines[0]?.startsWith('#!')) lines.shift();
  const comment: string[] = [];
  for (const line of lines) {
    if (!line.startsWith('//')) break;
    comment.push(line.replace(/^\/\/ ?/, ''));
  }
  return comment.join('\n') + '\n';
}
