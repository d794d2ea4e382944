// `npm run demo` end to end on real containers: every demo task done, each on its own branch in the
// hub; `--clean` leaves no container, no hub and no sample project. Needs `npm run test-env`.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listInstances } from '../../lib/runtime/client.ts';
import { git, ROOT, runNode } from '../helpers.ts';
import { e2eRuntime } from './runtime-available.ts';

const rt = await e2eRuntime('demo');
const name = `e2e-demo-${crypto.randomBytes(3).toString('hex')}`;
// Not tmpDir(): the demo lives across both tests (and --clean must remove it itself).
const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-e2e-demo-')), 'sample');
const hub = path.join(os.homedir(), '.isollm', `${name}.git`);
const demo = (args: string[]) => runNode([path.join(ROOT, 'scripts', 'demo.mts'), '--dir', dir, ...args], { timeout: 400_000, env: { CI: '1' } });

describe.skipIf(!rt)('npm run demo', () => {
  afterAll(async () => {
    // Only after a failure is anything left; take it down the way a user would.
    if (fs.existsSync(dir)) demo(['--clean']);
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  }, 120_000);

  it('finishes every task, each on its own branch in the hub', async () => {
    const r = demo(['--yes', '--name', name, '--delay', '0', '--timeout', '240']);
    expect(r.stderr).toContain('✓ Demo finished');
    expect(r.code).toBe(0);
    const ids = [...r.stderr.matchAll(/^ {4}(ar-[0-9a-f]+) {2}/gm)].map((m) => m[1]);
    expect(ids).toHaveLength(5);
    for (const id of ids) expect(r.stderr).toMatch(new RegExp(`✓ ${id} done \\(worker-[12]\\)`));
    // The queue's own history: the high-priority task was claimed first; the one waiting on it was
    // claimed only after it was done.
    const history = (id: string) => {
      const show = runNode([path.join(ROOT, 'scripts', 'isollm.mts'), 'task', 'show', id, '--json'], { cwd: dir });
      return (JSON.parse(show.stdout) as { history: { field?: string; new_value?: string; changed_at: string }[] }).history;
    };
    const at = (id: string, status: string) => history(id).find((e) => e.field === 'status' && e.new_value === status)!.changed_at;
    const claimed = ids.map((id) => at(id, 'in_progress'));
    expect(claimed[0]).toBe([...claimed].sort()[0]);
    expect(at(ids[0], 'done') <= claimed[1]).toBe(true);

    const branches = git(hub, 'for-each-ref', '--format=%(refname:short)', 'refs/heads/isollm/').split('\n').sort();
    expect(branches).toEqual(ids.map((id) => `isollm/${id}`).sort());
    for (const id of ids) expect(git(hub, 'show', `isollm/${id}:notes/${id}.md`)).toContain(`Task ${id}:`);
    expect(r.stdout).toMatch(new RegExp(`^  isollm/${ids[0]} \\*? *\\+1 .* done +✓ merges cleanly`, 'm'));

    // The printed merge line works as printed.
    const merge = /^ {2}cd (\S+) && (\S+) sync pull && git merge (isollm\/ar-[0-9a-f]+)$/m.exec(r.stdout);
    expect(merge?.[1]).toBe(dir);
    expect(runNode([path.join(ROOT, 'scripts', 'isollm.mts'), 'sync', 'pull'], { cwd: dir }).code).toBe(0);
    git(dir, 'merge', '-q', merge![3]);
    expect(fs.existsSync(path.join(dir, 'notes', `${merge![3].slice('isollm/'.length)}.md`))).toBe(true);
    expect((await listInstances(rt!, name)).filter((i) => i.worker).map((i) => i.status)).toEqual(['Running', 'Running']);
  }, 420_000);

  it('--clean leaves no container, no hub and no sample project', async () => {
    const r = demo(['--clean']);
    expect(r.stderr).toContain(`✓ The demo in ${dir} is gone`);
    expect(r.code).toBe(0);
    expect(await listInstances(rt!, name)).toEqual([]);
    expect(fs.existsSync(hub)).toBe(false);
    expect(fs.existsSync(dir)).toBe(false);
    // Again: nothing to do.
    expect(demo(['--clean']).stderr).toContain('nothing to clean');
  }, 120_000);
});
