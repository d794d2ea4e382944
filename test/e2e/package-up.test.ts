// The installed package on real containers: `npm pack`, `npm i -g` into a temp prefix, then that
// `isollm` (built JavaScript, the bundled Node 24, the package's own templates and queue server) runs
// `up` on a project with the scripted demo agent until the task is done on its branch, and `down`;
// and `isollm demo`, the installed package's way to the demo, until its backlog is done, then --clean.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUNTIME_ENV } from '../../lib/runtime/choose.ts';
import { deleteInstance, listInstances } from '../../lib/runtime/client.ts';
import { git } from '../helpers.ts';
import { freePort } from '../support/net.ts';
import { installGlobal, packTarball, runAsUser } from '../support/package.ts';
import { e2eConfigYaml, e2eRuntime, TEST_IMAGE } from './runtime-available.ts';

const rt = await e2eRuntime('package-up');
const project = `e2e-pkg-${crypto.randomBytes(3).toString('hex')}`;
const demoName = `${project}-demo`;
const work = fs.mkdtempSync(path.join('/tmp', 'isollm-e2e-pkg-'));
const root = path.join(work, 'repo');
const hub = path.join(work, 'hub.git');
const SLOW_MS = 300_000;
// The package runs with a clean environment: it gets the harness's runtime explicitly (with both LXD and
// Incus installed, its own choice could be the other one).
const ENV = { ISOLLM_DEMO_DELAY: '0', ...(rt ? { [RUNTIME_ENV]: rt.kind } : {}) };

describe.skipIf(!rt)('the installed package runs up on real containers', () => {
  let bin = '';
  const isollm = (args: string[]) => runAsUser(bin, args, root, ENV, SLOW_MS);

  beforeAll(async () => {
    bin = installGlobal(packTarball(work), path.join(work, 'prefix'));
    fs.mkdirSync(root);
    git(root, 'init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(root, '.gitignore'), '.isollm/\n');
    const agent = { preset: 'custom', command: 'isollm-demo-agent', mode: 'loop', env: ['ISOLLM_DEMO_DELAY'], loop: { poll_interval: 1 } };
    fs.writeFileSync(path.join(root, 'isollm.yaml'), e2eConfigYaml({ project, hub, port: await freePort(), agent }).replace(/^workers: \d+$/m, 'workers: 1'));
    git(root, 'add', '.');
    git(root, '-c', 'user.name=T', '-c', 'user.email=t@x', 'commit', '-qm', 'initial');
  }, SLOW_MS);

  afterAll(async () => {
    if (bin) isollm(['down', '--destroy', '--yes']);
    for (const i of [...(await listInstances(rt!, project)), ...(await listInstances(rt!, demoName))]) await deleteInstance(rt!, i.name);
    if (bin) isollm(['queue', 'stop']);
    fs.rmSync(work, { recursive: true, force: true });
  }, SLOW_MS);

  it('up: the task is done on its own branch in the hub; down stops it all', async () => {
    expect(isollm(['queue', 'start']).code).toBe(0);
    const add = isollm(['task', 'add', 'from the package', '--json']);
    const id = JSON.parse(add.stdout).id as string;
    const up = isollm(['up', '--multiplexer', 'none']);
    expect(up.code, up.stderr).toBe(0);
    const deadline = Date.now() + 120_000;
    let status = '';
    while (Date.now() < deadline) {
      status = JSON.parse(isollm(['task', 'show', id, '--json']).stdout).task.status;
      if (status === 'done' || status === 'blocked') break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(status).toBe('done');
    expect(git(hub, 'log', '-1', '--format=%s', `isollm/${id}`)).toBe(`${id}: notes from the demo agent`);
    const down = isollm(['down', '--yes']);
    expect(down.code, down.stderr).toBe(0);
    expect((await listInstances(rt!, project)).filter((i) => i.worker).map((i) => i.status)).toEqual(['Stopped']);
  }, SLOW_MS);

  it('demo: `isollm demo` finishes its backlog in containers and says how to clean up; --clean removes it all', async () => {
    const dir = path.join(work, 'demo');
    const demo = isollm(['demo', '--yes', '--dir', dir, '--name', demoName, '--image', TEST_IMAGE, '--runtime', rt!.kind, '-n', '1', '--delay', '0']);
    expect(demo.code, demo.stderr).toBe(0);
    expect(demo.stderr).toMatch(/Demo finished in \S+: 5 of 5 tasks done/);
    // Started by the installed bin (not `npm run`): the lines it prints name that bin.
    expect(demo.stdout).toMatch(new RegExp(`^Remove everything: \\S+/bin/isollm\\.mjs demo --clean --dir ${dir}$`, 'm'));
    expect((await listInstances(rt!, demoName)).filter((i) => i.worker).map((i) => i.status)).toEqual(['Running']);
    const clean = isollm(['demo', '--clean', '--dir', dir]);
    expect(clean.code, clean.stderr).toBe(0);
    expect(fs.existsSync(dir)).toBe(false);
    expect(await listInstances(rt!, demoName)).toEqual([]);
  }, SLOW_MS);
});
