// Helpers for queue tests: a real server on an ephemeral port in a temp project, and a raw HTTP caller.
import http from 'node:http';
import path from 'node:path';
import { onTestFinished } from 'vitest';
import { getAgentState } from '../lib/queue/agents.ts';
import { startServer, type QueueServer, type ServerOptions } from '../lib/queue/server.ts';
import { tmpDir } from './helpers.ts';

export async function testServer(options: Partial<Pick<ServerOptions, 'maxBodyBytes' | 'emit' | 'project'>> = {}): Promise<QueueServer & { dir: string }> {
  const dir = tmpDir('isollm-queue-');
  const server = await startServer({ dbFile: path.join(dir, 'queue.db'), port: 0, socketsDir: path.join(dir, 'sockets'), ...options });
  onTestFinished(() => server.close());
  return Object.assign(server, { dir });
}

/** Every change of `worker`'s agent state in the server's store, as `state source` (polled in-process: the store is synchronous). */
export function watchStates(server: QueueServer, worker: string): { seen: string[]; stop: () => void } {
  const seen: string[] = [];
  const timer = setInterval(() => {
    const s = getAgentState(server.store, worker);
    const entry = s ? `${s.state} ${s.source}` : '';
    if (entry && seen.at(-1) !== entry) seen.push(entry);
  }, 10);
  return { seen, stop: () => clearInterval(timer) };
}

export type Answer = { status: number; json: any; text: string; headers: http.IncomingHttpHeaders };

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** One HTTP request; `body` objects are sent as JSON, strings as they are. */
export function call(
  target: { port?: number; unix?: string },
  method: string,
  urlPath: string,
  options: { body?: unknown; agent?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const payload = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const headers: Record<string, string> = { ...options.headers };
  if (options.agent) headers['X-Airyra-Agent'] = options.agent;
  if (payload !== undefined) {
    headers['Content-Type'] ??= 'application/json';
    headers['Content-Length'] = String(Buffer.byteLength(payload));
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: target.unix ? undefined : target.port, socketPath: target.unix, method, path: urlPath, headers, agent: target.unix ? false : agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json, text, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** A caller bound to one server and project. */
export function projectApi(server: { port: number }, project = 'demo') {
  const base = `/v1/projects/${project}`;
  return {
    base,
    call: (method: string, p: string, options: Parameters<typeof call>[3] = {}) => call(server, method, base + p, options),
    async add(title: string, extra: Record<string, unknown> = {}, as = 'host') {
      const r = await call(server, 'POST', `${base}/tasks`, { body: { title, ...extra }, agent: as });
      if (r.status !== 201) throw new Error(`create failed: ${r.status} ${r.text}`);
      return r.json as { id: string; [k: string]: unknown };
    },
  };
}
