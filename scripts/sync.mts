#!/usr/bin/env node
import { type CommandSpec, flagBool, flagString, info, type Main, ok, out, parse, printJson, runIfEntry } from 'isollm/cli';
import { type Config, loadConfig } from 'isollm/config';
import { queueClient } from 'isollm/queue';
import { requireProjectRoot } from 'isollm/project';
import { describeBasePull, formatSyncStatus, pullBase, pullTaskBranches, requireHub, pushBranch, readSyncStatus, remoteName, type TaskQueueInfo } from 'isollm/hub';

export const SPEC: CommandSpec = {
  name: 'isollm sync',
  summary: 'move branches between this repository and the hub',
  subcommands: {
    status: {
      name: 'isollm sync status',
      summary: 'base branch against the hub; task branches with their queue state and whether they merge cleanly',
      flags: { json: { type: 'boolean', description: 'print the status as JSON' } },
    },
    pull: {
      name: 'isollm sync pull',
      summary: 'fetch every task branch from the hub as isollm/<task-id> (ready for `git merge`); fast-forward the base branch to what landed',
    },
    push: {
      name: 'isollm sync push',
      summary: 'send the base branch (or --branch) to the hub, creating the hub when missing',
      flags: {
        branch: { type: 'string', value: 'B', description: 'push branch B instead of the base branch' },
        force: { type: 'boolean', description: 'overwrite the hub\'s branch even when it is not a fast-forward' },
      },
    },
  },
  notes: ['Merge a finished task: `isollm sync pull`, then `git merge isollm/<task-id>`.'],
};

// The queue's word on each task branch: every task in one paged listing (ids it does not know are
// shown as "unknown"; a queue that is down marks them all unknown with the reason).
async function queueTaskInfo(root: string, config: Config, ids: string[]): Promise<Map<string, TaskQueueInfo>> {
  const wanted = new Set(ids);
  const tasks = await queueClient(root, config).listTasks();
  return new Map(
    tasks.filter((t) => wanted.has(t.id)).map((t) => [t.id, { status: t.status, claimed_by: t.claimed_by, block_reason: t.block_reason }]),
  );
}

export const main: Main = async (argv) => {
  const p = parse(SPEC, argv);
  if (!p) return;
  const root = requireProjectRoot(flagString(p, 'project'));
  const config = loadConfig(root);
  switch (p.path[0]) {
    case 'status': {
      const status = await readSyncStatus(root, config, { taskInfo: (ids) => queueTaskInfo(root, config, ids) });
      if (flagBool(p, 'json')) printJson(status);
      else for (const line of formatSyncStatus(status)) out(line);
      return;
    }
    case 'pull': {
      const r = await pullTaskBranches(root, config);
      const show = (label: string, ids: string[]) => ids.length && out(`${label}: ${ids.map(remoteName).join(' ')}`);
      show('new', r.new);
      show('updated', r.updated);
      show('gone', r.gone);
      if (!r.new.length && !r.updated.length && !r.gone.length) info(`Nothing new in the hub (${r.unchanged.length} task branches unchanged).`);
      else ok(`Pulled; merge one with \`git merge isollm/<task-id>\`.`);
      // What `isollm land` put on the hub's base comes home too, when that touches nothing of yours.
      const base = await pullBase(root, config, await requireHub(root, config));
      (base.result === 'fast-forwarded' ? ok : info)(describeBasePull(base));
      return;
    }
    case 'push': {
      const r = await pushBranch(root, config, { branch: flagString(p, 'branch'), force: flagBool(p, 'force') });
      if (r.hubCreated) ok(`Created the hub at ${r.hub}.`);
      const what = { new: 'sent to the hub', updated: 'updated in the hub', forced: 'overwritten in the hub (forced)', 'up-to-date': 'already up to date in the hub' }[r.result];
      ok(`${r.branch}: ${what} (${r.to.slice(0, 12)}).`);
      return;
    }
  }
};

runIfEntry(import.meta.url, main);
