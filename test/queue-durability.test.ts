// kill -9 of the server process under load, restart: every acknowledged write is still there.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { freePort, NODE, ROOT, tmpDir } from './helpers.ts';
import { call } from './queue-helpers.ts';

const MAIN = path.join(ROOT, 'lib', 'queue', 'main.ts');

async function startProcess(root: string, port: number): Promise<ChildProcess> {
  const child = spawn(NODE, [MAIN, root, String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  onTestFinished(() => void child.kill('SIGKILL'));
  for (let i = 0; i < 100; i++) {
    try {
      if ((await call({ port }, 'GET', '/v1/health')).status === 200) return child;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error('server did not start');
}

describe('durability', () => {
  it('keeps every acknowledged create and claim across kill -9', async () => {
    const root = tmpDir('isollm-durable-');
    fs.mkdirSync(path.join(root, '.isollm'));
    const port = await freePort();
    const first = await startProcess(root, port);
    const base = '/v1/projects/d';
    const created = new Set<string>();
    const claimed = new Map<string, string>();
    let stop = false;
    const writers = Array.from({ length: 16 }, async (_, n) => {
      while (!stop) {
        try {
          const r = await call({ port }, 'POST', `${base}/tasks`, { body: { title: `w${n}` }, agent: `w${n}` });
          if (r.status === 201) created.add(r.json.id);
          if (n % 2 === 0) {
            const c = await call({ port }, 'POST', `${base}/tasks/next/claim`, { agent: `w${n}` });
            if (c.status === 200) claimed.set(c.json.id, `w${n}`);
          }
        } catch {
          return; // the server is gone
        }
      }
    });
    // Kill it mid-flight once enough writes were acknowledged (a fixed sleep made too few on a loaded host).
    for (const deadline = Date.now() + 30_000; created.size < 60 && Date.now() < deadline; ) await sleep(20);
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    stop = true;
    await Promise.all(writers);
    expect(created.size).toBeGreaterThan(50);

    await startProcess(root, port);
    const tasks: { id: string; status: string; claimed_by?: string }[] = [];
    for (let page = 1; ; page++) {
      const r = await call({ port }, 'GET', `${base}/tasks?per_page=100&page=${page}`);
      tasks.push(...r.json.data);
      if (page >= r.json.pagination.total_pages) break;
    }
    const byId = new Map(tasks.map((t) => [t.id, t]));
    for (const id of created) expect(byId.has(id), id).toBe(true);
    for (const [id, agent] of claimed) expect(byId.get(id), id).toMatchObject({ status: 'in_progress', claimed_by: agent });
    // Each change and its audit row committed together: as many create rows as tasks.
    const audit = await call({ port }, 'GET', `${base}/audit?action=create&per_page=1`);
    expect(audit.json.pagination.total).toBe(tasks.length);
  }, 90_000);
});
