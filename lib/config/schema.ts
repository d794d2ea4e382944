// The rules of isollm.yaml as data: one check per key, plus the few rules that span keys.
// Checks return what is wrong (a phrase) or undefined; validate.ts walks the YAML and adds line numbers.

export const AGENT_PRESETS = ['claude', 'codex', 'aider', 'gemini', 'opencode', 'custom'] as const;
export const AGENT_MODES = ['interactive', 'loop'] as const;
export const MULTIPLEXER_KINDS = ['auto', 'zellij', 'tmux', 'none'] as const;
export const LAYOUTS = ['auto', 'horizontal', 'vertical', 'grid'] as const;
export const RUNTIME_KINDS = ['auto', 'lxd', 'incus'] as const;
export const LAND_STRATEGIES = ['merge', 'rebase', 'squash'] as const;

/** A key's check: returns what is wrong, or undefined. `index` set: the problem is in that list item. */
export type Finding = { message: string; index?: number };
export type Check = (value: unknown) => Finding | string | undefined;
export type Schema = { [key: string]: Check | Schema };

/** LXD instance names are at most 63 characters (they are hostnames). */
export const MAX_INSTANCE_NAME = 63;
export const MAX_WORKERS = 32;
/** The longest worker suffix: `-worker-NN`. */
const WORKER_SUFFIX = `-worker-${MAX_WORKERS}`;
export const MAX_PROJECT_NAME = MAX_INSTANCE_NAME - WORKER_SUFFIX.length;

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

function intRange(min: number, max: number): Check {
  return (v) => (isInt(v) && v >= min && v <= max ? undefined : `must be a whole number from ${min} to ${max}`);
}

function oneOf(values: readonly string[]): Check {
  return (v) => (typeof v === 'string' && values.includes(v) ? undefined : `must be one of ${values.join(', ')}`);
}

const text: Check = (v) => (typeof v === 'string' && v.trim() !== '' ? undefined : 'must be a non-empty string');
const bool: Check = (v) => (typeof v === 'boolean' ? undefined : 'must be true or false');

function listOf(item: (v: unknown) => string | undefined, what: string): Check {
  return (v) => {
    if (!Array.isArray(v)) return `must be a list of ${what}`;
    for (let i = 0; i < v.length; i++) {
      const wrong = item(v[i]);
      if (wrong) return { message: wrong, index: i };
    }
    return undefined;
  };
}

/** Project names become container names and hostnames: letters, digits, single hyphens. */
export function checkProjectName(v: unknown): string | undefined {
  if (typeof v !== 'string' || v === '') return 'must be a non-empty string';
  if (!/^[A-Za-z]/.test(v)) return 'must start with a letter';
  if (!/^[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*$/.test(v)) return 'may contain only letters, digits and single hyphens, and must not end with a hyphen';
  if (v.length > MAX_PROJECT_NAME) {
    return `is too long: "<project>${WORKER_SUFFIX}" must fit LXD's ${MAX_INSTANCE_NAME} characters, so at most ${MAX_PROJECT_NAME}`;
  }
  return undefined;
}

/** One path component of a git ref (git help check-ref-format). */
function refComponentProblem(part: string): string | undefined {
  if (part === '') return 'has an empty component (`//` or a leading `/`)';
  if (part.startsWith('.')) return 'has a component starting with `.`';
  if (part.endsWith('.lock')) return 'has a component ending in `.lock`';
  if (part.includes('..')) return 'contains `..`';
  if (part.includes('@{')) return 'contains `@{`';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(part)) return 'contains a space or one of ~ ^ : ? * [ \\';
  return undefined;
}

export function checkBranchName(v: unknown): string | undefined {
  if (typeof v !== 'string' || v === '') return 'must be a non-empty string';
  if (v.startsWith('-')) return 'is not a valid branch name: starts with `-`';
  if (v === '@' || v.endsWith('/') || v.endsWith('.')) return 'is not a valid branch name';
  for (const part of v.split('/')) {
    const wrong = refComponentProblem(part);
    if (wrong) return `is not a valid branch name: ${wrong}`;
  }
  return undefined;
}

const branchPrefix: Check = (v) => {
  if (typeof v !== 'string' || v === '') return 'must be a non-empty string ending in `/`';
  if (!v.endsWith('/')) return 'must end in `/`';
  for (const part of v.slice(0, -1).split('/')) {
    const wrong = refComponentProblem(part);
    if (wrong) return `is not a valid ref prefix: ${wrong}`;
  }
  return undefined;
};

const url: Check = (v) => {
  if (typeof v !== 'string') return 'must be an http:// or https:// URL';
  try {
    const u = new URL(v);
    // The client sends no credentials, and a URL with them would be shown in status and logs.
    if ((u.protocol === 'http:' || u.protocol === 'https:') && (u.username || u.password)) return 'must not contain credentials (isollm sends none)';
    if (u.protocol === 'http:' || u.protocol === 'https:') return undefined;
  } catch {
    // fall through: not a URL at all
  }
  return 'must be an http:// or https:// URL';
};

/** `N` or `HOST:CONTAINER`, each 1..65535. */
export function parsePort(v: unknown): { host: number; container: number } | undefined {
  const s = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : '';
  const m = /^(\d{1,5})(?::(\d{1,5}))?$/.exec(s);
  if (!m) return undefined;
  const host = Number(m[1]);
  const container = Number(m[2] ?? m[1]);
  const ok = (n: number) => n >= 1 && n <= 65535;
  return ok(host) && ok(container) ? { host, container } : undefined;
}

const memory: Check = (v) =>
  typeof v === 'string' && (/^\d+(\.\d+)?(B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/.test(v) || /^([1-9]\d?|100)%$/.test(v))
    ? undefined
    : 'must be a size like 4GiB or 512MiB, or a share like 50%';

const size: Check = (v) => (typeof v === 'string' && /^\d+(\.\d+)?(kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/.test(v) ? undefined : 'must be a size like 10GiB or 500MiB');

/** A storage pool name as LXD/Incus take it (no slash, no leading dot or dash). */
const poolName: Check = (v) => (typeof v === 'string' && /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/.test(v) ? undefined : 'must be a storage pool name (letters, digits, - _ .)');

const envName = (v: unknown) => {
  if (typeof v === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) return undefined;
  if (typeof v === 'string' && v.includes('=')) return 'must be the NAME of a host environment variable, not NAME=value (values are read from the host at launch)';
  return 'must be an environment variable name (letters, digits, _)';
};

/** Rows a dashboard pane may be given (`multiplexer.dashboard_size: N`). */
export const DASHBOARD_ROWS = { min: 1, max: 100 } as const;

/** `auto`, a percentage from 5% to 90%, or a number of rows. */
const dashboardSize: Check = (v) => {
  if (v === 'auto') return undefined;
  const m = typeof v === 'string' ? /^(\d{1,2})%$/.exec(v) : null;
  if (m && Number(m[1]) >= 5 && Number(m[1]) <= 90) return undefined;
  const rows = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (isInt(rows) && rows >= DASHBOARD_ROWS.min && rows <= DASHBOARD_ROWS.max) return undefined;
  return `must be auto, a percentage from 5% to 90%, or a number of rows from ${DASHBOARD_ROWS.min} to ${DASHBOARD_ROWS.max}`;
};

/** An argv: a non-empty list of strings, the program first (never a shell string). */
const notifyCommand: Check = (v) => {
  if (!Array.isArray(v) || v.length === 0) return 'must be a list: the program, then its arguments, e.g. [notify-send, isollm]';
  const bad = v.findIndex((a) => typeof a !== 'string' || a === '');
  return bad >= 0 ? { message: 'must be a non-empty string (quote it)', index: bad } : undefined;
};

/** A remote of the `lxc`/`incus` client (`lxc remote list`); `local` is the local daemon itself. */
export function remoteName(v: unknown): string | undefined {
  if (typeof v !== 'string' || v === '') return 'must be the name of a remote (`lxc remote list` / `incus remote list`)';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(v)) return 'must be a remote name: letters, digits, `.`, `_`, `-` (no `:`)';
  return undefined;
}

/** A cluster member, as `lxc cluster list` names it. */
function memberName(v: unknown): string | undefined {
  return typeof v === 'string' && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(v) ? undefined : 'must be a cluster member name (`lxc cluster list`)';
}

/** `HOST:PORT` (IPv6 in brackets), or a bare port (all addresses / the listen host). */
export function parseHostPort(v: unknown): { host: string | null; port: number } | undefined {
  const s = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : '';
  const m = /^(?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):)?(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1] ? m[1].replace(/^\[|\]$/g, '') : null, port };
}

const hostPort: Check = (v) => (parseHostPort(v) ? undefined : 'must be HOST:PORT (e.g. 0.0.0.0:7443 or 10.0.0.5:7443) or a port');

/** Every key of isollm.yaml. A null value (an empty key) means "use the default". */
export const SCHEMA: Schema = {
  project: checkProjectName,
  workers: intRange(1, MAX_WORKERS),
  image: text,
  setup_script: text,
  git: {
    base_branch: checkBranchName,
    branch_prefix: branchPrefix,
    hub: text,
  },
  agent: {
    preset: oneOf(AGENT_PRESETS),
    command: text,
    args: listOf((v) => (typeof v === 'string' ? undefined : 'must be a string (quote it)'), 'strings'),
    env: listOf(envName, 'environment variable names'),
    mode: oneOf(AGENT_MODES),
    context: text,
    install: bool,
    install_from: text,
    loop: {
      poll_interval: intRange(1, 3600),
      give_up_after: intRange(0, 7 * 86_400),
      max_killed_runs: intRange(1, 100),
    },
  },
  queue: {
    port: intRange(1024, 65535),
    url,
  },
  ports: listOf((v) => (parsePort(v) ? undefined : 'must be a port N or HOST:CONTAINER, each from 1 to 65535'), 'ports'),
  limits: {
    cpu: intRange(1, 1024),
    memory,
    disk: size,
  },
  multiplexer: {
    kind: oneOf(MULTIPLEXER_KINDS),
    layout: oneOf(LAYOUTS),
    dashboard: (v) => (v === true || v === false || v === 'every_tab' ? undefined : 'must be true, false or every_tab'),
    dashboard_size: dashboardSize,
    max_panes_per_tab: intRange(1, MAX_WORKERS),
    template: text,
    tmux_conf: text,
  },
  runtime: {
    kind: oneOf(RUNTIME_KINDS),
    pool: poolName,
    remote: remoteName,
    targets: listOf(memberName, 'cluster member names'),
  },
  network: {
    listen: hostPort,
    advertise: hostPort,
  },
  notify: {
    command: notifyCommand,
  },
  land: {
    strategy: oneOf(LAND_STRATEGIES),
    test: listOf((v) => (typeof v === 'string' && v !== '' ? undefined : 'must be a non-empty string (quote it)'), 'strings (an argv, e.g. ["npm", "test"])'),
    max_attempts: intRange(1, 100),
    batch: intRange(1, 64),
    timeout: intRange(1, 86_400),
    auto: bool,
  },
};

/** Every leaf key path, e.g. `agent.loop.poll_interval`. */
export function schemaPaths(schema: Schema = SCHEMA, prefix = ''): string[] {
  return Object.entries(schema).flatMap(([k, v]) => (typeof v === 'function' ? [prefix + k] : [prefix + k, ...schemaPaths(v, `${prefix}${k}.`)]));
}

/** Edit distance counting a swap of neighbours as one edit (optimal string alignment), for "did you mean". */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The closest known key for an unknown one: a near spelling at the same level, else the same name elsewhere. */
export function suggestKey(unknown: string, siblings: string[], prefix: string): string | undefined {
  const limit = Math.max(1, Math.floor(unknown.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const key of siblings) {
    const d = editDistance(unknown.toLowerCase(), key.toLowerCase());
    if (d <= limit && d < bestDistance) [best, bestDistance] = [key, d];
  }
  if (best) return prefix + best;
  return schemaPaths().find((p) => p.split('.').at(-1) === unknown && p !== prefix + unknown);
}
