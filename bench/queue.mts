#!/usr/bin/env node
// Claim-next throughput and latency of the queue server on loopback, for 1, 8 and 32 concurrent
// clients. The server runs as its own process (as `isollm queue start` runs it), in a temp dir.
//   npm run bench:queue [-- --tasks N]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, percentile } from '../test/support/net.ts';
import { helpAndExit } from './usage.ts';

helpAndExit(import.meta.url);

const CONCURRENCY = [1, 8, 32];
const TASKS = Number(process.argv[process.argv.indexOf('--tasks') + 1]) || 3000;
const MAIN = path.join(import.meta.dirname, '..', 'lib', 'queue', 'main.ts');

function request(agent: http.Agent, port: number, method: string, urlPath: string, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'X-Airyra-Agent': 'bench' };
    if (body) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) });
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const pct = percentile;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-bench-'));
fs.mkdirSync(path.join(dir, '.isollm'));
const port = await freePort();
const server = spawn(process.execPath, [MAIN, dir, String(port)], { stdio: 'ignore' });
try {
  const setup = new http.Agent({ keepAlive: true, maxSockets: 8 });
  for (let i = 0; (await request(setup, port, 'GET', '/v1/health').catch(() => 0)) !== 200; i++) {
    if (i > 100) throw new Error('queue server did not start');
    await sleep(50);
  }
  console.log(`isollm queue bench: claim-next over ${TASKS} tasks per run, loopback, ${os.cpus().length} cores, Node ${process.version}`);
  console.log('clients  claims/s  p50 ms  p99 ms  max ms');
  for (const clients of CONCURRENCY) {
    const project = `bench${clients}`;
    const base = `/v1/projects/${project}`;
    // Fill with 8 parallel creators; priorities vary so the ready query has real ordering to do.
    let made = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (made < TASKS) {
        const n = made++;
        await request(setup, port, 'POST', `${base}/tasks`, JSON.stringify({ title: `task ${n}`, priority: n % 5 }));
      }
    }));
    const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
    const latencies: number[] = [];
    const started = performance.now();
    await Promise.all(Array.from({ length: clients }, async () => {
      for (;;) {
        const t0 = performance.now();
        const status = await request(agent, port, 'POST', `${base}/tasks/next/claim`);
        if (status === 204) return;
        if (status !== 200) throw new Error(`claim-next answered ${status}`);
        latencies.push(performance.now() - t0);
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    agent.destroy();
    if (latencies.length !== TASKS) throw new Error(`claimed ${latencies.length} of ${TASKS}`);
    latencies.sort((a, b) => a - b);
    const row = [String(clients).padStart(7), (TASKS / seconds).toFixed(0).padStart(9), pct(latencies, 50).toFixed(2).padStart(7), pct(latencies, 99).toFixed(2).padStart(7), latencies.at(-1)!.toFixed(2).padStart(7)];
    console.log(row.join(' '));
  }
  setup.destroy();
} finally {
  server.kill('SIGTERM');
  await new Promise((resolve) => server.once('exit', resolve));
  fs.rmSync(dir, { recursive: true, force: true });
}
