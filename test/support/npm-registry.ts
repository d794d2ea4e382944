// A stand-in npm registry on 127.0.0.1: it serves packuments and tarballs of packages the test packed
// (`npm pack` of real packages installed on this machine: the agent CLIs' cache, isollm's node, the
// host's npm) and records every request. With `token`, a request without `Authorization: Bearer
// <token>` gets 401, as a private registry answers.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export type RegistryRequest = { method: string; path: string; authorized: boolean; userAgent: string; status: number };
export type NpmRegistry = { url: string; port: number; requests: RegistryRequest[]; close(): Promise<void> };

/** Packed tarballs are kept here by name and version (packing node's 120 MB binary takes a while). */
const PACK_CACHE = '/var/tmp/isollm/registry-packs';

/** `npm pack` of an installed package directory (its scripts not run), cached by name@version. */
export function packDir(dir: string): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name: string; version: string };
  const file = path.join(PACK_CACHE, `${pkg.name.replace('@', '').replace('/', '-')}-${pkg.version}.tgz`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(PACK_CACHE, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(PACK_CACHE, '.pack-'));
  const r = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp, dir], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`npm pack ${dir} failed:\n${r.stderr}`);
  const [{ filename }] = JSON.parse(r.stdout) as { filename: string }[];
  fs.renameSync(path.join(tmp, path.basename(filename)), file);
  fs.rmSync(tmp, { recursive: true, force: true });
  return file;
}

/**
 * The packages `name` needs from `nodeModules` (a flat npm install): it and its dependencies and
 * optional dependencies that are installed there, recursively. Optional ones not installed (other
 * platforms) are left out: npm skips an optional package the registry does not have.
 */
export function dependencyDirs(nodeModules: string, name: string): string[] {
  const seen = new Map<string, string>();
  const visit = (n: string) => {
    const dir = path.join(nodeModules, n);
    if (seen.has(n) || !fs.existsSync(path.join(dir, 'package.json'))) return;
    seen.set(n, dir);
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    for (const d of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) visit(d);
  };
  visit(name);
  return [...seen.values()];
}

type Entry = { name: string; version: string; manifest: Record<string, unknown>; tarball: string; file: string; shasum: string; integrity: string };

function entryOf(file: string): Entry {
  const r = spawnSync('tar', ['-xzOf', file, 'package/package.json'], { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`no package/package.json in ${file}: ${r.stderr}`);
  const manifest = JSON.parse(r.stdout) as Record<string, unknown> & { name: string; version: string };
  const data = fs.readFileSync(file);
  return {
    name: manifest.name,
    version: manifest.version,
    manifest,
    tarball: `${manifest.name}/-/${manifest.name.split('/').pop()}-${manifest.version}.tgz`,
    file,
    shasum: crypto.createHash('sha1').update(data).digest('hex'),
    integrity: `sha512-${crypto.createHash('sha512').update(data).digest('base64')}`,
  };
}

export async function startNpmRegistry(options: { tarballs: string[]; token?: string; port?: number }): Promise<NpmRegistry> {
  const entries = options.tarballs.map(entryOf);
  const requests: RegistryRequest[] = [];
  let base = '';
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent((req.url ?? '/').split('?')[0]);
    const authorized = !options.token || req.headers.authorization === `Bearer ${options.token}`;
    const send = (status: number, body: string | Buffer, type = 'application/json') => {
      requests.push({ method: req.method ?? 'GET', path: url, authorized, userAgent: String(req.headers['user-agent'] ?? ''), status });
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (!authorized) return send(401, JSON.stringify({ error: 'authentication required' }));
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, '{}');
    const tar = entries.find((e) => url === `/${e.tarball}`);
    if (tar) return send(200, fs.readFileSync(tar.file), 'application/octet-stream');
    const name = url.slice(1).replace(/\/$/, '');
    const versions = entries.filter((e) => e.name === name);
    if (!versions.length) return send(404, JSON.stringify({ error: 'Not found' }));
    const latest = versions[versions.length - 1].version;
    send(200, JSON.stringify({
      name,
      'dist-tags': { latest },
      versions: Object.fromEntries(versions.map((e) => [e.version, { ...e.manifest, _id: `${e.name}@${e.version}`, dist: { tarball: `${base}/${e.tarball}`, shasum: e.shasum, integrity: e.integrity } }])),
    }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
  return {
    url: `${base}/`,
    port,
    requests,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
