// Where isollm's own files are, for the checkout (TypeScript sources run directly) and for the
// installed package (JavaScript built into dist/ by `npm pack`). Everything that names a file of
// isollm itself — templates, the dispatcher, the queue server's entry — asks here.
import fs from 'node:fs';
import path from 'node:path';

/** True when this code runs from the built JavaScript (the installed package), not the sources. */
export const BUILT = import.meta.url.endsWith('.js');

/** The package root: the nearest folder above this module with isollm's package.json. */
export const PACKAGE_ROOT = findRoot(import.meta.dirname);

function findRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file) && JSON.parse(fs.readFileSync(file, 'utf8')).name === 'isollm') return dir;
    if (path.dirname(dir) === dir) throw new Error(`isollm's package.json not found above ${start}`);
  }
}

export const TEMPLATES_DIR = path.join(PACKAGE_ROOT, 'templates');

/** A module of the library by its path under lib/ without extension, e.g. `queue/main`. */
export function libModule(name: string): string {
  return BUILT ? path.join(PACKAGE_ROOT, 'dist', 'lib', `${name}.js`) : path.join(PACKAGE_ROOT, 'lib', `${name}.ts`);
}

/** The `isollm` dispatcher script that this process would run (for panes that call isollm again). */
export const DISPATCHER = BUILT ? path.join(PACKAGE_ROOT, 'dist', 'scripts', 'isollm.mjs') : path.join(PACKAGE_ROOT, 'scripts', 'isollm.mts');

export function packageVersion(): string {
  return JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')).version;
}
