// isollm.yaml: the schema, its defaults (applied here and nowhere else), loading and validation.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { UserError } from './errors.ts';
import { CONFIG_FILE } from './project.ts';

export const AGENT_PRESETS = ['claude', 'codex', 'aider', 'gemini', 'opencode', 'custom'] as const;
export const AGENT_MODES = ['interactive', 'loop'] as const;
export const MULTIPLEXER_KINDS = ['auto', 'zellij', 'tmux', 'none'] as const;
export const LAYOUTS = ['auto', 'horizontal', 'vertical', 'grid'] as const;
export const RUNTIME_KINDS = ['auto', 'lxd', 'incus'] as const;

export type AgentPreset = (typeof AGENT_PRESETS)[number];
export type AgentMode = (typeof AGENT_MODES)[number];
export type MultiplexerKind = (typeof MULTIPLEXER_KINDS)[number];
export type Layout = (typeof LAYOUTS)[number];
export type RuntimeKind = (typeof RUNTIME_KINDS)[number];

/** The resolved configuration: every key present, defaults applied. */
export type Config = {
  project: string;
  workers: number;
  /** Image the workers launch from, e.g. `images:debian/12` or a local alias. */
  image: string;
  /** Shell script run once (as root) in every new worker, before the clone. */
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
    loop: {
      /** Seconds between polls while no task is ready. */
      poll_interval: number;
      /** Seconds with nothing ready after which the loop stops (0 = never). */
      give_up_after: number;
    };
  };
  queue: {
    port: number;
    /** An external airyra-compatible server to use instead of the embedded one. */
    url: string | null;
  };
  /** Ports forwarded from the host into each worker: `N` or `HOST:CONTAINER`. */
  ports: string[];
  limits: { cpu: number | null; memory: string | null };
  multiplexer: {
    kind: MultiplexerKind;
    layout: Layout;
    dashboard: boolean;
    /** Height of the dashboard pane, e.g. `15%`. */
    dashboard_size: string;
  };
  runtime: { kind: RuntimeKind };
};

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
      loop: { poll_interval: 10, give_up_after: 0 },
    },
    queue: { port: DEFAULT_PORT, url: null },
    ports: [],
    limits: { cpu: null, memory: null },
    multiplexer: { kind: 'auto', layout: 'auto', dashboard: true, dashboard_size: '15%' },
    runtime: { kind: 'auto' },
  };
}

export function defaultHubPath(project: string): string {
  return path.join(os.homedir(), '.isollm', `${project}.git`);
}

/** Load, validate and resolve `<root>/isollm.yaml`. Throws a UserError listing every problem. */
export function loadConfig(root: string): Config {
  const file = path.join(root, CONFIG_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new UserError(`Cannot read ${file}. Run \`isollm init\` to create it.`);
  }
  return parseConfig(text, root);
}

/**
 * Parse isollm.yaml text into a resolved Config.
 * TODO(config helper): full validation with line numbers and did-you-mean; this first version only
 * merges the file over the defaults.
 */
export function parseConfig(text: string, _root: string): Config {
  const raw = (YAML.parse(text) ?? {}) as Record<string, unknown>;
  const project = typeof raw.project === 'string' ? raw.project : 'project';
  return deepMerge(defaults(project), raw) as Config;
}

function deepMerge(base: unknown, over: unknown): unknown {
  if (over === undefined || over === null) return base;
  if (typeof base === 'object' && base && !Array.isArray(base) && typeof over === 'object' && !Array.isArray(over)) {
    const result: Record<string, unknown> = { ...(base as Record<string, unknown>) };
    for (const [k, v] of Object.entries(over as Record<string, unknown>)) result[k] = deepMerge(result[k], v);
    return result;
  }
  return over;
}
