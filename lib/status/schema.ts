// The JSON Schema of `isollm status --json` (printed by `isollm status --schema`), and a checker for
// the subset of JSON Schema it uses, so tests hold real output against the documented shape.

type Schema = {
  type?: string | string[];
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean;
  items?: Schema;
  enum?: unknown[];
  minimum?: number;
  $schema?: string;
  title?: string;
};

const str = (description?: string): Schema => ({ type: 'string', description });
const count: Schema = { type: 'integer', minimum: 0 };
const obj = (properties: Record<string, Schema>, description?: string, nullable = false): Schema => ({
  type: nullable ? ['object', 'null'] : 'object',
  description,
  properties,
  required: Object.keys(properties),
  additionalProperties: false,
});

const TASK = obj(
  {
    id: str(),
    title: str(),
    branch: str('<git.branch_prefix><id>, the branch in the hub'),
    claimed_at: { type: ['string', 'null'], description: 'ISO 8601' },
    age_seconds: { type: ['integer', 'null'], minimum: 0, description: 'seconds since the claim' },
  },
  'the task this agent holds (in progress), or null when idle',
  true,
);

const AGENT = obj(
  {
    state: { type: 'string', enum: ['working', 'waiting', 'idle', 'exited', 'limited'], description: 'waiting: for the human (a question, a permission); limited: stopped by a usage limit until `until`' },
    since: str('ISO 8601: when it entered this state'),
    seconds: { type: 'integer', minimum: 0, description: 'seconds in this state' },
    detail: { type: ['string', 'null'], description: 'what it waits for, which task, why it is limited' },
    until: { type: ['string', 'null'], description: 'limited: ISO 8601 time it resumes' },
    resumes_in_seconds: { type: ['integer', 'null'], minimum: 0, description: 'limited: seconds until it resumes' },
    exit_status: { type: ['integer', 'null'], minimum: 0, description: 'exited: the exit status' },
    source: { type: ['string', 'null'], description: 'who reported it: claude:<hook event>, gemini:…, codex:…, loop, demo' },
  },
  "the agent's state as its own hooks or the loop reported it through the worker's socket; null when none was reported",
  true,
);

const WORKER_FIELDS = obj({
  name: str('worker name, or the agent id of a claimer with no container (e.g. host:alice)'),
  container: { type: ['string', 'null'] },
  state: { type: 'string', enum: ['running', 'stopped', 'frozen', 'error', 'unknown', 'absent'], description: "the container's state" },
  ipv4: { type: ['string', 'null'] },
  location: { type: ['string', 'null'], description: 'the cluster member the container runs on (runtime.remote on a cluster); null otherwise' },
  task: TASK,
  agent: AGENT,
});
// `agent` and `location` are always there in `isollm status --json`; absent means the same as null.
const WORKER: Schema = { ...WORKER_FIELDS, required: WORKER_FIELDS.required!.filter((k) => k !== 'agent' && k !== 'location') };

const ERROR = { type: 'string', description: 'one line: what failed and what to do' };

export const STATUS_SCHEMA: Schema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'isollm status --json',
  ...obj({
    version: { type: 'integer', enum: [1] },
    project: str(),
    root: str('project directory'),
    generated_at: str('ISO 8601'),
    workers: { type: ['array', 'null'], items: WORKER, description: 'null when the runtime could not be asked and no session names workers' },
    tasks: obj({ open: count, in_progress: count, blocked: count, done: count, ready: count, total: count }, 'queue counts; null when the queue did not answer', true),
    sync: obj(
      {
        hub: str('path of the bare hub repository'),
        present: { type: 'boolean', description: 'false before the first `isollm sync push` / `up`' },
        base_branch: str(),
        ahead: { type: ['integer', 'null'], minimum: 0, description: "commits on the host's base the hub lacks" },
        behind: { type: ['integer', 'null'], minimum: 0, description: "commits on the hub's base the host lacks" },
        task_branches: count,
      },
      'null when git failed (see errors.sync)',
      true,
    ),
    land: obj(
      {
        unlanded: count,
        landed_24h: count,
        handed_back: count,
        landing_now: { type: 'boolean', description: 'an `isollm land` runs now (it holds .isollm/land.lock), or the land.auto lander is up' },
        now: obj(
          {
            step: { type: 'string', enum: ['integrating', 'testing'] },
            tasks: { type: 'array', items: str(), description: 'the task(s) of that step: one integrating, the batch testing' },
            since: str('ISO 8601'),
          },
          'what the running `isollm land` does at this moment; null when none runs or it is between steps',
          true,
        ),
      },
      'the merge train; null when the queue did not answer',
      true,
    ),
    usage: obj(
      {
        runs: { ...count, description: 'headless agent runs recorded on tasks (loop mode)' },
        tokens_in: { ...count, description: 'prompt tokens, cached ones included, as the CLIs reported them' },
        tokens_out: count,
        cost_usd: { type: 'number', minimum: 0, description: 'what the CLIs reported as cost (claude, opencode); 0 when none did' },
        duration_ms: count,
        turns: count,
      },
      "the agents' runs, summed (runs that did not report a figure add nothing to it); null when the queue did not answer",
      true,
    ),
    recovered: obj(
      {
        at: str('ISO 8601: when `up` brought them back'),
        workers: {
          type: 'array',
          items: obj({
            name: str(),
            container_started: { type: 'boolean', description: 'its container was stopped and `up` started it' },
            mode: { type: 'string', enum: ['loop', 'interactive'] },
            resumed_with: { type: ['string', 'null'], description: "interactive: the CLI's option that continued its conversation (claude --continue); null: started afresh" },
            task: { type: ['string', 'null'], description: 'the task it held and goes on with' },
          }),
        },
      },
      'the workers of the last session whose agents `up` started again (after a reboot, a closed multiplexer session); null when none',
      true,
    ),
    base: obj(
      {
        name: str('the base container workers are copied from (kept stopped)'),
        image: str('fingerprint (12 characters) of the image it was made from'),
        created_at: { type: ['string', 'null'], description: 'ISO 8601' },
        age_seconds: { type: ['integer', 'null'], minimum: 0 },
        stale: { type: 'boolean', description: 'what went into it changed: the next `isollm up` / `worker add` builds a new one' },
        changed: { type: 'array', items: str(), description: 'the inputs that changed: format, image, hub, setup_script, agent_install, helpers, queue_port' },
        commit: { type: ['string', 'null'], description: 'the commit its clone of the hub is at' },
        commits_behind: { type: ['integer', 'null'], minimum: 0, description: "commits the hub's base branch has moved on since (each new worker fetches them)" },
        size_bytes: { type: ['integer', 'null'], minimum: 0, description: 'its filesystem, measured when it was built (copies share it on btrfs)' },
        workers: count,
        older_bases: { type: 'array', items: str(), description: 'older bases kept for the workers made from them' },
        building: { type: 'boolean', description: 'a new base is being built now (another command holds .isollm/base.lock)' },
      },
      "the project's base; null before the first build, or when the runtime could not be asked",
      true,
    ),
    services: obj({
      queue: obj({ mode: { type: 'string', enum: ['embedded', 'external'] }, running: { type: 'boolean' }, url: str(), pid: { type: ['integer', 'null'] } }),
      multiplexer: obj({
        kind: { type: ['string', 'null'], enum: ['zellij', 'tmux', 'none', null] },
        session: { type: ['string', 'null'] },
        running: { type: 'boolean' },
      }),
      runtime: obj({ kind: { type: ['string', 'null'], enum: ['lxd', 'incus', null] }, bin: { type: ['string', 'null'] }, remote: { type: ['string', 'null'], description: 'runtime.remote: the remote holding the workers' } }),
    }),
    errors: { ...obj({ workers: ERROR, queue: ERROR, sync: ERROR, multiplexer: ERROR, base: ERROR }), required: [] },
  }),
};

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (Number.isInteger(value)) return 'integer';
  return typeof value;
}

/** Every way `value` departs from `schema`, as `path: problem` lines (empty when it conforms). */
export function checkAgainstSchema(value: unknown, schema: Schema = STATUS_SCHEMA, at = '$'): string[] {
  const problems: string[] = [];
  const actual = typeOf(value);
  const allowed = schema.type === undefined ? null : [schema.type].flat();
  if (allowed && !allowed.includes(actual) && !(actual === 'integer' && allowed.includes('number'))) {
    return [`${at}: expected ${allowed.join(' or ')}, got ${actual}`];
  }
  if (schema.enum && !schema.enum.includes(value)) problems.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (schema.minimum !== undefined && typeof value === 'number' && value < schema.minimum) problems.push(`${at}: ${value} < ${schema.minimum}`);
  if (actual === 'object' && schema.properties) {
    const record = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in record)) problems.push(`${at}.${key}: missing`);
    for (const [key, v] of Object.entries(record)) {
      const sub = schema.properties[key];
      if (sub) problems.push(...checkAgainstSchema(v, sub, `${at}.${key}`));
      else if (schema.additionalProperties === false) problems.push(`${at}.${key}: not in the schema`);
    }
  }
  if (actual === 'array' && schema.items) (value as unknown[]).forEach((v, i) => problems.push(...checkAgainstSchema(v, schema.items, `${at}[${i}]`)));
  return problems;
}
