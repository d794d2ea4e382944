// Reads of the daemon's REST API made directly, as the client would make them: over its unix socket,
// or to a remote over HTTPS with the client's certificate, pinned to the server certificate the
// client saved. A client process costs a Go start-up and a `GET /1.0` before each call, and `list`
// has the daemon render the state of every instance it holds; `isollm status` runs several. Only
// reads, and only where the client's own configuration says plainly where it would go: anything else,
// and any failure, is left to the client (`null`), whose answers and one-line errors are the rule.
import fs from 'node:fs';
import type { Agent, IncomingMessage } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { PROJECT_KEY } from './argv.ts';
import type { Runtime } from './detect.ts';

// The CommonJS modules: on Node 24 the ESM wrapper of node:http reads every export, and one of them
// loads undici (fetch), ~100 ms.
const http = process.getBuiltinModule('node:http');
const https = process.getBuiltinModule('node:https');
const crypto = process.getBuiltinModule('node:crypto');

/** Where the client would send its requests, and as whom. */
export type Endpoint =
  | { kind: 'unix'; socketPath: string; project: string | null }
  | { kind: 'https'; host: string; port: number; project: string | null; cert: string; key: string; serverCert: string; fingerprint: string };

type RemoteEntry = { addr?: string; protocol?: string; auth_type?: string; project?: string };
type ClientConfig = { 'default-remote'?: string; remotes?: Record<string, RemoteEntry> };

/** The client's configuration directory (LXD_CONF / INCUS_CONF, else its default, the snap's for a snap LXD). */
export function clientConfigDir(kind: Runtime['kind'], env: NodeJS.ProcessEnv = process.env, home = os.homedir()): string {
  if (kind === 'incus') return env.INCUS_CONF || path.join(home, '.config', 'incus');
  if (env.LXD_CONF) return env.LXD_CONF;
  const snap = path.join(home, 'snap', 'lxd', 'common', 'config');
  return fs.existsSync(snap) ? snap : path.join(home, '.config', 'lxc');
}

/** The local daemon's socket as the client finds it (LXD_SOCKET / LXD_DIR, INCUS_SOCKET / INCUS_DIR, the defaults). */
export function localSocket(kind: Runtime['kind'], env: NodeJS.ProcessEnv = process.env, exists: (file: string) => boolean = fs.existsSync): string {
  if (kind === 'incus') return env.INCUS_SOCKET || path.join(env.INCUS_DIR || '/var/lib/incus', 'unix.socket');
  if (env.LXD_SOCKET) return env.LXD_SOCKET;
  if (env.LXD_DIR) return path.join(env.LXD_DIR, 'unix.socket');
  const snap = '/var/snap/lxd/common/lxd/unix.socket';
  return exists(snap) ? snap : '/var/lib/lxd/unix.socket';
}

/**
 * Where `remote` (unset: the client's default remote) is, from the client's config.yml text; null when
 * it is not plainly a daemon this code can reach as the client does (another auth type or protocol,
 * a snap-confined path, no certificate on disk).
 */
export function endpointFrom(kind: Runtime['kind'], remote: string | undefined, configText: string | null, dir: string, env: NodeJS.ProcessEnv = process.env, read = (f: string) => fs.readFileSync(f, 'utf8')): Endpoint | null {
  let config: ClientConfig = {};
  if (configText !== null) {
    try {
      config = (parseYaml(configText) ?? {}) as ClientConfig;
    } catch {
      return null;
    }
  }
  const name = remote ?? config['default-remote'] ?? 'local';
  const entry: RemoteEntry | undefined = config.remotes?.[name] ?? (name === 'local' ? { addr: 'unix://' } : undefined);
  if (!entry?.addr) return null;
  const project = entry.project && entry.project !== 'default' ? entry.project : null;
  if (entry.protocol && entry.protocol !== kind) return null;
  if (entry.addr.startsWith('unix:')) {
    const socketPath = entry.addr.replace(/^unix:(\/\/)?/, '');
    return { kind: 'unix', socketPath: socketPath || localSocket(kind, env), project };
  }
  if ((entry.auth_type ?? 'tls') !== 'tls') return null;
  let url: URL;
  try {
    url = new URL(entry.addr);
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' || url.pathname.replace(/\/$/, '') !== '') return null;
  try {
    const serverCert = read(path.join(dir, 'servercerts', `${name}.crt`));
    const fingerprint = pemFingerprint(serverCert);
    return { kind: 'https', host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 8443), project, cert: read(path.join(dir, 'client.crt')), key: read(path.join(dir, 'client.key')), serverCert, fingerprint };
  } catch {
    return null; // no pinned certificate (a CA-signed server) or no client certificate: the client knows
  }
}

/** SHA-256 of the first certificate in `pem`, as Node writes a peer's `fingerprint256` (AB:CD:…). */
export function pemFingerprint(pem: string): string {
  const body = /-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/.exec(pem)?.[1];
  if (!body) throw new Error('no certificate');
  const hex = crypto.createHash('sha256').update(Buffer.from(body.replace(/\s+/g, ''), 'base64')).digest('hex').toUpperCase();
  return hex.match(/../g)!.join(':');
}

const endpoints = new Map<string, Endpoint | null>();

/** The endpoint of `rt`, worked out once per process; null: use the client. */
export function endpointOf(rt: Runtime): Endpoint | null {
  // A client run through a prefix (sudo during setup, a stand-in in tests) is not second-guessed.
  if (rt.prefix?.length || process.env.ISOLLM_RUNTIME_API === '0') return null;
  const key = `${rt.kind} ${rt.remote ?? ''}`;
  if (!endpoints.has(key)) {
    const dir = clientConfigDir(rt.kind);
    let text: string | null = null;
    try {
      text = fs.readFileSync(path.join(dir, 'config.yml'), 'utf8');
    } catch {
      // No config yet: the client's defaults (the local daemon).
    }
    const endpoint = endpointFrom(rt.kind, rt.remote, text, dir);
    // A socket this user may not use (Incus then falls back to its per-user socket): the client.
    if (endpoint?.kind === 'unix') {
      try {
        fs.accessSync(endpoint.socketPath, fs.constants.R_OK | fs.constants.W_OK);
      } catch {
        endpoints.set(key, null);
        return null;
      }
    }
    endpoints.set(key, endpoint);
  }
  return endpoints.get(key)!;
}

const agents = new Map<Endpoint, Agent>();

function agentFor(endpoint: Endpoint): Agent {
  let agent = agents.get(endpoint);
  if (!agent) {
    agent =
      endpoint.kind === 'unix'
        ? new http.Agent({ keepAlive: true, maxSockets: 4 })
        : new https.Agent({
            keepAlive: true,
            maxSockets: 4,
            cert: endpoint.cert,
            key: endpoint.key,
            ca: endpoint.serverCert,
            // Pinned: the very certificate the client accepted when the remote was added (the name in
            // it is the server's, not the address dialled, as the client checks it too).
            checkServerIdentity: (_host, peer) => (peer.fingerprint256 === endpoint.fingerprint ? undefined : new Error(`the remote's certificate is not the one the client saved`)),
          });
    agents.set(endpoint, agent);
  }
  return agent;
}

/** A daemon's answer that is not a success (the caller then asks the client, which says why). */
class ApiFailure extends Error {}
/** No answer in time: asking the client would wait as long again. */
export class ApiTimeout extends Error {}

/** GET `apiPath` (with the remote's project) and return the sync response's metadata. */
export function apiGet<T>(endpoint: Endpoint, apiPath: string, timeout: number): Promise<T> {
  const url = new URL(apiPath, 'http://daemon');
  if (endpoint.project) url.searchParams.set('project', endpoint.project);
  const target = endpoint.kind === 'unix' ? { socketPath: endpoint.socketPath } : { host: endpoint.host, port: endpoint.port };
  const request = endpoint.kind === 'unix' ? http.request : https.request;
  return new Promise<T>((resolve, reject) => {
    const req = request({ ...target, path: `${url.pathname}${url.search}`, method: 'GET', agent: agentFor(endpoint), timeout, headers: { 'User-Agent': 'isollm' } }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { type?: string; metadata?: T };
          if (res.statusCode !== 200 || body.type !== 'sync') return reject(new ApiFailure(`HTTP ${res.statusCode}`));
          resolve(body.metadata as T);
        } catch (err) {
          reject(err);
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new ApiTimeout(`no answer within ${timeout / 1000}s`)));
    req.on('error', reject);
    req.end();
  });
}

type RawListed = { name: string; status: string; state?: unknown };

/**
 * The instances tagged with `project` as `list --format json` gives them (state included), or null
 * when the client should be asked. The daemon filters by the tag, and renders the state (addresses)
 * only of those that are not stopped: a list with state renders it for every instance it holds.
 */
export async function listInstancesDirect(rt: Runtime, project: string | undefined, timeout: number): Promise<unknown[] | null> {
  const endpoint = endpointOf(rt);
  if (!endpoint) return null;
  try {
    const filter = project === undefined ? '' : `&filter=${encodeURIComponent(`config.${PROJECT_KEY} eq ${project}`)}`;
    const listed = (await apiGet<RawListed[] | null>(endpoint, `/1.0/instances?recursion=1${filter}`, timeout)) ?? [];
    return await Promise.all(
      listed.map(async (i) => (i.status === 'Stopped' ? i : { ...i, state: await apiGet(endpoint, `/1.0/instances/${encodeURIComponent(i.name)}/state`, timeout) })),
    );
  } catch (err) {
    if (err instanceof ApiTimeout) throw err;
    return null;
  }
}

/** `GET apiPath` directly, or null when the client should be asked. */
export async function queryDirect(rt: Runtime, apiPath: string, timeout: number): Promise<unknown> {
  const endpoint = endpointOf(rt);
  if (!endpoint) return null;
  try {
    return (await apiGet<unknown>(endpoint, apiPath, timeout)) ?? [];
  } catch (err) {
    if (err instanceof ApiTimeout) throw err;
    return null;
  }
}
