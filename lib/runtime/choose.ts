// Which runtime a command talks to: one rule for every command, `isollm setup`, `npm run test-env`
// and the test harness, so that on a machine with both LXD and Incus they all pick the same one.
//   1. `--runtime` (which sets ISOLLM_RUNTIME for the process and its children) or ISOLLM_RUNTIME;
//   2. `runtime.kind` in isollm.yaml (or the caller's own forced kind) when not `auto`;
//   3. auto: the only one installed; else, of those whose daemon answers, the one holding this
//      project's containers, else the one holding its image, else the only one answering; else
//      PREFERENCE.
import { UserError } from '../cli/errors.ts';
import { RUNTIME_ENV } from '../cli/run.ts';
import { listInstances, lookupImage, pingRuntime } from './client.ts';
import { findOnPath, missingClientError, onRemote, RUNTIMES, type Runtime, type RuntimeName } from './detect.ts';

export type RuntimeKind = 'auto' | RuntimeName;

/** Set by `--runtime` (lib/cli/run.ts) for this process and what it spawns; wins over `runtime.kind`. */
export { RUNTIME_ENV };

/**
 * Both installed, nothing of this project in either: Incus, the maintained successor (LXD's own
 * image server no longer serves LXD). `isollm setup` on a machine with neither installs LXD, from
 * Debian's main archive, and from then on it is the only one installed.
 */
export const PREFERENCE: readonly RuntimeName[] = ['incus', 'lxd'];

/** A probe of the daemons answers within this, or counts as not answering. */
export const PROBE_TIMEOUT_MS = 5_000;

export const runtimeLabel = (kind: RuntimeName): string => (kind === 'lxd' ? 'LXD' : 'Incus');

export type RuntimeState = {
  kind: RuntimeName;
  installed: boolean;
  answers: boolean;
  /** Containers tagged with this project. */
  containers: number;
  /** The project's image is in its local store. */
  hasImage: boolean;
};

export type RuntimeChoice = { kind: RuntimeName | null; reason: string };

/** The auto rule over what is known of each runtime (pure: the tests give it every combination). */
export function decideRuntime(states: RuntimeState[], image?: string, preference: readonly RuntimeName[] = PREFERENCE): RuntimeChoice {
  const ranked = (list: RuntimeState[]) => [...list].sort((a, b) => preference.indexOf(a.kind) - preference.indexOf(b.kind));
  const installed = ranked(states.filter((s) => s.installed));
  if (!installed.length) return { kind: null, reason: 'neither `incus` nor `lxc` is installed' };
  if (installed.length === 1) return { kind: installed[0].kind, reason: `only ${runtimeLabel(installed[0].kind)} is installed` };
  const both = 'both LXD and Incus are installed';
  const answering = installed.filter((s) => s.answers);
  const holding = answering.filter((s) => s.containers > 0);
  if (holding.length === 1) return { kind: holding[0].kind, reason: `${both}; ${runtimeLabel(holding[0].kind)} holds this project's containers` };
  if (holding.length > 1) {
    return { kind: holding[0].kind, reason: `${both} and both hold containers of this project; ${runtimeLabel(holding[0].kind)} is preferred (set runtime.kind to choose)` };
  }
  const withImage = answering.filter((s) => s.hasImage);
  if (withImage.length === 1) return { kind: withImage[0].kind, reason: `${both}; only ${runtimeLabel(withImage[0].kind)} has the image ${image ?? ''}`.trimEnd() };
  if (answering.length === 1) return { kind: answering[0].kind, reason: `${both}; only ${runtimeLabel(answering[0].kind)}'s daemon answers` };
  const first = (answering.length ? answering : installed)[0].kind;
  const state = answering.length ? (withImage.length ? 'both have the image and neither holds containers of this project' : 'neither holds anything of this project') : 'neither daemon answers';
  return { kind: first, reason: `${both}, ${state}; ${runtimeLabel(first)} is preferred` };
}

export type ResolveOptions = {
  /** `runtime.kind` from isollm.yaml, or a kind the caller forces (default auto). */
  kind?: RuntimeKind;
  /** Where `kind` came from, for the reason (default `runtime.kind`; the harness: ISOLLM_TEST_RUNTIME). */
  kindFrom?: string;
  /** This project's name: its containers decide. */
  project?: string;
  /** Its image reference: where it is decides next. */
  image?: string;
  env?: NodeJS.ProcessEnv;
  /** PATH to look for clients on (tests). */
  envPath?: string;
  /** `runtime.remote`: the containers live on this remote of the client (no auto-probing of it). */
  remote?: string | null;
  /** `runtime.targets`: cluster members new containers are spread over. */
  targets?: readonly string[];
  /** How to learn a daemon's state (tests replace it). */
  probe?: (kind: RuntimeName, options: ResolveOptions) => Promise<RuntimeState>;
};

/** The options every command passes for its project: kind, remote and targets from isollm.yaml. */
export function runtimeOptions(config: { project: string; image: string; runtime: { kind: RuntimeKind; remote: string | null; targets: string[] } }): ResolveOptions {
  return { kind: config.runtime.kind, project: config.project, image: config.image, remote: config.runtime.remote, targets: config.runtime.targets };
}

export type Resolved = RuntimeChoice & {
  /** What decided: the override (flag / ISOLLM_RUNTIME), the config, or the auto rule. */
  source: 'override' | 'config' | 'auto';
  /** The auto rule asked the chosen daemon and it answered just now. */
  answered?: boolean;
};

/** ISOLLM_RUNTIME (what `--runtime` sets), checked. */
export function runtimeOverride(env: NodeJS.ProcessEnv = process.env): RuntimeName | undefined {
  const value = env[RUNTIME_ENV];
  if (value === undefined || value === '' || value === 'auto') return undefined;
  if (value !== 'lxd' && value !== 'incus') throw new UserError(`${RUNTIME_ENV} (or --runtime) must be lxd or incus, not ${JSON.stringify(value)}.`);
  return value;
}

/** What a runtime holds of this project: asks only a daemon that is installed, briefly. */
export async function probeRuntime(kind: RuntimeName, options: ResolveOptions): Promise<RuntimeState> {
  const rt = RUNTIMES[kind];
  const state: RuntimeState = { kind, installed: findOnPath(rt.bin, options.envPath) !== null, answers: false, containers: 0, hasImage: false };
  if (!state.installed) return state;
  // The list (or, without a project, a ping) answering is the daemon answering: no ping before it.
  const [containers, image] = await Promise.all([
    options.project ? listInstances(rt, options.project, PROBE_TIMEOUT_MS).then((l) => l.length, () => null) : pingRuntime(rt, PROBE_TIMEOUT_MS).then(() => 0, () => null),
    options.image ? lookupImage(rt, options.image, PROBE_TIMEOUT_MS).then(Boolean, () => false) : false,
  ]);
  if (containers === null) return state;
  return { ...state, answers: true, containers, hasImage: image };
}

/** Which runtime to use and why (it may not be installed: callers say so). */
export async function resolveRuntime(options: ResolveOptions = {}): Promise<Resolved> {
  const forced = runtimeOverride(options.env);
  if (forced) return { kind: forced, reason: `--runtime ${forced} (${RUNTIME_ENV})`, source: 'override' };
  const kind = options.kind ?? 'auto';
  if (kind !== 'auto') return { kind, reason: `${options.kindFrom ?? 'runtime.kind'} is ${kind}`, source: 'config' };
  // Daemons are asked only when both clients are installed: with one there is nothing to decide.
  const installed = (Object.keys(RUNTIMES) as RuntimeName[]).filter((k) => findOnPath(RUNTIMES[k].bin, options.envPath));
  const probe = options.probe ?? probeRuntime;
  const states =
    installed.length > 1
      ? await Promise.all(installed.map((k) => probe(k, options)))
      : installed.map((k): RuntimeState => ({ kind: k, installed: true, answers: false, containers: 0, hasImage: false }));
  const choice = decideRuntime(states, options.image);
  const answered = states.some((s) => s.kind === choice.kind && s.answers);
  return { ...choice, source: 'auto', ...(answered ? { answered } : {}) };
}

const connected = new Map<string, Promise<Runtime>>();

/**
 * The runtime for a command: chosen by the rule, installed and answering; otherwise the one-line
 * error with its fix. Decided once per process (a dashboard asking every second keeps its choice).
 * `ping: false` (status): the command's first call tells a daemon that is down or refuses us with
 * the same one-line error, so it is not asked once more before it.
 */
export function connectRuntime(options: ResolveOptions = {}, { ping = true }: { ping?: boolean } = {}): Promise<Runtime> {
  const key = JSON.stringify([options.kind, options.project, options.image, (options.env ?? process.env)[RUNTIME_ENV], options.envPath, options.remote, options.targets, ping]);
  let p = connected.get(key);
  if (!p) {
    p = (async () => {
      const choice = await resolveRuntime(options);
      if (!choice.kind) throw missingClientError('auto');
      const local = RUNTIMES[choice.kind];
      if (!findOnPath(local.bin, options.envPath)) throw missingClientError(choice.kind);
      const rt = onRemote(local, options.remote, options.targets);
      // A remote is not pinged: each call crosses the network (~0.25 s over TLS here), and the
      // first real call fails with the remote's own one-line error just as well.
      if (!rt.remote && ping && !choice.answered) await pingRuntime(rt);
      return rt;
    })();
    // A failure is not remembered: the next call (after `isollm setup`) tries again.
    p.catch(() => connected.delete(key));
    connected.set(key, p);
  }
  return p;
}
