#!/usr/bin/env node
// Clone and push times of a worker's two ways to the hub, measured in one run on the same repository:
// the read-only mount (a local path: what workers clone and fetch from) against isollm's smart-HTTP
// endpoint on a worker socket (what they push through, with the ref policy), reached over TCP as the
// proxy device reaches it. Prints each and the ratio HTTP/path.
//   npm run bench:hub [-- --files N --runs R]
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { promisify } from 'node:util';
import { startServer } from '../lib/queue/server.ts';
import { initRepo } from '../test/support/repo.ts';
import { helpAndExit } from './usage.ts';

helpAndExit(import.meta.url);

const arg = (name: string, fallback: number) => Number(process.argv[process.argv.indexOf(`--${name}`) + 1]) || fallback;
const FILES = arg('files', 2000);
const RUNS = arg('runs', 5);
const run = promisify(execFile);
const IDENTITY = ['-c', 'user.name=bench', '-c', 'user.email=bench@isollm.local'];

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-bench-hub-'));
const src = path.join(dir, 'src');
const files: Record<string, string> = {};
for (let i = 0; i < FILES; i++) files[`src/m${i % 50}/f${i}.ts`] = `export const v${i} = ${JSON.stringify('x'.repeat(200 + (i % 800)))};\n`;
initRepo(src, files);
const hub = path.join(dir, 'hub.git');
execFileSync('git', ['clone', '-q', '--bare', src, hub]);

const server = await startServer({ dbFile: path.join(dir, 'q.db'), port: 0, socketsDir: path.join(dir, 'sockets'), hub: { dir: hub, project: 'bench', prefix: 'isollm/', base: 'main' } });
const socket = (await server.addSocket('worker-1')).path;
const proxy = net.createServer((c) => {
  const up = net.connect(socket);
  c.pipe(up).pipe(c);
});
await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}/git/hub.git`;
const task = await fetch(`${server.url}/v1/projects/bench/tasks`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Airyra-Agent': 'bench' }, body: JSON.stringify({ title: 'bench' }) }).then((r) => r.json() as Promise<{ id: string }>);
// The worker claims it through its socket: its pushes to isollm/<id> are allowed.
await new Promise<void>((resolve, reject) => {
  const req = (net.connect(socket) as net.Socket).on('error', reject);
  req.write(`POST /v1/projects/bench/tasks/${task.id}/claim HTTP/1.1\r\nHost: q\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  req.on('data', () => {}).on('end', () => resolve());
});

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Clone from `from`, then commit 100 changed files on the task branch and push it to `to`. */
async function round(from: string, to: string, n: number): Promise<{ clone: number; push: number }> {
  const clone = path.join(dir, `clone-${n}`);
  const cloneMs = await time(() => run('git', ['clone', '-q', from, clone]));
  await run('git', ['-C', clone, 'checkout', '-q', '-b', `isollm/${task.id}`, ...(n ? [`origin/isollm/${task.id}`] : [])]).catch(() => run('git', ['-C', clone, 'checkout', '-q', '-b', `isollm/${task.id}`]));
  for (let i = 0; i < 100; i++) fs.appendFileSync(path.join(clone, `src/m${i % 50}/f${i}.ts`), `// round ${n}\n`);
  await run('git', ['-C', clone, ...IDENTITY, 'commit', '-qam', `round ${n}`]);
  const pushMs = await time(() => run('git', ['-C', clone, 'push', '-q', to, `HEAD:refs/heads/isollm/${task.id}`]));
  fs.rmSync(clone, { recursive: true, force: true });
  return { clone: cloneMs, push: pushMs };
}

try {
  const results = { path: { clone: [] as number[], push: [] as number[] }, http: { clone: [] as number[], push: [] as number[] } };
  for (let n = 0; n < RUNS * 2; n++) {
    // Alternate the two ways so both see the same machine; every push fast-forwards the last one.
    const way = n % 2 === 0 ? 'path' : 'http';
    const r = await round(way === 'path' ? hub : url, way === 'path' ? hub : url, n);
    results[way].clone.push(r.clone);
    results[way].push.push(r.push);
  }
  const fmt = (ms: number) => `${ms.toFixed(0).padStart(5)} ms`;
  console.log(`hub with ${FILES} files, median of ${RUNS} runs each:`);
  for (const step of ['clone', 'push'] as const) {
    const p = median(results.path[step]);
    const h = median(results.http[step]);
    console.log(`  ${step.padEnd(5)}  path ${fmt(p)}   smart HTTP ${fmt(h)}   ratio ${(h / p).toFixed(2)}`);
  }
  console.log('Workers clone and fetch from the read-only mount (path) and push through smart HTTP (the ref policy).');
} finally {
  proxy.close();
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
