// The hub: a bare repository on the host that workers clone from and push task branches to.
// It remembers which project it belongs to, so two projects sharing a name never share a hub.
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../cli/errors.ts';
import type { Config } from '../config/load.ts';
import { branchCommit, configGet, configSet, gitRun, HUB_RECEIVE_PACK, HUB_SAFE_CONFIG, isBareRepo, isRepo } from './git.ts';

/** Git config key in the hub naming the project directory it serves. */
export const HUB_PROJECT_KEY = 'isollm.project-path';

export type HubState =
  | { kind: 'missing' }
  | { kind: 'ours' }
  /** Recorded for another project directory. */
  | { kind: 'foreign'; owner: string }
  /** The path exists but is not a bare repository. */
  | { kind: 'not-a-hub' };

/** The project directory as the hub records it (symlinks resolved, so /tmp and /private/tmp agree). */
function canonical(dir: string): string {
  try {
    return fs.realpathSync(dir);
  } catch {
    return path.resolve(dir);
  }
}

/** What is at `hub`, seen from project `root`. A bare repo with no owner recorded is adopted as ours. */
export async function inspectHub(hub: string, root: string): Promise<HubState> {
  if (!fs.existsSync(hub)) return { kind: 'missing' };
  if (fs.readdirSync(hub).length === 0) return { kind: 'missing' };
  if (!(await isBareRepo(hub))) return { kind: 'not-a-hub' };
  const owner = await configGet(hub, HUB_PROJECT_KEY);
  if (owner === null) {
    // A bare repository the user pointed git.hub at on purpose: claim it.
    await configSet(hub, HUB_PROJECT_KEY, canonical(root));
    return { kind: 'ours' };
  }
  return canonical(owner) === canonical(root) ? { kind: 'ours' } : { kind: 'foreign', owner };
}

function refuse(hub: string, root: string, state: HubState): UserError {
  if (state.kind === 'foreign') {
    const gone = fs.existsSync(state.owner) ? '' : ' (no longer there; if you moved this project, run `git -C ' + hub + ' config ' + HUB_PROJECT_KEY + ' ' + canonical(root) + '`)';
    return new UserError(`The hub ${hub} belongs to the project in ${state.owner}${gone}. Set git.hub in isollm.yaml to another path for this project.`);
  }
  return new UserError(`${hub} exists but is not a bare git repository. Move it away, or set git.hub in isollm.yaml to another path.`);
}

/** The hub of this project, ready to use; a clear error when it is missing or someone else's. */
export async function requireHub(root: string, config: Config): Promise<string> {
  const hub = config.git.hub;
  const state = await inspectHub(hub, root);
  if (state.kind === 'ours') return hub;
  if (state.kind === 'missing') throw new UserError(`No hub at ${hub} yet. Run \`isollm sync push\` (or \`isollm up\`) to create it.`);
  throw refuse(hub, root, state);
}

/**
 * Create the hub when it is missing (seeded with the base branch), or check it is ours.
 * Returns whether it was created.
 *
 * Permissions: `--shared=group` (core.sharedRepository=group) makes every file group-writable and
 * every directory setgid, whoever writes it. A worker's `dev` user reaches the hub through an
 * idmapped disk device (shift=true), which keeps host uids and gids: dev reads it as its own when its
 * uid is the hub owner's (the usual desktop case: both 1000), else through an ACL (lib/worker/base.ts).
 * Not "all"/0777: that would let every local user rewrite the project's branches.
 */
export async function ensureHub(root: string, config: Config): Promise<{ hub: string; created: boolean }> {
  const hub = config.git.hub;
  const base = config.git.base_branch;
  const state = await inspectHub(hub, root);
  if (state.kind === 'ours') return { hub, created: false };
  if (state.kind !== 'missing') throw refuse(hub, root, state);

  if (!(await isRepo(root))) throw new UserError(`${root} is not a git repository. Run \`git init\` and commit on "${base}" first.`);
  if (!(await branchCommit(root, base))) {
    throw new UserError(`The base branch "${base}" has no commits in ${root}. Commit on it first, or set git.base_branch in isollm.yaml.`);
  }
  const existed = fs.existsSync(hub);
  fs.mkdirSync(path.dirname(hub), { recursive: true });
  try {
    await gitRun(path.dirname(hub), ['init', '--bare', '--quiet', '--shared=group', `--initial-branch=${base}`, hub]);
    // Workers push while others fetch: no automatic gc under them (gcHub runs it when none run).
    await configSet(hub, 'gc.auto', '0');
    // Reflogs in the hub keep every old tip of a force-pushed task branch recoverable.
    await configSet(hub, 'core.logAllRefUpdates', 'true');
    // `init --shared` also turns on receive.denyNonFastForwards; isollm decides about forcing itself
    // (sync push --force, a worker rewriting its own task branch).
    await configSet(hub, 'receive.denyNonFastForwards', 'false');
    await configSet(hub, HUB_PROJECT_KEY, canonical(root));
    // --no-verify: this is isollm's own transport, not a publish; the user's pre-push hooks do not apply.
    await gitRun(root, ['push', HUB_RECEIVE_PACK, '--porcelain', '--no-verify', hub, `refs/heads/${base}:refs/heads/${base}`]);
  } catch (err) {
    // Half a hub would later look like a valid one: remove what this call created.
    if (existed) for (const entry of fs.readdirSync(hub)) fs.rmSync(path.join(hub, entry), { recursive: true, force: true });
    else fs.rmSync(hub, { recursive: true, force: true });
    throw err;
  }
  return { hub, created: true };
}

/** Owner uid and gid of the hub: the worker layer gives `dev` this uid, or this group, so it can push. */
export function hubOwner(hub: string): { uid: number; gid: number } {
  const st = fs.statSync(hub);
  return { uid: st.uid, gid: st.gid };
}

/**
 * Run `git gc` on the hub. Only when no worker of the project is running: a gc that repacks while a
 * worker pushes can fail its push. Returns whether gc ran.
 */
export async function gcHub(hub: string, options: { workersRunning: boolean }): Promise<boolean> {
  if (options.workersRunning || !fs.existsSync(hub)) return false;
  await gitRun(hub, [...HUB_SAFE_CONFIG, 'gc', '--quiet']);
  return true;
}
