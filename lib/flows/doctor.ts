// `isollm doctor`: every prerequisite as one check with its exact fix. Checks return data; the script prints.
import fs from 'node:fs';
import net from 'node:net';
import { $ } from 'zx/core';
import { loadConfig, type Config } from '../config/load.ts';
import { errorMessage, UserError } from '../cli/errors.ts';
import { processAlive, statePaths } from '../project/root.ts';
import { credentialCheck } from '../agent/presets.ts';
import { agentInstall } from '../agent/install.ts';
import { hostRegistry, type HostRegistry } from '../agent/registry.ts';
import { checkReachBack } from './doctor-reach.ts';
import { listStoragePools, lookupImage, parseImageRef, pingRuntime, queryApi } from '../runtime/client.ts';
import { resolveRuntime, runtimeLabel, runtimeOptions, type ResolveOptions } from '../runtime/choose.ts';
import { classifyFailure, daemonFix, findOnPath, missingClientError, onRemote, permissionFix, RUNTIMES, type Runtime } from '../runtime/detect.ts';

export const MIN_GIT = [2, 38] as const;
export const TOOL_TIMEOUT_MS = 10_000;

/** `warn`: works, but probably not as the user means (never fails the run). */
export type CheckStatus = 'ok' | 'fail' | 'warn' | 'skip';
export type Check = { id: string; title: string; status: CheckStatus; detail: string; fix?: string; required: boolean };

const ok = (id: string, title: string, detail: string): Check => ({ id, title, status: 'ok', detail, required: true });
const bad = (id: string, title: string, detail: string, fix: string, required = true): Check => ({ id, title, status: 'fail', detail, fix, required });
const warning = (id: string, title: string, detail: string, fix: string): Check => ({ id, title, status: 'warn', detail, fix, required: false });
const skip = (id: string, title: string, detail: string): Check => ({ id, title, status: 'skip', detail, required: false });

/** `git version 2.39.5` → [2, 39, 5]. */
export function parseGitVersion(text: string): number[] | null {
  const m = /git version (\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

export async function checkGit(): Promise<Check> {
  const title = 'git';
  const fix = 'install git 2.38 or newer (Debian 12+/Ubuntu 24.04+: `sudo apt-get install git`)';
  if (!findOnPath('git')) return bad('git', title, 'not installed', fix);
  const r = await $({ quiet: true, nothrow: true, timeout: TOOL_TIMEOUT_MS })`git --version`;
  const v = parseGitVersion(r.stdout);
  if (!v) return bad('git', title, `cannot read the version from "${r.stdout.trim()}"`, fix);
  const good = v[0] > MIN_GIT[0] || (v[0] === MIN_GIT[0] && v[1] >= MIN_GIT[1]);
  const version = v.join('.');
  return good ? ok('git', title, `${version} (≥ ${MIN_GIT.join('.')})`) : bad('git', title, `${version} is older than ${MIN_GIT.join('.')} (merge-tree --write-tree)`, fix);
}

/**
 * Which runtime (by the rule every command uses, and why), then client, daemon, permission and
 * storage pool: later lines skipped when an earlier one fails.
 */
export async function checkRuntime(options: ResolveOptions): Promise<{ checks: Check[]; rt: Runtime | null }> {
  const choice = await resolveRuntime(options);
  const installed = choice.kind !== null && findOnPath(RUNTIMES[choice.kind].bin, options.envPath) !== null;
  const rt = installed && choice.kind ? RUNTIMES[choice.kind] : null;
  if (!rt) {
    const what = choice.kind ? `${runtimeLabel(choice.kind)} chosen (${choice.reason}) but \`${RUNTIMES[choice.kind].bin}\` is not installed` : 'no `incus` or `lxc` client found';
    return {
      rt: null,
      checks: [
        bad('runtime', 'container runtime', what, missingClientError(choice.kind ?? 'auto').message.replace(/^.*\. /, '')),
        skip('daemon', 'runtime daemon', 'skipped: no client'),
        skip('permission', 'runtime permission', 'skipped: no client'),
        skip('storage', 'storage pool', 'skipped: no client'),
      ],
    };
  }
  const name = runtimeLabel(rt.kind);
  const checks: Check[] = [ok('runtime', 'container runtime', `${name} (\`${rt.bin}\`): ${choice.reason}`)];
  try {
    const { serverVersion } = await pingRuntime(rt);
    checks.push(ok('daemon', `${name} daemon`, `answers (server ${serverVersion})`));
    checks.push(ok('permission', `${name} permission`, 'this user may use it'));
  } catch (err) {
    const e = err as UserError;
    const failure = classifyFailure(`${e.detail ?? ''} ${e.message}`);
    if (failure === 'permission') {
      checks.push(ok('daemon', `${name} daemon`, 'running (its socket refuses this user)'));
      checks.push(bad('permission', `${name} permission`, 'permission denied on the unix socket', permissionFix(rt)));
    } else {
      checks.push(bad('daemon', `${name} daemon`, 'does not answer', daemonFix(rt)));
      checks.push(skip('permission', `${name} permission`, 'skipped: the daemon does not answer'));
    }
    checks.push(skip('storage', 'storage pool', 'skipped: cannot talk to the daemon'));
    return { checks, rt: null };
  }
  let used = rt;
  if (options.remote && options.remote !== 'local') {
    const remote = await checkRemote(onRemote(rt, options.remote, options.targets));
    checks.push(...remote.checks);
    if (!remote.rt) {
      checks.push(skip('storage', 'storage pool', `skipped: remote ${options.remote} is not usable`));
      return { checks, rt: null };
    }
    used = remote.rt;
  }
  try {
    const pools = await listStoragePools(used);
    checks.push(pools.length ? ok('storage', 'storage pool', pools.join(', ')) : bad('storage', 'storage pool', 'none', `run \`isollm setup\` (or \`${rt.kind === 'lxd' ? 'lxd init' : 'incus admin init'}\`)`));
  } catch (err) {
    checks.push(bad('storage', 'storage pool', errorMessage(err), `run \`isollm setup\``));
  }
  return { checks, rt: used };
}

type ServerInfo = { auth?: string; environment?: { server_version?: string; server_clustered?: boolean; server_name?: string } };

/**
 * `runtime.remote`: the remote answers, trusts this client, and (with `runtime.targets`) is a
 * cluster with those members online. The image is checked on it by checkImage.
 */
export async function checkRemote(rt: Runtime): Promise<{ checks: Check[]; rt: Runtime | null }> {
  const title = `remote ${rt.remote}`;
  const add = `\`${rt.bin} remote add ${rt.remote} <address>\` with a trust token (\`${rt.bin} config trust add\` on the server)`;
  let info: ServerInfo;
  try {
    info = JSON.parse(await queryApi(rt, '/1.0')) as ServerInfo;
  } catch (err) {
    const message = errorMessage(err);
    const unknown = /has no remote|remote .* (doesn.t|does not) exist|not found/i.test(message);
    return { rt: null, checks: [bad('remote', title, unknown ? 'no such remote of this client' : `does not answer: ${message}`, unknown ? `run ${add}` : `check the server is up and its address reachable (\`${rt.bin} remote list\`)`)] };
  }
  if (info.auth !== 'trusted') {
    return { rt: null, checks: [bad('remote', title, `answers, but does not trust this client (auth: ${info.auth ?? 'unknown'})`, `run ${add}`)] };
  }
  const env = info.environment ?? {};
  const checks: Check[] = [ok('remote', title, `trusted; ${env.server_clustered ? 'a cluster' : `a server`} (${rt.kind === 'lxd' ? 'LXD' : 'Incus'} ${env.server_version ?? '?'})`)];
  const targets = rt.targets ?? [];
  if (targets.length) {
    if (!env.server_clustered) {
      checks.push(bad('targets', 'cluster members', `runtime.targets is set but ${rt.remote} is not a cluster`, 'remove runtime.targets, or point runtime.remote at a cluster'));
      return { checks, rt: null };
    }
    const members = (JSON.parse(await queryApi(rt, '/1.0/cluster/members?recursion=1')) as { server_name: string; status: string }[]) ?? [];
    const state = new Map(members.map((m) => [m.server_name, m.status]));
    const missing = targets.filter((t) => !state.has(t));
    const down = targets.filter((t) => state.has(t) && state.get(t) !== 'Online');
    if (missing.length || down.length) {
      const what = [missing.length ? `not members: ${missing.join(', ')}` : '', down.length ? `not online: ${down.join(', ')}` : ''].filter(Boolean).join('; ');
      checks.push(bad('targets', 'cluster members', what, `use members of \`${rt.bin} cluster list ${rt.remote}:\` (${[...state.keys()].join(', ')})`));
      return { checks, rt: null };
    }
    checks.push(ok('targets', 'cluster members', `${targets.join(', ')} online`));
  }
  return { checks, rt };
}

export async function checkImage(rt: Runtime | null, image: string): Promise<Check> {
  if (!rt) return skip('image', `image ${image}`, 'skipped: no runtime to ask');
  const found = await lookupImage(rt, image).catch(() => null);
  const { remote, alias } = parseImageRef(image);
  if (rt.remote) {
    if (found) return ok('image', `image ${image}`, `present on remote ${rt.remote} (${found.fingerprint.slice(0, 12)})`);
    // Not there: `init` copies it from this client's store (or its image server) on first use.
    const here = await lookupImage(onRemote(rt, null), image).catch(() => null);
    return here
      ? ok('image', `image ${image}`, `not on remote ${rt.remote}; copied there from this machine (${here.fingerprint.slice(0, 12)}) when the first worker is made`)
      : bad('image', `image ${image}`, `neither on remote ${rt.remote} nor here`, `run \`isollm setup\` here (it is then copied to the remote), or \`${rt.bin} image copy ${image} ${rt.remote}:\``);
  }
  // A `remote:alias` that setup satisfied locally: say which local image up and worker add launch.
  const used = found && remote ? `; up and worker add use the local ${found.aliases.includes(alias) ? `image ${alias}` : 'copy'}, no image server is asked` : '';
  return found
    ? ok('image', `image ${image}`, `present locally (${found.fingerprint.slice(0, 12)})${used}`)
    : bad('image', `image ${image}`, 'not present locally', `run \`isollm setup\` (copies it, or builds it locally when no image server is reachable)`);
}

export function checkMultiplexer(kind: Config['multiplexer']['kind']): Check {
  const title = 'multiplexer';
  if (kind === 'none') return skip('multiplexer', title, 'skipped: multiplexer.kind is none');
  const zellij = findOnPath('zellij');
  const tmux = findOnPath('tmux');
  const fix = 'install tmux (`sudo apt-get install tmux`) or zellij (https://zellij.dev/documentation/installation)';
  if (kind === 'zellij') return zellij ? ok('multiplexer', title, 'zellij') : bad('multiplexer', title, 'zellij not found (multiplexer.kind is zellij)', 'install zellij, or set multiplexer.kind: tmux');
  if (kind === 'tmux') return tmux ? ok('multiplexer', title, 'tmux') : bad('multiplexer', title, 'tmux not found (multiplexer.kind is tmux)', 'install tmux (`sudo apt-get install tmux`)');
  if (zellij) return ok('multiplexer', title, tmux ? 'zellij (tmux also found)' : 'zellij');
  return tmux ? ok('multiplexer', title, 'tmux (zellij not found)') : bad('multiplexer', title, 'neither zellij nor tmux found', fix);
}

/** Whether the preset's usual credential variable reaches the agent; a warning only (it may log in another way). */
export function checkCredentials(agent: Config['agent'], hostEnv: NodeJS.ProcessEnv = process.env): Check {
  const title = 'agent credentials';
  const c = credentialCheck(agent, hostEnv);
  if (!c) return skip('credentials', title, 'skipped: a custom agent (isollm does not know what it reads)');
  if (c.passed.length) return ok('credentials', title, `${agent.preset} gets ${c.passed.join(', ')} (from agent.env)`);
  const usual = c.usual.join(' or ');
  if (c.unset.length) {
    return warning('credentials', title, `agent.env names ${c.unset.join(', ')}, which is not set here`, `export it before \`isollm up\`, ${c.login}`);
  }
  return warning('credentials', title, `${agent.preset} usually reads ${usual}; agent.env passes none`, `add one to agent.env and set it on the host, ${c.login}`);
}

/** True when something listens on 127.0.0.1:port. */
/** How the agent's CLI gets into the base (agent.install), per preset; a warning when it will not get there as configured. */
export function checkAgentInstall(agent: Config['agent'], registry?: { registry: HostRegistry; remote: boolean } | Error): Check {
  const title = 'agent CLI install';
  const install = agentInstall(agent);
  if (install.warning) return warning('agent-install', title, install.warning, 'fix agent.install_from, or remove it to install from the npm registry');
  if (!install.script) return skip('agent-install', title, install.how);
  if (!install.registry || !registry) return ok('agent-install', title, install.how);
  // From the registry: which one (the host's npm's), and whether the base will reach it.
  if (registry instanceof Error) return warning('agent-install', title, errorMessage(registry), 'fix the host\'s npm configuration (`npm config get registry`), or use agent.install_from');
  const spec = install.how.split(' ')[0];
  const { registry: r, remote } = registry;
  const creds = r.auth ? ', with its credentials' : '';
  if (r.loopback && remote) {
    return warning('agent-install', title, `${spec} from the host's npm registry ${r.shown}, which is on this machine's loopback: a remote's base cannot reach it`, 'point npm at a registry the remote reaches, or use agent.install_from');
  }
  return ok('agent-install', title, `${spec} installed from the host's npm registry ${r.shown}${creds} when the base is built (${r.loopback ? 'forwarded into the base' : "the base's network must reach it"})`);
}

export function portInUse(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(true) : reject(err)));
    server.listen(port, host, () => server.close(() => resolve(false)));
  });
}

/** The pid of our own queue server, when its pid file names a live process. */
export function ourQueuePid(root: string): number | null {
  try {
    const pid = Number.parseInt(fs.readFileSync(statePaths(root).queuePid, 'utf8').trim(), 10);
    return processAlive(pid) ? pid : null;
  } catch {
    return null;
  }
}

export async function checkQueuePort(root: string, config: Config): Promise<Check> {
  const title = `queue port ${config.queue.port}`;
  if (config.queue.url) return skip('queue-port', 'queue port', `skipped: queue.url points at ${config.queue.url}`);
  if (!(await portInUse(config.queue.port))) return ok('queue-port', title, 'free');
  const pid = ourQueuePid(root);
  if (pid) return ok('queue-port', title, `held by this project's queue server (pid ${pid})`);
  return bad('queue-port', title, 'in use by another program', `stop that program (\`ss -ltnp 'sport = :${config.queue.port}'\` shows it), or set queue.port in isollm.yaml to a free port`);
}

export type DoctorReport = { ok: boolean; project: string | null; checks: Check[] };

/** Run every check; project checks only when `root` is a project. */
export async function runDoctor(root: string | null): Promise<DoctorReport> {
  const checks: Check[] = [];
  let config: Config | null = null;
  if (root) {
    try {
      config = loadConfig(root);
      checks.push(ok('config', 'isollm.yaml', `valid (project ${config.project})`));
    } catch (err) {
      checks.push(bad('config', 'isollm.yaml', errorMessage(err).split('\n')[0], 'run `isollm config edit` and fix the listed keys'));
    }
  }
  checks.push(await checkGit());
  const runtime = await checkRuntime(config ? runtimeOptions(config) : { kind: 'auto' });
  checks.push(...runtime.checks);
  checks.push(checkMultiplexer(config?.multiplexer.kind ?? 'auto'));
  if (root && config) {
    checks.push(await checkImage(runtime.rt, config.image));
    checks.push(await checkQueuePort(root, config));
    const reach = await checkReachBack(root, config, runtime.rt);
    if (reach) checks.push(reach);
    checks.push(checkCredentials(config.agent));
    const fromRegistry = agentInstall(config.agent).registry
      ? await hostRegistry(root).then((registry) => ({ registry, remote: !!runtime.rt?.remote }), (err: unknown) => (err instanceof Error ? err : new Error(String(err))))
      : undefined;
    checks.push(checkAgentInstall(config.agent, fromRegistry));
  } else {
    const why = root ? 'skipped: isollm.yaml is invalid' : 'skipped: not in an isollm project (no isollm.yaml here or above)';
    checks.push(skip('image', 'configured image', why), skip('queue-port', 'queue port', why));
  }
  return { ok: checks.every((c) => c.status !== 'fail' || !c.required), project: root, checks };
}
