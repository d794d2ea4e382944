#!/usr/bin/env node
// The `isollm` bin. From a checkout it runs the TypeScript dispatcher directly; installed as a
// package (under node_modules, where Node will not strip types) it runs the JavaScript built into
// dist/. isollm needs Node >= 22.18 (native TypeScript, node:sqlite); when the node on PATH is older
// (the system Node 20 here), it runs the Node 24 that the package depends on.
import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import module, { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Node's compile cache (on disk, keyed by each file's content; the dispatcher turns it on too, for a
// checkout run without this bin): a command starts without transpiling and compiling isollm's
// modules again, ~100-200 ms of a short command such as `isollm status`.
const xdgCache = process.env.XDG_CACHE_HOME;
const compileCache = join(xdgCache?.startsWith('/') ? xdgCache : join(homedir(), '.cache'), 'isollm', 'compile-cache');

const root = dirname(dirname(realpathSync(fileURLToPath(import.meta.url))));
const installed = root.split(sep).includes('node_modules');
const dispatcher = installed ? join(root, 'dist', 'scripts', 'isollm.mjs') : join(root, 'scripts', 'isollm.mts');
const [major, minor] = process.versions.node.split('.').map(Number);

if (major > 22 || (major === 22 && minor >= 18)) {
  try {
    module.enableCompileCache(compileCache);
  } catch {
    // No cache (an unwritable home): only slower.
  }
  process.argv.splice(1, 1, dispatcher);
  await import(pathToFileURL(dispatcher).href);
} else {
  let bundled;
  try {
    // The `node` package's own bin, wherever npm put it (nested or hoisted).
    bundled = join(dirname(createRequire(join(root, 'package.json')).resolve('node/package.json')), 'bin', 'node');
  } catch {
    console.error(`✗ isollm needs Node >= 22.18 (this is ${process.version}). Run \`npm install\` in ${root}, or install Node 24.`);
    process.exit(1);
  }
  const child = spawnSync(bundled, [dispatcher, ...process.argv.slice(2)], { stdio: 'inherit', env: { NODE_COMPILE_CACHE: compileCache, ...process.env } });
  if (child.error) {
    console.error(`✗ could not start ${bundled}: ${child.error.message}. Reinstall isollm, or install Node 24.`);
    process.exit(1);
  }
  if (child.signal) process.kill(process.pid, child.signal);
  process.exit(child.status ?? 1);
}
