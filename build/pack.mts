#!/usr/bin/env node
// prepack / postpack: build dist/ and point the package's exports at it for the tarball, then point
// them back at the TypeScript sources that the checkout runs directly. Both maps are written here, so
// postpack restores package.json exactly, whatever prepack found.
//
// npm runs postpack only when the pack got that far: a pack that fails after prepack (the tarball
// not written, npm killed, Ctrl-C) would leave the checkout's package.json pointing at dist/. So
// prepack leaves a watcher behind, detached, that does postpack's work when the packing process
// ends and package.json is still the one prepack wrote.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { $ } from 'zx/core';

const ROOT = path.resolve(import.meta.dirname, '..');
const MANIFEST = path.join(ROOT, 'package.json');
const DIST = path.join(ROOT, 'dist');
/** How often the watcher looks whether the packing process still runs. */
const WATCH_POLL_MS = 200;

export const SOURCE_EXPORTS = { './package.json': './package.json', './*': './lib/*/index.ts' };
export const BUILT_EXPORTS = {
  './package.json': './package.json',
  './*': { types: './dist/lib/*/index.d.ts', default: './dist/lib/*/index.js' },
};

/** Rewrite package.json's exports, atomically (a new file each time: the watcher tells writes apart by it). */
function setExports(exports: object): string {
  const manifest = JSON.parse(fs.readFileSync(MANIFEST, 'utf8'));
  manifest.exports = exports;
  const tmp = `${MANIFEST}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(manifest, null, 2) + '\n');
  fs.renameSync(tmp, MANIFEST);
  return fileIdentity(MANIFEST);
}

/** Which file a name holds now (inode and change time), '' when none. */
function fileIdentity(file: string): string {
  const stat = fs.statSync(file, { bigint: true, throwIfNoEntry: false });
  return stat ? `${stat.ino}:${stat.ctimeNs}` : '';
}

function restore(): void {
  setExports(SOURCE_EXPORTS);
  fs.rmSync(DIST, { recursive: true, force: true });
}

function readProc(pid: number, what: 'stat' | 'environ'): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/${what}`, 'utf8');
  } catch {
    return null;
  }
}

/** Parent pid and start time (fields 4 and 22 of /proc/<pid>/stat; the name in parentheses may hold anything). */
function procStat(pid: number): { ppid: number; start: string } | null {
  const stat = readProc(pid, 'stat');
  if (!stat) return null;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(fields[1]), start: fields[19] };
}

/**
 * The process running this lifecycle script (npm, pnpm…): the nearest ancestor that is not itself
 * part of the script (the shell npm starts it under has npm_lifecycle_event=prepack in its
 * environment; npm has not). Null where /proc does not tell.
 */
function packingProcess(): { pid: number; start: string } | null {
  for (let pid = process.ppid, depth = 0; pid > 1 && depth < 8; depth++) {
    const stat = procStat(pid);
    const environ = readProc(pid, 'environ');
    if (!stat || environ === null) return null;
    if (!environ.split('\0').includes('npm_lifecycle_event=prepack')) return { pid, start: stat.start };
    pid = stat.ppid;
  }
  return null;
}

/** Until the packing process ends: then, unless package.json was written since prepack (postpack ran), restore it. */
async function restoreWhenGone(pid: number, start: string, written: string): Promise<void> {
  for (;;) {
    if (fileIdentity(MANIFEST) !== written) return;
    if (procStat(pid)?.start !== start) break;
    await new Promise((r) => setTimeout(r, WATCH_POLL_MS));
  }
  if (fileIdentity(MANIFEST) === written) restore();
}

const step = process.argv[2];
if (step === 'prepack') {
  fs.rmSync(DIST, { recursive: true, force: true });
  await $({ cwd: ROOT, stdio: 'inherit' })`tsc -p tsconfig.build.json`;
  const packer = packingProcess();
  const written = setExports(BUILT_EXPORTS);
  try {
    if (packer) {
      // Its own session and no stdio of npm's: npm does not wait for it, and a Ctrl-C to npm spares it.
      const watcher = spawn(process.execPath, [import.meta.filename, 'restore-after', String(packer.pid), packer.start, written], { detached: true, stdio: 'ignore' });
      await new Promise((resolve, reject) => watcher.once('spawn', resolve).once('error', reject));
      watcher.unref();
    }
  } catch (err) {
    restore();
    throw err;
  }
} else if (step === 'postpack') {
  restore();
} else if (step === 'restore-after') {
  await restoreWhenGone(Number(process.argv[3]), process.argv[4] ?? '', process.argv[5] ?? '');
} else {
  console.error('usage: node build/pack.mts prepack|postpack');
  process.exitCode = 2;
}
