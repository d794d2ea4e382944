// Pure parts of salvage: status parsing on captured git output, names, and the rendered summaries.
import { describe, expect, it } from 'vitest';
import {
  describeWork,
  isOwnBranch,
  MAX_LISTED_PATHS,
  parseStatus,
  renderSalvageResults,
  renderWorkSummary,
  salvageBranch,
  salvageMessage,
  salvageStamp,
  taskIdOf,
  type WorkReport,
} from '../lib/worker/salvage-report.ts';

const H1 = '78981922613b2afb6025042ff6bd878ac1994e85';
// Captured from git 2.39 (`git status --porcelain=v2 -z --branch -uall --ignored=matching`): a staged
// rename with a later edit, untracked files with a newline, a space and non-ASCII in their names, an
// ignored file and an ignored directory (listed once, not recursed).
const CAPTURED =
  `# branch.oid ed5d11dab2f335d732bf75a135955a23a3ab96fc\0# branch.head main\0` +
  `2 RM N... 100644 100644 100644 ${H1} ${H1} R100 a2\0a\0` +
  `? new\nline\0? sp ace\0? src/deep/f\0? ünï\0! b.log\0! node_modules/\0`;
// Captured: a merge stopped on a conflict.
const CONFLICT = `# branch.oid dbc91c74542ac6444026cdf07c7af539dbffe3b1\0# branch.head main\0u UU N... 100644 100644 100644 100644 ${H1} f2ad6c76f0115a6ba5b00456a849810e7ec0af20 61780798228d17af2d34fce4cfbdf35556832472 f\0`;

function report(over: Partial<WorkReport> = {}): WorkReport {
  const none = { count: 0, paths: [] };
  return { branch: 'main', head: 'a'.repeat(40), taskId: null, tracked: none, untracked: none, ignored: none, unpushed: [], detachedCommits: 0, stashes: [], fetchError: null, clean: true, ...over };
}

describe('parseStatus', () => {
  it('reads branch, head, tracked, untracked and ignored paths exactly', () => {
    expect(parseStatus(CAPTURED)).toEqual({
      branch: 'main',
      head: 'ed5d11dab2f335d732bf75a135955a23a3ab96fc',
      tracked: { count: 1, paths: ['a2'] },
      untracked: { count: 4, paths: ['new\nline', 'sp ace', 'src/deep/f', 'ünï'] },
      ignored: { count: 2, paths: ['b.log', 'node_modules/'] },
    });
  });

  it('keeps spaces inside a changed path and reads unmerged entries', () => {
    const changed = `# branch.oid (initial)\0# branch.head (detached)\x001 .M N... 100644 100644 100644 ${H1} ${H1} my  file.txt\0`;
    expect(parseStatus(changed)).toMatchObject({ branch: null, head: null, tracked: { count: 1, paths: ['my  file.txt'] } });
    expect(parseStatus(CONFLICT).tracked).toEqual({ count: 1, paths: ['f'] });
  });

  it('counts every path but lists only the first few', () => {
    const many = Array.from({ length: 25 }, (_, i) => `? f${i}\0`).join('');
    const s = parseStatus(`# branch.head main\0${many}`);
    expect(s.untracked.count).toBe(25);
    expect(s.untracked.paths).toHaveLength(MAX_LISTED_PATHS);
  });
});

describe('branch names', () => {
  it('derives a task id only from <prefix><id>', () => {
    expect(taskIdOf('isollm/ar-1a2b', 'isollm/')).toBe('ar-1a2b');
    expect(taskIdOf('agents/t-9', 'agents/')).toBe('t-9');
    expect(taskIdOf('agents/t-9', 'isollm/')).toBeNull();
    expect(taskIdOf('isollm/salvage/worker-1-20250102-030405', 'isollm/')).toBeNull();
    expect(taskIdOf('main', 'isollm/')).toBeNull();
    expect(taskIdOf(null, 'isollm/')).toBeNull();
  });

  it('treats prefixed branches as isollm’s own, never the base', () => {
    expect(isOwnBranch('isollm/ar-1', 'isollm/', 'main')).toBe(true);
    expect(isOwnBranch('isollm/salvage/w-1', 'isollm/', 'main')).toBe(true);
    expect(isOwnBranch('main', 'isollm/', 'main')).toBe(false);
    expect(isOwnBranch('isollm/main', 'isollm/', 'isollm/main')).toBe(false);
    expect(isOwnBranch('feature', 'isollm/', 'main')).toBe(false);
    expect(isOwnBranch(null, 'isollm/', 'main')).toBe(false);
  });

  it('names salvage branches and commits by UTC time', () => {
    const now = new Date('2025-01-02T03:04:05.678Z');
    expect(salvageStamp(now)).toBe('20250102-030405');
    expect(salvageBranch('isollm/', 'worker-1', now)).toBe('isollm/salvage/worker-1-20250102-030405');
    expect(salvageBranch('isollm/', 'worker-1', now, 'isollm/ar-1a2b')).toBe('isollm/salvage/worker-1-20250102-030405-ar-1a2b');
    expect(salvageBranch('isollm/', 'worker-1', now, 'feat/x/y')).toBe('isollm/salvage/worker-1-20250102-030405-feat-x-y');
    expect(salvageMessage('worker-1', now)).toBe('isollm salvage: worker-1 2025-01-02T03:04:05Z');
  });
});

describe('summaries', () => {
  it('renders one aligned line per worker', () => {
    const dirty = report({
      branch: 'isollm/ar-1a2b',
      clean: false,
      tracked: { count: 2, paths: ['a', 'b'] },
      untracked: { count: 1, paths: ['c'] },
      unpushed: [{ branch: 'isollm/ar-1a2b', commits: 2 }],
    });
    const detached = report({ branch: null, head: 'abcdef1234', clean: false, detachedCommits: 1, stashes: ['s'] });
    expect(renderWorkSummary([
      { worker: 'worker-1', report: dirty },
      { worker: 'worker-2', report: report() },
      { worker: 'worker-10', report: detached },
    ])).toEqual([
      'worker-1   isollm/ar-1a2b      3 uncommitted files, 2 unpushed commits',
      'worker-2   main                clean',
      'worker-10  (detached abcdef1)  1 unpushed commit, 1 stash',
    ]);
  });

  it('mentions gitignored paths only when asked, and a hub it could not reach', () => {
    const r = report({ ignored: { count: 2, paths: ['node_modules/', 'x.log'] }, fetchError: 'fatal: no hub' });
    expect(describeWork(r)).toBe('clean (hub not reachable: counts may be stale)');
    expect(describeWork(r, { ignored: true })).toBe('clean (2 gitignored paths not saved) (hub not reachable: counts may be stale)');
  });

  it('renders what salvage saved where, and what it could not', () => {
    expect(renderSalvageResults([
      {
        worker: 'worker-1',
        ok: false,
        saved: [
          { branch: 'isollm/ar-1', commits: 1, kind: 'uncommitted', from: 'isollm/ar-1', files: 3 },
          { branch: 'isollm/salvage/worker-1-20250102-030405-main', commits: 2, kind: 'unpushed', from: 'main' },
          { branch: 'isollm/salvage/worker-1-20250102-030405-stash-0', commits: 1, kind: 'stash', from: 'stash@{0}' },
        ],
        failures: [{ from: 'HEAD', error: 'push to the hub failed: x' }],
      },
      { worker: 'worker-2', ok: true, saved: [], failures: [] },
    ])).toEqual([
      'worker-1  3 uncommitted files committed → isollm/ar-1',
      'worker-1  2 commits on main → isollm/salvage/worker-1-20250102-030405-main',
      'worker-1  stash@{0} → isollm/salvage/worker-1-20250102-030405-stash-0',
      'worker-1  NOT SAVED: HEAD: push to the hub failed: x',
      'worker-2  nothing to save',
    ]);
  });
});
