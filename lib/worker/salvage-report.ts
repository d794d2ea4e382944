// Salvage as data: parsing `git status` porcelain, naming salvage branches, and the one-line-per-worker
// summaries shown before and after `down` / `worker reset` / `worker remove`. No git is run here.
import { table } from '../cli/ui.ts';

/** How many paths a report keeps by name (the counts are always exact). */
export const MAX_LISTED_PATHS = 10;

export type PathSample = { count: number; paths: string[] };

export type UnpushedBranch = { branch: string; commits: number };

export type WorkReport = {
  /** The checked-out branch; null on a detached HEAD. */
  branch: string | null;
  /** HEAD's commit; null before the first commit. */
  head: string | null;
  /** The task id when the branch is `<prefix><id>`. */
  taskId: string | null;
  /** Changed tracked files, staged or not. */
  tracked: PathSample;
  /** Untracked files that .gitignore does not exclude (each file counted, not each directory). */
  untracked: PathSample;
  /** Gitignored paths (an ignored directory counts once): never salvaged, they are build output. */
  ignored: PathSample;
  /** Local branches with commits the hub has on no branch. */
  unpushed: UnpushedBranch[];
  /** Commits reachable only from a detached HEAD (on no local branch and not on the hub). */
  detachedCommits: number;
  /** Stash entries (commit ids, newest first) the hub does not have. */
  stashes: string[];
  /** Why `git fetch` from the hub failed, if it did: unpushed counts are then against stale refs. */
  fetchError: string | null;
  /** Nothing would be lost: no uncommitted change, unpushed commit or stash. */
  clean: boolean;
};

export type SavedRef = {
  /** The branch on the hub that now holds the work. */
  branch: string;
  commits: number;
  kind: 'uncommitted' | 'unpushed' | 'stash';
  /** Where it came from in the worker: a local branch, `HEAD` (detached) or `stash@{n}`. */
  from: string;
  /** For `uncommitted`: how many files the salvage commit holds. */
  files?: number;
};
export type SalvageFailure = { from: string; error: string };
export type SalvageResult = { worker: string; saved: SavedRef[]; failures: SalvageFailure[]; ok: boolean };

export type StatusSummary = Pick<WorkReport, 'branch' | 'head' | 'tracked' | 'untracked' | 'ignored'>;

/** The argv whose output parseStatus reads: NUL-separated, every untracked file, ignored dirs once. */
export const STATUS_ARGS = ['status', '--porcelain=v2', '-z', '--branch', '--untracked-files=all', '--ignored=matching'];

function sample(): PathSample {
  return { count: 0, paths: [] };
}

function add(s: PathSample, path: string): void {
  s.count++;
  if (s.paths.length < MAX_LISTED_PATHS) s.paths.push(path);
}

/**
 * Parse `git status --porcelain=v2 -z --branch` (https://git-scm.com/docs/git-status#_porcelain_format_version_2).
 * Records end in NUL; a rename (`2 …`) is followed by one more NUL-terminated field, the old path.
 */
export function parseStatus(out: string): StatusSummary {
  const summary: StatusSummary = { branch: null, head: null, tracked: sample(), untracked: sample(), ignored: sample() };
  const fields = out.split('\0');
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    if (f.startsWith('# branch.oid ')) {
      const oid = f.slice('# branch.oid '.length);
      summary.head = oid === '(initial)' ? null : oid;
    } else if (f.startsWith('# branch.head ')) {
      const head = f.slice('# branch.head '.length);
      summary.branch = head === '(detached)' ? null : head;
    } else if (f.startsWith('1 ')) {
      add(summary.tracked, afterSpaces(f, 8));
    } else if (f.startsWith('2 ')) {
      add(summary.tracked, afterSpaces(f, 9));
      i++; // the rename's original path
    } else if (f.startsWith('u ')) {
      add(summary.tracked, afterSpaces(f, 10));
    } else if (f.startsWith('? ')) {
      add(summary.untracked, f.slice(2));
    } else if (f.startsWith('! ')) {
      add(summary.ignored, f.slice(2));
    }
  }
  return summary;
}

/** The rest of `line` after its first `n` space-separated fields (a path may itself hold spaces). */
function afterSpaces(line: string, n: number): string {
  let at = 0;
  for (let k = 0; k < n; k++) at = line.indexOf(' ', at) + 1;
  return line.slice(at);
}

/** The task id of a branch `<prefix><id>`; null for anything else (the base, salvage branches, nested names). */
export function taskIdOf(branch: string | null, prefix: string): string | null {
  if (!branch?.startsWith(prefix)) return null;
  const id = branch.slice(prefix.length);
  return id !== '' && !id.includes('/') && id !== 'salvage' ? id : null;
}

/**
 * A branch in isollm's namespace (a task or salvage branch, never the base): salvage commits on it
 * and pushes it under its own name. Any other branch goes to the hub under a salvage name.
 */
export function isOwnBranch(branch: string | null, prefix: string, base: string): branch is string {
  return branch !== null && branch !== base && branch.startsWith(prefix) && branch.length > prefix.length;
}

/** UTC `YYYYMMDD-HHMMSS`: sorts by time and is valid in a ref name. */
export function salvageStamp(now: Date): string {
  return now.toISOString().slice(0, 19).replace(/-|:/g, '').replace('T', '-');
}

/** `<prefix>salvage/<worker>-<stamp>[-<what>]`; `what` names the branch, stash or HEAD it saves. */
export function salvageBranch(prefix: string, worker: string, now: Date, what?: string): string {
  const base = `${prefix}salvage/${worker}-${salvageStamp(now)}`;
  if (!what) return base;
  // Flattened so that one salvage name never becomes a directory of another (a ref D/F conflict).
  const flat = (what.startsWith(prefix) ? what.slice(prefix.length) : what).replace(/\//g, '-');
  return `${base}-${flat}`;
}

export function salvageMessage(worker: string, now: Date): string {
  return `isollm salvage: ${worker} ${now.toISOString().slice(0, 19)}Z`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** What `report` would lose, in words: `3 uncommitted files, 2 unpushed commits`, or `clean`. */
export function describeWork(report: WorkReport, options: { ignored?: boolean } = {}): string {
  const parts: string[] = [];
  const files = report.tracked.count + report.untracked.count;
  const commits = report.unpushed.reduce((n, b) => n + b.commits, 0) + report.detachedCommits;
  if (files) parts.push(plural(files, 'uncommitted file'));
  if (commits) parts.push(plural(commits, 'unpushed commit'));
  if (report.stashes.length) parts.push(plural(report.stashes.length, 'stash'));
  let text = parts.length ? parts.join(', ') : 'clean';
  if (options.ignored && report.ignored.count) text += ` (${plural(report.ignored.count, 'gitignored path')} not saved)`;
  if (report.fetchError) text += ' (hub not reachable: counts may be stale)';
  return text;
}

function where(report: WorkReport): string {
  return report.branch ?? `(detached ${report.head?.slice(0, 7) ?? 'HEAD'})`;
}

/**
 * The summary shown before acting, one line per worker: `worker-1  isollm/ar-1a2b  3 uncommitted files`.
 * `ignored: true` also says how many gitignored paths are left behind (worth saying before a destroy).
 */
export function renderWorkSummary(rows: { worker: string; report: WorkReport }[], options: { ignored?: boolean } = {}): string[] {
  return table(rows.map(({ worker, report }) => [worker, where(report), describeWork(report, options)]));
}

function savedLine(s: SavedRef): string {
  if (s.kind === 'uncommitted') return `${plural(s.files ?? 0, 'uncommitted file')} committed → ${s.branch}`;
  const what = s.kind === 'stash' ? s.from : `${plural(s.commits, 'commit')} on ${s.from}`;
  return `${what} → ${s.branch}`;
}

/** What salvage did, one line per saved ref or failure: `worker-1  3 uncommitted files committed → isollm/ar-1a2b`. */
export function renderSalvageResults(results: SalvageResult[]): string[] {
  const rows: string[][] = [];
  for (const r of results) {
    if (!r.saved.length && !r.failures.length) rows.push([r.worker, 'nothing to save']);
    for (const s of r.saved) rows.push([r.worker, savedLine(s)]);
    for (const f of r.failures) rows.push([r.worker, `NOT SAVED: ${f.from}: ${f.error}`]);
  }
  return table(rows);
}
