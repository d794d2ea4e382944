// `isollm init`: check the repository, settle the answers (flags, prompts or defaults), write
// isollm.yaml from templates/isollm.yaml, create .isollm/ and ignore it in git.
import fs from 'node:fs';
import path from 'node:path';
import { $ } from 'zx/core';
import YAML from 'yaml';
import { UsageError, UserError } from '../cli/errors.ts';
import { TEMPLATES_DIR } from '../cli/package-files.ts';
import { renderTemplate } from '../cli/template.ts';
import { CONFIG_FILE, STATE_DIR, writeFileAtomic } from '../project/root.ts';
import { AGENT_PRESETS, checkBranchName, checkProjectName, DEFAULT_IMAGE, resolveConfig, toProjectName, type AgentPreset } from '../config/load.ts';
import { MAX_WORKERS } from '../config/schema.ts';

const GIT_TIMEOUT = '15s';
const TEMPLATE = path.join(TEMPLATES_DIR, 'isollm.yaml');
/** `custom` needs agent.command, which init does not ask for. */
export const INIT_PRESETS = AGENT_PRESETS.filter((p) => p !== 'custom');

export type InitAnswers = { name: string; workers: number; image: string; agent: AgentPreset; base: string };
/** How init asks for what the flags did not give: the script's prompts. Without it, the defaults. */
export type InitAsk = {
  text(message: string, initial: string, flagHint: string, validate: (v: string) => boolean | string): Promise<string>;
  select(message: string, choices: string[], initial: string, flagHint: string): Promise<string>;
};
export type InitOptions = Partial<InitAnswers> & { dir: string; force?: boolean; ask?: InitAsk };
export type InitResult = { root: string; config: string; answers: InitAnswers; gitignoreUpdated: boolean };

/** The repository's top level, current branch and branches; refuses a non-repository or one without a commit. */
export async function inspectRepo(dir: string): Promise<{ root: string; branch: string | null; branches: string[] }> {
  if (!fs.existsSync(dir)) throw new UserError(`${dir}: no such directory.`);
  const git = $({ cwd: dir, quiet: true, nothrow: true, timeout: GIT_TIMEOUT });
  // Non-zero here just means "not inside a repository".
  const top = await git`git rev-parse --show-toplevel`;
  if (top.exitCode !== 0) {
    throw new UserError(`${dir} is not a git repository. Run \`git init\` and make a first commit, then \`isollm init\`.`);
  }
  const root = top.stdout.trim();
  // Non-zero: HEAD points at an unborn branch.
  if ((await git`git rev-parse --verify --quiet HEAD`).exitCode !== 0) {
    throw new UserError(`${root} has no commit yet. Commit something first: the workers start from a clone of it.`);
  }
  // Non-zero: detached HEAD.
  const branch = await git`git symbolic-ref --quiet --short HEAD`;
  const branches = (await git`git for-each-ref ${'--format=%(refname:short)'} refs/heads/`).stdout.split('\n').filter(Boolean);
  return { root, branch: branch.exitCode === 0 ? branch.stdout.trim() : null, branches };
}

export function defaultAnswers(root: string, branch: string | null): InitAnswers {
  return { name: toProjectName(path.basename(root)), workers: 3, image: DEFAULT_IMAGE, agent: 'claude', base: branch ?? 'main' };
}

/** Problems with answers given as flags, as usage errors naming the flag. */
export function checkAnswers(given: Partial<InitAnswers>): void {
  const wrong = (flag: string, what: string, got: unknown) => new UsageError(`--${flag} ${what} (got ${JSON.stringify(got)})`);
  if (given.name !== undefined && checkProjectName(given.name)) throw wrong('name', checkProjectName(given.name)!, given.name);
  if (given.workers !== undefined && !(Number.isInteger(given.workers) && given.workers >= 1 && given.workers <= MAX_WORKERS)) {
    throw wrong('workers', `must be a whole number from 1 to ${MAX_WORKERS}`, given.workers);
  }
  if (given.image !== undefined && given.image.trim() === '') throw wrong('image', 'must not be empty', given.image);
  if (given.agent !== undefined && !(INIT_PRESETS as readonly string[]).includes(given.agent)) {
    throw wrong('agent', `must be one of ${INIT_PRESETS.join(', ')} (for a custom agent set agent.preset and agent.command in ${CONFIG_FILE} afterwards)`, given.agent);
  }
  if (given.base !== undefined && checkBranchName(given.base)) throw wrong('base', checkBranchName(given.base)!, given.base);
}

/** Ask for every answer not given (when there is someone to ask); else take the defaults. */
export async function settleAnswers(given: Partial<InitAnswers>, fallback: InitAnswers, ask?: InitAsk, branches?: string[]): Promise<InitAnswers> {
  const answers = { ...fallback, ...definedOnly(given) };
  if (!ask) return answers;
  const asText = (check: (v: string) => string | undefined) => (v: string) => check(v) ?? true;
  if (given.name === undefined) answers.name = await ask.text('Project name', answers.name, '--name', asText((v) => checkProjectName(v)));
  if (given.workers === undefined) {
    const n = await ask.text('Workers', String(answers.workers), '--workers', asText((v) => (/^\d+$/.test(v) && +v >= 1 && +v <= MAX_WORKERS ? undefined : `a number from 1 to ${MAX_WORKERS}`)));
    answers.workers = Number(n);
  }
  if (given.image === undefined) answers.image = await ask.text('Image', answers.image, '--image', asText((v) => (v.trim() ? undefined : 'an image is needed')));
  if (given.agent === undefined) answers.agent = (await ask.select('Agent', [...INIT_PRESETS], answers.agent, '--agent')) as AgentPreset;
  const known = (v: string) => (!branches || branches.includes(v) ? undefined : `no branch ${v} here (${branchList(branches)})`);
  if (given.base === undefined) answers.base = await ask.text('Base branch', answers.base, '--base', asText((v) => checkBranchName(v) ?? known(v)));
  return answers;
}

const branchList = (branches: string[]) => `branches: ${branches.join(', ')}`;

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** templates/isollm.yaml with `{{token}}`s replaced by YAML scalars, so comments stay as written. */
export function renderConfig(answers: InitAnswers, template = fs.readFileSync(TEMPLATE, 'utf8')): string {
  const values = { project: answers.name, workers: answers.workers, image: answers.image, agent: answers.agent, base_branch: answers.base };
  const scalars = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, YAML.stringify(v).trimEnd()]));
  return renderTemplate(template, scalars, 'templates/isollm.yaml');
}

/** Add `.isollm/` to .gitignore unless an equivalent line is already there. Returns true when it added one. */
export function ignoreStateDir(root: string): boolean {
  const file = path.join(root, '.gitignore');
  const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const entries = new Set([STATE_DIR, `${STATE_DIR}/`, `/${STATE_DIR}`, `/${STATE_DIR}/`]);
  if (current.split(/\r?\n/).some((line) => entries.has(line.trim()))) return false;
  const separator = current === '' || current.endsWith('\n') ? '' : '\n';
  fs.appendFileSync(file, `${separator}${STATE_DIR}/\n`);
  return true;
}

export async function initProject(options: InitOptions): Promise<InitResult> {
  const { dir, force, ask, ...given } = options;
  checkAnswers(given);
  const { root, branch, branches } = await inspectRepo(dir);
  const config = path.join(root, CONFIG_FILE);
  if (fs.existsSync(config) && !force) {
    throw new UserError(`${config} already exists. Change it with \`isollm config edit\`, or pass --force to write a new one.`);
  }
  const answers = await settleAnswers(given, defaultAnswers(root, branch), ask, branches);
  // The hub is seeded from the base branch: one that does not exist would fail every `up`.
  if (!branches.includes(answers.base)) {
    const what = `no branch ${answers.base} in ${root} (${branchList(branches)}).`;
    if (given.base !== undefined) throw new UsageError(`--base ${answers.base}: ${what} Pass one of them, or create it first.`);
    throw new UserError(`HEAD is detached and there is ${what} Pass --base BRANCH.`);
  }
  const text = renderConfig(answers);
  resolveConfig(text, root); // the template and the answers must make a valid file
  writeFileAtomic(config, text);
  fs.mkdirSync(path.join(root, STATE_DIR), { recursive: true });
  return { root, config, answers, gitignoreUpdated: ignoreStateDir(root) };
}
