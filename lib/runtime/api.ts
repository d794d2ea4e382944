// The daemon's REST API called directly, as the client would call it: over its unix socket, or to a
// remote over HTTPS with the client's certificate, pinned to the server certificate the client saved.
// A client process costs a Go start-up and a `GET /1.0` before each call, and `list` has the daemon
// render the state of every instance it holds; `isollm status` runs several reads, and making a
// worker several changes, on a few cores shared with the containers booting. Only where the client's
// own configuration says plainly where it would go. A read that fails is left to the client (`null`),
// whose answers and one-line errors are the rule; a change the daemon refuses is an error with the
// daemon's message (the client would have printed the same), one it could not be sent is the client's.
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

const agents = new Map<string, Map<Endpoint, Agent>>();

/**
 * The connections to `endpoint`: `calls` for requests answered at once (reads are bounded to a few in
 * parallel), `waits` for operation waits, each of which holds its connection for as long as the
 * operation runs (an exec, a copy): in the same few, the fifth parallel worker's requests waited
 * behind four others' commands.
 */
function agentFor(endpoint: Endpoint, pool: 'calls' | 'waits' = 'calls'): Agent {
  let byEndpoint = agents.get(pool);
  if (!byEndpoint) agents.set(pool, (byEndpoint = new Map()));
  let agent = byEndpoint.get(endpoint);
  if (!agent) {
    const maxSockets = pool === 'calls' ? 4 : Infinity;
    agent =
      endpoint.kind === 'unix'
        ? new http.Agent({ keepAlive: true, maxSockets })
        : new https.Agent({
            keepAlive: true,
            maxSockets,
            cert: endpoint.cert,
            key: endpoint.key,
            ca: endpoint.serverCert,
            // Pinned: the very certificate the client accepted when the remote was added (the name in
            // it is the server's, not the address dialled, as the client checks it too).
            checkServerIdentity: (_host, peer) => (peer.fingerprint256 === endpoint.fingerprint ? undefined : new Error(`the remote's certificate is not the one the client saved`)),
          });
    byEndpoint.set(endpoint, agent);
  }
  return agent;
}

/** A daemon's answer that is not a success (a read then asks the client, which says why). */
class ApiFailure extends Error {}
/** No answer in time: asking the client would wait as long again. */
export class ApiTimeout extends Error {}
/** The daemon refused a change or its operation failed: its own message, as the client would print it. */
export class ApiRefused extends Error {}

type ApiBody = { type?: string; metadata?: unknown; operation?: string; error?: string; status_code?: number };
export type Call = { method: string; body?: string | Buffer; headers?: Record<string, string>; timeout: number; pool?: 'calls' | 'waits' };
type Answer = { status: number; etag: string | undefined; raw: Buffer };

/** One request to the daemon (with the remote's project): its status, ETag and body as sent. */
export function apiRequest(endpoint: Endpoint, apiPath: string, call: Call): Promise<Answer> {
  const url = new URL(apiPath, 'http://daemon');
  if (endpoint.project) url.searchParams.set('project', endpoint.project);
  const target = endpoint.kind === 'unix' ? { socketPath: endpoint.socketPath } : { host: endpoint.host, port: endpoint.port };
  const request = endpoint.kind === 'unix' ? http.request : https.request;
  const headers = { 'User-Agent': 'isollm', ...(call.body !== undefined && !call.headers ? { 'Content-Type': 'application/json' } : {}), ...call.headers };
  return new Promise((resolve, reject) => {
    const req = request({ ...target, path: `${url.pathname}${url.search}`, method: call.method, agent: agentFor(endpoint, call.pool), timeout: call.timeout, headers }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, etag: res.headers.etag, raw: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new ApiTimeout(`no answer within ${call.timeout / 1000}s`)));
    req.on('error', reject);
    req.end(call.body);
  });
}

/** One request whose answer is the daemon's JSON envelope. */
async function apiCall(endpoint: Endpoint, apiPath: string, call: Call): Promise<{ status: number; etag: string | undefined; body: ApiBody }> {
  const { status, etag, raw } = await apiRequest(endpoint, apiPath, call);
  return { status, etag, body: JSON.parse(raw.toString('utf8')) as ApiBody };
}

/** GET of a file the daemon serves as it is (an exec's recorded output), not in its JSON envelope. */
export async function apiGetRaw(endpoint: Endpoint, apiPath: string, timeout: number): Promise<Buffer> {
  const { status, raw } = await apiRequest(endpoint, apiPath, { method: 'GET', timeout });
  if (status !== 200) throw new ApiFailure(`HTTP ${status}`);
  return raw;
}

/** GET `apiPath` (with the remote's project) and return the sync response's metadata. */
export async function apiGet<T>(endpoint: Endpoint, apiPath: string, timeout: number): Promise<T> {
  const { status, body } = await apiCall(endpoint, apiPath, { method: 'GET', timeout });
  if (status !== 200 || body.type !== 'sync') throw new ApiFailure(`HTTP ${status}`);
  return body.metadata as T;
}

/** An operation as the daemon renders it. */
export type Operation = { id?: string; status?: string; err?: string; metadata?: unknown };

/**
 * A change sent directly. Null when there is no endpoint or the daemon could not be reached at all
 * (nothing was sent: the client is asked, and says why); ApiRefused with the daemon's message when it
 * said no. `operation` is the path of its operation when it runs on (an async answer).
 */
export async function apiSend(rt: Runtime, apiPath: string, call: Call): Promise<{ endpoint: Endpoint; metadata: unknown; operation: string | null } | null> {
  const endpoint = endpointOf(rt);
  if (!endpoint) return null;
  let answer: Awaited<ReturnType<typeof apiCall>>;
  try {
    answer = await apiCall(endpoint, apiPath, call);
  } catch (err) {
    if (['ECONNREFUSED', 'ENOENT', 'EACCES'].includes((err as NodeJS.ErrnoException).code ?? '')) return null;
    throw err;
  }
  const { status, body } = answer;
  if (body.type === 'error' || status >= 400) throw new ApiRefused(body.error || `HTTP ${status}`);
  return { endpoint, metadata: body.metadata, operation: body.type === 'async' && body.operation ? body.operation : null };
}

/**
 * The operation at `operation` once it has ended, as the daemon renders it; ApiTimeout when it runs
 * on past `timeout`. LXD's wait answers with the operation, failed or still running; Incus's with an
 * error then, after which the operation itself is read (a daemon keeps it a few seconds after it ends).
 */
export async function apiWait(endpoint: Endpoint, operation: string, timeout: number): Promise<Operation> {
  const seconds = Math.max(1, Math.ceil(timeout / 1000));
  const done = await apiCall(endpoint, `${operation}/wait?timeout=${seconds}`, { method: 'GET', timeout: timeout + 5_000, pool: 'waits' });
  let op = done.body.metadata as Operation | undefined;
  if (done.body.type === 'error') {
    const failed = await apiCall(endpoint, operation, { method: 'GET', timeout }).catch(() => null);
    const rendered = failed?.body.type === 'sync' ? (failed.body.metadata as Operation) : undefined;
    // Still running (Incus's wait ends with `context deadline exceeded` at its timeout): a timeout below.
    op = rendered ?? { status: 'Failure', err: done.body.error || `HTTP ${done.status}` };
  }
  if (op?.status === 'Running' || op?.status === 'Pending') throw new ApiTimeout(`no answer within ${seconds}s`);
  return op ?? { status: 'Failure' };
}

/**
 * A change made directly: the request, then its operation waited for. False when there is no
 * endpoint or the daemon could not be reached at all (apiSend); ApiRefused with the daemon's message
 * when it said no or the operation failed.
 */
export async function apiWrite(rt: Runtime, apiPath: string, call: Call): Promise<{ metadata?: unknown } | null> {
  const sent = await apiSend(rt, apiPath, call);
  if (!sent?.operation) return sent && { metadata: sent.metadata };
  const op = await apiWait(sent.endpoint, sent.operation, call.timeout);
  if (op.status === 'Success') return { metadata: op.metadata };
  throw new ApiRefused(op.err || `operation ${op.status ?? 'failed'}`);
}

export const instancePath = (name: string) => `/1.0/instances/${encodeURIComponent(name)}`;
const changed = async (write: Promise<unknown>) => (await write) !== null;

/**
 * A copy of `source` without its snapshots, with its profiles and with `config` and `devices` added
 * to its own, in one request (`copy` then `config device add` are a client start and an instance
 * rewrite each).
 */
export async function copyDirect(rt: Runtime, spec: { source: string; name: string; config: Record<string, string>; devices: Record<string, unknown>; target?: string; profiles?: string[] }, timeout: number): Promise<boolean> {
  const endpoint = endpointOf(rt);
  if (!endpoint) return false;
  // The source's profiles, as the client sends them: LXD gives a copy requested without any none
  // (no NIC from the default profile: no network). Read unless the caller listed them.
  let profiles = spec.profiles;
  if (!profiles) {
    try {
      profiles = (await apiGet<{ profiles?: string[] }>(endpoint, instancePath(spec.source), timeout)).profiles ?? [];
    } catch (err) {
      if (err instanceof ApiTimeout) throw err;
      return false; // the client says why
    }
  }
  const body = { name: spec.name, source: { type: 'copy', source: spec.source, instance_only: true }, profiles, config: spec.config, devices: spec.devices };
  return changed(apiWrite(rt, `/1.0/instances${spec.target ? `?target=${encodeURIComponent(spec.target)}` : ''}`, { method: 'POST', body: JSON.stringify(body), timeout }));
}

/**
 * A container made from the image `fingerprint` the daemon holds, as `init` asks for it (the
 * client sends a local image by its fingerprint): the default profile, `storage` as its root disk's
 * pool, on `target`; `devices` in the same request.
 */
export function createDirect(rt: Runtime, spec: { name: string; fingerprint: string; config: Record<string, string>; devices: Record<string, unknown>; storage?: string; target?: string }, timeout: number): Promise<boolean> {
  const devices = { ...spec.devices, ...(spec.storage ? { root: { type: 'disk', path: '/', pool: spec.storage } } : {}) };
  const body = { name: spec.name, type: 'container', source: { type: 'image', fingerprint: spec.fingerprint }, config: spec.config, devices };
  return changed(apiWrite(rt, `/1.0/instances${spec.target ? `?target=${encodeURIComponent(spec.target)}` : ''}`, { method: 'POST', body: JSON.stringify(body), timeout }));
}

/**
 * A device added as `config device add` adds it: refused when the instance has its own device of that
 * name, every other device kept (a PATCH merges devices by name, on LXD 5.0 and Incus 6 alike), and
 * refused too when the instance changed since it was read (its ETag), not written over.
 */
export async function addDeviceDirect(rt: Runtime, name: string, deviceName: string, device: Record<string, string>, timeout: number): Promise<boolean> {
  const endpoint = endpointOf(rt);
  if (!endpoint) return false;
  let current: Awaited<ReturnType<typeof apiCall>>;
  try {
    current = await apiCall(endpoint, instancePath(name), { method: 'GET', timeout });
  } catch (err) {
    if (err instanceof ApiTimeout) throw err;
    return false; // the client says why
  }
  if (current.body.type === 'error') throw new ApiRefused(current.body.error || `HTTP ${current.status}`);
  if (current.status !== 200 || current.body.type !== 'sync') return false;
  if (deviceName in ((current.body.metadata as { devices?: Record<string, unknown> } | null)?.devices ?? {})) throw new ApiRefused('The device already exists');
  const headers: Record<string, string> = { 'Content-Type': 'application/json', ...(current.etag ? { 'If-Match': current.etag } : {}) };
  return changed(apiWrite(rt, instancePath(name), { method: 'PATCH', body: JSON.stringify({ devices: { [deviceName]: device } }), headers, timeout }));
}

export function startDirect(rt: Runtime, name: string, timeout: number): Promise<boolean> {
  return changed(apiWrite(rt, `${instancePath(name)}/state`, { method: 'PUT', body: JSON.stringify({ action: 'start' }), timeout }));
}

/** A stop: a clean shutdown (waited for), or with `force` the container killed. */
export function stopDirect(rt: Runtime, name: string, force: boolean, timeout: number): Promise<boolean> {
  return changed(apiWrite(rt, `${instancePath(name)}/state`, { method: 'PUT', body: JSON.stringify({ action: 'stop', force, timeout: -1 }), timeout }));
}

/** Keys added to or changed in the instance's config (the others kept). */
export function setConfigDirect(rt: Runtime, name: string, config: Record<string, string>, timeout: number): Promise<boolean> {
  return changed(apiWrite(rt, instancePath(name), { method: 'PATCH', body: JSON.stringify({ config }), timeout }));
}

/** `content` written to `target` in the instance, with its owner and mode (the headers both daemons read). */
export function pushDirect(rt: Runtime, name: string, target: string, content: string, owner: { uid?: number; gid?: number; mode?: number }, timeout: number): Promise<boolean> {
  const prefix = rt.kind === 'incus' ? 'X-Incus' : 'X-LXD';
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream', [`${prefix}-type`]: 'file', [`${prefix}-write`]: 'overwrite' };
  if (owner.uid !== undefined) headers[`${prefix}-uid`] = String(owner.uid);
  if (owner.gid !== undefined) headers[`${prefix}-gid`] = String(owner.gid);
  if (owner.mode !== undefined) headers[`${prefix}-mode`] = owner.mode.toString(8).padStart(4, '0');
  return changed(apiWrite(rt, `${instancePath(name)}/files?path=${encodeURIComponent(target)}`, { method: 'POST', body: Buffer.from(content, 'utf8'), headers, timeout }));
}

type RawListed = { name: string; status: string; state?: unknown };

/**
 * The instances tagged with `project` as `list --format json` gives them (state included unless
 * `withState` is false), or null
 * when the client should be asked. The daemon filters by the tag, and renders the state (addresses)
 * only of those that are not stopped: a list with state renders it for every instance it holds.
 */
export async function listInstancesDirect(rt: Runtime, project: string | undefined, timeout: number, withState = true): Promise<unknown[] | null> {
  const endpoint = endpointOf(rt);
  if (!endpoint) return null;
  try {
    const filter = project === undefined ? '' : `&filter=${encodeURIComponent(`config.${PROJECT_KEY} eq ${project}`)}`;
    const listed = (await apiGet<RawListed[] | null>(endpoint, `/1.0/instances?recursion=1${filter}`, timeout)) ?? [];
    return await Promise.all(
      listed.map(async (i) => (i.status === 'Stopped' || !withState ? i : { ...i, state: await apiGet(endpoint, `/1.0/instances/${encodeURIComponent(i.name)}/state`, timeout) })),
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
