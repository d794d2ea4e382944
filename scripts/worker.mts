#!/usr/bin/env node
// isollm worker add|list|shell|exec|logs|start|stop|reset|remove|rebuild: the containers the agents
// live in, and the project's base they are copied from.
import process from 'node:process';
import { c, terminalReporter, type CommandSpec, errorMessage, expectPositionals, fail, flagBool, flagNumber, flagString, formatAge, formatDuration, info, type Main, ok, out, parse, type Parsed, printJson, runIfEntry, SYMBOLS, table, UsageError, UserError, warn } from 'isollm/cli';
import { loadConfig, MAX_WORKERS } from 'isollm/config';
import { ensureHub } from 'isollm/hub';
import { requireProjectRoot } from 'isollm/project';
import { ensureQueue, queueClient } from 'isollm/queue';
import { execArgs, execIn, execPaneArgs, instanceRef, runClientInteractive, withOutputKept } from 'isollm/runtime';
import { AGENT_DIR } from 'isollm/agent';
import { asDev, checkWorkerName, createWorkers, ensureBase, findWorker, isFromBase, listWorkers, nextWorkerNames, pruneBases, removeHalfMade, removeWorker, resetWorker, startWorker, stopWorker, withBaseLock, workerContext, type WorkerInfo } from 'isollm/worker';
import { readyBase } from 'isollm/flows';

const force = { type: 'boolean', description: 'drop unsaved work instead of saving it to the hub first' } as const;

export const SPEC: CommandSpec = {
  name: 'isollm worker',
  summary: 'create, inspect, enter, reset and remove workers',
  subcommands: {
    add: {
      name: 'isollm worker add',
      summary: 'create workers (in parallel)',
      usage: '[name] [-n N]',
      flags: { count: { type: 'string', short: 'n', value: 'N', number: { min: 1, max: MAX_WORKERS }, description: 'how many to create (default 1)' } },
    },
    list: { name: 'isollm worker list', summary: 'name, state, IP, task, branch, age', flags: { json: { type: 'boolean', description: 'print JSON' } } },
    shell: {
      name: 'isollm worker shell',
      summary: 'a shell as dev in the project dir',
      usage: '<name> [-c CMD]',
      flags: { command: { type: 'string', short: 'c', value: 'CMD', description: 'run CMD in bash instead of an interactive shell' } },
    },
    exec: { name: 'isollm worker exec', summary: 'run a command as dev in the project dir', usage: '<name> -- <command>…' },
    logs: {
      name: 'isollm worker logs',
      summary: "the agent's log",
      usage: '<name> [-f]',
      flags: { follow: { type: 'boolean', short: 'f', description: 'keep printing new lines' } },
    },
    start: { name: 'isollm worker start', summary: 'start a stopped worker', usage: '<name>' },
    stop: { name: 'isollm worker stop', summary: 'stop a worker (its files stay)', usage: '<name>' },
    reset: {
      name: 'isollm worker reset',
      summary: 'save unsaved work to the hub, give its task back, make it again from the project\'s base',
      usage: '<name>|--all',
      flags: { all: { type: 'boolean', description: 'every worker of the project' }, force },
    },
    remove: { name: 'isollm worker remove', summary: 'save unsaved work to the hub, give its task back, delete the worker', usage: '<name>', flags: { force } },
    rebuild: { name: 'isollm worker rebuild', summary: "build the project's base again (workers are copied from it; `reset` moves one onto it)" },
  },
  aliases: { ssh: 'shell', rm: 'remove', ls: 'list' },
};

const workerProgress = (worker: string, step: string) => info(`  ${c.dim(worker)} ${SYMBOLS.arrow} ${step}`);
const baseHooks = {
  building: (reason: string, name: string) => info(`Building the project's base ${name} (${reason})…`),
  progress: (step: string) => info(`  ${c.dim('base')} ${SYMBOLS.arrow} ${step}`),
};

export const main: Main = async (argv) => {
  const p = parse(SPEC, argv);
  if (!p) return;
  const root = requireProjectRoot(flagString(p, 'project'));
  const ctx = await workerContext(root, loadConfig(root));
  const one = async () => findWorker(ctx, expectPositionals(p, ['<name>'])[0]);
  switch (p.path[0]) {
    case 'add':
      return add(p, ctx);
    case 'list':
      return list(p, ctx);
    case 'shell': {
      const worker = await one();
      const command = flagString(p, 'command');
      return interactive(ctx, worker, command === undefined ? ['bash', '--login'] : ['bash', '--login', '-c', command]);
    }
    case 'exec': {
      const [name] = expectPositionals(p, ['<name>']);
      if (!p.rest.length) throw new UsageError('missing the command: `isollm worker exec <name> -- <command>…`');
      return interactive(ctx, await findWorker(ctx, name), p.rest);
    }
    case 'logs': {
      const worker = await one();
      const log = `${AGENT_DIR}/agent.log`;
      if (worker.instance.status === 'Running' && (await execIn(ctx.rt, worker.container, ['test', '-e', log])).exitCode !== 0) {
        return void info(`No agent log in ${worker.name} yet: its agent has not run in the background (\`isollm up --multiplexer none\` does that).`);
      }
      const tail = ['tail', '-n', '200', ...(flagBool(p, 'follow') ? ['-F'] : []), log];
      return interactive(ctx, worker, tail);
    }
    case 'start': {
      const worker = await one();
      await startWorker(ctx, worker);
      return void ok(`${worker.name} is running; \`isollm up\` starts its agent.`);
    }
    case 'stop': {
      const worker = await one();
      await stopWorker(ctx, worker);
      return void ok(`${worker.name} is stopped; its files stay. \`isollm worker start ${worker.name}\` brings it back.`);
    }
    case 'reset': {
      const all = flagBool(p, 'all');
      const targets = all ? await listWorkers(ctx) : [await one()];
      if (all && p.positionals.length) throw new UsageError('give a worker name or --all, not both');
      let failed = 0;
      for (const worker of targets) {
        try {
          const { released, saved, remadeFrom } = await resetWorker(ctx, worker, { force: flagBool(p, 'force'), ...baseHooks, workerProgress, waiting: info });
          for (const line of saved) info(`  ${line}`);
          const state = remadeFrom ? `made again from the new base ${remadeFrom}` : 'back to the clean state of its base';
          ok(`${worker.name} is ${state}${released.length ? `; released ${released.join(', ')}` : ''}.`);
        } catch (err) {
          failed++;
          fail(`${worker.name}: ${errorMessage(err)}`);
        }
      }
      if (failed < targets.length) info('`isollm up` starts the agent again.');
      return failed ? 1 : 0;
    }
    case 'rebuild': {
      expectPositionals(p, []);
      await ensureHub(ctx.root, ctx.config);
      const started = Date.now();
      return withBaseLock(ctx, 'worker rebuild', async () => {
        const { base } = await ensureBase(ctx, { force: true, ...baseHooks });
        ok(`Base ${base.name} ready in ${formatDuration(Date.now() - started)}.`);
        const older = (await listWorkers(ctx)).filter((w) => !isFromBase(w, base)).map((w) => w.name);
        if (older.length) info(`${older.join(', ')} keep their work on the older base; \`isollm worker reset <name>\` makes one again from the new base (its work is saved first).`);
        for (const name of await pruneBases(ctx, base.name)) info(`Removed the old base ${name}: no worker uses it.`);
      }, info);
    }
    case 'remove': {
      const worker = await one();
      const { released, saved } = await removeWorker(ctx, worker, { force: flagBool(p, 'force') });
      for (const line of saved) info(`  ${line}`);
      return void ok(`Removed ${worker.name}${released.length ? `; released ${released.join(', ')}` : ''}.`);
    }
  }
};

async function add(p: Parsed, ctx: Awaited<ReturnType<typeof workerContext>>): Promise<number> {
  const [name] = expectPositionals(p, ['[name]'], 1);
  const count = flagNumber(p, 'count') ?? 1;
  if (name !== undefined) {
    if (count !== 1) throw new UsageError('give a name or -n N, not both');
    const wrong = checkWorkerName(ctx.config.project, name);
    if (wrong) throw new UsageError(wrong);
  }
  await ensureHub(ctx.root, ctx.config);
  await ensureQueue(ctx.root, ctx.config);
  // One command at a time on the base: one building it waits for none copying it, and a worker being
  // made by another is not taken for a half-made one.
  const { failed } = await withBaseLock(ctx, 'worker add', async () => {
    for (const broken of await removeHalfMade(ctx, await listWorkers(ctx))) warn(`Removed ${broken}: an interrupted run left it half-made.`);
    const existing = (await listWorkers(ctx)).map((w) => w.name);
    if (name && existing.includes(name)) throw new UserError(`Worker ${name} already exists. See \`isollm worker list\`.`);
    const names = name ? [name] : nextWorkerNames(existing, count);
    const base = await readyBase(ctx, await listWorkers(ctx), terminalReporter, true);
    const started = Date.now();
    info(`Creating ${names.join(', ')} from ${base.name}…`);
    const made = await createWorkers(ctx, names, base, workerProgress);
    for (const w of made.created) ok(`${w.name} ready (${w.container})`);
    for (const f of made.failed) {
      fail(`${f.name}: ${errorMessage(f.error)}`);
      const detail = (f.error as UserError).detail;
      if (detail) info(detail);
    }
    info(`${made.created.length} of ${names.length} created in ${formatDuration(Date.now() - started)}.`);
    // A base just built is stopped meanwhile: the lock is held until then.
    await made.baseFinished;
    return made;
  }, info);
  return failed.length ? 1 : 0;
}

async function list(p: Parsed, ctx: Awaited<ReturnType<typeof workerContext>>): Promise<void> {
  const [workers, summary] = await Promise.all([listWorkers(ctx), queueClient(ctx.root, ctx.config).summary().catch(() => null)]);
  const now = Date.now();
  const rows = workers.map((w) => {
    const task = summary?.in_progress.find((t) => t.claimed_by === w.name) ?? null;
    return {
      name: w.name,
      container: w.container,
      state: w.ready ? w.instance.status : 'half-made',
      ipv4: w.instance.ipv4,
      task: task ? { id: task.id, title: task.title, branch: `${ctx.config.git.branch_prefix}${task.id}`, claimed_at: task.claimed_at ?? null } : null,
      created_at: w.instance.createdAt?.toISOString() ?? null,
    };
  });
  if (flagBool(p, 'json')) return printJson(rows);
  if (!rows.length) return void info('No workers yet. Create some with `isollm worker add -n 2` or `isollm up`.');
  if (!summary) warn('The queue is not running: tasks are not shown. Start it with `isollm queue start`.');
  const header = ['NAME', 'STATE', 'IP', 'TASK', 'BRANCH', 'AGE'];
  const body = rows.map((r) => [
    r.name,
    r.state === 'Running' ? c.green(`${SYMBOLS.running} running`) : c.dim(`${SYMBOLS.stopped} ${r.state.toLowerCase()}`),
    r.ipv4 ?? '-',
    r.task ? r.task.id : '-',
    r.task ? r.task.branch : '-',
    r.created_at ? formatAge(now - Date.parse(r.created_at)) : '-',
  ]);
  for (const line of table([header.map((h) => c.bold(h)), ...body])) out(line);
}

/** Run a command in the worker as dev with the terminal passed through; its exit code is ours. */
async function interactive(ctx: Awaited<ReturnType<typeof workerContext>>, worker: WorkerInfo, command: string[]): Promise<number> {
  if (worker.instance.status !== 'Running') throw new UserError(`${worker.name} is ${worker.instance.status.toLowerCase()}. Start it with \`isollm worker start ${worker.name}\`.`);
  const tty = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  const ref = instanceRef(ctx.rt, worker.container);
  const held = withOutputKept(command); // a quick command's output, which the client can drop
  const args = tty ? execPaneArgs(ref, held, asDev(worker)) : execArgs(ref, held, asDev(worker));
  return runClientInteractive(ctx.rt, args);
}

runIfEntry(import.meta.url, main);
