// `isollm up` with every agent preset and no `agent.env` (credentials given some other way, e.g. a
// login inside the worker): the agent's environment file is pushed empty, which must not hang the
// push (issue 20), and each preset's agent starts in the usual time.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { deleteInstance, listInstances } from '../../lib/runtime/client.ts';
import { freePort } from '../helpers.ts';
import { e2eProject } from './project.ts';
import { e2eConfigYaml, e2eRuntime } from './runtime-available.ts';

const rt = await e2eRuntime('up presets');
const { project, work, root, hub, cli, isollm, commit } = e2eProject('pre', { OPENAI_API_KEY: undefined, ANTHROPIC_API_KEY: undefined, GEMINI_API_KEY: undefined });
/** Creating the one worker; later `up`s only push files and start the agent. */
const CREATE_MS = 180_000;
const REUP_MS = 45_000;

let port = 0;
function writeConfig(agent: Record<string, unknown>) {
  fs.writeFileSync(path.join(root, 'isollm.yaml'), e2eConfigYaml({ project, hub, port, agent }));
}

/** Run `up`; its duration in ms (it must succeed). */
function timedUp(timeout: number): number {
  const started = Date.now();
  isollm(['up', '-n', '1', '--multiplexer', 'none'], timeout);
  return Date.now() - started;
}

const AGENT_ALIVE = 'read pid start < "$HOME/.isollm/agent.pid" && kill -0 "$pid" && echo alive';

describe.skipIf(!rt)('isollm up with each preset and no agent.env (real containers)', () => {
  beforeAll(async () => {
    port = await freePort();
    commit({ 'README.md': '# e2e\n' });
  });

  afterAll(async () => {
    for (const i of await listInstances(rt!, project).catch(() => [])) await deleteInstance(rt!, i.name).catch(() => undefined);
    cli(['queue', 'stop']);
    fs.rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it('codex with agent.env absent: the first up creates the worker and starts the agent', () => {
    // No `env` key at all (the e2e builder writes only what it is given).
    writeConfig({ preset: 'codex', mode: 'loop' });
    expect(YAML.parse(fs.readFileSync(path.join(root, 'isollm.yaml'), 'utf8')).agent.env).toBeUndefined();
    const ms = timedUp(CREATE_MS);
    expect(ms).toBeLessThan(CREATE_MS);
    expect(isollm(['worker', 'exec', 'worker-1', '--', 'stat', '-c', '%s %a', '/home/dev/.isollm/agent.env'])).toBe('0 600\n');
    expect(isollm(['worker', 'exec', 'worker-1', '--', 'sh', '-c', AGENT_ALIVE])).toBe('alive\n');
  }, CREATE_MS + 30_000);

  for (const preset of ['claude', 'codex', 'gemini', 'opencode', 'aider']) {
    it(`${preset} with agent.env [] starts its agent at once`, () => {
      isollm(['worker', 'exec', 'worker-1', '--', 'isollm-agent', 'stop']);
      writeConfig({ preset, mode: 'loop', env: [] });
      const ms = timedUp(REUP_MS);
      // Pushing files and starting an agent takes a few seconds (more on a loaded host); a hanging push took 60 s.
      expect(ms).toBeLessThan(40_000);
      expect(isollm(['worker', 'exec', 'worker-1', '--', 'sh', '-c', AGENT_ALIVE])).toBe('alive\n');
      expect(isollm(['worker', 'exec', 'worker-1', '--', 'cat', '/home/dev/.isollm/headless.argv']).split('\n')[0]).toBe(preset);
      // gemini reads its system defaults (isollm's hooks) only when root owns them and their parents.
      if (preset === 'gemini') expect(isollm(['worker', 'exec', 'worker-1', '--', 'stat', '-c', '%U %a %n', '/etc/gemini-cli', '/etc/gemini-cli/system-defaults.json'])).toBe('root 755 /etc/gemini-cli\nroot 644 /etc/gemini-cli/system-defaults.json\n');
    }, REUP_MS + 30_000);
  }
});
