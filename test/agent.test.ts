import { describe, expect, it } from 'vitest';
import { collectSecrets, envFile, linesFile, planAgent, PROMPT_PLACEHOLDER, renderInstructions, renderTemplate } from '../lib/agent/presets.ts';
import { defaults } from '../lib/config/load.ts';

describe('planAgent', () => {
  it('gives claude its sandbox flag, IS_SANDBOX and a headless prompt', () => {
    const plan = planAgent(defaults('demo').agent);
    expect(plan.interactive).toEqual(['claude', '--dangerously-skip-permissions']);
    expect(plan.headless).toEqual(['claude', '--dangerously-skip-permissions', '-p', PROMPT_PLACEHOLDER]);
    expect(plan.env).toEqual({ IS_SANDBOX: '1' });
    expect(plan.instructionsPath).toBe('/home/dev/.claude/CLAUDE.md');
    expect(plan.template).toBe('CLAUDE.md');
  });

  it.each([
    ['codex', ['codex', '--dangerously-bypass-approvals-and-sandbox'], '/home/dev/.codex/AGENTS.md'],
    ['aider', ['aider', '--yes-always', '--read', '/home/dev/.isollm/AGENTS.md'], '/home/dev/.isollm/AGENTS.md'],
    ['gemini', ['gemini', '--yolo'], '/home/dev/.gemini/GEMINI.md'],
    ['opencode', ['opencode'], '/home/dev/.config/opencode/AGENTS.md'],
  ] as const)('%s preset', (preset, interactive, instructions) => {
    const plan = planAgent({ ...defaults('demo').agent, preset });
    expect(plan.interactive).toEqual(interactive);
    expect(plan.headless).toContain(PROMPT_PLACEHOLDER);
    expect(plan.instructionsPath).toBe(instructions);
    expect(plan.template).toBe('AGENTS.md');
  });

  it('runs a custom command with its args, and refuses custom without a command', () => {
    const agent = { ...defaults('demo').agent, preset: 'custom' as const, command: '/opt/bot', args: ['--fast', 'two words'] };
    expect(planAgent(agent).interactive).toEqual(['/opt/bot', '--fast', 'two words']);
    expect(planAgent(agent).headless).toEqual(['/opt/bot', '--fast', 'two words']);
    expect(() => planAgent({ ...agent, command: null })).toThrow(/agent.command is empty/);
  });

  it('lets agent.command override a preset command and appends agent.args', () => {
    const plan = planAgent({ ...defaults('demo').agent, command: '/usr/local/bin/claude', args: ['--model', 'opus'] });
    expect(plan.interactive).toEqual(['/usr/local/bin/claude', '--dangerously-skip-permissions', '--model', 'opus']);
  });
});

describe('instructions', () => {
  it('fills every placeholder of both templates', () => {
    const config = defaults('demo');
    config.git.branch_prefix = 'agents/';
    for (const template of ['CLAUDE.md', 'AGENTS.md'] as const) {
      const text = renderInstructions(config, 'worker-2', 'Use pnpm, not npm.', template);
      expect(text).not.toMatch(/\{\{\w+\}\}/);
      expect(text).toContain('worker-2');
      expect(text).toContain('agents/<id>');
      expect(text).toContain('origin/main');
      expect(text).toContain('Use pnpm, not npm.');
    }
  });

  it('does not re-expand placeholders inside substituted values', () => {
    expect(renderTemplate('{{a}} {{b}}', { a: '{{b}}', b: 'x' })).toBe('{{b}} x');
  });

  it('refuses a placeholder it has no value for (a mistake in the template)', () => {
    expect(() => renderTemplate('{{project}} {{nope}}', { project: 'p' }, 'templates/X.md')).toThrow('templates/X.md: unknown placeholder {{nope}}');
    expect(() => renderTemplate('{{toString}}', {})).toThrow('unknown placeholder {{toString}}');
  });
});

describe('secrets and line files', () => {
  it('collects named host variables and reports missing ones by name only', () => {
    const { values, missing } = collectSecrets(['A_KEY', 'B_KEY', 'EMPTY'], { A_KEY: 's3cret', EMPTY: '' });
    expect(values).toEqual({ A_KEY: 's3cret' });
    expect(missing).toEqual(['B_KEY', 'EMPTY']);
  });

  it('refuses values with newlines, which the in-container readers cannot carry', () => {
    expect(envFile({ A: 'x y', B: '$(rm -rf /)' }, 'agent.env')).toBe('A=x y\nB=$(rm -rf /)\n');
    expect(() => linesFile(['ok', 'bad\nline'], 'agent.args')).toThrow(/agent.args contains a newline/);
    // A secret with a newline is named, never shown.
    expect(() => envFile({ API_KEY: 'sk-very-secret\nrest' }, 'agent.env')).toThrow('The value of API_KEY (agent.env) contains a newline');
    try {
      envFile({ API_KEY: 'sk-very-secret\nrest' }, 'agent.env');
    } catch (err) {
      expect((err as Error).message).not.toContain('sk-very');
    }
  });
});
