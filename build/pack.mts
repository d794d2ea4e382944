#!/usr/bin/env node
// prepack / postpack: build dist/ and point the package's exports at it for the tarball, then point
// them back at the TypeScript sources that the checkout runs directly. Both maps are written here, so
// postpack restores package.json exactly, whatever prepack found.
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { $ } from 'zx/core';

const ROOT = path.resolve(import.meta.dirname, '..');
const MANIFEST = path.join(ROOT, 'package.json');

export const SOURCE_EXPORTS = { './package.json': './package.json', './*': './lib/*/index.ts' };
export const BUILT_EXPORTS = {
  './package.json': './package.json',
  './*': { types: './dist/lib/*/index.d.ts', default: './dist/lib/*/index.js' },
};

function setExports(exports: object): void {
  const manifest = JSON.parse(fs.readFileSync(MANIFEST, 'utf8'));
  manifest.exports = exports;
  fs.writeFileSync(MANIFEST, JSON.stringify(manifest, null, 2) + '\n');
}

const step = process.argv[2];
if (step === 'prepack') {
  fs.rmSync(path.join(ROOT, 'dist'), { recursive: true, force: true });
  await $({ cwd: ROOT, stdio: 'inherit' })`tsc -p tsconfig.build.json`;
  setExports(BUILT_EXPORTS);
} else if (step === 'postpack') {
  setExports(SOURCE_EXPORTS);
  fs.rmSync(path.join(ROOT, 'dist'), { recursive: true, force: true });
} else {
  console.error('usage: node build/pack.mts prepack|postpack');
  process.exitCode = 2;
}
