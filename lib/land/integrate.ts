// Putting one task branch on top of the integration head, in the hub, without touching any branch:
// merge (a merge commit, --no-ff), squash (one commit, the head as its only parent) or rebase (the
// branch's own commits replayed on the head). Results are commits only; the base moves elsewhere,
// by compare-and-swap, and task branches are never rewritten.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LandStrategy } from '../config/load.ts';
import { gitNothrow, gitRun, HUB_RECEIVE_PACK, HUB_SAFE_CONFIG, isAncestor, mergePreview, revParse } from '../hub/git.ts';
import { commitTree, ISOLLM_IDENTITY, treeOf } from '../hub/task-start.ts';
import type { Integration } from './train.ts';

/** Scratch refs the lander keeps in the hub while it runs (deleted at the end). */
export const LAND_REF_PREFIX = 'refs/isollm/land/';

export type IntegrateSpec = { strategy: LandStrategy; branch: string; id: string; title: string };

/**
 * `head` with `spec.branch` integrated. `already` when the branch's work is in `head` already (an
 * interrupted run landed it but did not record it): the head itself comes back.
 */
export async function integrate(hub: string, head: string, spec: IntegrateSpec): Promise<Integration & { already?: boolean }> {
  const tip = await revParse(hub, `refs/heads/${spec.branch}`);
  if (!tip) return { kind: 'conflict', files: [`(the hub has no branch ${spec.branch})`] };
  if (await isAncestor(hub, tip, head)) return { kind: 'integrated', commit: head, already: true };
  if (spec.strategy === 'rebase') return rebase(hub, head, tip, spec);
  const preview = await mergePreview(hub, head, tip);
  if (!preview.clean) return { kind: 'conflict', files: preview.conflicts };
  // Squashed or rebased before: the tree would not change.
  if (preview.tree === (await treeOf(hub, head))) return { kind: 'integrated', commit: head, already: true };
  const subject = `${spec.id}: ${spec.title}`;
  const commit =
    spec.strategy === 'merge'
      ? await commitTree(hub, preview.tree, [head, tip], `Land ${subject}\n\nMerge ${spec.branch}.`)
      : await commitTree(hub, preview.tree, [head], `${subject}\n\nSquashed from ${spec.branch} (${tip.slice(0, 12)}).`);
  return { kind: 'integrated', commit };
}

/**
 * Rebase needs a work tree (git 2.39's merge-tree cannot pick a merge base): a throwaway clone that
 * borrows the hub's objects, `git rebase` there, and the result pushed back as a scratch ref.
 */
async function rebase(hub: string, head: string, tip: string, spec: IntegrateSpec): Promise<Integration> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-land-'));
  try {
    await gitRun(dir, ['clone', '--quiet', '--shared', '--no-checkout', hub, 'w']);
    const w = path.join(dir, 'w');
    const g = (args: string[]) => gitNothrow(w, [...HUB_SAFE_CONFIG, ...ISOLLM_IDENTITY, ...args]);
    await gitRun(w, ['checkout', '--quiet', '--detach', tip]);
    const r = await g(['rebase', '--quiet', '--no-autosquash', '--committer-date-is-author-date', head]);
    if (r.exitCode !== 0) {
      const files = (await g(['diff', '--name-only', '--diff-filter=U'])).stdout.split('\n').filter(Boolean);
      return { kind: 'conflict', files: files.length ? files : [r.stderr.trim().split('\n').at(-1) ?? 'rebase failed'] };
    }
    const commit = (await gitRun(w, ['rev-parse', 'HEAD'])).trim();
    const ref = `${LAND_REF_PREFIX}rebased-${spec.id}`;
    await gitRun(w, ['push', '--quiet', HUB_RECEIVE_PACK, '--no-verify', hub, `+${commit}:${ref}`]);
    return { kind: 'integrated', commit };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Move the hub's base from `from` to `to`: refused unless `to` descends from `from` (never a force)
 * and unless the base is still `from` (someone pushed meanwhile → the caller stops).
 */
export async function advanceBase(hub: string, base: string, from: string, to: string): Promise<boolean> {
  if (from === to) return true;
  if (!(await isAncestor(hub, from, to))) throw new Error(`refusing to move ${base} from ${from.slice(0, 12)} to ${to.slice(0, 12)}: not a fast-forward`);
  const r = await gitNothrow(hub, [...HUB_SAFE_CONFIG, 'update-ref', '-m', 'isollm land', `refs/heads/${base}`, to, from]);
  return r.exitCode === 0;
}

/** Remove the lander's scratch refs. */
export async function clearScratchRefs(hub: string): Promise<void> {
  const out = await gitRun(hub, ['for-each-ref', '--format=%(refname)', LAND_REF_PREFIX]);
  for (const ref of out.split('\n').filter(Boolean)) await gitNothrow(hub, [...HUB_SAFE_CONFIG, 'update-ref', '-d', ref]);
}
