#!/usr/bin/env node
// isollm task …: add, list, show and change tasks in the project's queue.
import { askTyped, CancelledError, type CommandSpec, expectPositionals, flagBool, flagList, flagString, info, type Main, ok, out, parse, type Parsed, printJson, runIfEntry, UsageError, UserError } from 'isollm/cli';
import { loadConfig } from 'isollm/config';
import { requireProjectRoot } from 'isollm/project';
import { claimerName, detailLines, parsePriority, QueueApiError, type QueueClient, queueClient, type Status, type Task, type TaskDetail, taskRows } from 'isollm/queue';

const json = { json: { type: 'boolean', description: 'print JSON' } } as const;
const priority = { priority: { type: 'string', short: 'p', value: 'P', description: 'critical|high|normal|low|lowest (or 0-4)' } } as const;
const description = { description: { type: 'string', short: 'D', value: 'TEXT', description: 'longer description' } } as const;

export const SPEC: CommandSpec = {
  name: 'isollm task',
  summary: 'add, list, show and change tasks in the queue',
  subcommands: {
    add: {
      name: 'isollm task add',
      summary: 'add a task',
      usage: '<title> [flags]',
      flags: {
        ...priority,
        ...description,
        'depends-on': { type: 'string', short: 'd', multiple: true, value: 'ID', description: 'a task this one waits on' },
        parent: { type: 'string', value: 'ID', description: 'make it a subtask of ID' },
        ...json,
      },
    },
    list: {
      name: 'isollm task list',
      summary: 'list tasks (all of them, every page)',
      flags: {
        ready: { type: 'boolean', description: 'only tasks ready to be claimed' },
        open: { type: 'boolean', description: 'only open tasks' },
        'in-progress': { type: 'boolean', description: 'only tasks being worked on' },
        blocked: { type: 'boolean', description: 'only blocked tasks' },
        done: { type: 'boolean', description: 'only finished tasks' },
        landed: { type: 'boolean', description: 'only tasks landed on the base branch (`isollm land`)' },
        unlanded: { type: 'boolean', description: 'only done tasks not landed yet' },
        ...json,
      },
    },
    show: { name: 'isollm task show', summary: 'a task with its dependencies, dependants and history', usage: '<id>', flags: { ...json } },
    edit: {
      name: 'isollm task edit',
      summary: "change a task's title, description or priority",
      usage: '<id> [flags]',
      flags: { title: { type: 'string', short: 't', value: 'TITLE', description: 'new title' }, ...priority, ...description, ...json },
    },
    done: { name: 'isollm task done', summary: 'mark a task done (claims it first when open)', usage: '<id>' },
    block: {
      name: 'isollm task block',
      summary: 'block a task, saying why',
      usage: '<id> [flags]',
      flags: { reason: { type: 'string', short: 'r', value: 'TEXT', description: 'why it is blocked (kept in its history)' } },
    },
    unblock: { name: 'isollm task unblock', summary: 'make a blocked task open again', usage: '<id>' },
    release: {
      name: 'isollm task release',
      summary: 'give a claimed task back to the queue',
      usage: '<id> [flags]',
      flags: { force: { type: 'boolean', description: "release a task another agent holds" } },
    },
    dep: {
      name: 'isollm task dep',
      summary: 'add or remove a dependency',
      subcommands: {
        add: { name: 'isollm task dep add', summary: 'make <id> wait on <needs>', usage: '<id> <needs>' },
        rm: { name: 'isollm task dep rm', summary: 'remove that dependency', usage: '<id> <needs>' },
      },
      aliases: { remove: 'rm' },
    },
    clear: {
      name: 'isollm task clear',
      summary: 'delete done tasks (every task with --all)',
      flags: {
        all: { type: 'boolean', description: 'delete every task, not only done ones' },
        yes: { type: 'boolean', short: 'y', description: 'do not ask for confirmation' },
      },
    },
  },
  aliases: { ls: 'list', rm: 'clear' },
};

export const main: Main = async (argv) => {
  const p = parse(SPEC, argv);
  if (!p) return;
  const root = requireProjectRoot(flagString(p, 'project'));
  const client = queueClient(root, loadConfig(root));
  try {
    await run(client, p);
  } finally {
    client.close();
  }
};

async function run(q: QueueClient, p: Parsed): Promise<void> {
  switch (p.path.join(' ')) {
    case 'add': {
      const [title] = expectPositionals(p, ['<title>']);
      const deps = flagList(p, 'depends-on');
      const prio = flagString(p, 'priority');
      // Check the dependencies first, so a typo does not leave a half-made task.
      for (const id of deps) await q.getTask(id);
      const task = await q.createTask({ title, description: flagString(p, 'description'), priority: prio === undefined ? undefined : parsePriority(prio), parent_id: flagString(p, 'parent') });
      for (const id of deps) await q.addDep(task.id, id);
      if (flagBool(p, 'json')) return printJson(task);
      out(task.id);
      ok(`Added ${task.id}: ${task.title}${deps.length ? ` (waits on ${deps.join(', ')})` : ''}`);
      return;
    }
    case 'list':
      return list(q, p);
    case 'show': {
      const [id] = expectPositionals(p, ['<id>']);
      const detail = await showDetail(q, id);
      if (flagBool(p, 'json')) return printJson(detail);
      for (const line of detailLines(detail)) out(line);
      return;
    }
    case 'edit': {
      const [id] = expectPositionals(p, ['<id>']);
      const prio = flagString(p, 'priority');
      const edit = { title: flagString(p, 'title'), description: flagString(p, 'description'), priority: prio === undefined ? undefined : parsePriority(prio) };
      if (Object.values(edit).every((v) => v === undefined)) throw new UsageError('nothing to change: give --title, --priority or --description (see `isollm task edit --help`)');
      const task = await q.updateTask(id, edit);
      if (flagBool(p, 'json')) return printJson(task);
      return ok(`Updated ${task.id}: ${task.title}`);
    }
    case 'done': {
      const [id] = expectPositionals(p, ['<id>']);
      const task = await q.getTask(id);
      // The human did it themselves: claim it as the host, then finish it.
      if (task.status === 'open') await q.claim(id);
      try {
        await q.done(id);
      } catch (err) {
        if (err instanceof QueueApiError && err.code === 'NOT_OWNER') {
          throw new UserError(`${id} is claimed by ${claimerName(String(err.context.claimed_by))}. Let it finish, or take it back with \`isollm task release ${id} --force\` first.`);
        }
        throw err;
      }
      return ok(`${id} is done.`);
    }
    case 'block': {
      const [id] = expectPositionals(p, ['<id>']);
      await q.block(id, flagString(p, 'reason'));
      return ok(`${id} is blocked.`);
    }
    case 'unblock': {
      const [id] = expectPositionals(p, ['<id>']);
      await q.unblock(id);
      return ok(`${id} is open again.`);
    }
    case 'release': {
      const [id] = expectPositionals(p, ['<id>']);
      try {
        await q.release(id, flagBool(p, 'force'));
      } catch (err) {
        if (err instanceof QueueApiError && err.code === 'NOT_OWNER') {
          throw new UserError(`${id} is claimed by ${claimerName(String(err.context.claimed_by))}. Pass --force to take it back anyway.`);
        }
        throw err;
      }
      return ok(`${id} is back in the queue.`);
    }
    case 'dep add': {
      const [child, parent] = expectPositionals(p, ['<id>', '<needs>']);
      await q.addDep(child, parent);
      return ok(`${child} now waits on ${parent}.`);
    }
    case 'dep rm': {
      const [child, parent] = expectPositionals(p, ['<id>', '<needs>']);
      await q.removeDep(child, parent);
      return ok(`${child} no longer waits on ${parent}.`);
    }
    case 'clear':
      return clear(q, p);
  }
}

const STATUS_FLAGS: [string, Status | 'ready' | 'landed' | 'unlanded'][] = [
  ['ready', 'ready'], ['open', 'open'], ['in-progress', 'in_progress'], ['blocked', 'blocked'], ['done', 'done'], ['landed', 'landed'], ['unlanded', 'unlanded'],
];

async function list(q: QueueClient, p: Parsed): Promise<void> {
  const chosen = STATUS_FLAGS.filter(([flag]) => flagBool(p, flag));
  if (chosen.length > 1) throw new UsageError(`choose one of ${chosen.map(([f]) => `--${f}`).join(', ')}`);
  const which = chosen[0]?.[1];
  const tasks =
    which === 'ready' ? await q.listReady() : which === 'landed' || which === 'unlanded' ? await q.listLanded(which === 'landed') : await q.listTasks(which);
  if (flagBool(p, 'json')) return printJson(tasks);
  if (!tasks.length) return info(which ? `No ${which === 'unlanded' ? 'done, unlanded' : which.replace('_', ' ')} tasks.` : 'No tasks yet. Add one with `isollm task add "<title>"`.');
  for (const line of taskRows(tasks)) out(line);
}

async function showDetail(q: QueueClient, id: string): Promise<TaskDetail> {
  const [task, deps, dependents, history] = await Promise.all([q.getTask(id), q.deps(id), q.dependents(id), q.history(id)]);
  const lookup = async (other: string): Promise<Task | undefined> => q.getTask(other).catch(() => undefined);
  return {
    task,
    deps: await Promise.all(deps.map(async (d) => ({ ...d, task: await lookup(d.parent_id) }))),
    dependents: await Promise.all(dependents.map(async (d) => ({ ...d, task: await lookup(d.child_id) }))),
    history,
  };
}

async function clear(q: QueueClient, p: Parsed): Promise<void> {
  const all = flagBool(p, 'all');
  const tasks = all ? await q.listTasks() : await q.listTasks('done');
  if (!tasks.length) return info(all ? 'No tasks to delete.' : 'No done tasks to delete.');
  if (all && !flagBool(p, 'yes')) {
    const busy = tasks.filter((t) => t.status === 'in_progress').length;
    const message = `Delete all ${tasks.length} tasks of project ${q.project}${busy ? ` (${busy} in progress)` : ''} and their dependencies?`;
    if (!(await askTyped(message, q.project, '--yes'))) throw new CancelledError();
  }
  for (const t of tasks) {
    try {
      await q.deleteTask(t.id);
    } catch (err) {
      // Deleting a parent already deleted its subtasks.
      if (!(err instanceof QueueApiError && err.code === 'TASK_NOT_FOUND')) throw err;
    }
  }
  ok(`Deleted ${tasks.length} ${all ? '' : 'done '}task${tasks.length === 1 ? '' : 's'}.`);
}

runIfEntry(import.meta.url, main);
