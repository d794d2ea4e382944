#!/usr/bin/env node
// The installed `isollm` bin. isollm needs Node >= 22.18 (native TypeScript, node:sqlite); when the
// node on PATH is older (the system Node 20 here), run the Node 24 that the package brings along.
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = dirname(dirname(realpathSync(fileURLToPath(import.meta.url))));
const dispatcher = join(root, 'scripts', 'isollm.mts');
const [major, minor] = process.versions.node.split('.').map(Number);

if (major > 22 || (major === 22 && minor >= 18)) {
  process.argv.splice(1, 1, dispatcher);
  await import(pathToFileURL(dispatcher).href);
} else {
  const bundled = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(bundled)) {
    console.error(`✗ isollm needs Node >= 22.18 (this is ${process.version}). Run \`npm install\` in ${root}, or install Node 24.`);
    process.exit(1);
  }
  const child = spawnSync(bundled, [dispatcher, ...process.argv.slice(2)], { stdio: 'inherit' });
  if (child.signal) process.kill(process.pid, child.signal);
  process.exit(child.status ?? 1);
}
