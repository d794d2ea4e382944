#!/usr/bin/env node
// The merge train's cost: 8 done tasks, one of which breaks a 2-second land.test, landed with
// --batch 1 and --batch 8. Real parts: a hub, the queue server over HTTP (tasks claimed on a worker
// socket, so their branches start where the queue makes them), land.test in a real container.
//   npm run bench:land [-- --image ALIAS] [--tasks N]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { loadConfig } from '../lib/config/load.ts';
import { ensureHub } from '../lib/hub/hub.ts';
import { hubTaskStarts, taskStartConfig } from '../lib/hub/task-start.ts';
import { land } from '../lib/land/land.ts';
import { openTester, removeStaleLanders } from '../lib/land/tester.ts';
import { QueueClient } from '../lib/queue/client.ts';
import { startServer } from '../lib/queue/server.ts';
import { connectRuntime } from '../lib/runtime/choose.ts';
import { maxRunsOneBad } from '../lib/land/train.ts';
import { initRepo } from '../test/support/repo.ts';
import { helpAndExit } from './usage.ts';

helpAndExit(import.meta.url);

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
};
const IMAGE = arg('--image') ?? 'isollm-test';
const TASKS = Number(arg('--tasks') ?? 8);
const BAD = Math.floor(TASKS / 2) + 1;
const TEST = ['sh', '-c', 'sleep 2; if [ -e bad.txt ]; then echo "FAIL: bad.txt"; exit 1; fi; echo ok'];
const IDENTITY = { GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'bench@isollm.local', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'bench@isollm.local' };
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env: { ...process.env, ...IDENTITY }, encoding: 'utf8' }).trim();

async function once(batch: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-bench-land-'));
  const root = path.join(dir, 'repo');
  initRepo(root);
  const project = `bench-land-${process.pid}-${batch}`;
  fs.writeFileSync(path.join(root, 'isollm.yaml'), `project: ${project}\nimage: ${IMAGE}\ngit:\n  hub: ${path.join(dir, 'hub.git')}\nland:\n  test: ${JSON.stringify(TEST)}\n`);
  const config = loadConfig(root);
  await ensureHub(root, config);
  const server = await startServer({ dbFile: path.join(dir, 'queue.db'), port: 0, socketsDir: path.join(dir, 'sockets'), prepareStart: hubTaskStarts(taskStartConfig(config)) });
  const host = new QueueClient(server.url, project);
  const worker = new QueueClient(`unix:${(await server.addSocket('worker-1')).path}`, project);
  const clone = path.join(dir, 'clone');
  git(dir, 'clone', '-q', config.git.hub, clone);
  try {
    for (let i = 1; i <= TASKS; i++) await host.createTask({ title: `task ${i}` });
    for (let i = 1; i <= TASKS; i++) {
      const t = (await worker.claimNext())!;
      git(clone, 'fetch', '-q', 'origin');
      git(clone, 'checkout', '-q', '-f', '-B', `isollm/${t.id}`, `origin/isollm/${t.id}`);
      fs.writeFileSync(path.join(clone, i === BAD ? 'bad.txt' : `f${i}.txt`), `${i}\n`);
      git(clone, 'add', '-A');
      git(clone, 'commit', '-qm', `task ${i}`);
      git(clone, 'push', '-q', 'origin', `HEAD:refs/heads/isollm/${t.id}`);
      await worker.done(t.id);
    }
    const rt = await connectRuntime({ kind: config.runtime.kind, project: config.project, image: config.image });
    const t0 = performance.now();
    const report = await land(root, config, { batch }, { queue: host, openTester: (progress) => openTester(rt, config, progress) });
    const seconds = (performance.now() - t0) / 1000;
    await removeStaleLanders(rt, project);
    return { batch, runs: report.test_runs, seconds, landed: report.landed.length, back: report.handed_back.length };
  } finally {
    host.close();
    worker.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`${TASKS} done tasks, task ${BAD} breaks a 2 s land.test; image ${IMAGE}`);
console.log('batch  test runs  wall time  landed  handed back');
for (const batch of [1, TASKS]) {
  const r = await once(batch);
  console.log(`${String(r.batch).padStart(5)}  ${String(r.runs).padStart(9)}  ${r.seconds.toFixed(1).padStart(8)}s  ${String(r.landed).padStart(6)}  ${String(r.back).padStart(11)}`);
}
console.log(`(one bad task among ${TASKS}: at most 1 + 2·⌈log2 ${TASKS}⌉ = ${maxRunsOneBad(TASKS)} runs with --batch ${TASKS})`);
