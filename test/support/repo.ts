// A throwaway git repository with one commit, for benches (no vitest import).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const IDENTITY = { GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'bench@isollm.local', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'bench@isollm.local' };

/** `root` made a repository on `main` holding `files` (default a README) in one commit. */
export function initRepo(root: string, files: Record<string, string> = { 'README.md': '# bench\n' }): void {
  fs.mkdirSync(root, { recursive: true });
  const git = (...args: string[]) => execFileSync('git', args, { cwd: root, env: { ...process.env, ...IDENTITY }, stdio: 'ignore' });
  git('init', '-q', '-b', 'main');
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), content);
  }
  git('add', '.');
  git('commit', '-qm', 'initial');
}
