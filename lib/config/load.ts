// isollm.yaml: the resolved Config type, its defaults (applied here and nowhere else), loading and
// validation. Precedence: defaults → isollm.yaml → explicit flags (applyOverrides).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import { UserError } from '../cli/errors.ts';
import { CONFIG_FILE } from '../project/root.ts';
import {
  AGENT_MODES,
  AGENT_PRESETS,
  LAYOUTS,
  MAX_PROJECT_NAME,
  MULTIPLEXER_KINDS,
  RUNTIME_KINDS,
  LAND_STRATEGIES,
  SCHEMA,
} from './schema.ts';
import { checkAcrossKeys, redactUrl, Walk, type ConfigProblem } from './validate.ts';

export { AGENT_MODES, AGENT_PRESETS, LAYOUTS, MULTIPLEXER_KINDS, RUNTIME_KINDS, LAND_STRATEGIES, MAX_PROJECT_NAME };
export { checkProjectName, checkBranchName, parsePort } from './schema.ts';
export { redactUrl, type ConfigProblem } from './validate.ts';

export type AgentPreset = (typeof AGENT_PRESETS)[number];
export type AgentMode = (typeof AGENT_MODES)[number];
export type MultiplexerKind = (typeof MULTIPLEXER_KINDS)[number];
export type Layout = (typeof LAYOUTS)[number];
export type RuntimeKind = (typeof RUNTIME_KINDS)[number];
export type LandStrategy = (typeof LAND_STRATEGIES)[number];

/** The resolved configuration: every key present, defaults applied. */
export type Config = {
  project: string;
  workers: number;
  /** Image the workers launch from, e.g. `images:debian/12` or a local alias. */
  image: string;
  /** Shell script run once (as root) in the project's base that workers are copied from, before the clone. */
  setup_script: string | null;
  git: {
    base_branch: string;
    branch_prefix: string;
    /** Absolute path of the bare hub repository. */
    hub: string;
  };
  agent: {
    preset: AgentPreset;
    /** Overrides the preset's command (required for `custom`). */
    command: string | null;
    args: string[];
    /** Names of host environment variables passed to the agent at launch. */
    env: string[];
    mode: AgentMode;
    /** Project context for the instructions: inline text, or a path (relative to the project) to a file. */
    context: string | null;
    /** Install the preset's CLI in the project's base (lib/agent/install.ts). */
    install: boolean;
    /** Absolute path of a host directory where the CLI is installed by npm: its native build is pushed. */
    install_from: string | null;
    loop: {
      /** Seconds between polls while no task is ready. */
      poll_interval: number;
      /** Seconds with nothing ready after which the loop stops (0 = never). */
      give_up_after: number;
      /** Runs of one task cut off by a signal to the agent (kill -9, out of memory) before the task is blocked. */
      max_killed_runs: number;
    };
  };
  queue: {
    port: number;
    /** An external airyra-compatible server to use instead of the embedded one. */
    url: string | null;
  };
  /** Ports forwarded from the host into each worker: `N` or `HOST:CONTAINER`. */
  ports: string[];
  /** Per worker; `disk` is the size of its root disk (the pool must support quotas). */
  limits: { cpu: number | null; memory: string | null; disk: string | null };
  multiplexer: {
    kind: MultiplexerKind;
    layout: Layout;
    /** The status pane: on the first tab (true), on every tab, or none. */
    dashboard: boolean | 'every_tab';
    /** Height of the dashboard pane: `auto` (as tall as its content, within a cap), `15%`, or rows (`8`). */
    dashboard_size: string | number;
    /** Workers per zellij tab / tmux window; more are spread evenly over several. */
    max_panes_per_tab: number;
    /** A zellij layout template of the user's (path relative to the project); null = isollm's own. */
    template: string | null;
    /** A tmux config file sourced into the session (path relative to the project). */
    tmux_conf: string | null;
  };
  runtime: {
    kind: RuntimeKind;
    /** The storage pool of the base and workers (null: isollm's own `isollm` pool where setup made it, else the profile's). */
    pool: string | null;
    /** A remote of the client (`lxc remote list`): workers live on that server or cluster. null: the local daemon. */
    remote: string | null;
    /** Cluster members to spread workers over, in turn; [] = the cluster's own placement. */
    targets: string[];
  };
  /** Where remote workers reach the hub and queue (TLS, per-worker credentials); unused for local workers. */
  network: {
    /** Address the host listens on, `HOST:PORT` (default 0.0.0.0:<queue.port + 1>). */
    listen: string | null;
    /** Address workers connect to, `HOST:PORT` (default: the host of listen when it names one). */
    advertise: string | null;
  };
  notify: {
    /**
     * Run on the host for each event (agent waiting, task done or blocked, worker limited, all work
     * finished): the event as JSON on stdin, a one-line summary as the last argument. null: nothing.
     */
    command: string[] | null;
  };
  /** `isollm land`: how done tasks come home to the base branch. */
  land: {
    strategy: LandStrategy;
    /** argv run in a test container on each candidate; [] = integrate without testing. */
    test: string[];
    /** Failed landings after which a task is blocked for a human instead of reopened. */
    max_attempts: number;
    /** Tasks integrated per test run (bisected on red). */
    batch: number;
    /** Seconds one land.test run may take. */
    timeout: number;
    /** `isollm up` runs the lander next to the workers. */
    auto: boolean;
  };
};

/** Values given on the command line; they win over isollm.yaml. */
export type ConfigOverrides = DeepPartial<Config>;
type DeepPartial<T> = { [K in keyof T]?: T[K] extends unknown[] ? T[K] : T[K] extends object | null ? DeepPartial<T[K]> : T[K] };

export const DEFAULT_PORT = 7432;
export const DEFAULT_IMAGE = 'images:debian/12';

/** Defaults for everything but `project` and `git.hub`, which derive from the project. */
export function defaults(project: string): Config {
  return {
    project,
    workers: 3,
    image: DEFAULT_IMAGE,
    setup_script: null,
    git: { base_branch: 'main', branch_prefix: 'isollm/', hub: defaultHubPath(project) },
    agent: {
      preset: 'claude',
      command: null,
      args: [],
      env: [],
      mode: 'interactive',
      context: null,
      install: true,
      install_from: null,
      loop: { poll_interval: 10, give_up_after: 0, max_killed_runs: 3 },
    },
    queue: { port: DEFAULT_PORT, url: null },
    ports: [],
    limits: { cpu: null, memory: null, disk: null },
    multiplexer: { kind: 'auto', layout: 'auto', dashboard: true, dashboard_size: 'auto', max_panes_per_tab: 6, template: null, tmux_conf: null },
    runtime: { kind: 'auto', pool: null, remote: null, targets: [] },
    network: { listen: null, advertise: null },
    notify: { command: null },
    land: { strategy: 'merge', test: [], max_attempts: 3, batch: 1, timeout: 1800, auto: false },
  };
}

export function defaultHubPath(project: string): string {
  return path.join(os.homedir(), '.isollm', `${project}.git`);
}

/** A directory name made into a valid project name (lower case, single hyphens, starts with a letter). */
export function toProjectName(dirName: string): string {
  let name = dirName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (name === '') return 'project';
  if (!/^[a-z]/.test(name)) name = `p-${name}`;
  return name.slice(0, MAX_PROJECT_NAME).replace(/-+$/, '');
}

export function formatProblem(p: ConfigProblem): string {
  return `${CONFIG_FILE}:${p.line}: ${p.path}: ${p.message}`;
}

/** isollm.yaml is invalid: carries every problem; the message lists them all, one per line. */
export class ConfigError extends UserError {
  problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'), {
      detail: `Fix ${CONFIG_FILE} (\`isollm config edit\`); the README lists every key.`,
    });
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Load, validate and resolve `<root>/isollm.yaml`, then apply command-line overrides. */
export function loadConfig(root: string, overrides: ConfigOverrides = {}): Config {
  return applyOverrides(readConfig(root).config, overrides);
}

/** Like loadConfig, also saying which key paths the file set (the rest are defaults). */
export function readConfig(root: string): ResolvedConfig {
  const file = path.join(root, CONFIG_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new UserError(`Cannot read ${file}. Run \`isollm init\` to create it.`);
  }
  return resolveConfig(text, root);
}

/** Parse isollm.yaml text into a resolved Config; throws ConfigError listing every problem. */
export function parseConfig(text: string, root: string): Config {
  return resolveConfig(text, root).config;
}

export type ResolvedConfig = { config: Config; /** Leaf key paths set in the file. */ explicit: Set<string> };

export function resolveConfig(text: string, root: string): ResolvedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length) {
    // The tree is not trustworthy after a syntax error: report only those.
    throw new ConfigError(
      doc.errors.map((e) => ({ line: lineCounter.linePos(e.pos[0]).line, path: 'YAML', message: e.message.replace(/ at line \d+, column \d+.*$/s, '') })),
    );
  }
  const walk = new Walk(doc, lineCounter);
  const values: Record<string, unknown> = {};
  const top = walk.deref(doc.contents);
  if (top && !(isScalar(top) && top.value === null)) {
    if (isMap(top)) walk.map(top, SCHEMA, '', values);
    else walk.problem(top, '(top level)', 'must be a mapping of keys', walk.js(top));
  }
  const project = typeof values.project === 'string' ? values.project : toProjectName(path.basename(path.resolve(root)));
  const config = merge(defaults(project), values) as Config;
  if (walk.explicit.has('git.hub')) config.git.hub = resolveHome(config.git.hub, root);
  if (config.agent.install_from) config.agent.install_from = resolveHome(config.agent.install_from, root);
  checkAcrossKeys(config, walk);
  if (walk.problems.length) throw new ConfigError(walk.problems.sort((a, b) => a.line - b.line));
  return { config, explicit: walk.explicit };
}

/** `~` and paths relative to the project root, made absolute. */
export function resolveHome(p: string, root: string): string {
  if (p === '~' || p.startsWith('~/')) return path.join(os.homedir(), p.slice(1));
  return path.resolve(root, p);
}

/** A copy safe to print: credentials in queue.url hidden (agent.env holds only names). */
export function redactConfig(config: Config): Config {
  const copy = structuredClone(config);
  if (copy.queue.url) copy.queue.url = redactUrl(copy.queue.url);
  return copy;
}

/** Flags win over the file; nested sections merge key by key, lists are replaced. */
export function applyOverrides(config: Config, overrides: ConfigOverrides): Config {
  return merge(config, overrides) as Config;
}

function merge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (isPlainObject(base) && isPlainObject(over)) {
    const result: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) result[k] = merge(result[k], v);
    return result;
  }
  return over;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
