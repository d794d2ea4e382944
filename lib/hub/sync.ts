// Moving branches between the user's repository and the hub: push the base branch, pull task
// branches as `isollm/<task-id>`, and the staleness check `up` runs before starting workers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../cli/errors.ts';
import { quoteArg } from '../cli/shell-quote.ts';
import { terminalText } from '../cli/ui.ts';
import type { Config } from '../config/load.ts';
import { CONFIG_FILE } from '../project/root.ts';
import { ensureHub, inspectHub, requireHub } from './hub.ts';
import {
  aheadBehind,
  branchCommit,
  currentBranch,
  gitError,
  gitNothrow,
  gitRun,
  isAncestor,
  isBareRepo,
  logCommits,
  objectsDir,
  parsePushPorcelain,
  refCommits,
  HUB_RECEIVE_PACK,
  type CommitLine,
  type GitOptions,
} from './git.ts';

/** Where pulled task branches land in the user's repository: `git merge isollm/<task-id>`. */
export const REMOTE_NAMESPACE = 'refs/remotes/isollm/';
/** The name a user types for a pulled task branch. */
export const remoteName = (id: string): string => `isollm/${id}`;

/** The branch prefix, checked: it ends up inside a refspec, where `*` or an empty prefix would widen it. */
export function taskPrefix(config: Config): string {
  const prefix = config.git.branch_prefix;
  if (!prefix || prefix.includes('*')) {
    throw new UserError(`git.branch_prefix ${JSON.stringify(prefix)} cannot hold task branches: use a non-empty prefix without "*", e.g. "isollm/".`);
  }
  return prefix;
}

/**
 * Git options that let commands run in the hub also see the host repository's objects (read-only,
 * through alternates), so the hub can compare against the host's base without a fetch on either side.
 */
export async function withHostObjects(root: string): Promise<GitOptions> {
  return { env: { GIT_ALTERNATE_OBJECT_DIRECTORIES: alternatesList([await objectsDir(root)]) } };
}

/**
 * Run `fn` with git options under which commands in the hub see both repositories' objects and write
 * new ones (merge-tree's trees) into a throwaway directory: neither repository is written to, so the
 * hub never holds objects that point into the host's store.
 */
export async function withScratchObjects<T>(root: string, hub: string, fn: (options: GitOptions) => Promise<T>): Promise<T> {
  const stores = [await objectsDir(hub), await objectsDir(root)];
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-objects-'));
  try {
    return await fn({ env: { GIT_OBJECT_DIRECTORY: scratch, GIT_ALTERNATE_OBJECT_DIRECTORIES: alternatesList(stores) } });
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** GIT_ALTERNATE_OBJECT_DIRECTORIES is colon-separated; an entry holding ":" is written C-quoted. */
export function alternatesList(dirs: string[]): string {
  return dirs.map((d) => (/[:"\\]/.test(d) ? JSON.stringify(d) : d)).join(':');
}

async function requireBase(root: string, branch: string, what = 'base branch'): Promise<string> {
  const sha = await branchCommit(root, branch);
  if (!sha) throw new UserError(`The ${what} "${branch}" has no commits in ${root}. Commit on it first, or set git.base_branch in isollm.yaml.`);
  return sha;
}

export type PushResult = {
  branch: string;
  hub: string;
  hubCreated: boolean;
  result: 'new' | 'updated' | 'forced' | 'up-to-date';
  /** The hub's commit before the push (null when the branch was new there). */
  from: string | null;
  to: string;
};

/** Send the base branch (or `branch`) to the hub; refuse a non-fast-forward unless `force`. */
export async function pushBranch(root: string, config: Config, options: { branch?: string; force?: boolean } = {}): Promise<PushResult> {
  const base = config.git.base_branch;
  const branch = options.branch ?? base;
  const to = branch === base ? await requireBase(root, base) : await branchCommit(root, branch);
  if (!to) throw new UserError(`No branch "${branch}" in ${root}. Check the name with \`git branch\`.`);
  const { hub, created } = await ensureHub(root, config);
  const from = created ? null : await branchCommit(hub, branch);
  const ref = `refs/heads/${branch}`;
  // Only this ref: the user's push.followTags / push.recurseSubmodules settings do not apply to the hub.
  const args = ['push', HUB_RECEIVE_PACK, '--porcelain', '--no-verify', '--no-follow-tags', '--recurse-submodules=no', hub, `${options.force ? '+' : ''}${ref}:${ref}`];
  // Exit 1 with a "!" line is a rejected ref: reported below with the way to force it.
  const r = await gitNothrow(root, args);
  const line = parsePushPorcelain(r.stdout).find((l) => l.to === ref);
  if (line?.flag === 'rejected') {
    const cmd = `isollm sync push${branch === base ? '' : ` --branch ${quoteArg(branch)}`} --force`;
    throw new UserError(
      `The hub's "${branch}" has commits this repository lacks (not a fast-forward). Bring them in with \`git pull ${quoteArg(hub)} ${quoteArg(branch)}\`, or overwrite the hub's with \`${cmd}\`.`,
    );
  }
  if (r.exitCode !== 0 || !line) throw gitError(root, args, r);
  // A hub created just now was seeded with the base branch: that push was this one.
  const result = line.flag === 'new' || created ? 'new' : line.flag === 'forced' ? 'forced' : line.flag === 'up-to-date' ? 'up-to-date' : 'updated';
  return { branch, hub, hubCreated: created, result, from, to };
}

export type PullResult = {
  /** Task ids, i.e. the part after `isollm/` in the names to merge. */
  new: string[];
  updated: string[];
  gone: string[];
  unchanged: string[];
};

/** The refspec that brings `<prefix><id>` home as `refs/remotes/isollm/<id>`, forced. */
export function pullRefspec(prefix: string): string {
  return `+refs/heads/${prefix}*:${REMOTE_NAMESPACE}*`;
}

/** Fetch every task branch from the hub into `refs/remotes/isollm/*`, pruning the ones gone there. */
export async function pullTaskBranches(root: string, config: Config): Promise<PullResult> {
  const prefix = taskPrefix(config);
  const hub = await requireHub(root, config);
  const before = await refCommits(root, REMOTE_NAMESPACE);
  // --prune with an explicit refspec prunes only inside its destination, refs/remotes/isollm/.
  // --no-prune-tags, --no-recurse-submodules: the user's fetch.* settings must not reach past that.
  const args = ['fetch', '--quiet', '--prune', '--no-prune-tags', '--no-tags', '--no-recurse-submodules', '--no-write-fetch-head'];
  await gitRun(root, [...args, hub, pullRefspec(prefix)]);
  const after = await refCommits(root, REMOTE_NAMESPACE);
  return diffRefs(before, after, REMOTE_NAMESPACE);
}

/** Classify refs between two snapshots, names relative to `namespace`. */
export function diffRefs(before: Map<string, string>, after: Map<string, string>, namespace: string): PullResult {
  const result: PullResult = { new: [], updated: [], gone: [], unchanged: [] };
  const id = (ref: string) => ref.slice(namespace.length);
  for (const [ref, sha] of after) {
    const old = before.get(ref);
    (old === undefined ? result.new : old === sha ? result.unchanged : result.updated).push(id(ref));
  }
  for (const ref of before.keys()) if (!after.has(ref)) result.gone.push(id(ref));
  for (const list of Object.values(result)) list.sort();
  return result;
}

export type BaseComparison = {
  branch: string;
  host: string;
  /** Null when the hub has no such branch yet. */
  hub: string | null;
  /** Commits the host has that the hub lacks. */
  ahead: number;
  /** Commits the hub has that the host lacks. */
  behind: number;
};

/** The host's base branch against the hub's (the hub must exist). */
export async function compareBase(root: string, config: Config, hub: string): Promise<BaseComparison> {
  const branch = config.git.base_branch;
  const host = await requireBase(root, branch);
  const hubSha = await branchCommit(hub, branch);
  if (!hubSha) {
    const count = Number((await gitRun(root, ['rev-list', '--count', host, '--'])).trim());
    return { branch, host, hub: null, ahead: count, behind: 0 };
  }
  const { ahead, behind } = await aheadBehind(hub, hubSha, host, await withHostObjects(root));
  return { branch, host, hub: hubSha, ahead, behind };
}

const NAMED_COMMITS_MAX = 5;

/**
 * Before `up` starts workers on the hub's base: refuse when the host's base has commits the hub lacks
 * (workers would start from old code) unless `force`; warn, naming them, when the hub's base has
 * commits the host lacks. A missing hub is fine (up creates it). Returns the warnings to print.
 */
export async function checkStaleness(root: string, config: Config, options: { force?: boolean } = {}): Promise<string[]> {
  const hub = config.git.hub;
  if ((await inspectHub(hub, root)).kind === 'missing') return [];
  await requireHub(root, config);
  const cmp = await compareBase(root, config, hub);
  const warnings: string[] = [];
  if (cmp.ahead > 0) {
    const what = `This repository's "${cmp.branch}" has ${plural(cmp.ahead, 'commit')} the hub lacks, so workers would start from old code.`;
    if (!options.force) throw new UserError(`${what} Run \`isollm sync push\` first, or pass --force to start anyway.`);
    warnings.push(`${what} Starting anyway (--force).`);
  }
  if (cmp.behind > 0 && cmp.hub) {
    const commits = await logCommits(hub, `${cmp.host}..${cmp.hub}`, await withHostObjects(root));
    warnings.push(
      `The hub's "${cmp.branch}" has ${plural(cmp.behind, 'commit')} this repository lacks: ${nameCommits(commits)}. ` +
        `Bring them home with \`git pull ${quoteArg(hub)} ${quoteArg(cmp.branch)}\`.`,
    );
  }
  return warnings;
}

function nameCommits(commits: CommitLine[]): string {
  const shown = commits.slice(0, NAMED_COMMITS_MAX).map((c) => `${c.sha} "${terminalText(c.subject)}"`);
  const more = commits.length - shown.length;
  return shown.join(', ') + (more > 0 ? ` and ${more} more` : '');
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Where `sync pull` keeps the hub's base branch in the host repository (out of the way of branches). */
export const HUB_BASE_REF = 'refs/isollm/hub/';

export type BasePull = {
  branch: string;
  /** fast-forwarded; up-to-date; or why it was left alone. */
  result: 'fast-forwarded' | 'up-to-date' | 'no-hub-base' | 'dirty' | 'ahead' | 'diverged' | 'checked-out-elsewhere' | 'blocked' | 'host-files-changed';
  from: string | null;
  to: string | null;
  /** Commits the fast-forward brought (or would bring). */
  commits: number;
  detail?: string;
};

/**
 * Bring the hub's base branch (where `isollm land` puts finished work) into the host's base branch,
 * only as a fast-forward and only when that touches nothing of the user's: a checked-out base with
 * local changes to tracked files, a base checked out in another worktree, or local commits the hub
 * lacks leave it as it is (the result says why). So do commits that change a file deciding what
 * isollm runs on this machine (hostFiles): landed work is an agent's, and agent code never runs on
 * the host until the user has looked at it and merged it by hand.
 */
export async function pullBase(root: string, config: Config, hub: string): Promise<BasePull> {
  const branch = config.git.base_branch;
  const ref = `${HUB_BASE_REF}${branch}`;
  const from = await branchCommit(root, branch);
  const hubSha = await branchCommit(hub, branch);
  const none = { branch, from, to: null, commits: 0 };
  if (!hubSha) return { ...none, result: 'no-hub-base' };
  await gitRun(root, ['fetch', '--quiet', '--no-tags', '--no-recurse-submodules', '--no-write-fetch-head', hub, `+refs/heads/${branch}:${ref}`]);
  if (from === hubSha) return { ...none, to: hubSha, result: 'up-to-date' };
  if (from && !(await isAncestor(root, from, hubSha))) {
    return { ...none, to: hubSha, result: (await isAncestor(root, hubSha, from)) ? 'ahead' : 'diverged' };
  }
  const commits = Number((await gitRun(root, ['rev-list', '--count', from ? `${from}..${hubSha}` : hubSha, '--'])).trim());
  const result = { branch, from, to: hubSha, commits };
  if (from) {
    const changed = (await gitRun(root, ['diff', '--name-only', '--no-renames', from, hubSha, '--', ...hostFiles(root, config)])).trim();
    if (changed) return { ...result, result: 'host-files-changed', detail: changed.split('\n').join(' ') };
  }
  const here = (await currentBranch(root)) === branch && !(await isBareRepo(root));
  if (here) {
    // Tracked changes mean the user is working here: never touch them. (Untracked files that the
    // fast-forward would overwrite make git refuse it; that is reported too.)
    const status = await gitRun(root, ['status', '--porcelain', '--untracked-files=no']);
    if (status.trim()) return { ...result, result: 'dirty' };
    const r = await gitNothrow(root, ['merge', '--ff-only', '--quiet', hubSha]);
    if (r.exitCode !== 0) return { ...result, result: 'blocked', detail: r.stderr.trim().split('\n')[0] };
    return { ...result, result: 'fast-forwarded' };
  }
  const worktrees = await gitRun(root, ['worktree', 'list', '--porcelain']);
  if (worktrees.split('\n').includes(`branch refs/heads/${branch}`)) return { ...result, result: 'checked-out-elsewhere' };
  // Compare-and-swap: only if the branch is still where we looked.
  await gitRun(root, ['update-ref', '-m', 'isollm sync pull: fast-forward from the hub', `refs/heads/${branch}`, hubSha, from ?? '']);
  return { ...result, result: 'fast-forwarded' };
}

/**
 * Files of the repository that decide what isollm runs on the host: isollm.yaml (notify.command,
 * multiplexer.template's panes, land's settings), and the template, tmux_conf and notify program it
 * names when they are in the repository. As paths relative to the root, for git.
 */
export function hostFiles(root: string, config: Config): string[] {
  const inRepo = (p: string | null | undefined) => {
    const rel = p ? path.relative(root, path.resolve(root, p)) : '';
    return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : null;
  };
  // A program named without a slash is found on PATH, not in the repository.
  const program = config.notify.command?.[0];
  const named = [config.multiplexer.template, config.multiplexer.tmux_conf, program?.includes('/') ? program : null].map(inRepo).filter((p): p is string => p !== null);
  return [...new Set([CONFIG_FILE, ...named])];
}

/** One line saying what pullBase did. */
export function describeBasePull(p: BasePull): string {
  const s = (sha: string | null) => (sha ? sha.slice(0, 7) : 'nothing');
  switch (p.result) {
    case 'fast-forwarded':
      return `${p.branch}: fast-forwarded ${s(p.from)} → ${s(p.to)} (${plural(p.commits, 'commit')} from the hub).`;
    case 'up-to-date':
      return `${p.branch}: up to date with the hub.`;
    case 'no-hub-base':
      return `${p.branch}: the hub has no ${p.branch} yet.`;
    case 'dirty':
      return `${p.branch}: not updated (${plural(p.commits, 'commit')} waiting in the hub): you have uncommitted changes. Commit or stash them, then run \`isollm sync pull\` again.`;
    case 'blocked':
      return `${p.branch}: not updated: ${p.detail ?? 'git refused the fast-forward'}.`;
    case 'ahead':
      return `${p.branch}: yours is ahead of the hub's; \`isollm sync push\` sends it.`;
    case 'diverged':
      return `${p.branch}: yours and the hub's have both moved; merge the hub's by hand: \`git merge ${HUB_BASE_REF}${p.branch}\`.`;
    case 'host-files-changed':
      return `${p.branch}: not updated: the hub's ${p.branch} changes ${p.detail}, which decides what isollm runs on this machine. Look first (\`git diff ${p.branch} ${HUB_BASE_REF}${p.branch} -- ${p.detail}\`), then \`git merge --ff-only ${HUB_BASE_REF}${p.branch}\`.`;
    case 'checked-out-elsewhere':
      return `${p.branch}: not updated: it is checked out in another worktree. Run \`git merge --ff-only ${HUB_BASE_REF}${p.branch}\` there.`;
  }
}
