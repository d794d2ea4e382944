// `sync status`: the host's base against the hub, and every task branch that has work for it —
// last commit, the queue's word on the task, and whether it merges cleanly (no working tree touched).
import type { Config } from '../config/load.ts';
import { errorMessage } from '../cli/errors.ts';
import { aheadBehind, forEachRef, mergePreview, refCommits, refDir } from './git.ts';
import { requireHub } from './hub.ts';
import { compareBase, plural, REMOTE_NAMESPACE, remoteName, taskPrefix, withScratchObjects, type BaseComparison } from './sync.ts';
import { SYMBOLS, formatAge, table, terminalText } from '../cli/ui.ts';

/** What the queue says about a task (the airyra Task fields isollm shows). */
export type TaskQueueInfo = { status: string; claimed_by?: string | null; block_reason?: string | null };
/** Looks tasks up in the queue; a missing id means the queue does not know it. */
export type TaskInfoLookup = (ids: string[]) => Promise<Map<string, TaskQueueInfo>>;

export type TaskBranchStatus = {
  id: string;
  /** The branch in the hub, `<branch_prefix><id>`. */
  branch: string;
  /** The name to merge on the host after `sync pull`. */
  merge_name: string;
  commit: string;
  subject: string;
  committed_at: string;
  /** Commits on the branch that the host's base lacks, and the reverse. */
  ahead: number;
  behind: number;
  /** True when `isollm/<id>` on the host is at the hub's commit. */
  pulled: boolean;
  queue: TaskQueueInfo | null;
  queue_word: string;
  merge: { clean: boolean; conflicts: string[] };
};

export type SyncStatus = {
  hub: string;
  base: BaseComparison;
  tasks: TaskBranchStatus[];
  /** Set when the queue lookup failed (every task then reads "unknown"). */
  queue_error?: string;
};

const PARALLEL_GIT = 4;

export async function readSyncStatus(root: string, config: Config, options: { taskInfo: TaskInfoLookup }): Promise<SyncStatus> {
  const prefix = taskPrefix(config);
  const hub = await requireHub(root, config);
  const base = await compareBase(root, config, hub);
  const headPrefix = `refs/heads/${prefix}`;
  const refs = (await forEachRef(hub, [refDir(headPrefix)], ['refname', 'objectname', 'committerdate:unix', 'contents:subject'])).filter(
    (r) => r.refname.startsWith(headPrefix) && r.refname !== `refs/heads/${base.branch}`,
  );
  const pulled = await refCommits(root, REMOTE_NAMESPACE);

  const rows = await withScratchObjects(root, hub, (alt) => mapLimit(refs, PARALLEL_GIT, async (r) => {
    const counts = await aheadBehind(hub, base.host, r.objectname, alt);
    if (counts.ahead === 0) return null;
    const preview = await mergePreview(hub, base.host, r.objectname, alt);
    const id = r.refname.slice(headPrefix.length);
    return {
      id,
      branch: r.refname.slice('refs/heads/'.length),
      merge_name: remoteName(id),
      commit: r.objectname,
      subject: r['contents:subject'],
      committed_at: new Date(Number(r['committerdate:unix']) * 1000).toISOString(),
      ...counts,
      pulled: pulled.get(REMOTE_NAMESPACE + id) === r.objectname,
      queue: null,
      queue_word: 'unknown',
      merge: { clean: preview.clean, conflicts: preview.clean ? [] : preview.conflicts },
    } satisfies TaskBranchStatus as TaskBranchStatus;
  }));
  const tasks = rows.filter((t) => t !== null);

  let queue_error: string | undefined;
  let info = new Map<string, TaskQueueInfo>();
  if (tasks.length) {
    try {
      info = await options.taskInfo(tasks.map((t) => t.id));
    } catch (err) {
      queue_error = errorMessage(err);
    }
  }
  for (const t of tasks) {
    t.queue = info.get(t.id) ?? null;
    t.queue_word = describeQueue(t.queue);
  }
  return { hub, base, tasks, ...(queue_error ? { queue_error } : {}) };
}

/** The queue's word on a task in a few words: done; in progress by worker-2; blocked: reason; unknown. */
export function describeQueue(info: TaskQueueInfo | null): string {
  if (!info) return 'unknown';
  switch (info.status) {
    case 'in_progress':
      return info.claimed_by ? `in progress by ${info.claimed_by}` : 'in progress';
    case 'blocked':
      return info.block_reason ? `blocked: ${info.block_reason}` : 'blocked';
    case 'open':
      return 'open (not claimed)';
    default:
      return info.status.replace(/_/g, ' ');
  }
}

/** Text rendering of the status, one string per line. */
export function formatSyncStatus(s: SyncStatus, now = Date.now()): string[] {
  const b = s.base;
  const lines = [`Hub ${s.hub}`];
  if (!b.hub) lines.push(`${b.branch}: not in the hub yet ${SYMBOLS.arrow} run \`isollm sync push\``);
  else if (b.ahead === 0 && b.behind === 0) lines.push(`${b.branch}: same as the hub`);
  else {
    const parts = [];
    if (b.ahead) parts.push(`${plural(b.ahead, 'commit')} ahead of the hub ${SYMBOLS.arrow} run \`isollm sync push\``);
    if (b.behind) parts.push(`${plural(b.behind, 'commit')} behind the hub`);
    lines.push(`${b.branch}: ${parts.join('; ')}`);
  }
  lines.push('');
  if (!s.tasks.length) {
    lines.push(`No task branches ahead of ${b.branch}.`);
    return lines;
  }
  lines.push(`Task branches ahead of ${b.branch} (${s.tasks.length}):`);
  const rows = s.tasks.map((t) => [
    `${t.merge_name}${t.pulled ? '' : ' *'}`,
    `+${t.ahead}${t.behind ? `/-${t.behind}` : ''}`,
    `${formatAge(now - Date.parse(t.committed_at))} ago`,
    t.queue_word,
    t.merge.clean ? `${SYMBOLS.ok} merges cleanly` : `${SYMBOLS.fail} conflicts: ${terminalText(t.merge.conflicts.join(', '))}`,
    terminalText(t.subject),
  ]);
  lines.push(...table(rows).map((l) => `  ${l}`));
  if (s.queue_error) lines.push('', `Queue not reachable (${s.queue_error}): task states unknown.`);
  if (s.tasks.some((t) => !t.pulled)) lines.push('', '* not pulled yet: run `isollm sync pull`.');
  lines.push(`Merge one with: git merge ${s.tasks[0].merge_name}`);
  return lines;
}

/** Map with at most `limit` calls in flight (each git call is a process; the machine may have 2 cores). */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
