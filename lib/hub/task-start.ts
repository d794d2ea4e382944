// Where a task's branch starts: made in the hub on the host when the task is first claimed, so the
// worker helpers (sh + curl + git) only ever check out `<prefix><id>` and never write the base.
// No parent, or every parent landed: the base's tip. Parents done but not landed: the base with each
// such parent's branch merged in, in dependency order (merge-tree in the object store, no work tree).
import type { Config } from '../config/load.ts';
import type { Task } from '../queue/types.ts';
import { gitNothrow, gitRun, HUB_SAFE_CONFIG, isAncestor, mergePreview, revParse } from './git.ts';

/** Commits isollm makes in the hub itself. */
export const ISOLLM_IDENTITY = ['-c', 'user.name=isollm', '-c', 'user.email=isollm@isollm.local'];

export type StartParent = { id: string; landed: boolean };
export type TaskStart =
  /** The branch already exists (continued work): left as it is. */
  | { kind: 'exists'; commit: string }
  | { kind: 'created'; commit: string; basedOn: string }
  /** `branches` conflict with each other (or, a single one, with the base). */
  | { kind: 'conflict'; files: string[]; branches: string[]; base: string };

const short = (sha: string) => sha.slice(0, 7);

/** A commit of `tree` with `parents`, made in `repo` as isollm. */
export async function commitTree(repo: string, tree: string, parents: string[], message: string): Promise<string> {
  const args = [...HUB_SAFE_CONFIG, ...ISOLLM_IDENTITY, 'commit-tree', tree, ...parents.flatMap((p) => ['-p', p]), '-m', message];
  return (await gitRun(repo, args)).trim();
}

/**
 * Create `<prefix><id>` in the hub at the task's start, unless it exists. Only a new ref is written
 * (update-ref with an empty old value), so a branch a worker pushed meanwhile is never overwritten.
 */
export async function prepareTaskBranch(hub: string, spec: { base: string; prefix: string; id: string; parents: StartParent[] }): Promise<TaskStart> {
  const ref = `refs/heads/${spec.prefix}${spec.id}`;
  const existing = await revParse(hub, ref);
  if (existing) return { kind: 'exists', commit: existing };
  const baseTip = await revParse(hub, `refs/heads/${spec.base}`);
  if (!baseTip) throw new Error(`the hub has no branch ${spec.base}`);
  let head = baseTip;
  const described = [`${spec.base}@${short(baseTip)}`];
  const merged: string[] = [];
  for (const parent of spec.parents) {
    if (parent.landed) continue; // its work is on the base already
    const branch = `${spec.prefix}${parent.id}`;
    const tip = await revParse(hub, `refs/heads/${branch}`);
    if (!tip) continue; // done without a branch: nothing to bring in
    described.push(`${branch}@${short(tip)}`);
    const preview = await mergePreview(hub, head, tip);
    if (!preview.clean) return { kind: 'conflict', files: preview.conflicts, branches: [...merged, branch], base: spec.base };
    // Already contained (a parent of a parent): nothing to merge.
    if (!(await isAncestor(hub, tip, head))) {
      head = await commitTree(hub, preview.tree, [head, tip], `isollm: start ${spec.id} from ${branch}`);
    }
    merged.push(branch);
  }
  const r = await gitNothrow(hub, [...HUB_SAFE_CONFIG, 'update-ref', '-m', `isollm: start of ${spec.id}`, ref, head, '']);
  if (r.exitCode !== 0) {
    // Someone made it between our look and our write: theirs stands.
    const now = await revParse(hub, ref);
    if (now) return { kind: 'exists', commit: now };
    throw new Error(`git update-ref ${ref} failed: ${r.stderr.trim()}`);
  }
  return { kind: 'created', commit: head, basedOn: described.join(' + ') };
}

export async function treeOf(repo: string, commit: string): Promise<string> {
  return (await gitRun(repo, ['rev-parse', `${commit}^{tree}`])).trim();
}

/** One line for a task blocked because its parents' branches conflict. */
export function conflictReason(start: Extract<TaskStart, { kind: 'conflict' }>): string {
  const files = start.files.length ? start.files.join(', ') : 'unknown files';
  if (start.branches.length === 1) return `its parent's branch ${start.branches[0]} conflicts with ${start.base} in ${files}; land or fix the parent first`;
  return `its parents' branches conflict (${start.branches.join(', ')}) in ${files}; land one first or merge them by hand`;
}

/** What the queue server needs of isollm.yaml to make task branches (given by the command that starts it). */
export type TaskStartConfig = { project: string; hub: string; base: string; prefix: string };

export function taskStartConfig(config: Config): TaskStartConfig {
  return { project: config.project, hub: config.git.hub, base: config.git.base_branch, prefix: config.git.branch_prefix };
}

/**
 * The queue server's prepareStart for this project: the hub, base and prefix of the config. A start that cannot be made (no hub yet, a git failure) is logged and the
 * task goes out as it is: the worker then starts from the base, as before.
 */
export function hubTaskStarts(config: TaskStartConfig, log: (line: string) => void = () => {}) {
  return async (project: string, task: Task, parents: Task[]): Promise<{ based_on: string | null; start_commit?: string | null } | { conflict: string }> => {
    if (project !== config.project) return { based_on: null };
    try {
      const start = await prepareTaskBranch(config.hub, {
        base: config.base,
        prefix: config.prefix,
        id: task.id,
        parents: parents.map((p) => ({ id: p.id, landed: Boolean(p.landed_commit) })),
      });
      if (start.kind === 'conflict') return { conflict: conflictReason(start) };
      return start.kind === 'created' ? { based_on: start.basedOn, start_commit: start.commit } : { based_on: null };
    } catch (err) {
      log(`cannot prepare the branch of ${task.id}: ${(err as Error).message}`);
      return { based_on: null };
    }
  };
}
