// Small git helpers: each one argv array through zx `$`, with a pure parser where output needs one.
// Known non-zero exits (a ref that does not exist, a merge with conflicts) become values.
import process from 'node:process';
import { $, type ProcessOutput } from 'zx/core';
import { UserError } from '../cli/errors.ts';

export type GitOptions = {
  /** Extra environment, e.g. GIT_ALTERNATE_OBJECT_DIRECTORIES. */
  env?: Record<string, string>;
};

function shell(cwd: string, options: GitOptions = {}) {
  // GIT_TERMINAL_PROMPT=0: never wait on a credential prompt nobody sees.
  return $({ cwd, quiet: true, verbose: false, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', ...options.env } });
}

/** Run git, returning the output whatever the exit code (callers check `exitCode`). */
export function gitNothrow(cwd: string, args: string[], options?: GitOptions): Promise<ProcessOutput> {
  return shell(cwd, options)`git ${args}`.nothrow();
}

/** Run git and return stdout; a failure becomes a UserError naming the command, where, and git's words. */
export async function gitRun(cwd: string, args: string[], options?: GitOptions): Promise<string> {
  const r = await gitNothrow(cwd, args, options);
  if (r.exitCode !== 0) throw gitError(cwd, args, r);
  return r.stdout;
}

export function gitError(cwd: string, args: string[], r: ProcessOutput): UserError {
  const why = r.stderr.trim().split('\n').at(-1) ?? `exit ${r.exitCode}`;
  return new UserError(`\`git ${args.join(' ')}\` failed in ${cwd}: ${why}`, { detail: r.stderr.trim() || undefined });
}

/** True when `cwd` is inside a git repository (work tree or bare). */
export async function isRepo(cwd: string): Promise<boolean> {
  // Exit 128 outside a repository: a normal answer, not a failure.
  return (await gitNothrow(cwd, ['rev-parse', '--git-dir'])).exitCode === 0;
}

/** True when `cwd` is a bare repository. */
export async function isBareRepo(cwd: string): Promise<boolean> {
  const r = await gitNothrow(cwd, ['rev-parse', '--is-bare-repository']);
  return r.exitCode === 0 && r.stdout.trim() === 'true';
}

/** True when HEAD points at a commit (false in a fresh repository with no commits). */
export async function hasCommits(cwd: string): Promise<boolean> {
  return (await revParse(cwd, 'HEAD')) !== null;
}

/** The commit a revision names, or null when it names none. */
export async function revParse(cwd: string, rev: string, options?: GitOptions): Promise<string | null> {
  // --verify --quiet exits 1 silently for an unknown revision; `^{commit}` rejects trees and tags of blobs.
  const r = await gitNothrow(cwd, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`], options);
  return r.exitCode === 0 ? r.stdout.trim() : null;
}

/** The commit of local branch `name`, or null when there is no such branch. */
export function branchCommit(cwd: string, name: string, options?: GitOptions): Promise<string | null> {
  return revParse(cwd, `refs/heads/${name}`, options);
}

/** The checked-out branch, or null on a detached HEAD. An unborn branch still has its name. */
export async function currentBranch(cwd: string): Promise<string | null> {
  // symbolic-ref --quiet exits 1 when HEAD is detached.
  const r = await gitNothrow(cwd, ['symbolic-ref', '--quiet', '--short', 'HEAD']);
  return r.exitCode === 0 ? r.stdout.trim() : null;
}

/** Absolute path of the object store (shared by every worktree of the repository). */
export async function objectsDir(cwd: string): Promise<string> {
  return (await gitRun(cwd, ['rev-parse', '--path-format=absolute', '--git-path', 'objects'])).trim();
}

export type AheadBehind = { ahead: number; behind: number };

/** How many commits `rev` has that `base` lacks (ahead) and the reverse (behind). */
export async function aheadBehind(cwd: string, base: string, rev: string, options?: GitOptions): Promise<AheadBehind> {
  const out = await gitRun(cwd, ['rev-list', '--left-right', '--count', `${base}...${rev}`, '--'], options);
  return parseLeftRight(out);
}

/** Parse `rev-list --left-right --count A...B`: "<only in A>\t<only in B>". */
export function parseLeftRight(out: string): AheadBehind {
  const [left, right] = out.trim().split(/\s+/).map(Number);
  if (!Number.isInteger(left) || !Number.isInteger(right)) throw new Error(`unexpected rev-list output: ${JSON.stringify(out)}`);
  return { behind: left, ahead: right };
}

/** True when `ancestor` is reachable from `rev` (a fast-forward from one to the other). */
export async function isAncestor(cwd: string, ancestor: string, rev: string, options?: GitOptions): Promise<boolean> {
  // Exit 1 means "no": a normal answer.
  const r = await gitNothrow(cwd, ['merge-base', '--is-ancestor', ancestor, rev], options);
  if (r.exitCode !== 0 && r.exitCode !== 1) throw gitError(cwd, ['merge-base', '--is-ancestor', ancestor, rev], r);
  return r.exitCode === 0;
}

export type CommitLine = { sha: string; subject: string };

/** Commits in `range` (e.g. `a..b`), newest first, short sha and subject. */
export async function logCommits(cwd: string, range: string, options?: GitOptions): Promise<CommitLine[]> {
  const out = await gitRun(cwd, ['log', '--format=%h%x00%s', range, '--'], options);
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [sha, subject] = line.split('\0');
      return { sha, subject };
    });
}

/** Read a git config value, or null when unset. */
export async function configGet(cwd: string, key: string): Promise<string | null> {
  // Exit 1: the key is not set.
  const r = await gitNothrow(cwd, ['config', '--get', key]);
  return r.exitCode === 0 ? r.stdout.replace(/\n$/, '') : null;
}

export async function configSet(cwd: string, key: string, value: string): Promise<void> {
  await gitRun(cwd, ['config', key, value]);
}

// for-each-ref: fields joined by NUL, one ref per line (ref names and subjects hold neither).
export type RefRecord = Record<string, string>;

export function forEachRefArgs(patterns: string[], fields: string[]): string[] {
  return ['for-each-ref', `--format=${fields.map((f) => `%(${f})`).join('%00')}`, '--', ...patterns];
}

export function parseForEachRef(out: string, fields: string[]): RefRecord[] {
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const values = line.split('\0');
      return Object.fromEntries(fields.map((f, i) => [f, values[i] ?? '']));
    });
}

/** Refs under `patterns` (e.g. `refs/heads/isollm/`) with the given for-each-ref fields. */
export async function forEachRef(cwd: string, patterns: string[], fields: string[], options?: GitOptions): Promise<RefRecord[]> {
  return parseForEachRef(await gitRun(cwd, forEachRefArgs(patterns, fields), options), fields);
}

/** Map of full ref name → commit for every ref whose name starts with `prefix` (e.g. `refs/heads/task-`). */
export async function refCommits(cwd: string, prefix: string): Promise<Map<string, string>> {
  const rows = await forEachRef(cwd, [refDir(prefix)], ['refname', 'objectname']);
  return new Map(rows.filter((r) => r.refname.startsWith(prefix)).map((r) => [r.refname, r.objectname]));
}

/**
 * The namespace to list for a name prefix: for-each-ref patterns match whole path components, so
 * `refs/heads/task-` must be listed as `refs/heads/` and filtered.
 */
export function refDir(prefix: string): string {
  return prefix.slice(0, prefix.lastIndexOf('/') + 1);
}

// merge-tree --write-tree (git ≥ 2.38): merges two commits in the object store only, no work tree.
export type MergePreview = { clean: true; tree: string } | { clean: false; tree: string; conflicts: string[] };

export function mergeTreeArgs(base: string, branch: string): string[] {
  return ['merge-tree', '--write-tree', '--name-only', '--no-messages', '-z', base, branch];
}

/**
 * Parse merge-tree output: exit 0 = clean, exit 1 with a tree id = conflicts (NUL-separated names
 * follow the tree id). Git 2.39 also exits 1 for a bad revision, but then prints no tree: null.
 */
export function parseMergeTree(stdout: string, exitCode: number | null): MergePreview | null {
  const [tree, ...rest] = stdout.split('\0');
  if (!/^[0-9a-f]{40,64}$/.test(tree)) return null;
  if (exitCode === 0) return { clean: true, tree };
  if (exitCode !== 1) return null;
  return { clean: false, tree, conflicts: [...new Set(rest.filter(Boolean))] };
}

/** Would merging `branch` into `base` be clean? Names the conflicting files when not. */
export async function mergePreview(cwd: string, base: string, branch: string, options?: GitOptions): Promise<MergePreview> {
  const args = mergeTreeArgs(base, branch);
  const r = await gitNothrow(cwd, args, options);
  const preview = parseMergeTree(r.stdout, r.exitCode);
  if (!preview) throw gitError(cwd, args, r);
  return preview;
}

// push --porcelain: one line per ref, "<flag>\t<from>:<to>\t<summary>".
export type PushFlag = 'fast-forward' | 'forced' | 'deleted' | 'new' | 'rejected' | 'up-to-date';
export type PushRefResult = { flag: PushFlag; from: string; to: string; summary: string };

const PUSH_FLAGS: Record<string, PushFlag> = { ' ': 'fast-forward', '+': 'forced', '-': 'deleted', '*': 'new', '!': 'rejected', '=': 'up-to-date' };

export function parsePushPorcelain(out: string): PushRefResult[] {
  const results: PushRefResult[] = [];
  for (const line of out.split('\n')) {
    const m = /^([ +\-*!=])\t([^\t]*)\t(.*)$/.exec(line);
    if (!m) continue;
    const colon = m[2].indexOf(':');
    results.push({ flag: PUSH_FLAGS[m[1]], from: m[2].slice(0, colon), to: m[2].slice(colon + 1), summary: m[3] });
  }
  return results;
}

/**
 * For pushes into the hub: the receiving git runs in the hub, which workers can write to, so it runs
 * with hooks off (a constant command line; git starts it through the shell).
 */
export const HUB_RECEIVE_PACK = '--receive-pack=git -c core.hooksPath=/dev/null receive-pack';
/** For git run inside the hub itself. */
export const HUB_SAFE_CONFIG = ['-c', 'core.hooksPath=/dev/null'];
