// land.test runs inside a container, never on the host: the candidate is agent code. One container
// per landing run, made from the project's image and setup_script (run once as root), tagged as the
// project's lander (never a worker). Each run gets the candidate commit as a git bundle pushed in
// (the container does not see the hub), a fresh checkout as `dev`, and land.test as argv.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../cli/errors.ts';
import type { Config } from '../config/load.ts';
import { gitNothrow, gitRun, HUB_SAFE_CONFIG } from '../hub/git.ts';
import {
  deleteInstance,
  execIn,
  execOk,
  execStream,
  FAST_POOL,
  launchInstance,
  listInstances,
  listStoragePools,
  PROJECT_KEY,
  pushFile,
  pushText,
  waitForExec,
  type Runtime,
} from '../runtime/client.ts';
import { LAND_REF_PREFIX } from './integrate.ts';
import type { TestOutcome } from './train.ts';

/** Tags the lander's container (it has no user.isollm.worker, so no worker list shows it). */
export const LANDER_KEY = 'user.isollm.lander';
const HOME = '/home/dev';
const CHECKOUT = `${HOME}/land`;
const BUNDLE = `${HOME}/.land.bundle`;
/** Marks a line of the test's own output in the progress (the rest is the tester's). */
export const TEST_OUTPUT_MARK = '│';
/** Lines of the test's output kept for progress and for the note on a handed-back task. */
export const TAIL_LINES = 30;
const CHECKOUT_SCRIPT = 'set -e; rm -rf "$1"; git init --quiet "$1"; cd "$1"; git fetch --quiet "$2" "$3"; git -c advice.detachedHead=false checkout --quiet --detach "$4"';
const SETUP_TIMEOUT_MS = 30 * 60_000;
const CHECKOUT_TIMEOUT_MS = 5 * 60_000;

export type Tester = {
  container: string;
  run(commit: string): Promise<TestOutcome>;
  close(): Promise<void>;
};

export type TesterProgress = (line: string) => void;

/** The last `n` lines of `text`, without trailing blank lines. */
export function tail(text: string, n = TAIL_LINES): string {
  const lines = text.replace(/\s+$/, '').split('\n');
  return lines.slice(-n).join('\n');
}

export function landerName(project: string): string {
  return `${project}-land-${randomBytes(2).toString('hex')}`;
}

/** Delete lander containers of this project left by a run that was killed. */
export async function removeStaleLanders(rt: Runtime, project: string, keep?: string): Promise<string[]> {
  const stale = (await listInstances(rt, project)).filter((i) => i.config[LANDER_KEY] === 'true' && i.name !== keep);
  for (const i of stale) await deleteInstance(rt, i.name);
  return stale.map((i) => i.name);
}

export async function openTester(rt: Runtime, config: Config, progress: TesterProgress = () => {}): Promise<Tester> {
  const argv = config.land.test;
  if (!argv.length) throw new Error('openTester needs land.test');
  const container = landerName(config.project);
  const storage = (await listStoragePools(rt)).includes(FAST_POOL) ? FAST_POOL : undefined;
  progress(`launching the test container ${container} from ${config.image}`);
  await launchInstance(rt, { name: container, image: config.image, config: { [PROJECT_KEY]: config.project, [LANDER_KEY]: 'true' }, storage });
  try {
    await waitForExec(rt, container);
    if ((await execIn(rt, container, ['id', '-u', 'dev'])).exitCode !== 0) {
      await execOk(rt, container, ['useradd', '--create-home', '--shell', '/bin/bash', '--user-group', 'dev']);
    }
    if (config.setup_script) {
      progress('running setup_script');
      await pushText(rt, container, '/root/isollm-setup.sh', config.setup_script, { uid: 0, gid: 0, mode: 0o700 });
      const command = config.setup_script.startsWith('#!') ? ['/root/isollm-setup.sh'] : ['sh', '/root/isollm-setup.sh'];
      // The sh -c text is constant; the command comes in as arguments. One stream keeps the order.
      const r = await execIn(rt, container, ['sh', '-c', 'exec "$@" 2>&1', 'sh', ...command], { cwd: '/root', timeout: SETUP_TIMEOUT_MS });
      if (r.exitCode !== 0) throw new UserError(`setup_script failed in the test container (exit ${r.exitCode}):`, { detail: tail(r.stdout + r.stderr) });
    }
  } catch (err) {
    await deleteInstance(rt, container).catch(() => undefined);
    throw err;
  }
  const uid = Number((await execOk(rt, container, ['id', '-u', 'dev'])).trim());
  const gid = Number((await execOk(rt, container, ['id', '-g', 'dev'])).trim());
  const asDev = { user: uid, group: gid, env: { HOME, USER: 'dev', LOGNAME: 'dev' } };
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'isollm-land-bundle-'));
  const hub = config.git.hub;

  return {
    container,
    async run(commit) {
      const started = Date.now();
      // A bundle needs a ref: a scratch one, named after the commit, deleted with the others at the end.
      const ref = `${LAND_REF_PREFIX}test-${commit.slice(0, 12)}`;
      await gitRun(hub, [...HUB_SAFE_CONFIG, 'update-ref', ref, commit]);
      const bundle = path.join(scratch, 'candidate.bundle');
      await gitRun(hub, ['bundle', 'create', '--quiet', bundle, ref]);
      await pushFile(rt, container, bundle, BUNDLE, { uid, gid, mode: 0o600 });
      await gitNothrow(hub, [...HUB_SAFE_CONFIG, 'update-ref', '-d', ref]);
      // A fresh checkout of exactly `commit` (the bundle's ref is only a carrier; the id is checked
      // out), in one exec: the script is constant, the values come in as arguments.
      await execOk(rt, container, ['sh', '-c', CHECKOUT_SCRIPT, 'sh', CHECKOUT, BUNDLE, ref, commit], { ...asDev, cwd: HOME, timeout: CHECKOUT_TIMEOUT_MS });
      // The test's output goes to the progress as it comes (the lander's pane shows it live).
      const r = await execStream(rt, container, ['sh', '-c', 'exec "$@" 2>&1', 'sh', ...argv], {
        ...asDev,
        cwd: CHECKOUT,
        timeout: config.land.timeout * 1000,
      }, (line) => progress(`${TEST_OUTPUT_MARK} ${line}`)).catch((err: unknown) => {
        // The runtime's timeout: the test hung.
        if (err instanceof UserError && /no answer within/.test(err.message)) return { exitCode: null, stdout: `land.test gave no answer within ${config.land.timeout}s (land.timeout)`, stderr: '' };
        throw err;
      });
      const exitCode = r.exitCode;
      return { passed: exitCode === 0, exitCode, tail: tail(r.stdout + r.stderr), seconds: (Date.now() - started) / 1000 };
    },
    async close() {
      fs.rmSync(scratch, { recursive: true, force: true });
      await deleteInstance(rt, container);
    },
  };
}
