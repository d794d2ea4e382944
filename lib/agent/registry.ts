// The npm registry the base's npm installs the agent's CLI from: the one the host's npm is configured
// with (`npm config get registry`: $npm_config_registry, the project's .npmrc, ~/.npmrc, the global
// npmrc), with that registry's credentials from the same .npmrc files. They go into the base as a
// root-only npmrc for the install and are removed before the base is stopped, so no worker (a copy
// of the base) holds them. A registry on the host's loopback (a local mirror, verdaccio, a test's
// stand-in) is forwarded into the base for the install by a proxy device, as the queue is.
// The host's npm also fetches node and npm for a base whose image has none (or too old a node): the
// host has the registry's network, proxies and cache; the base needs none of them for that.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { $ } from 'zx/core';
import { UserError } from '../cli/errors.ts';

export const DEFAULT_REGISTRY = 'https://registry.npmjs.org/';

/** Where the install's own files are pushed in the base (npmrc, node and npm), removed afterwards. */
export const INSTALL_DIR = '/root/.isollm-agent-install';

/** The credential keys copied for the registry's host (certfile/keyfile name host files: not copied). */
const AUTH_KEYS = ['_authToken', '_auth', 'username', '_password'];

export type HostRegistry = {
  /** The registry's URL, ending in `/`. */
  url: string;
  /** The URL as isollm shows it: without a user:password in it. */
  shown: string;
  /** The npmrc the base's npm runs with (registry, credentials, a throwaway cache). Secret when `auth`. */
  npmrc: string;
  /** It carries credentials (never printed). */
  auth: boolean;
  /** host:port on the host's loopback, forwarded into the base; null for any other registry. */
  loopback: { host: string; port: number } | null;
  /** The host's npm version (npm is fetched at it for a base without npm), or null without npm on the host. */
  npmVersion: string | null;
};

/** `${VAR}` and `${VAR?}` in an .npmrc value, as npm expands them (unset: left as is, `?`: empty). */
function expandEnv(value: string, env: NodeJS.ProcessEnv): string {
  return value.replace(/(\\*)\$\{([^${}?]+)(\?)?\}/g, (whole, esc: string, name: string, optional?: string) => {
    if (esc.length % 2) return whole.slice((esc.length + 1) / 2);
    const v = env[name];
    return esc.slice(esc.length / 2) + (v !== undefined ? v : optional ? '' : whole.slice(esc.length));
  });
}

/** Text (a URL, npm's error) without the user:password some put in a registry URL (never shown). */
export function redactUrl(text: string): string {
  return text.replace(/\b([a-z][a-z+.-]*:\/\/)[^\s/@]*@/gi, '$1');
}

/** The key=value lines of an .npmrc (no sections, comments with ; or #). */
export function parseNpmrc(text: string): [string, string][] {
  const out: [string, string][] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith(';') || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    let value = line.slice(eq + 1).trim();
    if (/^".*"$/.test(value)) value = value.slice(1, -1);
    out.push([line.slice(0, eq).trim(), value]);
  }
  return out;
}

/**
 * The npmrc lines of `registry`'s credentials, from `npmrcs` (highest precedence first: project,
 * user, global), each key taken from the first file that has it. Keys are npm's `//host[:port]/path/:key`;
 * any path on the registry's host counts (its tarballs may live elsewhere on it).
 */
export function registryAuth(registry: string, npmrcs: string[], env: NodeJS.ProcessEnv): string[] {
  const u = new URL(registry);
  const prefix = `//${u.host}`;
  const found = new Map<string, string>();
  for (const text of npmrcs) {
    for (const [key, value] of parseNpmrc(text)) {
      if (!key.startsWith(prefix) || found.has(key)) continue;
      const rest = key.slice(prefix.length);
      if (!/^(\/[^:]*)?:/.test(rest) || !AUTH_KEYS.includes(rest.slice(rest.indexOf(':') + 1))) continue;
      found.set(key, expandEnv(value, env));
    }
  }
  return [...found].map(([k, v]) => `${k}=${v}`);
}

/** The loopback host:port a registry URL names, or null (a host the base reaches by its own network). */
export function loopbackOf(registry: string): { host: string; port: number } | null {
  const u = new URL(registry);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const loop = host === 'localhost' ? '127.0.0.1' : /^127(\.\d{1,3}){3}$/.test(host) || host === '::1' ? host : null;
  if (!loop) return null;
  return { host: loop, port: u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80 };
}

/** The npmrc of the base's install: registry, its credentials, a cache removed with it, few retries. */
export function installNpmrc(url: string, auth: string[]): string {
  return [
    `registry=${url}`,
    ...auth,
    `cache=${INSTALL_DIR}/cache`,
    'update-notifier=false',
    'fund=false',
    'audit=false',
    'fetch-retries=1',
    'fetch-retry-mintimeout=2000',
    'fetch-retry-maxtimeout=5000',
    '',
  ].join('\n');
}

/**
 * The registry the host's npm is configured with, for a base built from `root`. Without npm on the
 * host: the default registry (the base's npm, if any, uses its own configuration for the rest).
 */
export async function hostRegistry(root: string, env: NodeJS.ProcessEnv = process.env): Promise<HostRegistry> {
  const r = await $({ quiet: true, nothrow: true, cwd: root, env, timeout: 30_000 })`npm config get registry userconfig globalconfig`;
  const v = await $({ quiet: true, nothrow: true, cwd: root, env, timeout: 30_000 })`npm --version`;
  const values = new Map<string, string>();
  // 127: no npm on the host. Any other failure is npm's own, and it says why.
  if (r.exitCode !== 0 && r.exitCode !== 127) {
    const why = r.stderr.split('\n').find((l) => /^npm (error|ERR!)/.test(l))?.replace(/^npm (error|ERR!)\s*/, '') ?? `exit ${r.exitCode}`;
    throw new UserError(/protected/.test(why)
      ? "The host's npm registry URL has a user:password in it, which npm will not show: put the credentials in ~/.npmrc as `//HOST/:_auth=…` (or `_authToken`) and the plain URL in `registry`, so isollm can hand them to the base."
      : `\`npm config get registry\` failed on the host: ${why}`);
  }
  if (r.exitCode === 0) {
    for (const line of r.stdout.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) values.set(line.slice(0, eq), line.slice(eq + 1).trim());
    }
  }
  let url = values.get('registry') || DEFAULT_REGISTRY;
  try {
    new URL(url);
  } catch {
    throw new UserError(`The host's npm registry "${url}" is not a URL (see \`npm config get registry\`).`);
  }
  if (!url.endsWith('/')) url += '/';
  const files = [path.join(root, '.npmrc'), values.get('userconfig') || path.join(os.homedir(), '.npmrc'), values.get('globalconfig')]
    .filter((f): f is string => !!f)
    .map((f) => { try { return fs.readFileSync(f, 'utf8'); } catch { return ''; } });
  const auth = registryAuth(url, files, env);
  const userinfo = /^[a-z+]+:\/\/[^/@]*@/i.test(url);
  return {
    url,
    shown: redactUrl(url),
    npmrc: installNpmrc(url, auth),
    auth: auth.length > 0 || userinfo,
    loopback: loopbackOf(url),
    npmVersion: v.exitCode === 0 && /^\d+\.\d+\.\d+/.test(v.stdout.trim()) ? v.stdout.trim() : null,
  };
}

/** The registry's package of the node binary for a container's `uname -m`, or null (no such package). */
export function nodePackage(machine: string): string | null {
  const arch = ({ x86_64: 'x64', aarch64: 'arm64', arm64: 'arm64', ppc64le: 'ppc64le', s390x: 's390x' } as Record<string, string>)[machine.trim()];
  return arch ? `node-linux-${arch}` : null;
}

/**
 * `npm pack` of node (the package of the base's architecture) and npm, by the host's npm into `dir`:
 * the tarballs' paths, or the reason it could not.
 */
export async function packNodeAndNpm(root: string, dir: string, nodeSpec: string, npmSpec: string, env: NodeJS.ProcessEnv = process.env): Promise<{ node: string; npm: string } | { error: string }> {
  const r = await $({ quiet: true, nothrow: true, cwd: root, env, timeout: 10 * 60_000 })`npm pack --json --prefer-offline --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=10000 --pack-destination ${dir} ${nodeSpec} ${npmSpec}`;
  if (r.exitCode !== 0) {
    // With --json npm says why on stdout: {"error": {"code", "summary"}}.
    let why = `npm pack exited ${r.exitCode}`;
    try {
      const e = (JSON.parse(r.stdout) as { error?: { code?: string; summary?: string } }).error;
      if (e?.summary || e?.code) why = (e.summary || e.code)!.split('\n')[0];
    } catch { /* no JSON: keep the exit code */ }
    return { error: why };
  }
  try {
    const [node, npm] = (JSON.parse(r.stdout) as { filename: string }[]).map((p) => path.join(dir, p.filename));
    if (!node || !npm || !fs.existsSync(node) || !fs.existsSync(npm)) return { error: 'npm pack wrote no tarballs' };
    return { node, npm };
  } catch {
    return { error: 'npm pack printed no JSON' };
  }
}

/**
 * `npm install` of `specs` into `dir` by the host's npm (its registry, credentials and cache; the
 * project's .npmrc too, copied in: with --prefix npm reads the one there): nothing, or the reason it
 * could not. Scripts do not run (as the CLIs' own installs of these run them).
 */
export async function installOnHost(root: string, dir: string, specs: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ error: string } | null> {
  const projectNpmrc = path.join(root, '.npmrc');
  if (fs.existsSync(projectNpmrc)) fs.copyFileSync(projectNpmrc, path.join(dir, '.npmrc'));
  const r = await $({ quiet: true, nothrow: true, cwd: dir, env, timeout: 10 * 60_000 })`npm install --prefix ${dir} --prefer-offline --ignore-scripts --no-audit --no-fund --save-exact --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=10000 ${specs}`;
  if (r.exitCode === 0) return null;
  const why = r.stderr.split('\n').find((l) => /^npm (error|ERR!)/.test(l))?.replace(/^npm (error|ERR!)\s*/, '');
  return { error: why || (r.exitCode === 127 ? 'there is no npm on the host' : `npm install exited ${r.exitCode}`) };
}
