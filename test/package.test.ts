// The package as users get it (issue: installable package, copyable scripts): `npm pack`, installed
// globally into a temp prefix and as a dev dependency of a temp project, run by the machine's own
// node (20 here, so the bin must start the Node 24 the package depends on); and two scripts copied
// into that project, run with `npx zx`.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/net.ts';
import { installGlobal, installInProject, packTarball, runAsUser } from './support/package.ts';
import { ROOT, tmpDir } from './helpers.ts';

const SLOW_MS = 300_000;
let tarball = '';
let work = '';

beforeAll(() => {
  work = fs.mkdtempSync(path.join('/tmp', 'isollm-package-'));
  tarball = packTarball(work);
  return () => fs.rmSync(work, { recursive: true, force: true });
}, SLOW_MS);

function gitRepo(): string {
  const dir = tmpDir('isollm-pkg-repo-');
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: dir });
  execFileSync('git', ['-c', 'user.name=T', '-c', 'user.email=t@x', 'commit', '-q', '--allow-empty', '-m', 'x'], { cwd: dir });
  return dir;
}

/** doctor --json answers with its checks whether or not this machine passes them (exit 0 or 1). */
function expectDoctorJson(r: { code: number; stdout: string }) {
  expect([0, 1]).toContain(r.code);
  const report = JSON.parse(r.stdout) as { ok: boolean; checks: { id: string; status: string }[] };
  expect(report.checks.map((c) => c.id)).toContain('git');
  expect(report.checks.find((c) => c.id === 'git')?.status).toBe('ok');
}

describe('npm pack', () => {
  it('holds JavaScript built from the sources, with types, and exports pointing at it', () => {
    const list = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n');
    expect(list).toContain('package/dist/lib/cli/index.js');
    expect(list).toContain('package/dist/lib/cli/index.d.ts');
    expect(list).toContain('package/dist/lib/queue/main.js');
    expect(list).toContain('package/dist/scripts/isollm.mjs');
    expect(list).toContain('package/templates/isollm-task');
    // The TypeScript library is not shipped (Node would refuse it under node_modules); the scripts
    // are, as the source of `copy a script into your project`.
    expect(list.filter((f) => /^package\/lib\/.*\.ts$/.test(f))).toEqual([]);
    expect(list).toContain('package/scripts/status.mts');
    const manifest = JSON.parse(execFileSync('tar', ['xzf', tarball, '-O', 'package/package.json'], { encoding: 'utf8' }));
    expect(manifest.exports['./*']).toEqual({ types: './dist/lib/*/index.d.ts', default: './dist/lib/*/index.js' });
    expect(Object.keys(manifest.dependencies)).toContain('node');
  });

  it('installed globally: isollm --help, doctor --json and init --yes, on the system node', () => {
    expect(runAsUser('node', ['--version'], work).stdout).not.toBe(''); // whatever it is, the bin copes
    const bin = installGlobal(tarball, tmpDir('isollm-pkg-prefix-'));
    const help = runAsUser(bin, ['--help'], work);
    expect(help.stderr).toBe('');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: isollm <command> \[flags\]$/m);
    expect(runAsUser(bin, ['--version'], work).stdout.trim()).toBe(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
    expectDoctorJson(runAsUser(bin, ['doctor', '--json'], work));
    // The demo is a command of the package too (a checkout also has `npm run demo`).
    const demo = runAsUser(bin, ['demo', '--help'], work);
    expect(demo.code).toBe(0);
    expect(demo.stdout).toMatch(/^Usage: isollm demo \[flags\]$/m);
    expect(demo.stdout).toContain('`isollm demo --clean` removes it');
    const repo = gitRepo();
    const init = runAsUser(bin, ['init', '--yes', '--workers', '2'], repo);
    expect(init.code).toBe(0);
    expect(fs.readFileSync(path.join(repo, 'isollm.yaml'), 'utf8')).toMatch(/^workers: 2$/m);
  }, SLOW_MS);

  it('as a dev dependency: npx isollm, and scripts copied into the project run with npx zx', async () => {
    const project = path.join(tmpDir('isollm-pkg-proj-'), 'myapp');
    installInProject(tarball, project);
    const npx = (...args: string[]) => runAsUser('npx', args, project);
    expect(npx('isollm', '--help').stdout).toMatch(/^Usage: isollm <command> \[flags\]$/m);
    expectDoctorJson(npx('isollm', 'doctor', '--json'));
    expect(npx('isollm', 'init', '--yes').code).toBe(0);
    const port = await freePort();
    const yaml = path.join(project, 'isollm.yaml');
    fs.writeFileSync(yaml, fs.readFileSync(yaml, 'utf8').replace(/^ {2}# port: \d+$/m, `  port: ${port}`));

    fs.mkdirSync(path.join(project, 'scripts'));
    for (const script of ['status.mts', 'task.mts']) fs.copyFileSync(path.join(ROOT, 'scripts', script), path.join(project, 'scripts', script));
    const help = npx('zx', 'scripts/status.mts', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: isollm status \[flags\]$/m);
    const status = npx('zx', 'scripts/status.mts');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^isollm · myapp · 0\/0 workers running$/m);

    // The queue server the package starts is the built one; a copied script talks to it.
    expect(npx('isollm', 'queue', 'start').code).toBe(0);
    try {
      const add = npx('zx', 'scripts/task.mts', 'add', 'copied scripts work', '--json');
      expect(add.stderr).toBe('');
      const id = JSON.parse(add.stdout).id as string;
      const list = JSON.parse(npx('zx', 'scripts/task.mts', 'list', '--json').stdout) as { id: string; title: string }[];
      expect(list).toEqual([expect.objectContaining({ id, title: 'copied scripts work' })]);
      expect(JSON.parse(npx('zx', 'scripts/status.mts', '--json').stdout).tasks.open).toBe(1);
    } finally {
      npx('isollm', 'queue', 'stop');
    }
  }, SLOW_MS);
});
