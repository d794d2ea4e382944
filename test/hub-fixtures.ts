// Fixtures for hub and sync tests: a host repository, a config whose hub lives in a temp dir (never
// ~/.isollm), and a stand-in for a worker that clones the hub and pushes a task branch.
import fs from 'node:fs';
import path from 'node:path';
import { defaults, type Config } from '../lib/config/load.ts';
import { git, gitRepo, tmpDir } from './helpers.ts';

export type Fixture = { root: string; hub: string; config: Config };

export function fixture(options: { prefix?: string; commit?: boolean } = {}): Fixture {
  const root = gitRepo({ commit: options.commit });
  const hub = path.join(tmpDir('isollm-hub-'), 'hubs', 'demo.git');
  const config = defaults('demo');
  config.git.hub = hub;
  if (options.prefix !== undefined) config.git.branch_prefix = options.prefix;
  return { root, hub, config };
}

export function commitFiles(repo: string, files: Record<string, string>, message: string): string {
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(repo, file)), { recursive: true });
    fs.writeFileSync(path.join(repo, file), text);
  }
  git(repo, 'add', '-A');
  git(repo, 'commit', '-qm', message);
  return git(repo, 'rev-parse', 'HEAD');
}

/** What a worker does: clone the hub, commit on `branch` (from `from`), push it. Returns the tip. */
export function workerPush(hub: string, branch: string, files: Record<string, string>, message: string, from = 'main'): string {
  const clone = path.join(tmpDir('isollm-worker-'), 'project');
  git(path.dirname(clone), 'clone', '-q', hub, clone);
  git(clone, 'checkout', '-q', '-B', branch, `origin/${from}`);
  const tip = commitFiles(clone, files, message);
  git(clone, 'push', '-q', '--force', 'origin', `HEAD:refs/heads/${branch}`);
  return tip;
}
