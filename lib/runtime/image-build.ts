// Build a Debian container image locally (debootstrap) when no image server is reachable, cache the
// two tarballs by a hash of the recipe so later runs skip debootstrap, and import them under an alias.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { $ } from 'zx/core';
import { readMirror, readOsRelease } from './apt-source.ts';
import { UserError } from '../cli/errors.ts';
import type { Runtime } from './detect.ts';
import { runClient } from './client.ts';

/** debootstrap fetches ~150 packages: minutes on a slow mirror. */
export const DEBOOTSTRAP_TIMEOUT_MS = 15 * 60_000;
export const PACK_TIMEOUT_MS = 5 * 60_000;
export const IMPORT_TIMEOUT_MS = 5 * 60_000;

/** Everything that decides the image's content; its hash is the cache key. */
export const RECIPE = {
  format: 1,
  suite: 'bookworm',
  variant: 'minbase',
  // systemd-sysv: minbase has no /sbin/init without it. git/curl/sudo: what workers use.
  include: ['git', 'ca-certificates', 'sudo', 'curl', 'systemd-sysv', 'iproute2'],
  architecture: 'x86_64',
} as const;

export type Recipe = typeof RECIPE;

export function recipeKey(recipe: Recipe = RECIPE): string {
  return crypto.createHash('sha256').update(JSON.stringify(recipe)).digest('hex').slice(0, 16);
}

/** Where built tarballs are kept: $ISOLLM_IMAGE_CACHE, else $XDG_CACHE_HOME/isollm/images, else ~/.cache/isollm/images. */
export function imageCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ISOLLM_IMAGE_CACHE) return path.resolve(env.ISOLLM_IMAGE_CACHE);
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'isollm', 'images');
}

export type CachedImage = { dir: string; meta: string; rootfs: string };

export function cachedImage(key = recipeKey(), env: NodeJS.ProcessEnv = process.env): CachedImage {
  const dir = path.join(imageCacheDir(env), key);
  return { dir, meta: path.join(dir, 'meta.tar.gz'), rootfs: path.join(dir, 'rootfs.tar.gz') };
}

export function isCached(image: CachedImage): boolean {
  return fs.existsSync(image.meta) && fs.existsSync(image.rootfs);
}

export function metadataYaml(recipe: Recipe, key: string, now = new Date()): string {
  return [
    `architecture: ${recipe.architecture}`,
    `creation_date: ${Math.floor(now.getTime() / 1000)}`,
    'properties:',
    `  description: Debian ${recipe.suite} ${recipe.variant} (isollm ${key})`,
    '  os: debian',
    `  release: ${recipe.suite}`,
    `  isollm.recipe: "${key}"`,
    '',
  ].join('\n');
}

/** `sudo` when not root: debootstrap and tar of a root-owned tree need root. */
export function sudoPrefix(): string[] {
  return process.getuid?.() === 0 ? [] : ['sudo'];
}

/**
 * Build the tarballs into the cache (debootstrap → rootfs.tar.gz, metadata.yaml → meta.tar.gz).
 * Written to a temp dir first and renamed, so an interrupted build never looks cached.
 */
export async function buildImage(image: CachedImage, recipe: Recipe = RECIPE, log: (line: string) => void = () => {}): Promise<void> {
  const mirror = process.env.ISOLLM_DEBIAN_MIRROR || readMirror(readOsRelease().codename || recipe.suite);
  const sudo = sudoPrefix();
  const parent = path.dirname(image.dir);
  fs.mkdirSync(parent, { recursive: true });
  const work = fs.mkdtempSync(path.join(parent, '.build-'));
  const rootfs = path.join(work, 'rootfs');
  try {
    log(`debootstrap ${recipe.suite} from ${mirror}`);
    const boot = await $({ quiet: true, nothrow: true, timeout: DEBOOTSTRAP_TIMEOUT_MS })`${sudo} debootstrap --variant=${recipe.variant} --include=${recipe.include.join(',')} ${recipe.suite} ${rootfs} ${mirror}`;
    if (boot.exitCode !== 0) {
      throw new UserError(`debootstrap failed (exit ${boot.exitCode ?? 'timeout'}); see the log above or ${rootfs}/debootstrap/debootstrap.log.`, { detail: tail(boot.stderr + boot.stdout) });
    }
    // apt's downloaded .debs are of no use in the image.
    await $({ quiet: true, nothrow: true })`${sudo} find ${path.join(rootfs, 'var/cache/apt/archives')} -name ${'*.deb'} -delete`;
    log('packing rootfs.tar.gz');
    const out = path.join(work, 'out');
    fs.mkdirSync(out);
    await $({ quiet: true, timeout: PACK_TIMEOUT_MS })`${sudo} tar --numeric-owner --xattrs -C ${rootfs} -czf ${path.join(out, 'rootfs.tar.gz')} .`;
    const metaDir = path.join(work, 'meta');
    fs.mkdirSync(metaDir);
    fs.writeFileSync(path.join(metaDir, 'metadata.yaml'), metadataYaml(recipe, path.basename(image.dir)));
    await $({ quiet: true, timeout: PACK_TIMEOUT_MS })`tar -C ${metaDir} -czf ${path.join(out, 'meta.tar.gz')} metadata.yaml`;
    if (sudo.length) await $({ quiet: true })`${sudo} chown ${process.getuid?.()}:${process.getgid?.()} ${path.join(out, 'rootfs.tar.gz')}`;
    fs.rmSync(image.dir, { recursive: true, force: true });
    fs.renameSync(out, image.dir);
  } finally {
    await $({ quiet: true, nothrow: true })`${sudo} rm -rf ${work}`;
  }
}

/** Import the cached tarballs under `alias`. */
export async function importImage(rt: Runtime, image: CachedImage, alias: string): Promise<void> {
  const r = await runClient(rt, ['image', 'import', image.meta, image.rootfs, '--alias', alias], { timeout: IMPORT_TIMEOUT_MS });
  if (r.exitCode === 0) return;
  // The same tarballs are already imported under another alias (e.g. isollm-test and the demo's
  // image): the runtime refuses a second import, so name the existing image instead.
  if (/same fingerprint already exists/i.test(r.stderr)) {
    const a = await runClient(rt, ['image', 'alias', 'create', alias, await imageFingerprint(image)], { timeout: IMPORT_TIMEOUT_MS });
    if (a.exitCode === 0) return;
    throw new UserError(`${rt.bin} image alias create ${alias} failed: ${a.stderr.trim().split('\n')[0]}`, { detail: a.stderr });
  }
  throw new UserError(`${rt.bin} image import failed for ${alias}: ${r.stderr.trim().split('\n')[0]}`, { detail: r.stderr });
}

/** A split image's fingerprint as LXD and Incus compute it: sha256 of the metadata tarball, then the rootfs. */
export async function imageFingerprint(image: CachedImage): Promise<string> {
  const hash = crypto.createHash('sha256');
  for (const file of [image.meta, image.rootfs]) {
    for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

function tail(text: string, lines = 20): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
