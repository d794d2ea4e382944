// `npm pack` of a checkout leaves the checkout's package.json as it was, also when the pack fails
// after prepack pointed the exports at dist/ (npm then never runs postpack).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { copyCheckout, npmPack, SYSTEM_PATH } from './support/package.ts';
import { tmpDir } from './helpers.ts';

const PACK_MS = 240_000;

function checkout() {
  const dir = copyCheckout();
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  const manifest = path.join(dir, 'package.json');
  return { dir, manifest, original: fs.readFileSync(manifest, 'utf8') };
}

/** Wait up to `ms` for `ok`; its last answer. */
async function until(ok: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return ok();
}

/** Watchers prepack left for `dir` that still run. */
function watchers(dir: string): number[] {
  return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return argv.includes('restore-after') && argv.some((a) => a.startsWith(dir));
    } catch {
      return false;
    }
  });
}

describe('npm pack and the checkout', () => {
  it('a pack that succeeds leaves package.json byte for byte, no dist/ and no watcher', async () => {
    const c = checkout();
    const r = npmPack(c.dir, tmpDir());
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(c.manifest, 'utf8')).toBe(c.original);
    expect(fs.existsSync(path.join(c.dir, 'dist'))).toBe(false);
    expect(await until(() => watchers(c.dir).length === 0, 5_000)).toBe(true);
  }, PACK_MS);

  it('a pack that fails after prepack (the tarball cannot be written) leaves package.json as it was', async () => {
    const c = checkout();
    const r = npmPack(c.dir, path.join(tmpDir(), 'missing', 'dir'), []);
    expect(r.code).not.toBe(0);
    // prepack ran (the build), then the tarball's write failed.
    expect(r.stdout + r.stderr).toMatch(/> node build\/pack\.mts prepack[\s\S]*ENOENT/);
    expect(await until(() => fs.readFileSync(c.manifest, 'utf8') === c.original, 5_000)).toBe(true);
    expect(fs.existsSync(path.join(c.dir, 'dist'))).toBe(false);
    expect(await until(() => watchers(c.dir).length === 0, 5_000)).toBe(true);
  }, PACK_MS);

  it('npm killed mid-pack (after prepack) leaves package.json as it was', async () => {
    const c = checkout();
    const npm = spawn('npm', ['pack', '--silent', '--pack-destination', tmpDir()], {
      cwd: c.dir,
      stdio: 'ignore',
      env: { HOME: process.env.HOME, PATH: `${path.join(c.dir, 'node_modules', '.bin')}:${SYSTEM_PATH}` },
    });
    const exited = new Promise((r) => npm.on('exit', r));
    // prepack has pointed the exports at dist/: npm is packing.
    expect(await until(() => fs.readFileSync(c.manifest, 'utf8').includes('./dist/lib/'), PACK_MS / 2)).toBe(true);
    npm.kill('SIGKILL');
    await exited;
    expect(await until(() => fs.readFileSync(c.manifest, 'utf8') === c.original, 5_000)).toBe(true);
    expect(fs.existsSync(path.join(c.dir, 'dist'))).toBe(false);
  }, PACK_MS);
});
