// What remote workers need to reach the hub and queue over the network: a self-signed TLS
// certificate isollm makes for the project (key 0600 under .isollm/tls/), pinned by the workers by
// its public key's SHA-256; and one bearer token per worker, of which the server keeps only a hash.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { $ } from 'zx/core';
import { UserError } from '../cli/errors.ts';
import type { Config } from '../config/load.ts';
import { parseHostPort } from '../config/schema.ts';

export const TOKEN_PREFIX = 'isollm_';
/** Certificates isollm makes live this long; a new one is made when a name is missing or it expires. */
const CERT_DAYS = 3650;
const OPENSSL_TIMEOUT_MS = 30_000;

export type TlsFiles = { dir: string; cert: string; key: string };

export function tlsFiles(stateDir: string): TlsFiles {
  const dir = path.join(stateDir, 'tls');
  return { dir, cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') };
}

/** A new worker token (256 random bits), and the hash the server keeps. */
export function newToken(): { token: string; sha256: string } {
  const token = TOKEN_PREFIX + crypto.randomBytes(32).toString('base64url');
  return { token, sha256: tokenHash(token) };
}

export function tokenHash(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}

/** The token in `Authorization: Bearer <token>`, or null. */
export function bearerToken(header: string | string[] | undefined): string | null {
  const value = Array.isArray(header) ? header[0] : header;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value ?? '');
  return m && m[1].startsWith(TOKEN_PREFIX) ? m[1] : null;
}

/** `sha256//<base64>` of the certificate's public key: what curl `--pinnedpubkey` and git `http.pinnedPubkey` take. */
export function publicKeyPin(certPem: string): string {
  const spki = new crypto.X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256//${crypto.createHash('sha256').update(spki).digest('base64')}`;
}

/** The certificate's SHA-256 fingerprint, `AB:CD:…` (shown to the user). */
export function certFingerprint(certPem: string): string {
  return new crypto.X509Certificate(certPem).fingerprint256;
}

/** True when `certPem` names every host (IP or DNS SAN) and is valid for another day. */
export function certCovers(certPem: string, hosts: string[]): boolean {
  let cert: crypto.X509Certificate;
  try {
    cert = new crypto.X509Certificate(certPem);
  } catch {
    return false;
  }
  if (Date.parse(cert.validTo) < Date.now() + 86_400_000) return false;
  return hosts.every((h) => (net.isIP(h) ? cert.checkIP(h) !== undefined : cert.checkHost(h) !== undefined));
}

/**
 * The project's certificate for `hosts`, made when missing or when it does not name them all. The
 * key is kept across re-issues so the pin of workers made earlier still holds.
 */
export async function ensureCertificate(files: TlsFiles, hosts: string[]): Promise<{ cert: string; key: string; made: boolean }> {
  const wanted = [...new Set(['127.0.0.1', ...hosts])];
  if (fs.existsSync(files.cert) && fs.existsSync(files.key)) {
    const cert = fs.readFileSync(files.cert, 'utf8');
    if (certCovers(cert, wanted)) return { cert, key: fs.readFileSync(files.key, 'utf8'), made: false };
  }
  fs.mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  if (!fs.existsSync(files.key)) {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    fs.writeFileSync(files.key, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  fs.chmodSync(files.key, 0o600);
  const san = wanted.map((h) => (net.isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  const tmp = `${files.cert}.${process.pid}.tmp`;
  // Node makes keys but not certificates: openssl signs one with that key.
  const r = await $({ quiet: true, nothrow: true, timeout: OPENSSL_TIMEOUT_MS })`openssl req -x509 -new -key ${files.key} -out ${tmp} -days ${CERT_DAYS} -subj /CN=isollm -addext ${`subjectAltName=${san}`} -addext basicConstraints=critical,CA:TRUE`;
  if (r.exitCode !== 0) {
    fs.rmSync(tmp, { force: true });
    throw new UserError(`Cannot make the TLS certificate for remote workers (openssl exited ${r.exitCode}). Is openssl installed?`, { detail: r.stderr.trim() });
  }
  fs.chmodSync(tmp, 0o644);
  fs.renameSync(tmp, files.cert);
  return { cert: fs.readFileSync(files.cert, 'utf8'), key: fs.readFileSync(files.key, 'utf8'), made: true };
}

export type Endpoint = { host: string; port: number };
/** Where the host listens for remote workers, and the address they are told to use. */
export type RemoteEndpoint = { listen: Endpoint; advertise: Endpoint; url: string };

/**
 * The network side of a project with `runtime.remote`, or null for local workers (who reach the
 * queue through their socket and need no network). listen defaults to 0.0.0.0:<queue.port + 1>;
 * advertise to listen's port on the address named (listen's own host, else `computed`: an address
 * of this host found to reach the remote), which must be one the remote's containers reach.
 */
export function remoteEndpoint(config: Config, computed?: string | null): RemoteEndpoint | null {
  if (!config.runtime.remote || config.runtime.remote === 'local') return null;
  const listen = parseHostPort(config.network.listen ?? config.queue.port + 1);
  const given = config.network.advertise === null ? null : parseHostPort(config.network.advertise);
  if (!listen || (config.network.advertise !== null && !given)) throw new UserError('network.listen / network.advertise must be HOST:PORT (checked when isollm.yaml is read).');
  const listenAt = { host: listen.host ?? '0.0.0.0', port: listen.port };
  const host = given?.host ?? (listenAt.host !== '0.0.0.0' && listenAt.host !== '::' ? listenAt.host : (computed ?? null));
  if (!host) {
    throw new UserError(
      `runtime.remote is ${config.runtime.remote}: its workers reach this machine over the network, and no address of this machine on the way to it was found; set network.advertise to one they can reach (e.g. 192.168.1.10:${listenAt.port}).`,
    );
  }
  const advertise = { host, port: given?.port ?? listenAt.port };
  return { listen: listenAt, advertise, url: `https://${host.includes(':') ? `[${host}]` : host}:${advertise.port}` };
}

/** True when the advertised host is left to isollm to find (network.advertise unset, listen on every address). */
export function advertiseComputed(config: Config): boolean {
  if (config.network.advertise !== null) return false;
  const listen = parseHostPort(config.network.listen ?? config.queue.port + 1);
  return !listen?.host || listen.host === '0.0.0.0' || listen.host === '::';
}

/** Where the running queue's endpoint is recorded (the address workers are given, as its certificate names it). */
export function endpointFile(stateDir: string): string {
  return path.join(tlsFiles(stateDir).dir, 'endpoint.json');
}

export function writeEndpoint(stateDir: string, endpoint: RemoteEndpoint): void {
  fs.mkdirSync(tlsFiles(stateDir).dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(endpointFile(stateDir), `${JSON.stringify(endpoint)}\n`, { mode: 0o644 });
}

/** The endpoint the queue was started with, or null. */
export function readEndpoint(stateDir: string): RemoteEndpoint | null {
  try {
    const e = JSON.parse(fs.readFileSync(endpointFile(stateDir), 'utf8')) as RemoteEndpoint;
    return typeof e.url === 'string' && e.advertise?.host ? e : null;
  } catch {
    return null;
  }
}
