// One project on real containers for a whole e2e file: a work dir that lives for the file (the
// containers hold mounts into the hub, so not tmpDir()) with the repo, the hub and a private tmux
// server (TMUX_TMPDIR, never the user's), the CLI run in the repo, its first commit, and the clean-up.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { deleteInstance, listInstances, type Runtime } from '../../lib/runtime/client.ts';
import { git, runCli, type CliResult } from '../helpers.ts';

export type E2eProject = {
  /** Random, in the project's name: for what else the test names uniquely. */
  tag: string;
  project: string;
  work: string;
  root: string;
  hub: string;
  tmuxDir: string;
  /** `isollm <args>` in the repo; `env` is read at each call, so a test may fill it in later. */
  cli(args: string[], timeout?: number): CliResult;
  /** The same, required to succeed; its stdout. */
  isollm(args: string[], timeout?: number): string;
  /** tmux on the project's private server. */
  tmux(...args: string[]): SpawnSyncReturns<string>;
  /** commitRepo in the project's repo. */
  commit(files: Record<string, string>): void;
  /** `down --destroy`, then whatever containers are left, the queue, the tmux server and the work dir. */
  destroy(rt: Runtime | null, timeout: number): Promise<void>;
};

/** A project repo at `root` (made if need be) on main with one commit: `files` and the .gitignore isollm wants. */
export function commitRepo(root: string, files: Record<string, string>): void {
  fs.mkdirSync(root, { recursive: true });
  git(root, 'init', '-q', '-b', 'main');
  for (const [name, text] of Object.entries({ '.gitignore': '.isollm/\n', ...files })) fs.writeFileSync(path.join(root, name), text);
  git(root, 'add', '.');
  git(root, 'commit', '-qm', 'initial');
}

/** Project `e2e-<slug>-<tag>` in /tmp/isollm-e2e-<slug>-…; `env` for every CLI run, `timeout` its default. */
export function e2eProject(slug: string, env: NodeJS.ProcessEnv = {}, timeout = 120_000): E2eProject {
  const tag = crypto.randomBytes(3).toString('hex');
  const work = fs.mkdtempSync(path.join('/tmp', `isollm-e2e-${slug}-`));
  const root = path.join(work, 'repo');
  const tmuxDir = path.join(work, 'tmux');
  fs.mkdirSync(tmuxDir);
  const cli = (args: string[], t = timeout) => runCli(args, { cwd: root, env: { TMUX_TMPDIR: tmuxDir, TMUX: undefined, ...env }, timeout: t });
  const tmux = (...args: string[]) => {
    const e: NodeJS.ProcessEnv = { ...process.env, TMUX_TMPDIR: tmuxDir };
    delete e.TMUX;
    return spawnSync('tmux', args, { env: e, encoding: 'utf8' });
  };
  const p: E2eProject = {
    tag,
    project: `e2e-${slug}-${tag}`,
    work,
    root,
    hub: path.join(work, 'hub.git'),
    tmuxDir,
    cli,
    isollm(args, t) {
      const r = cli(args, t);
      if (r.code !== 0) throw new Error(`isollm ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
      return r.stdout;
    },
    tmux,
    commit: (files) => commitRepo(root, files),
    async destroy(rt, t) {
      cli(['down', '--destroy', '--yes'], t);
      if (rt) for (const i of await listInstances(rt, p.project)) await deleteInstance(rt, i.name);
      cli(['queue', 'stop']);
      tmux('kill-server');
      fs.rmSync(work, { recursive: true, force: true });
    },
  };
  return p;
}
