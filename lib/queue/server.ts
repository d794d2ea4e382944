// The queue's HTTP side: one TCP listener for the host and one unix socket per worker, the JSON
// envelope (or text/plain), the body limit, and worker sockets opened and closed while running.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { WORKER_SOCKET_FILE } from '../project/root.ts';
import { GIT_PATH, readLimited, serveGit } from '../hub/smart-http.ts';
import { bearerToken, newToken, tokenHash } from './credentials.ts';
import { hasHeld } from './history.ts';
import { expireLimits, forgetAgentState, nextLimitReset } from './agents.ts';
import { FinishTracker, stateEvent, type Emit } from './events.ts';
import { printable, route, type Admin } from './routes.ts';
import { Store } from './store.ts';
import { errorText, renderText } from './text.ts';
import { QueueError } from './types.ts';

/** Bodies above this get 413 (a task description is text; 1 MiB is plenty). */
export const MAX_BODY_BYTES = 1024 * 1024;
/** The limit clock looks at least this often (a clock set back, a row written by another process). */
const LIMIT_CLOCK_MAX_MS = 60_000;

/** Longest X-Airyra-Agent kept; anything longer is cut. */
const MAX_AGENT_LENGTH = 200;

export type ServerOptions = {
  dbFile: string;
  /** TCP port on 127.0.0.1 (0 = ephemeral). */
  port: number;
  host?: string;
  socketsDir: string;
  maxBodyBytes?: number;
  log?: (line: string) => void;
  /** The project's hub, served to workers over git's smart HTTP under GIT_PATH with the ref policy. */
  hub?: HubService;
  /** The project this server is for (named in agent events). */
  project?: string | null;
  /** Where events go (`notify.command`); none by default. */
  emit?: Emit;
  /** Makes a claimed task's start branch on the host (see Admin.prepareStart). */
  prepareStart?: Admin['prepareStart'];
  /**
   * The listener for remote workers: HTTPS on `host:port` with this certificate, every request
   * carrying one worker's token (`Authorization: Bearer …`), which is its identity as a socket is.
   */
  tls?: { host: string; port: number; cert: string; key: string };
};

export type HubService = { dir: string; project: string; prefix: string; base: string };

export type QueueServer = {
  port: number;
  url: string;
  /** The HTTPS listener's port and URL, when there is one. */
  tlsPort: number | null;
  tlsUrl: string | null;
  store: Store;
  socketPath(worker: string): string;
  addSocket(worker: string): Promise<{ worker: string; path: string }>;
  removeSocket(worker: string): Promise<boolean>;
  close(): Promise<void>;
};

export async function startServer(options: ServerOptions): Promise<QueueServer> {
  const log = options.log ?? (() => {});
  const limit = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const store = new Store(options.dbFile);
  const sockets = new Map<string, http.Server>();
  const socketPath = (worker: string) => path.join(options.socketsDir, worker, WORKER_SOCKET_FILE);
  // Where sockets were before each had its own directory: workers made then connect there.
  const legacyPath = (worker: string) => path.join(options.socketsDir, `${worker}.sock`);

  const admin: Admin = {
    project: options.project ?? null,
    emit: options.emit,
    finish: new FinishTracker(),
    prepareStart: options.prepareStart,
    listSockets: () => [...sockets.keys()].sort().map((worker) => ({ worker, path: socketPath(worker) })),
    async addSocket(worker) {
      const file = socketPath(worker);
      if (!sockets.has(worker)) {
        fs.mkdirSync(options.socketsDir, { recursive: true, mode: 0o700 });
        fs.chmodSync(options.socketsDir, 0o700);
        // The worker's directory is mounted into its container (and only this one's into it): it
        // holds this socket and nothing else.
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.chmodSync(path.dirname(file), 0o755);
        fs.rmSync(file, { force: true }); // left by a crash; nothing can be listening (one server per project)
        const server = http.createServer((req, res) => void handle(req, res, worker));
        try {
          await listen(server, file);
        } catch (err) {
          throw new QueueError('SOCKET_FAILED', `Cannot listen on ${file}: ${(err as Error).message}`, { worker });
        }
        // The container's users are "others" to the host (no id shift): they may connect. No one
        // else can: the sockets directory above is the owner's only (0700).
        fs.chmodSync(file, 0o666);
        fs.rmSync(legacyPath(worker), { force: true });
        fs.symlinkSync(path.join(worker, WORKER_SOCKET_FILE), legacyPath(worker));
        sockets.set(worker, server);
        log(`listening on ${file} for worker ${worker}`);
      }
      store.addSocket(worker);
      return { worker, path: file };
    },
    addCredential(worker) {
      const { token, sha256 } = newToken();
      store.setCredential(worker, sha256); // replaces an earlier one: a worker has one credential
      log(`credential issued for worker ${worker}`);
      return { worker, token };
    },
    removeCredential(worker) {
      const known = store.removeCredential(worker);
      if (known) log(`credential of worker ${worker} revoked`);
      return known;
    },
    listCredentials: () => store.listCredentials(),
    async removeSocket(worker) {
      const server = sockets.get(worker);
      const known = store.removeSocket(worker);
      forgetAgentState(store, worker); // a removed worker has no agent any more
      if (!server) return known;
      sockets.delete(worker);
      await closeServer(server);
      fs.rmSync(path.dirname(socketPath(worker)), { recursive: true, force: true });
      fs.rmSync(legacyPath(worker), { force: true });
      log(`closed socket for worker ${worker}`);
      return true;
    },
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, worker: string | null): Promise<void> {
    const urlPath = (req.url ?? '/').split('?')[0];
    if (urlPath === GIT_PATH || urlPath.startsWith(`${GIT_PATH}/`)) return handleGit(req, res, worker);
    const text = wantsText(req.headers.accept);
    // Lets `queue start` tell its own server from another program answering on the port.
    res.setHeader('X-Isollm-Pid', String(process.pid));
    try {
      const body = await readBody(req, res, limit);
      let url: URL;
      let parts: string[];
      try {
        url = new URL(`http://queue${req.url ?? '/'}`);
        parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      } catch {
        throw new QueueError('NOT_FOUND', 'No such endpoint');
      }
      if (parts[0] !== 'v1') throw new QueueError('NOT_FOUND', 'No such endpoint');
      const header = printable(String(req.headers['x-airyra-agent'] ?? '').trim().slice(0, MAX_AGENT_LENGTH));
      const reply = await route(store, admin, {
        method: req.method ?? 'GET',
        parts: parts.slice(1),
        query: url.searchParams,
        agent: worker ?? (header || 'anonymous'),
        worker,
        body,
        contentType: String(req.headers['content-type'] ?? '').toLowerCase(),
      });
      send(res, reply.status, reply.body, text);
    } catch (err) {
      if (err instanceof QueueError) {
        if (err.status >= 500) log(`${req.method} ${req.url}: ${err.message}`);
        sendError(res, err, text);
      } else {
        // The stack goes to the server log only; the client gets the contract's 500.
        log(`${req.method} ${req.url}: ${(err as Error)?.stack ?? err}`);
        sendError(res, new QueueError('INTERNAL_ERROR', 'An internal error occurred'), text);
      }
    }
  }

  /** The hub for a worker; the host has the hub on its own disk and no business here. */
  async function handleGit(req: http.IncomingMessage, res: http.ServerResponse, worker: string | null): Promise<void> {
    const hub = options.hub;
    const refuse = (status: number, text: string) => res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(text);
    if (!hub) return void refuse(404, 'This queue server does not serve a hub\n');
    if (!worker) return void refuse(403, 'The hub is served to workers only; the host uses it on disk\n');
    try {
      await serveGit(req, res, new URL(`http://hub${req.url}`), {
        hub: hub.dir,
        worker,
        log,
        policy: { worker, prefix: hub.prefix, base: hub.base, held: (id) => hasHeld(store, hub.project, id, worker) },
      });
    } catch (err) {
      log(`${req.method} ${req.url} (${worker}): ${(err as Error)?.stack ?? err}`);
      if (!res.headersSent) refuse(500, 'internal error\n');
      else res.end();
    }
  }

  /** A remote worker's request: its token names the worker, or it is answered 401 and goes no further. */
  function handleRemote(req: http.IncomingMessage, res: http.ServerResponse): void {
    const token = bearerToken(req.headers.authorization);
    const worker = token ? store.credentialWorker(tokenHash(token)) : null;
    if (!worker) {
      log(`refused ${req.method} ${(req.url ?? '/').split('?')[0]} from ${req.socket.remoteAddress}: ${token ? 'unknown or revoked credential' : 'no credential'}`);
      req.resume();
      res.setHeader('WWW-Authenticate', 'Bearer realm="isollm"');
      return sendError(res, new QueueError('UNAUTHORIZED', 'A worker credential is required (Authorization: Bearer …); this one is unknown or revoked'), wantsText(req.headers.accept));
    }
    void handle(req, res, worker);
  }

  const tcp = http.createServer((req, res) => void handle(req, res, null));
  await listen(tcp, options.port, options.host ?? '127.0.0.1');
  const port = (tcp.address() as AddressInfo).port;
  log(`listening on http://${options.host ?? '127.0.0.1'}:${port} for the host`);
  let remote: https.Server | null = null;
  let tlsPort: number | null = null;
  if (options.tls) {
    remote = https.createServer({ cert: options.tls.cert, key: options.tls.key }, handleRemote);
    try {
      await listen(remote, options.tls.port, options.tls.host);
    } catch (err) {
      await closeServer(tcp);
      store.close();
      throw err;
    }
    tlsPort = (remote.address() as AddressInfo).port;
    log(`listening on https://${hostInUrl(options.tls.host)}:${tlsPort} for remote workers`);
  }
  for (const worker of store.listSockets()) {
    try {
      await admin.addSocket(worker);
    } catch (err) {
      log(`cannot re-open the socket of worker ${worker}: ${(err as Error).message}`);
    }
  }

  // The limit clock: a worker still `limited` when its reset time passes goes back to idle (and the
  // user is told, once), so status, dashboard and pane titles stop showing it — an interactive agent
  // reports nothing when its limit ends. One timer, set for the earliest reset.
  let limitTimer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;
  function expireDue(): void {
    for (const change of expireLimits(store)) {
      log(`worker ${change.current.worker}: usage limit reset`);
      const event = stateEvent(admin.project ?? null, change.current, change.previous);
      if (event) admin.emit?.(event);
    }
  }
  function armLimitClock(): void {
    clearTimeout(limitTimer);
    if (closing) return;
    expireDue();
    const next = nextLimitReset(store);
    if (!next) return;
    // +5 ms: wake just after the reset, when `until <= now` holds.
    const wait = Math.min(Math.max(Date.parse(next) - Date.now() + 5, 0), LIMIT_CLOCK_MAX_MS);
    limitTimer = setTimeout(armLimitClock, wait);
    limitTimer.unref();
  }
  admin.limitsChanged = armLimitClock;
  armLimitClock();

  return {
    port,
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    tlsPort,
    tlsUrl: options.tls && tlsPort !== null ? `https://${hostInUrl(options.tls.host)}:${tlsPort}` : null,
    store,
    socketPath,
    addSocket: admin.addSocket,
    removeSocket: admin.removeSocket,
    close() {
      // Run once: close every listener (socket rows stay, so a restart re-opens them), then the db.
      closing ??= (async () => {
        clearTimeout(limitTimer);
        await Promise.all([closeServer(tcp), ...(remote ? [closeServer(remote)] : []), ...[...sockets.entries()].map(async ([worker, server]) => {
          await closeServer(server);
          fs.rmSync(socketPath(worker), { force: true });
        })]);
        sockets.clear();
        store.close();
        log('closed');
      })();
      return closing;
    },
  };
}

const hostInUrl = (host: string) => (host.includes(':') ? `[${host}]` : host);

function listen(server: http.Server, ...args: [number, string] | [string]): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(...(args as [number, string]), () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function wantsText(accept: string | undefined): boolean {
  return Boolean(accept && accept.includes('text/plain') && !accept.includes('application/json'));
}

/** The whole body as text, or a 413 once it passes the limit. */
async function readBody(req: http.IncomingMessage, res: http.ServerResponse, limit: number): Promise<string> {
  const body = Number(req.headers['content-length'] ?? 0) > limit ? null : await readLimited(req, limit);
  if (body === null) {
    // Close after answering: the rest of the body is never read.
    res.setHeader('Connection', 'close');
    throw new QueueError('PAYLOAD_TOO_LARGE', `Request body larger than ${limit} bytes`, { limit });
  }
  return body.toString('utf8');
}

function send(res: http.ServerResponse, status: number, body: unknown, text: boolean): void {
  if (status === 204 || body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const payload = text ? renderText(body) : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': text ? 'text/plain; charset=utf-8' : 'application/json', 'Content-Length': Buffer.byteLength(payload) });
  res.end(payload);
}

function sendError(res: http.ServerResponse, err: QueueError, text: boolean): void {
  if (res.headersSent) return;
  const error: Record<string, unknown> = { code: err.code, message: err.message };
  if (err.context && Object.keys(err.context).length) error.context = err.context;
  const payload = text ? errorText(err.code, err.message) : JSON.stringify({ error });
  res.writeHead(err.status, { 'Content-Type': text ? 'text/plain; charset=utf-8' : 'application/json', 'Content-Length': Buffer.byteLength(payload) });
  res.end(payload);
}
