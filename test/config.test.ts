import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  applyOverrides,
  ConfigError,
  defaults,
  parseConfig,
  redactUrl,
  resolveConfig,
  toProjectName,
  MAX_PROJECT_NAME,
} from '../lib/config/load.ts';
import { editDistance } from '../lib/config/schema.ts';

const ROOT = '/work/my-repo';

function problems(text: string): string[] {
  try {
    parseConfig(text, ROOT);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message.split('\n');
  }
  throw new Error('expected a ConfigError');
}

// [what, isollm.yaml text, the exact lines expected]
const BAD: [string, string, string[]][] = [
  ['project starts with a digit', 'project: 9lives\n', ['isollm.yaml:1: project: must start with a letter (got "9lives")']],
  ['project with a double hyphen', 'workers: 2\nproject: a--b\n', ['isollm.yaml:2: project: may contain only letters, digits and single hyphens, and must not end with a hyphen (got "a--b")']],
  ['project with an underscore', 'project: my_app\n', ['isollm.yaml:1: project: may contain only letters, digits and single hyphens, and must not end with a hyphen (got "my_app")']],
  ['project ending in a hyphen', 'project: app-\n', ['isollm.yaml:1: project: may contain only letters, digits and single hyphens, and must not end with a hyphen (got "app-")']],
  ['project too long', `project: ${'a'.repeat(54)}\n`, [`isollm.yaml:1: project: is too long: "<project>-worker-32" must fit LXD's 63 characters, so at most 53 (got "${'a'.repeat(54)}")`]],
  ['project is a number', 'project: 42\n', ['isollm.yaml:1: project: must be a non-empty string (got 42)']],
  ['workers zero', 'workers: 0\n', ['isollm.yaml:1: workers: must be a whole number from 1 to 32 (got 0)']],
  ['workers too many', 'workers: 33\n', ['isollm.yaml:1: workers: must be a whole number from 1 to 32 (got 33)']],
  ['workers as a word', 'workers: three\n', ['isollm.yaml:1: workers: must be a whole number from 1 to 32 (got "three")']],
  ['workers fractional', 'workers: 2.5\n', ['isollm.yaml:1: workers: must be a whole number from 1 to 32 (got 2.5)']],
  ['image empty string', 'image: ""\n', ['isollm.yaml:1: image: must be a non-empty string (got "")']],
  ['unknown top-level key', 'wrokers: 3\n', ['isollm.yaml:1: wrokers: unknown key; did you mean workers?']],
  ['key in the wrong section', 'base_branch: main\n', ['isollm.yaml:1: base_branch: unknown key; did you mean git.base_branch?']],
  ['unknown nested key', 'agent:\n  preest: claude\n', ['isollm.yaml:2: agent.preest: unknown key; did you mean agent.preset?']],
  ['unknown key, nothing close', 'colour: blue\n', ['isollm.yaml:1: colour: unknown key']],
  ['section is a scalar', 'git: main\n', ['isollm.yaml:1: git: must be a mapping of base_branch, branch_prefix, hub (got "main")']],
  ['base branch with a space', 'git:\n  base_branch: my branch\n', ['isollm.yaml:2: git.base_branch: is not a valid branch name: contains a space or one of ~ ^ : ? * [ \\ (got "my branch")']],
  ['base branch with ..', 'git:\n  base_branch: a..b\n', ['isollm.yaml:2: git.base_branch: is not a valid branch name: contains `..` (got "a..b")']],
  ['branch prefix without /', 'git:\n  branch_prefix: tasks\n', ['isollm.yaml:2: git.branch_prefix: must end in `/` (got "tasks")']],
  ['branch prefix with .lock', 'git:\n  branch_prefix: a.lock/\n', ['isollm.yaml:2: git.branch_prefix: is not a valid ref prefix: has a component ending in `.lock` (got "a.lock/")']],
  ['branch prefix with //', 'git:\n  branch_prefix: a//\n', ['isollm.yaml:2: git.branch_prefix: is not a valid ref prefix: has an empty component (`//` or a leading `/`) (got "a//")']],
  ['unknown agent preset', 'agent:\n  preset: gpt\n', ['isollm.yaml:2: agent.preset: must be one of claude, codex, aider, gemini, opencode, custom (got "gpt")']],
  ['custom preset without command', 'agent:\n  mode: loop\n  preset: custom\n', ['isollm.yaml:3: agent.command: is required when agent.preset is custom (the command that starts your agent)']],
  ['unknown agent mode', 'agent:\n  mode: batch\n', ['isollm.yaml:2: agent.mode: must be one of interactive, loop (got "batch")']],
  ['agent args not a list', 'agent:\n  args: --fast\n', ['isollm.yaml:2: agent.args: must be a list of strings (got "--fast")']],
  ['agent args item not a string', 'agent:\n  args:\n    - --x\n    - 3\n', ['isollm.yaml:4: agent.args[1]: must be a string (quote it) (got 3)']],
  ['agent env with a value', 'agent:\n  env: [ANTHROPIC_API_KEY=sk-secret]\n', ['isollm.yaml:2: agent.env[0]: must be the NAME of a host environment variable, not NAME=value (values are read from the host at launch) (got "ANTHROPIC_API_KEY=sk-secret")']],
  ['poll interval zero', 'agent:\n  loop:\n    poll_interval: 0\n', ['isollm.yaml:3: agent.loop.poll_interval: must be a whole number from 1 to 3600 (got 0)']],
  ['queue port privileged', 'queue:\n  port: 80\n', ['isollm.yaml:2: queue.port: must be a whole number from 1024 to 65535 (got 80)']],
  ['queue port too high', 'queue:\n  port: 70000\n', ['isollm.yaml:2: queue.port: must be a whole number from 1024 to 65535 (got 70000)']],
  ['queue url with credentials, password hidden', 'queue:\n  url: http://bob:hunter2@host:7432/\n', ['isollm.yaml:2: queue.url: must not contain credentials (isollm sends none) (got "http://***:***@host:7432/")']],
  ['queue url not http, password hidden', 'queue:\n  url: ftp://bob:hunter2@host/\n', ['isollm.yaml:2: queue.url: must be an http:// or https:// URL (got "ftp://***:***@host/")']],
  ['port out of range', 'ports: [70000]\n', ['isollm.yaml:1: ports[0]: must be a port N or HOST:CONTAINER, each from 1 to 65535 (got 70000)']],
  ['port malformed', 'ports:\n  - "3000"\n  - 80:80:80\n', ['isollm.yaml:3: ports[1]: must be a port N or HOST:CONTAINER, each from 1 to 65535 (got "80:80:80")']],
  ['duplicate host port', 'ports:\n  - 3000\n  - "3000:80"\n', ['isollm.yaml:3: ports[1]: forwards host port 3000 again (see ports[0]) (got "3000:80")']],
  ['ports with remote workers', 'runtime:\n  remote: far\nports:\n  - 3000\n', ["isollm.yaml:4: ports: forwards ports of local workers only: with runtime.remote (far) a forward would listen on the remote's machine, not this one; remove ports, or reach the port through the worker (`isollm worker exec`) or the remote's own network"]],
  ['port is the queue port', 'queue:\n  port: 9000\nports:\n  - 9000\n', ['isollm.yaml:4: ports[0]: uses the queue port 9000 (queue.port) (got 9000)']],
  ['ports not a list', 'ports: 3000\n', ['isollm.yaml:1: ports: must be a list of ports (got 3000)']],
  ['limits cpu zero', 'limits:\n  cpu: 0\n', ['isollm.yaml:2: limits.cpu: must be a whole number from 1 to 1024 (got 0)']],
  ['limits memory unit', 'limits:\n  memory: 4G\n', ['isollm.yaml:2: limits.memory: must be a size like 4GiB or 512MiB, or a share like 50% (got "4G")']],
  ['limits disk as a share', 'limits:\n  disk: 50%\n', ['isollm.yaml:2: limits.disk: must be a size like 10GiB or 500MiB (got "50%")']],
  ['runtime pool with a slash', 'runtime:\n  pool: a/b\n', ['isollm.yaml:2: runtime.pool: must be a storage pool name (letters, digits, - _ .) (got "a/b")']],
  ['killed runs zero', 'agent:\n  loop:\n    max_killed_runs: 0\n', ['isollm.yaml:3: agent.loop.max_killed_runs: must be a whole number from 1 to 100 (got 0)']],
  ['multiplexer kind', 'multiplexer:\n  kind: screen\n', ['isollm.yaml:2: multiplexer.kind: must be one of auto, zellij, tmux, none (got "screen")']],
  ['layout', 'multiplexer:\n  layout: diagonal\n', ['isollm.yaml:2: multiplexer.layout: must be one of auto, horizontal, vertical, grid (got "diagonal")']],
  ['dashboard yes (YAML 1.2 string)', 'multiplexer:\n  dashboard: yes\n', ['isollm.yaml:2: multiplexer.dashboard: must be true, false or every_tab (got "yes")']],
  ['panes per tab', 'multiplexer:\n  max_panes_per_tab: 0\n', ['isollm.yaml:2: multiplexer.max_panes_per_tab: must be a whole number from 1 to 32 (got 0)']],
  ['template empty', 'multiplexer:\n  template: ""\n', ['isollm.yaml:2: multiplexer.template: must be a non-empty string (got "")']],
  ['dashboard size', 'multiplexer:\n  dashboard_size: 95%\n', ['isollm.yaml:2: multiplexer.dashboard_size: must be auto, a percentage from 5% to 90%, or a number of rows from 1 to 100 (got "95%")']],
  ['dashboard rows', 'multiplexer:\n  dashboard_size: 0\n', ['isollm.yaml:2: multiplexer.dashboard_size: must be auto, a percentage from 5% to 90%, or a number of rows from 1 to 100 (got 0)']],
  ['dashboard size word', 'multiplexer:\n  dashboard_size: tall\n', ['isollm.yaml:2: multiplexer.dashboard_size: must be auto, a percentage from 5% to 90%, or a number of rows from 1 to 100 (got "tall")']],
  ['runtime kind', 'runtime:\n  kind: docker\n', ['isollm.yaml:2: runtime.kind: must be one of auto, lxd, incus (got "docker")']],
  ['top level is a list', '- workers: 3\n', ['isollm.yaml:1: (top level): must be a mapping of keys (got a list)']],
  ['YAML syntax error', 'workers: 3\nagent: [claude\n', ['isollm.yaml:3: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]']],
  ['duplicate key', 'workers: 3\nimage: a\nworkers: 4\n', ['isollm.yaml:3: YAML: Map keys must be unique']],
  [
    'every problem at once, in line order',
    'workers: 0\nagnet:\n  preset: claude\nqueue:\n  port: 1\nruntime:\n  kind: lxc\n',
    [
      'isollm.yaml:1: workers: must be a whole number from 1 to 32 (got 0)',
      'isollm.yaml:2: agnet: unknown key; did you mean agent?',
      'isollm.yaml:5: queue.port: must be a whole number from 1024 to 65535 (got 1)',
      'isollm.yaml:7: runtime.kind: must be one of auto, lxd, incus (got "lxc")',
    ],
  ],
];

describe('parseConfig rejects bad configs with the exact line and message', () => {
  it('has at least 25 cases', () => expect(BAD.length).toBeGreaterThanOrEqual(25));
  it.each(BAD)('%s', (_what, text, expected) => {
    expect(problems(text)).toEqual(expected);
  });

  it('carries the problems as data', () => {
    try {
      parseConfig('workers: 0\n', ROOT);
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).problems).toEqual([{ line: 1, path: 'workers', message: 'must be a whole number from 1 to 32 (got 0)' }]);
      expect((err as ConfigError).exitCode).toBe(1);
    }
  });
});

describe('parseConfig resolves a good config', () => {
  it('applies every default to an empty file, naming the project after the directory', () => {
    expect(parseConfig('', '/src/My Cool_Repo')).toEqual(defaults('my-cool-repo'));
    expect(parseConfig('# only comments\n', ROOT).project).toBe('my-repo');
  });

  it('treats an empty key or section as "use the default"', () => {
    const config = parseConfig('workers:\nmultiplexer:\nqueue:\n  url:\n', ROOT);
    expect(config.workers).toBe(3);
    expect(config.multiplexer.dashboard).toBe(true);
    expect(config.queue.url).toBeNull();
  });

  it('keeps set values, merges sections key by key, and records which keys the file set', () => {
    const text = 'project: App-2\nworkers: 8\nmultiplexer:\n  kind: tmux\nports: [3000, "8080:80"]\nagent:\n  env: [ANTHROPIC_API_KEY]\n  loop:\n    give_up_after: 600\n';
    const { config, explicit } = resolveConfig(text, ROOT);
    expect(config.project).toBe('App-2');
    expect(config.workers).toBe(8);
    expect(config.multiplexer).toEqual({ kind: 'tmux', layout: 'auto', dashboard: true, dashboard_size: 'auto', max_panes_per_tab: 6, template: null, tmux_conf: null });
    expect(config.ports).toEqual(['3000', '8080:80']);
    expect(config.agent.loop).toEqual({ poll_interval: 10, give_up_after: 600, max_killed_runs: 3 });
    expect(config.git.hub).toBe(path.join(os.homedir(), '.isollm', 'App-2.git'));
    expect([...explicit].sort()).toEqual(['agent.env', 'agent.loop.give_up_after', 'multiplexer.kind', 'ports', 'project', 'workers']);
  });

  it('resolves git.hub with ~ and relative to the project root', () => {
    expect(parseConfig('git:\n  hub: ~/hubs/x.git\n', ROOT).git.hub).toBe(path.join(os.homedir(), 'hubs/x.git'));
    expect(parseConfig('git:\n  hub: ../hub.git\n', ROOT).git.hub).toBe('/work/hub.git');
    expect(parseConfig('git:\n  hub: /srv/hub.git\n', ROOT).git.hub).toBe('/srv/hub.git');
  });

  it('accepts a custom agent with a command, and YAML anchors', () => {
    const config = parseConfig('ports: &p ["3000"]\nagent:\n  preset: custom\n  command: my-agent\n  args: *p\n', ROOT);
    expect(config.agent.command).toBe('my-agent');
    expect(config.agent.args).toEqual(['3000']);
  });

  it('lets flags win over the file', () => {
    const config = applyOverrides(parseConfig('workers: 2\nmultiplexer:\n  kind: tmux\n', ROOT), { workers: 5, multiplexer: { layout: 'grid' } });
    expect(config.workers).toBe(5);
    expect(config.multiplexer.kind).toBe('tmux');
    expect(config.multiplexer.layout).toBe('grid');
  });
});

describe('helpers', () => {
  it.each([
    ['my-repo', 'my-repo'],
    ['My_Cool.Repo', 'my-cool-repo'],
    ['--weird--', 'weird'],
    ['2048-game', 'p-2048-game'],
    ['日本', 'project'],
    ['x'.repeat(80), 'x'.repeat(MAX_PROJECT_NAME)],
  ])('toProjectName(%j) = %j', (dir, name) => {
    expect(toProjectName(dir)).toBe(name);
    expect(() => parseConfig(`project: ${name}\n`, ROOT)).not.toThrow();
  });

  it('redacts credentials in URLs', () => {
    expect(redactUrl('https://user:pw@q.example/api?token=abc&x=1')).toBe('https://***:***@q.example/api?token=***&x=1');
    expect(redactUrl('http://127.0.0.1:7432')).toBe('http://127.0.0.1:7432/');
  });

  it('counts a swap of neighbours as one edit', () => {
    expect(editDistance('agnet', 'agent')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });
});

describe('README configuration reference', () => {
  it('documents every key', async () => {
    const fs = await import('node:fs');
    const { schemaPaths, SCHEMA } = await import('../lib/config/schema.ts');
    const readme = fs.readFileSync(path.join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const sections = Object.keys(SCHEMA).filter((k) => typeof SCHEMA[k] !== 'function').flatMap((k) => [k, 'agent.loop']);
    for (const keyPath of schemaPaths().filter((p) => !sections.includes(p))) {
      expect(readme, keyPath).toContain(`| \`${keyPath}\` |`);
    }
  });
});
