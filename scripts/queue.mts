#!/usr/bin/env node
// isollm queue start|stop|status|logs: the embedded task queue server.
import fs from 'node:fs';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { c, type CommandSpec, flagBool, flagNumber, flagString, info, type Main, ok, out, parse, printJson, runIfEntry, SYMBOLS, UserError, warn } from 'isollm/cli';
import { type Config, loadConfig } from 'isollm/config';
import { requireProjectRoot } from 'isollm/project';
import { logTail, queueClient, queueState, startQueue, stopQueue } from 'isollm/queue';

const FOLLOW_POLL_MS = 300;

export const SPEC: CommandSpec = {
  name: 'isollm queue',
  summary: 'start, stop and inspect the task queue server',
  subcommands: {
    start: { name: 'isollm queue start', summary: 'start the queue server in the background' },
    stop: { name: 'isollm queue stop', summary: 'stop the queue server (SIGTERM, clean close)' },
    status: {
      name: 'isollm queue status',
      summary: 'is it running, where, and what it holds',
      flags: { json: { type: 'boolean', description: 'print JSON' } },
    },
    logs: {
      name: 'isollm queue logs',
      summary: "print the server's log",
      flags: {
        follow: { type: 'boolean', short: 'f', description: 'keep printing new lines' },
        lines: { type: 'string', short: 'n', value: 'N', number: { min: 1, max: 100_000 }, description: 'lines to show (default 50)' },
      },
    },
  },
  notes: ['With queue.url set in isollm.yaml, isollm uses that server and start/stop do nothing.'],
};

export const main: Main = async (argv) => {
  const p = parse(SPEC, argv);
  if (!p) return;
  const root = requireProjectRoot(flagString(p, 'project'));
  const config = loadConfig(root);
  switch (p.path[0]) {
    case 'start': {
      const state = queueState(root, config);
      if (state.mode === 'external') return void info(`queue.url is set: using the external queue at ${state.url}; nothing to start.`);
      if (state.stalePid) warn(`Removed a stale pid file (pid ${state.stalePid} is gone).`);
      const started = await startQueue(root, config);
      ok(`Queue running at ${started.url} (pid ${started.pid}). Logs: \`isollm queue logs\`.`);
      return;
    }
    case 'stop': {
      const { state, stopped, killed } = await stopQueue(root, config);
      if (state.mode === 'external') return void info(`queue.url is set: the external queue at ${state.url} is not managed by isollm.`);
      if (state.stalePid) warn(`Removed a stale pid file (pid ${state.stalePid} is gone).`);
      if (!stopped) return void info('The queue is not running.');
      if (killed) warn(`The queue (pid ${state.pid}) did not close in time and was killed.`);
      else ok(`Queue stopped (pid ${state.pid}).`);
      return;
    }
    case 'status':
      return status(root, config, flagBool(p, 'json'));
    case 'logs':
      return logs(root, config, flagNumber(p, 'lines') ?? 50, flagBool(p, 'follow'));
  }
};

async function status(root: string, config: Config, json: boolean): Promise<number> {
  const state = queueState(root, config);
  const client = queueClient(root, config);
  let healthy = false;
  let summary = null;
  let sockets: { worker: string; path: string }[] = [];
  try {
    await client.health();
    healthy = true;
    summary = await client.summary();
    if (state.mode === 'embedded') sockets = await client.listSockets();
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
  } finally {
    client.close();
  }
  if (json) {
    printJson({ ...state, healthy, project: config.project, summary, sockets });
  } else {
    const where = state.mode === 'external' ? `external queue at ${state.url}` : `queue at ${state.url}`;
    if (healthy) out(`${c.green(SYMBOLS.running)} ${where} is running${state.pid ? ` (pid ${state.pid})` : ''}`);
    else if (state.running) out(`${c.red(SYMBOLS.fail)} ${where}: process ${state.pid} is alive but does not answer; see \`isollm queue logs\``);
    else out(`${c.dim(SYMBOLS.stopped)} ${where} is not running${state.mode === 'embedded' ? ' (start it with `isollm queue start`)' : ''}`);
    if (state.stalePid) out(`  removed a stale pid file (pid ${state.stalePid})`);
    if (summary) {
      const n = summary.counts;
      out(`  project ${config.project}: ${n.open} open (${summary.ready} ready), ${n.in_progress} in progress, ${n.blocked} blocked, ${n.done} done`);
    }
    for (const s of sockets) out(`  ${SYMBOLS.branch} worker ${s.worker}: ${s.path}`);
    if (state.mode === 'embedded') out(`  log: ${state.log}`);
  }
  // Exit 1 when it should run but does not answer, so scripts can test it.
  return healthy ? 0 : 1;
}

async function logs(root: string, config: Config, lines: number, follow: boolean): Promise<void> {
  const state = queueState(root, config);
  if (state.mode === 'external') throw new UserError(`queue.url is set: the external queue at ${state.url} keeps its own logs.`);
  if (!fs.existsSync(state.log)) {
    if (!follow) return void info(`No queue log yet (${state.log}). Start the queue with \`isollm queue start\`.`);
  } else {
    const tail = logTail(state.log, lines);
    if (tail) out(tail);
  }
  if (!follow) return;
  let offset = fs.existsSync(state.log) ? fs.statSync(state.log).size : 0;
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  while (!stop.signal.aborted) {
    const size = fs.existsSync(state.log) ? fs.statSync(state.log).size : 0;
    if (size < offset) offset = 0; // truncated or replaced
    if (size > offset) {
      const fd = fs.openSync(state.log, 'r');
      const buf = Buffer.alloc(size - offset);
      fs.readSync(fd, buf, 0, buf.length, offset);
      fs.closeSync(fd);
      process.stdout.write(buf);
      offset = size;
    }
    await sleep(FOLLOW_POLL_MS, undefined, { signal: stop.signal }).catch(() => {});
  }
}

runIfEntry(import.meta.url, main);
