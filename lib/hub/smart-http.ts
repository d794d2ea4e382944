// The hub over git's smart HTTP: requests are handed to git's own `git http-backend` (CGI), never a
// hand-written protocol. isollm reads only the ref-update commands at the start of a push, to apply
// the ref policy (ref-policy.ts) before git sees the pack; a refused push gets git's own
// report-status answer, so the worker's git prints `! [remote rejected] <ref> (<why>)`.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { refusals, type RefPolicy, type RefUpdate } from './ref-policy.ts';

/** A push bigger than this is refused (413): agents push source code, not datasets. */
export const MAX_PUSH_BYTES = 512 * 1024 * 1024;
/** URL path under which the hub is served: `/git/hub.git/…`. */
export const GIT_PATH = '/git/hub.git';

/**
 * git's settings for a worker's push, given to receive-pack only (the hub's own config stays the
 * host's): no rewriting or deleting history, every object checked, and no hooks at all.
 */
export const WORKER_RECEIVE_CONFIG: [string, string][] = [
  ['receive.denyNonFastForwards', 'true'],
  ['receive.denyDeletes', 'true'],
  ['receive.fsckObjects', 'true'],
  ['core.hooksPath', '/dev/null'],
];

export type GitServeOptions = {
  hub: string;
  /** The worker the request came from (its socket or credential); receive-pack needs a user. */
  worker: string;
  policy: RefPolicy;
  log?: (line: string) => void;
};

/** One pkt-line: 4 hex digits of length (including themselves), then the payload. */
export function pktLine(payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return Buffer.concat([Buffer.from((body.length + 4).toString(16).padStart(4, '0')), body]);
}
const FLUSH = Buffer.from('0000');

/** The ref updates and capabilities at the start of a receive-pack request body. */
export function parseCommands(body: Buffer): { updates: RefUpdate[]; caps: string[] } {
  const updates: RefUpdate[] = [];
  let caps: string[] = [];
  for (let at = 0; ; ) {
    if (at + 4 > body.length) throw new Error('truncated command list');
    const len = parseInt(body.subarray(at, at + 4).toString(), 16);
    if (Number.isNaN(len)) throw new Error('bad pkt-line length');
    if (len === 0) return { updates, caps };
    if (len < 4 || at + len > body.length) throw new Error('bad pkt-line length');
    let line = body.subarray(at + 4, at + len).toString();
    at += len;
    const nul = line.indexOf('\0');
    if (nul !== -1) {
      caps = line.slice(nul + 1).trim().split(' ').filter(Boolean);
      line = line.slice(0, nul);
    }
    const m = /^([0-9a-f]{40,64}) ([0-9a-f]{40,64}) (\S+)\n?$/.exec(line);
    // shallow lines, push certificates: nothing a worker's clone sends.
    if (!m) throw new Error(`unexpected line in a push: ${JSON.stringify(line.slice(0, 60))}`);
    updates.push({ old: m[1], new: m[2], ref: m[3] });
  }
}

/** receive-pack's answer that refuses every update (nothing was applied), side-banded when asked. */
export function refusedReport(updates: RefUpdate[], why: Map<string, string>, caps: string[]): Buffer {
  const report = Buffer.concat([
    pktLine('unpack ok\n'),
    ...updates.map((u) => pktLine(`ng ${u.ref} ${why.get(u.ref) ?? 'refused with the rest of this push'}\n`)),
    FLUSH,
  ]);
  if (!caps.includes('side-band-64k') && !caps.includes('side-band')) return report;
  const progress = [...why].map(([ref, reason]) => `isollm: ${ref}: ${reason}\n`).join('');
  return Buffer.concat([pktLine(Buffer.concat([Buffer.from([2]), Buffer.from(progress)])), pktLine(Buffer.concat([Buffer.from([1]), report])), FLUSH]);
}

/** A request's whole body, or null once it passes `limit` bytes (the rest is drained unread). */
export function readLimited(req: http.IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        resolve(null);
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function plain(res: http.ServerResponse, status: number, text: string): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Serve one request under GIT_PATH for `options.worker`. */
export async function serveGit(req: http.IncomingMessage, res: http.ServerResponse, url: URL, options: GitServeOptions): Promise<void> {
  const rest = url.pathname.slice(GIT_PATH.length);
  const service = url.searchParams.get('service');
  const allowed =
    (req.method === 'GET' && rest === '/info/refs' && (service === 'git-upload-pack' || service === 'git-receive-pack')) ||
    (req.method === 'POST' && (rest === '/git-upload-pack' || rest === '/git-receive-pack'));
  if (!allowed) return plain(res, 404, 'Not a git smart-HTTP endpoint of the hub\n');

  let body = await readLimited(req, MAX_PUSH_BYTES);
  if (body === null) return plain(res, 413, `Push larger than ${MAX_PUSH_BYTES} bytes\n`);
  if (req.headers['content-encoding'] === 'gzip') {
    // Inflated only up to the same limit: a few MiB of gzip can inflate to more than the host's memory.
    try {
      body = zlib.gunzipSync(body, { maxOutputLength: MAX_PUSH_BYTES });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return plain(res, 413, `Push larger than ${MAX_PUSH_BYTES} bytes\n`);
      return plain(res, 400, `isollm: the gzip body does not inflate: ${(err as Error).message}\n`);
    }
  }
  const push = req.method === 'POST' && rest === '/git-receive-pack';
  if (push) {
    let parsed;
    try {
      parsed = parseCommands(body);
    } catch (err) {
      return plain(res, 400, `isollm: ${(err as Error).message}\n`);
    }
    const why = refusals(parsed.updates, options.policy);
    if (why.size) {
      options.log?.(`refused push by ${options.worker}: ${[...why].map(([r, w]) => `${r} (${w})`).join('; ')}`);
      const report = refusedReport(parsed.updates, why, parsed.caps);
      res.writeHead(200, { 'Content-Type': 'application/x-git-receive-pack-result', 'Cache-Control': 'no-cache', 'Content-Length': report.length });
      return void res.end(report);
    }
  }
  await runBackend(req, res, body, rest, push, options);
}

function runBackend(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, rest: string, push: boolean, options: GitServeOptions): Promise<void> {
  const config = push ? WORKER_RECEIVE_CONFIG : [];
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GIT_PROJECT_ROOT: path.dirname(options.hub),
    GIT_HTTP_EXPORT_ALL: '1',
    PATH_INFO: `/${path.basename(options.hub)}${rest}`,
    REQUEST_METHOD: req.method,
    QUERY_STRING: new URL(`http://x${req.url ?? '/'}`).searchParams.toString(),
    CONTENT_TYPE: String(req.headers['content-type'] ?? ''),
    CONTENT_LENGTH: String(body.length),
    GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
    REMOTE_USER: options.worker,
    REMOTE_ADDR: '127.0.0.1',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_COUNT: String(config.length),
    ...Object.fromEntries(config.flatMap(([k, v], i) => [[`GIT_CONFIG_KEY_${i}`, k], [`GIT_CONFIG_VALUE_${i}`, v]])),
  };
  // A GET has no body: nothing to read.
  const input = body.length ? bodyFile(body) : 'ignore';
  let child: ChildProcess;
  try {
    child = spawn('git', ['http-backend'], { env, stdio: [input, 'pipe', 'pipe'] });
  } finally {
    if (typeof input === 'number') fs.closeSync(input); // the child has its own
  }
  return new Promise((resolve) => {
    let head = Buffer.alloc(0);
    let streaming = false;
    let stderr = '';
    // Both piped (a descriptor in `stdio` types them as maybe absent).
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      if (streaming) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      // CGI headers: `Status: 200 OK` and the rest as they are.
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon === -1) continue;
        const key = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (key.toLowerCase() === 'status') status = parseInt(value, 10) || 500;
        else headers[key] = value;
      }
      res.writeHead(status, headers);
      streaming = true;
      const restOfBody = head.subarray(end + 4);
      if (restOfBody.length) res.write(restOfBody);
    });
    child.on('close', (code) => {
      if (code !== 0 || stderr.trim()) options.log?.(`git http-backend (${options.worker}, ${rest}) exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
      if (!streaming) plain(res, 500, 'git http-backend gave no answer\n');
      else res.end();
      resolve();
    });
  });
}

/**
 * The request body as the backend's stdin: a file that holds all of it, never a pipe this process
 * still writes into. git http-backend (2.39) reads CONTENT_LENGTH bytes of a push and, at an early end
 * of its input, reads again forever: a queue killed -9 before it had written the body (the chaos
 * soak's queue-kill) left an orphaned backend spinning a core. Unlinked at once: nothing is left
 * behind, whoever dies first. Written synchronously: a push is at most MAX_PUSH_BYTES, into the page cache.
 */
function bodyFile(body: Buffer): number {
  const file = path.join(os.tmpdir(), `isollm-push-${crypto.randomBytes(8).toString('hex')}`);
  const fd = fs.openSync(file, 'wx+', 0o600);
  try {
    fs.unlinkSync(file);
    // Positioned writes: the offset the backend reads from stays at 0.
    for (let done = 0; done < body.length; ) done += fs.writeSync(fd, body, done, body.length - done, done);
    return fd;
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}
