// `isollm setup` and the CI test environment share this: make the host ready to run workers. Each
// step checks first and reports "already done"; the first step that has work asks once (on a TTY)
// before anything changes.
import fs from 'node:fs';
import os from 'node:os';
import { readOsRelease } from './apt-source.ts';
import { UserError } from '../cli/errors.ts';
import { formatDuration } from '../cli/ui.ts';
import {
  addUserToGroup,
  aptInstall,
  applyPreseed,
  enableSuite,
  installPlan,
  isRoot,
  manualSteps,
  hostPreseed,
  INOTIFY_INSTANCES,
  inotifyInstances,
  raiseInotifyInstances,
  startDaemon,
  userInGroup,
} from './host-daemon.ts';
import { buildImage, cachedImage, importImage, isCached } from './image-build.ts';
import { FAST_POOL, hasStoragePool, listStoragePools, lookupImage, parseImageRef, pingRuntime, runClient } from './client.ts';
import { resolveRuntime, runtimeLabel, type RuntimeKind } from './choose.ts';
import { classifyFailure, findOnPath, RUNTIMES, type Runtime, type RuntimeName } from './detect.ts';

/** How long we wait for a remote image server before building the image locally instead. */
export const REMOTE_IMAGE_TIMEOUT_MS = 20_000;
export const REMOTE_COPY_TIMEOUT_MS = 10 * 60_000;

export type StepResult = { title: string; status: 'done' | 'already'; note?: string; ms?: number };

export type SetupOptions = {
  /** A runtime the caller forces (else the rule every command uses: `--runtime`, `kind`, auto). */
  runtime?: RuntimeName;
  /** `runtime.kind` from isollm.yaml. */
  kind?: RuntimeKind;
  /** Where `kind` came from (default `runtime.kind`). */
  kindFrom?: string;
  /** The project, when setup runs in one: its containers count in the auto rule. */
  project?: string;
  /** Image ref to make available locally (e.g. `isollm-test` or `images:debian/12`). */
  image: string;
  /** Called once before the first change, with what is about to happen; false cancels. */
  confirm: (plan: string[]) => Promise<boolean>;
  /** Progress lines (stderr). */
  log: (line: string) => void;
  /** Host tools to install when missing (the test environment adds tmux and debootstrap). */
  tools?: string[];
};

type Step = { title: string; check: () => Promise<boolean>; run: () => Promise<string | void>; plan: string };

/**
 * The runtime setup works on: the one every command would use (choose.ts); with neither installed,
 * LXD, which comes from Debian's main archive.
 */
export async function setupRuntime(options: Pick<SetupOptions, 'runtime' | 'kind' | 'kindFrom' | 'project' | 'image'>): Promise<{ kind: RuntimeName; reason: string }> {
  const choice = await resolveRuntime({ kind: options.runtime ?? options.kind, kindFrom: options.runtime ? '--runtime' : options.kindFrom, project: options.project, image: options.image });
  if (choice.kind) return { kind: choice.kind, reason: choice.reason };
  return { kind: 'lxd', reason: "neither is installed; LXD comes from Debian's main archive" };
}

export type SetupResult = { runtime: RuntimeName; reason: string; steps: StepResult[] };

export async function setupHost(options: SetupOptions): Promise<SetupResult> {
  const chosen = await setupRuntime(options);
  options.log(`runtime: ${runtimeLabel(chosen.kind)} (${chosen.reason})`);
  let rt: Runtime = RUNTIMES[chosen.kind];
  const { id, codename, like } = readOsRelease();
  const debianLike = id === 'debian' || id === 'ubuntu' || like.includes('debian');
  const user = os.userInfo().username;
  const plan = installPlan(rt.kind, codename);
  const preseed = await hostPreseed(rt.kind);

  // Before the new group applies to this login, talk to the daemon through sudo.
  const reachable = async (): Promise<'ok' | 'daemon' | 'permission'> => {
    try {
      await pingRuntime(rt);
      return 'ok';
    } catch (err) {
      const failure = classifyFailure(String((err as { detail?: string }).detail ?? (err as Error).message));
      if (failure === 'permission' && !isRoot()) {
        rt = { ...rt, prefix: ['sudo'] };
        return (await reachable()) === 'ok' ? 'ok' : 'permission';
      }
      return failure === 'permission' ? 'permission' : 'daemon';
    }
  };

  const tools = (options.tools ?? []).filter((t) => !findOnPath(t));
  const toolSteps: Step[] = options.tools?.length
    ? [
        {
          title: `host tools (${options.tools.join(', ')})`,
          plan: `install ${tools.join(' ')} with apt-get`,
          check: async () => tools.length === 0,
          run: async () => {
            await aptInstall(tools);
            return `installed ${tools.join(' ')}`;
          },
        },
      ]
    : [];
  const steps: Step[] = [
    ...toolSteps,
    {
      title: `${rt.kind} installed`,
      plan: `install ${plan.packages.join(' ')} with apt-get${plan.addSuite ? ` (adding ${plan.addSuite} to the apt source)` : ''}`,
      check: async () => findOnPath(rt.bin) !== null,
      run: async () => {
        if (!debianLike) throw new UserError(`This is not a Debian or Ubuntu host. ${manualSteps(rt.kind)}`);
        if (plan.addSuite) await enableSuite(plan.addSuite);
        await aptInstall(plan.packages, plan.aptArgs);
        return `installed ${plan.packages.join(' ')}`;
      },
    },
    {
      // Where the runtime cannot do idmapped mounts (LXD 5.0), workers reach the hub through POSIX
      // ACLs (lib/hub/access.ts), so setfacl is needed on the host.
      title: 'acl (setfacl) installed',
      plan: 'install acl with apt-get (setfacl shares the hub with workers)',
      check: async () => findOnPath('setfacl') !== null,
      run: async () => {
        if (!debianLike) throw new UserError('setfacl is missing and this is not a Debian or Ubuntu host: install the acl package yourself, then run `isollm setup` again.');
        await aptInstall(['acl']);
        return 'installed acl';
      },
    },
    {
      title: `${user} in the ${rt.group} group`,
      plan: `add ${user} to the ${rt.group} group (takes effect at the next login)`,
      check: async () => isRoot() || userInGroup(rt.group, user),
      run: async () => {
        await addUserToGroup(rt.group, user);
        return `added; log in again (or run \`newgrp ${rt.group}\`) to use it`;
      },
    },
    {
      title: `${rt.kind} daemon running`,
      plan: `start the ${rt.kind} daemon`,
      check: async () => (await reachable()) !== 'daemon',
      run: async () => startDaemon(rt),
    },
    {
      title: 'storage pool and network',
      plan: `initialise ${rt.kind} with this preseed:\n${preseed.yaml.trimEnd().replace(/^/gm, '    ')}`,
      check: async () => hasStoragePool(rt),
      run: async () => {
        // Routes are read again: the plan may be minutes old (apt-get, daemon start).
        const now = await hostPreseed(rt.kind);
        await applyPreseed(rt, now.yaml);
        return `dir pool "default", bridge ${now.bridge} (${now.subnet})`;
      },
    },
    {
      title: `inotify instances for many containers (≥ ${INOTIFY_INSTANCES})`,
      plan: `raise fs.inotify.max_user_instances from ${inotifyInstances()} to ${INOTIFY_INSTANCES}: every container's systemd takes several, and the default stops the ~21st container`,
      check: async () => (inotifyInstances() ?? INOTIFY_INSTANCES) >= INOTIFY_INSTANCES,
      run: async () => {
        const before = inotifyInstances();
        await raiseInotifyInstances();
        return `fs.inotify.max_user_instances ${before} → ${INOTIFY_INSTANCES}`;
      },
    },
    {
      // On a dir pool every worker is a full unpack of the image and every snapshot a full copy
      // (measured here: 4 workers in parallel took 2.9× one). A btrfs pool clones and snapshots in
      // well under a second. Where the kernel has no btrfs, workers stay on the default pool.
      title: `copy-on-write pool "${FAST_POOL}"`,
      plan: `create a btrfs storage pool "${FAST_POOL}" (a ${FAST_POOL_SIZE} sparse file) for workers${findOnPath('mkfs.btrfs') ? '' : ', installing btrfs-progs'}`,
      check: async () => !btrfsSupported() || (await listStoragePools(rt)).includes(FAST_POOL),
      run: async () => {
        if (!findOnPath('mkfs.btrfs')) {
          if (!debianLike) return 'skipped: install btrfs-progs for faster workers';
          await aptInstall(['btrfs-progs']);
        }
        await createBtrfsPool(rt);
        return `btrfs pool "${FAST_POOL}"`;
      },
    },
    imageStep(() => rt, options),
  ];

  const results: StepResult[] = [];
  let confirmed = false;
  for (const [index, step] of steps.entries()) {
    if (await step.check()) {
      results.push({ title: step.title, status: 'already' });
      options.log(`✓ ${step.title}: already done`);
      continue;
    }
    if (!confirmed) {
      const todo = steps.slice(index).map((s) => s.plan);
      if (!(await options.confirm(todo))) throw new UserError('Setup cancelled; nothing was changed.', { exitCode: 0 });
      confirmed = true;
    }
    options.log(`● ${step.title}…`);
    const started = Date.now();
    const note = (await step.run()) ?? undefined;
    const ms = Date.now() - started;
    results.push({ title: step.title, status: 'done', note, ms });
    options.log(`✓ ${step.title}${note ? `: ${note}` : ''} (${formatDuration(ms)})`);
  }
  return { runtime: chosen.kind, reason: chosen.reason, steps: results };
}

function imageStep(rt: () => Runtime, options: SetupOptions): Step {
  const ref = parseImageRef(options.image);
  const cache = cachedImage();
  return {
    title: `image ${options.image}`,
    plan: ref.remote
      ? `copy ${options.image} from its image server, or build it locally (debootstrap) under the alias ${ref.alias} when the server is unreachable`
      : `build image ${ref.alias} locally (debootstrap, cached in ${cache.dir}) and import it`,
    check: async () => (await lookupImage(rt(), options.image)) !== null,
    run: async () => {
      if (ref.remote && (await copyRemoteImage(rt(), options.image, ref.alias))) return `copied from ${ref.remote}:`;
      let note = 'from cache';
      if (!isCached(cache)) {
        if (!findOnPath('debootstrap') && !findOnPath('debootstrap', '/usr/sbin:/sbin')) await aptInstall(['debootstrap']);
        const started = Date.now();
        await buildImage(cache, undefined, (line) => options.log(`  ${line}`));
        note = `built in ${Math.round((Date.now() - started) / 1000)}s, cached in ${cache.dir}`;
      }
      await importImage(rt(), cache, ref.alias);
      return `imported as ${ref.alias} (${note})`;
    },
  };
}

/** Copy `remote:alias` into the local store; false when the server cannot be reached in time. */
async function copyRemoteImage(rt: Runtime, image: string, alias: string): Promise<boolean> {
  const probe = await runClient(rt, ['image', 'info', image], { timeout: REMOTE_IMAGE_TIMEOUT_MS }).catch(() => null);
  if (probe?.exitCode !== 0) return false;
  const r = await runClient(rt, ['image', 'copy', image, 'local:', '--alias', alias], { timeout: REMOTE_COPY_TIMEOUT_MS });
  return r.exitCode === 0;
}

export const FAST_POOL_SIZE = '30GiB';

/** The kernel can mount btrfs (LXD then makes the pool on a loop file). */
export function btrfsSupported(): boolean {
  try {
    return /\sbtrfs$/m.test(fs.readFileSync('/proc/filesystems', 'utf8'));
  } catch {
    return false;
  }
}

async function createBtrfsPool(rt: Runtime): Promise<void> {
  const r = await runClient(rt, ['storage', 'create', FAST_POOL, 'btrfs', `size=${FAST_POOL_SIZE}`], { timeout: 120_000 });
  if (r.exitCode !== 0) throw new UserError(`Could not create the btrfs pool "${FAST_POOL}": ${r.stderr.trim()}`);
}
