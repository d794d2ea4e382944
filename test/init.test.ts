import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../lib/config/load.ts';
import { schemaPaths } from '../lib/config/schema.ts';
import { renderConfig } from '../lib/flows/init.ts';
import { git, gitRepo, NODE, ROOT, runCli, tmpDir } from './helpers.ts';
import { startTerminal } from './tmux.ts';

const read = (dir: string, file: string) => fs.readFileSync(path.join(dir, file), 'utf8');
const ignoreLines = (dir: string) => read(dir, '.gitignore').split('\n').filter((l) => l === '.isollm/');
/** Every file in `dir` except .git, to prove a refusal wrote nothing. */
const listing = (dir: string) => fs.readdirSync(dir).filter((f) => f !== '.git').sort();

describe('isollm init', () => {
  it('writes isollm.yaml from flags, creates .isollm/ and ignores it once', () => {
    const repo = gitRepo();
    const r = runCli(['init', '--name', 'demo', '--workers', '4', '--image', 'ubuntu:24.04', '--agent', 'codex', '--base', 'main'], { cwd: repo });
    expect(r.stderr).toContain('✓ Wrote');
    expect(r.code).toBe(0);
    const config = parseConfig(read(repo, 'isollm.yaml'), repo);
    expect(config).toMatchObject({ project: 'demo', workers: 4, image: 'ubuntu:24.04', agent: { preset: 'codex' }, git: { base_branch: 'main' } });
    expect(fs.statSync(path.join(repo, '.isollm')).isDirectory()).toBe(true);
    expect(ignoreLines(repo)).toHaveLength(1);
    // Overwriting with --force keeps a single .gitignore entry.
    expect(runCli(['init', '--force', '--workers', '2'], { cwd: repo }).code).toBe(0);
    expect(parseConfig(read(repo, 'isollm.yaml'), repo).workers).toBe(2);
    expect(ignoreLines(repo)).toHaveLength(1);
    expect(git(repo, 'check-ignore', '.isollm/session.json')).toBe('.isollm/session.json');
  });

  it('asks nothing without a terminal: directory name and current branch', () => {
    const repo = gitRepo({ branch: 'trunk' });
    const renamed = path.join(path.dirname(repo), `My Repo_${path.basename(repo)}`);
    fs.renameSync(repo, renamed);
    const r = runCli(['init'], { cwd: renamed });
    fs.renameSync(renamed, repo); // let tmpDir clean it up
    expect(r.code).toBe(0);
    const config = parseConfig(read(repo, 'isollm.yaml'), repo);
    expect(config.project).toBe(`my-repo-${path.basename(repo).toLowerCase()}`.replace(/[^a-z0-9]+/g, '-'));
    expect(config).toMatchObject({ workers: 3, image: 'images:debian/12', agent: { preset: 'claude' }, git: { base_branch: 'trunk' } });
  });

  it('keeps an existing .gitignore and its ignore line', () => {
    const repo = gitRepo();
    fs.writeFileSync(path.join(repo, '.gitignore'), 'dist');
    expect(runCli(['init', '--yes'], { cwd: repo }).code).toBe(0);
    expect(read(repo, '.gitignore')).toBe('dist\n.isollm/\n');
    const other = gitRepo();
    fs.writeFileSync(path.join(other, '.gitignore'), 'node_modules\n/.isollm\n');
    expect(runCli(['init', '--yes'], { cwd: other }).code).toBe(0);
    expect(read(other, '.gitignore')).toBe('node_modules\n/.isollm\n');
  });

  it('writes at the top of the repository when run in a subdirectory, via INIT_CWD or --project', () => {
    const repo = gitRepo();
    fs.mkdirSync(path.join(repo, 'src/deep'), { recursive: true });
    expect(runCli(['init'], { cwd: path.join(repo, 'src/deep') }).code).toBe(0);
    expect(fs.existsSync(path.join(repo, 'isollm.yaml'))).toBe(true);
    expect(fs.existsSync(path.join(repo, 'src/deep/isollm.yaml'))).toBe(false);

    const viaNpm = gitRepo();
    expect(runCli(['init', '--name', 'via-npm'], { cwd: ROOT, env: { INIT_CWD: viaNpm } }).code).toBe(0);
    expect(parseConfig(read(viaNpm, 'isollm.yaml'), viaNpm).project).toBe('via-npm');

    const viaFlag = gitRepo();
    expect(runCli(['init', '--project', viaFlag, '--name', 'via-flag'], { cwd: tmpDir(), env: { INIT_CWD: viaNpm } }).code).toBe(0);
    expect(parseConfig(read(viaFlag, 'isollm.yaml'), viaFlag).project).toBe('via-flag');
  });

  describe('refuses with one line, a non-zero exit and nothing written', () => {
    it('when isollm.yaml exists (without --force)', () => {
      const repo = gitRepo();
      fs.writeFileSync(path.join(repo, 'isollm.yaml'), 'workers: 1\n');
      const before = listing(repo);
      const r = runCli(['init', '--yes'], { cwd: repo });
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(`✗ ${path.join(fs.realpathSync(repo), 'isollm.yaml')} already exists. Change it with \`isollm config edit\`, or pass --force to write a new one.`);
      expect(read(repo, 'isollm.yaml')).toBe('workers: 1\n');
      expect(listing(repo)).toEqual(before);
    });

    it('outside a git repository', () => {
      const dir = tmpDir();
      const r = runCli(['init', '--yes'], { cwd: dir });
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(`✗ ${dir} is not a git repository. Run \`git init\` and make a first commit, then \`isollm init\`.`);
      expect(listing(dir)).toEqual([]);
    });

    it('in a repository without a commit', () => {
      const repo = gitRepo({ commit: false });
      const r = runCli(['init', '--yes'], { cwd: repo });
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(`✗ ${fs.realpathSync(repo)} has no commit yet. Commit something first: the workers start from a clone of it.`);
      expect(listing(repo)).toEqual([]);
    });

    it.each([
      [['--workers', '0'], '✗ --workers must be a whole number from 1 to 32 (got "0")'],
      [['--name', 'bad_name'], '✗ --name may contain only letters, digits and single hyphens, and must not end with a hyphen (got "bad_name")'],
      [['--agent', 'gpt'], '✗ --agent must be one of claude, codex, aider, gemini, opencode (got "gpt")'],
      [['--base', 'a..b'], '✗ --base is not a valid branch name: contains `..` (got "a..b")'],
    ])('with a bad flag value %j (exit 2)', (args, line) => {
      const repo = gitRepo();
      const r = runCli(['init', ...args], { cwd: repo });
      expect(r.stderr.trim()).toBe(line);
      expect(r.code).toBe(2);
      expect(listing(repo)).toEqual(['README.md']);
    });
  });

  it('refuses a --base that is no branch of the repository (exit 2), writing nothing', () => {
    const repo = gitRepo();
    const r = runCli(['init', '--base', 'mian'], { cwd: repo });
    expect(r.stderr.trim()).toBe(`✗ --base mian: no branch mian in ${fs.realpathSync(repo)} (branches: main). Pass one of them, or create it first.`);
    expect(r.code).toBe(2);
    expect(listing(repo)).toEqual(['README.md']);
  });

  it('asks on a terminal (a real pty through tmux), re-asking after an invalid answer', async () => {
    const repo = gitRepo({ branch: 'dev' });
    const term = startTerminal([NODE, path.join(ROOT, 'scripts/isollm.mts'), 'init', '--image', 'ubuntu:24.04'], { cwd: repo });
    await term.waitFor(/Project name/);
    term.keys('9bad', 'Enter');
    await term.waitFor(/must start with a letter/);
    term.keys('BSpace', 'BSpace', 'BSpace', 'BSpace', 'shiny', 'Enter');
    await term.waitFor(/Workers/);
    term.keys('5', 'Enter');
    await term.waitFor(/Agent/); // --image was given, so it is not asked
    expect(term.screen()).not.toMatch(/\? Image/);
    term.keys('Down', 'Enter');
    await term.waitFor(/Base branch.*dev/);
    term.keys('Enter');
    await term.waitFor(/Wrote/);
    expect(await term.exitCode()).toBe(0);
    const config = parseConfig(read(repo, 'isollm.yaml'), repo);
    expect(config).toMatchObject({ project: 'shiny', workers: 5, image: 'ubuntu:24.04', agent: { preset: 'codex' }, git: { base_branch: 'dev' } });
  });

  it('Ctrl-C at a prompt cancels, exits 0 and writes nothing', async () => {
    const repo = gitRepo();
    const term = startTerminal([NODE, path.join(ROOT, 'scripts/isollm.mts'), 'init'], { cwd: repo });
    await term.waitFor(/Project name/);
    term.keys('C-c');
    await term.waitFor(/Cancelled; nothing was changed/);
    expect(await term.exitCode()).toBe(0);
    expect(listing(repo)).toEqual(['README.md']);
  });
});

describe('templates/isollm.yaml', () => {
  const text = renderConfig({ name: 'x', workers: 3, image: 'images:debian/12', agent: 'claude', base: 'main' });

  it('mentions every key, set or commented, each after a line of explanation', () => {
    const lines = text.split('\n');
    for (const keyPath of schemaPaths().filter((p) => !['git', 'agent', 'agent.loop', 'queue', 'limits', 'multiplexer', 'runtime', 'notify'].includes(p))) {
      const key = keyPath.split('.').at(-1)!;
      const at = lines.findIndex((l) => new RegExp(`^[#\\s]*${key}:`).test(l));
      expect(at, keyPath).toBeGreaterThan(0);
      expect(lines[at - 1], `comment above ${keyPath}`).toMatch(/^\s*#/);
    }
  });

  it("puts each nested key in its own section's block (uncommented, it would belong there)", () => {
    const lines = text.split('\n');
    for (const keyPath of schemaPaths().filter((p) => p.includes('.'))) {
      const [section] = keyPath.split('.');
      const key = keyPath.split('.').at(-1)!;
      const start = lines.findIndex((l) => l === `${section}:`);
      expect(start, `section ${section}`).toBeGreaterThanOrEqual(0);
      const next = lines.findIndex((l, i) => i > start && /^[a-z_]+:/.test(l));
      const block = lines.slice(start + 1, next < 0 ? undefined : next);
      expect(block.some((l) => new RegExp(`^\\s+(#\\s*)?${key}:`).test(l)), `${keyPath} under ${section}:`).toBe(true);
    }
  });

  it('quotes values that YAML would misread', () => {
    const odd = renderConfig({ name: 'x', workers: 3, image: 'local: alias #1', agent: 'claude', base: 'true' });
    const config = parseConfig(odd, '/tmp/x');
    expect(config.image).toBe('local: alias #1');
    expect(config.git.base_branch).toBe('true');
  });
});
