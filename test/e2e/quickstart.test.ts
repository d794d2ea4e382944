// The README's quick start, followed in order in a fresh temporary project with the default image
// reference (`images:debian/12`): `isollm setup` → `isollm init` (defaults) → `isollm doctor` →
// `isollm queue start` → `isollm task add` →
// `isollm up` → the task done on its branch → `sync pull` and merge → `isollm down`. No image server
// is reachable here, so setup satisfies the image locally (under the alias `debian/12`) and `up` must
// launch from that. Deviations, because no model account exists and other tests run beside it: the
// agent is the scripted demo agent (loop mode) and the queue port a free one.
// Runs on the runtime the harness chose (ISOLLM_TEST_RUNTIME=incus for Incus).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { deleteInstance, listInstances } from '../../lib/runtime/client.ts';
import { freePort, git, runCli } from '../helpers.ts';
import { e2eRuntime } from './runtime-available.ts';

const rt = await e2eRuntime('quick start');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-qs-'));
// The directory name becomes the project name (init's default): unique per run.
const root = path.join(work, `qs-${crypto.randomBytes(3).toString('hex')}`);
const STEP_MS = 120_000;
const UP_MS = 300_000;

// `up` picks tmux here (multiplexer auto): a private tmux server, never the user's.
const tmuxDir = path.join(work, 'tmux');
fs.mkdirSync(tmuxDir);
const ENV: NodeJS.ProcessEnv = { TMUX_TMPDIR: tmuxDir, TMUX: undefined };
const cli = (args: string[], timeout = STEP_MS) => runCli(args, { cwd: root, timeout, env: ENV });
function isollm(args: string[], timeout?: number): { stdout: string; stderr: string } {
  const r = cli(args, timeout);
  if (r.code !== 0) throw new Error(`isollm ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r;
}

describe.skipIf(!rt)('the quick start, to the letter (real containers, no image server)', () => {
  let project = '';
  let hub = '';

  afterAll(async () => {
    if (project) for (const i of await listInstances(rt!, project).catch(() => [])) await deleteInstance(rt!, i.name).catch(() => undefined);
    if (fs.existsSync(path.join(root, 'isollm.yaml'))) cli(['queue', 'stop']);
    if (hub) fs.rmSync(hub, { recursive: true, force: true });
    spawnSync('tmux', ['kill-server'], { env: { ...process.env, TMUX_TMPDIR: tmuxDir } });
    fs.rmSync(work, { recursive: true, force: true });
  }, STEP_MS);

  it('setup → init → task add → up → the task done on its branch → merge → down', async () => {
    fs.mkdirSync(root);
    git(root, 'init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(root, 'README.md'), '# my app\n');
    git(root, 'add', '.');
    git(root, 'commit', '-qm', 'initial');

    // setup: the default image reference; the server cannot be reached, so it is built (cached) locally.
    const setup = isollm(['setup', '--yes'], 600_000);
    expect(setup.stderr).toMatch(/✓ image images:debian\/12: (already done|imported as debian\/12)/);

    const init = isollm(['init']);
    const config = YAML.parse(fs.readFileSync(path.join(root, 'isollm.yaml'), 'utf8'));
    expect(config.image ?? 'images:debian/12').toBe('images:debian/12');
    project = config.project;
    expect(project).toBe(path.basename(root));
    hub = config.git?.hub ?? path.join(os.homedir(), '.isollm', `${project}.git`);
    expect(init.stdout + init.stderr).toContain('isollm.yaml');

    // No model account here: the scripted agent, and a free queue port (other tests run beside this one).
    config.agent = { ...config.agent, preset: 'custom', command: 'isollm-demo-agent', mode: 'loop', env: ['ISOLLM_DEMO_DELAY'], loop: { poll_interval: 1 } };
    config.queue = { ...config.queue, port: await freePort() };
    fs.writeFileSync(path.join(root, 'isollm.yaml'), YAML.stringify(config));

    // doctor: everything ✓, and it says which local image up will launch.
    const doctor = isollm(['doctor']);
    expect(doctor.stdout).toMatch(/^✓ image images:debian\/12: present locally \([0-9a-f]{12}\); up and worker add use the local image debian\/12, no image server is asked$/m);
    expect(doctor.stdout).toMatch(new RegExp(`^✓ container runtime: ${rt!.kind === 'lxd' ? 'LXD' : 'Incus'} `, 'm'));

    isollm(['queue', 'start']);
    const id = (JSON.parse(isollm(['task', 'add', 'Fix the login form validation', '-p', 'high', '--json']).stdout) as { id: string }).id;
    const started = Date.now();
    const up = runCli(['up'], { cwd: root, timeout: UP_MS, env: { ...ENV, ISOLLM_DEMO_DELAY: '0' } });
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).not.toMatch(/Failed getting remote image|no such host/);
    expect((await listInstances(rt!, project)).filter((i) => i.worker).length).toBe(config.workers ?? 3);

    let status = '';
    while (Date.now() - started < UP_MS) {
      status = (JSON.parse(isollm(['task', 'list', '--json']).stdout) as { id: string; status: string }[]).find((t) => t.id === id)?.status ?? 'missing';
      if (status === 'done') break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(status).toBe('done');

    isollm(['sync', 'status']);
    isollm(['sync', 'pull']);
    git(root, 'merge', '-q', '--no-edit', `isollm/${id}`);
    expect(fs.readFileSync(path.join(root, 'notes', `${id}.md`), 'utf8')).toContain('Fix the login form validation');

    isollm(['down', '--yes'], UP_MS);
    expect((await listInstances(rt!, project)).every((i) => i.status === 'Stopped')).toBe(true);
  }, 600_000 + 2 * UP_MS);
});
