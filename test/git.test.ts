import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  aheadBehind,
  branchCommit,
  currentBranch,
  forEachRef,
  hasCommits,
  isAncestor,
  isBareRepo,
  isRepo,
  mergePreview,
  parseForEachRef,
  parseLeftRight,
  parseMergeTree,
  parsePushPorcelain,
  refCommits,
  refDir,
  revParse,
} from '../lib/hub/git.ts';
import { git, gitRepo, tmpDir } from './helpers.ts';

function commitFile(repo: string, file: string, text: string, message: string): string {
  fs.writeFileSync(path.join(repo, file), text);
  git(repo, 'add', '--', file);
  git(repo, 'commit', '-qm', message);
  return git(repo, 'rev-parse', 'HEAD');
}

describe('git parsers', () => {
  it('reads rev-list --left-right --count as behind/ahead', () => {
    expect(parseLeftRight('3\t5\n')).toEqual({ behind: 3, ahead: 5 });
    expect(() => parseLeftRight('')).toThrow(/unexpected/);
  });

  it('reads merge-tree -z output: clean, conflicts, and a bad revision', () => {
    const tree = '8660a8fe1be07d36ef24263bd3015e8e26c5e706';
    expect(parseMergeTree(`${tree}\0`, 0)).toEqual({ clean: true, tree });
    expect(parseMergeTree(`${tree}\0f "x".txt\0g\0g\0`, 1)).toEqual({ clean: false, tree, conflicts: ['f "x".txt', 'g'] });
    expect(parseMergeTree('', 1)).toBeNull();
    expect(parseMergeTree(`${tree}\0`, 128)).toBeNull();
  });

  it('reads push --porcelain lines', () => {
    const out = 'To /hub.git\n!\trefs/heads/main:refs/heads/main\t[rejected] (non-fast-forward)\n*\trefs/heads/a:refs/heads/a\t[new branch]\nDone\n';
    expect(parsePushPorcelain(out)).toEqual([
      { flag: 'rejected', from: 'refs/heads/main', to: 'refs/heads/main', summary: '[rejected] (non-fast-forward)' },
      { flag: 'new', from: 'refs/heads/a', to: 'refs/heads/a', summary: '[new branch]' },
    ]);
  });

  it('reads for-each-ref records and lists prefixes by their directory', () => {
    expect(parseForEachRef('refs/heads/a\0abc\0x y\n', ['refname', 'objectname', 'subject'])).toEqual([{ refname: 'refs/heads/a', objectname: 'abc', subject: 'x y' }]);
    expect(refDir('refs/heads/task-')).toBe('refs/heads/');
    expect(refDir('refs/heads/isollm/')).toBe('refs/heads/isollm/');
  });
});

describe('git helpers on real repositories', () => {
  it('tells repositories, bare repositories and commit-less ones apart', async () => {
    const plain = tmpDir();
    expect(await isRepo(plain)).toBe(false);
    const empty = gitRepo({ commit: false });
    expect(await isRepo(empty)).toBe(true);
    expect(await hasCommits(empty)).toBe(false);
    expect(await currentBranch(empty)).toBe('main');
    expect(await revParse(empty, 'HEAD')).toBeNull();
    const repo = gitRepo();
    expect(await hasCommits(repo)).toBe(true);
    expect(await isBareRepo(repo)).toBe(false);
    const bare = path.join(tmpDir(), 'b.git');
    git(repo, 'clone', '-q', '--bare', repo, bare);
    expect(await isBareRepo(bare)).toBe(true);
  });

  it('reports a detached HEAD as no branch', async () => {
    const repo = gitRepo();
    git(repo, 'checkout', '-q', '--detach');
    expect(await currentBranch(repo)).toBeNull();
    expect(await hasCommits(repo)).toBe(true);
  });

  it('counts ahead/behind and ancestry, and resolves branches with unusual names', async () => {
    const repo = gitRepo();
    const base = git(repo, 'rev-parse', 'HEAD');
    const odd = "isollm/t$(touch${IFS}pwned);'\"&é+@x{}";
    git(repo, 'checkout', '-qb', odd);
    commitFile(repo, 'a.txt', 'a\n', 'one');
    const tip = commitFile(repo, 'b.txt', 'b\n', 'two');
    git(repo, 'checkout', '-q', 'main');
    commitFile(repo, 'c.txt', 'c\n', 'three');
    expect(await branchCommit(repo, odd)).toBe(tip);
    expect(await branchCommit(repo, 'nope')).toBeNull();
    expect(await aheadBehind(repo, 'main', tip)).toEqual({ ahead: 2, behind: 1 });
    expect(await isAncestor(repo, base, tip)).toBe(true);
    expect(await isAncestor(repo, 'main', tip)).toBe(false);
    expect(fs.existsSync(path.join(repo, 'pwned'))).toBe(false);
    const refs = await forEachRef(repo, ['refs/heads/isollm/'], ['refname', 'objectname']);
    expect(refs).toEqual([{ refname: `refs/heads/${odd}`, objectname: tip }]);
    expect([...(await refCommits(repo, 'refs/heads/')).keys()].sort()).toEqual([`refs/heads/${odd}`, 'refs/heads/main']);
  });

  it('previews merges without touching the working tree, naming conflicting files', async () => {
    const repo = gitRepo();
    const weird = 'we ird "name".txt';
    commitFile(repo, weird, 'base\n', 'add file');
    git(repo, 'checkout', '-qb', 'clean');
    commitFile(repo, 'new.txt', 'new\n', 'clean change');
    git(repo, 'checkout', '-qb', 'clash', 'main');
    commitFile(repo, weird, 'theirs\n', 'clash change');
    git(repo, 'checkout', '-q', 'main');
    commitFile(repo, weird, 'ours\n', 'main change');
    const before = git(repo, 'status', '--porcelain');
    expect(await mergePreview(repo, 'main', 'clean')).toMatchObject({ clean: true });
    expect(await mergePreview(repo, 'main', 'clash')).toMatchObject({ clean: false, conflicts: [weird] });
    await expect(mergePreview(repo, 'main', 'no-such-branch')).rejects.toThrow(/merge-tree/);
    expect(git(repo, 'status', '--porcelain')).toBe(before);
    expect(fs.readFileSync(path.join(repo, weird), 'utf8')).toBe('ours\n');
  });
});
