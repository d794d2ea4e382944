// Salvage: find the work in a worker's clone that is not on the hub yet, and put it there before
// the worker is stopped, reset or removed. Git runs through an injected runner (in the container as
// dev in /home/dev/project; in tests, over a temp clone on the host), so this module never knows where.
import { UserError } from '../cli/errors.ts';
import { parsePushPorcelain } from '../hub/git.ts';
import {
  isOwnBranch,
  parseStatus,
  salvageBranch,
  salvageMessage,
  STATUS_ARGS,
  taskIdOf,
  type SalvageResult,
  type SavedRef,
  type UnpushedBranch,
  type WorkReport,
} from './salvage-report.ts';

export type { SalvageResult, SavedRef, WorkReport } from './salvage-report.ts';

export type GitRunner = (
  args: string[],
  options?: { env?: Record<string, string>; input?: string },
) => Promise<{ stdout: string; stderr: string; exitCode: number }>;

export type BranchOptions = { baseBranch: string; branchPrefix: string };
export type SalvageOptions = BranchOptions & { worker: string; now: Date };

// Salvage never runs the project's hooks (a failing pre-commit must not block it) and never signs.
const NO_HOOKS = ['-c', 'core.hooksPath=/dev/null'];

async function run(git: GitRunner, args: string[], env?: Record<string, string>): Promise<string> {
  const r = await git([...NO_HOOKS, ...args], env ? { env } : undefined);
  if (r.exitCode !== 0) throw new UserError(`\`git ${args.join(' ')}\` failed: ${gitReason(r.stderr) || `exit ${r.exitCode}`}`, { detail: r.stderr.trim() || undefined });
  return r.stdout;
}

/** git's own reason: its first `fatal:`/`error:` line (later lines are hints), else its last line. */
function gitReason(text: string): string {
  const all = text.trim().split('\n');
  return all.find((l) => /^(fatal|error): /.test(l)) ?? all.at(-1) ?? '';
}

function lines(out: string): string[] {
  return out.split('\n').filter(Boolean);
}

/** What in this clone is not on the hub: uncommitted changes, unpushed commits, stashes. */
export async function inspectWork(git: GitRunner, options: BranchOptions): Promise<WorkReport> {
  // Refresh refs/remotes/origin/* to exactly the hub's branches (prune: a branch deleted on the hub
  // no longer counts as saved). A failed fetch is reported, not fatal: stale refs only over-count.
  const fetch = await git([...NO_HOOKS, 'fetch', '--quiet', '--prune', '--no-tags', 'origin', '+refs/heads/*:refs/remotes/origin/*']);
  const fetchError = fetch.exitCode === 0 ? null : gitReason(fetch.stderr) || `exit ${fetch.exitCode}`;
  const status = parseStatus(await run(git, STATUS_ARGS));
  const { unpushed, detachedCommits, stashes } = await findUnpushed(git, status.head !== null && status.branch === null);
  const clean = status.tracked.count + status.untracked.count === 0 && unpushed.length === 0 && detachedCommits === 0 && stashes.length === 0;
  return { ...status, taskId: taskIdOf(status.branch, options.branchPrefix), unpushed, detachedCommits, stashes, fetchError, clean };
}

/** Commits on no branch of the hub (as last fetched), per local branch; detached and stash commits too. */
async function findUnpushed(git: GitRunner, detached: boolean): Promise<Pick<WorkReport, 'unpushed' | 'detachedCommits' | 'stashes'>> {
  const notOnHub = new Set(lines(await run(git, ['rev-list', '--branches', '--not', '--remotes=origin'])));
  const unpushed: UnpushedBranch[] = [];
  if (notOnHub.size) {
    // A branch whose tip is on the hub has nothing to push; only the others need counting.
    const heads = lines(await run(git, ['for-each-ref', '--format=%(objectname) %(refname:strip=2)', 'refs/heads/']));
    for (const line of heads) {
      const [sha, branch] = [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)];
      if (!notOnHub.has(sha)) continue;
      const count = Number((await run(git, ['rev-list', '--count', `refs/heads/${branch}`, '--not', '--remotes=origin'])).trim());
      unpushed.push({ branch, commits: count });
    }
  }
  const detachedCommits = detached ? Number((await run(git, ['rev-list', '--count', 'HEAD', '--not', '--branches', '--remotes=origin'])).trim()) : 0;
  // `stash list` exits 0 with no output when there is no stash.
  const stashList = lines(await run(git, ['stash', 'list', '--format=%H']));
  let stashes: string[] = [];
  if (stashList.length) {
    const missing = new Set(lines(await run(git, ['rev-list', ...stashList, '--not', '--remotes=origin'])));
    stashes = stashList.filter((sha) => missing.has(sha));
  }
  return { unpushed, detachedCommits, stashes };
}

function identity(worker: string): Record<string, string> {
  const email = `${worker}@isollm.local`;
  return { GIT_AUTHOR_NAME: worker, GIT_AUTHOR_EMAIL: email, GIT_COMMITTER_NAME: worker, GIT_COMMITTER_EMAIL: email };
}

/**
 * Commit every uncommitted change (gitignored files excepted) on the task's branch, or on a new salvage
 * branch when HEAD is anything else — never on the base. Returns the branch the commit is on.
 */
async function commitUncommitted(git: GitRunner, report: WorkReport, options: SalvageOptions): Promise<string> {
  let branch = report.branch;
  if (!isOwnBranch(branch, options.branchPrefix, options.baseBranch)) {
    branch = salvageBranch(options.branchPrefix, options.worker, options.now);
    // Move HEAD onto a new branch without touching index or work tree: `switch -c` refuses during
    // a conflicted merge or a rebase, and those are exactly the states an interrupted agent leaves.
    if (report.head) await run(git, ['branch', '--no-track', branch, report.head]);
    await run(git, ['symbolic-ref', 'HEAD', `refs/heads/${branch}`]);
  }
  await run(git, ['add', '--all']);
  await run(git, ['-c', 'commit.gpgsign=false', 'commit', '--no-verify', '--quiet', '-m', salvageMessage(options.worker, options.now)], identity(options.worker));
  return branch;
}

type Push = { src: string; from: string; kind: SavedRef['kind']; commits: number; dst: string; fallback: string };

/** Push each refspec (never forced); returns the hub ref each landed on, or the reason it did not. */
async function pushAll(git: GitRunner, pushes: Push[], dst: (p: Push) => string): Promise<Map<Push, { ok: boolean; why: string }>> {
  const results = new Map<Push, { ok: boolean; why: string }>();
  if (!pushes.length) return results;
  const refspecs = pushes.map((p) => `${p.src}:refs/heads/${dst(p)}`);
  // Non-zero when any ref is rejected; --porcelain still reports every ref, so read those lines.
  const r = await git([...NO_HOOKS, 'push', '--porcelain', '--no-verify', 'origin', ...refspecs]);
  const byDst = new Map(parsePushPorcelain(r.stdout).map((line) => [line.to, line]));
  for (const p of pushes) {
    const line = byDst.get(`refs/heads/${dst(p)}`);
    if (!line) results.set(p, { ok: false, why: gitReason(r.stderr) || `git push exited ${r.exitCode}` });
    else results.set(p, { ok: line.flag !== 'rejected', why: line.summary });
  }
  return results;
}

/**
 * Put everything `report` found on the hub: a salvage commit for uncommitted changes, then a push of
 * every branch with unpushed commits, detached commits and stashes. Task and salvage branches keep
 * their names; anything else (the base, other local branches), and any push the hub rejects because
 * its branch moved on, goes to `<prefix>salvage/<worker>-<stamp>-<what>`. Nothing is force-pushed.
 * Failures are collected per ref, not thrown, so one bad ref does not stop the rest.
 */
export async function salvageWork(git: GitRunner, report: WorkReport, options: SalvageOptions): Promise<SalvageResult> {
  const result: SalvageResult = { worker: options.worker, saved: [], failures: [], ok: true };
  if (report.clean) return result;
  const { branchPrefix: prefix, baseBranch: base, worker, now } = options;
  const files = report.tracked.count + report.untracked.count;
  let committedOn: string | null = null;
  if (files) {
    try {
      committedOn = await commitUncommitted(git, report, options);
    } catch (err) {
      result.failures.push({ from: report.branch ?? 'HEAD', error: `could not commit ${files} uncommitted files: ${(err as Error).message}` });
    }
  }

  // After the commit HEAD may be on a new branch, so look again (the fetch in `report` is recent enough).
  const pending = await findUnpushed(git, committedOn === null && report.branch === null && report.head !== null);
  const pushes: Push[] = [];
  // A fresh salvage name is only taken if this very salvage ran before in the same second: add `-2`.
  const add = (src: string, from: string, kind: SavedRef['kind'], commits: number, dst: string, fallback = `${dst}-2`) =>
    pushes.push({ src, from, kind, commits, dst, fallback });
  for (const { branch, commits } of pending.unpushed) {
    const salvageName = salvageBranch(prefix, worker, now, branch);
    // An own branch the hub rejects (someone else moved it on) is kept beside it, not forced over it.
    if (isOwnBranch(branch, prefix, base)) add(`refs/heads/${branch}`, branch, 'unpushed', commits, branch, salvageName);
    else add(`refs/heads/${branch}`, branch, 'unpushed', commits, salvageName);
  }
  if (pending.detachedCommits) add('HEAD', 'HEAD', 'unpushed', pending.detachedCommits, salvageBranch(prefix, worker, now, 'detached'));
  pending.stashes.forEach((sha, i) => add(sha, `stash@{${i}}`, 'stash', 1, salvageBranch(prefix, worker, now, `stash-${i}`)));

  const first = await pushAll(git, pushes, (p) => p.dst);
  const retry = pushes.filter((p) => !first.get(p)!.ok);
  const second = await pushAll(git, retry, (p) => p.fallback);
  for (const p of pushes) {
    const landed = first.get(p)!.ok ? p.dst : second.get(p)!.ok ? p.fallback : null;
    if (!landed) {
      const [why, then] = [first.get(p)!.why, second.get(p)!.why];
      result.failures.push({ from: p.from, error: `push to the hub failed: ${why}${then === why ? '' : `; to ${p.fallback}: ${then}`}` });
      continue;
    }
    // The salvage commit travels with its branch; report it apart from commits made by the agent.
    if (p.from === committedOn) {
      result.saved.push({ branch: landed, commits: 1, kind: 'uncommitted', from: p.from, files });
      if (p.commits > 1) result.saved.push({ branch: landed, commits: p.commits - 1, kind: 'unpushed', from: p.from });
    } else {
      result.saved.push({ branch: landed, commits: p.commits, kind: p.kind, from: p.from });
    }
  }
  result.ok = result.failures.length === 0;
  return result;
}
