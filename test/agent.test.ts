import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { collectSecrets, envFile, linesFile, planAgent, presetVariables, PROMPT_PLACEHOLDER, readContext, renderInstructions, renderTemplate } from '../lib/agent/presets.ts';
import { tmpDir } from './helpers.ts';
import type { Config } from '../lib/config/load.ts';
import { defaults } from '../lib/config/load.ts';

describe('planAgent', () => {
  it('gives claude its sandbox flag, IS_SANDBOX and a headless prompt', () => {
    const plan = planAgent(defaults('demo').agent);
    expect(plan.interactive).toEqual(['claude', '--dangerously-skip-permissions']);
    expect(plan.headless).toEqual(['claude', '--dangerously-skip-permissions', '-p', '--output-format', 'stream-json', '--verbose', PROMPT_PLACEHOLDER]);
    expect(plan.env).toEqual({ IS_SANDBOX: '1' });
    expect(plan.instructionsPath).toBe('/home/dev/.claude/CLAUDE.md');
  });

  it.each([
    ['codex', ['codex', '--dangerously-bypass-approvals-and-sandbox', '--dangerously-bypass-hook-trust'], ['codex', 'exec', '--json', '--dangerously-bypass-approvals-and-sandbox', '--dangerously-bypass-hook-trust', PROMPT_PLACEHOLDER], '/home/dev/.codex/AGENTS.md'],
    // No --yes-always interactively: it would decline every shell command instead of asking you.
    ['aider', ['aider', '--read', '/home/dev/.isollm/AGENTS.md'], ['aider', '--yes-always', '--no-suggest-shell-commands', '--read', '/home/dev/.isollm/AGENTS.md', '--message', PROMPT_PLACEHOLDER], '/home/dev/.isollm/AGENTS.md'],
    ['gemini', ['gemini', '--yolo'], ['gemini', '--yolo', '--output-format', 'stream-json', '-p', PROMPT_PLACEHOLDER], '/home/dev/.gemini/GEMINI.md'],
    ['opencode', ['opencode'], ['opencode', 'run', '--auto', '--format', 'json', PROMPT_PLACEHOLDER], '/home/dev/.config/opencode/AGENTS.md'],
  ] as const)('%s preset', (preset, interactive, headless, instructions) => {
    const plan = planAgent({ ...defaults('demo').agent, preset });
    expect(plan.interactive).toEqual(interactive);
    expect(plan.headless).toEqual(headless);
    expect(plan.headless.filter((a) => a === PROMPT_PLACEHOLDER)).toHaveLength(1);
    expect(plan.instructionsPath).toBe(instructions);
  });

  it('home files answer the first-run dialogs, with credentials only where a key is given', () => {
    const files = (preset: Config['agent']['preset'], secrets: Record<string, string>) =>
      Object.fromEntries(planAgent({ ...defaults('demo').agent, preset }).homeFiles(secrets).map((f) => [f.path, f.content]));
    const claude = JSON.parse(files('claude', { ANTHROPIC_API_KEY: 'sk-ant-xxxxxxxxxxxxxxxx0123456789' })['/home/dev/.claude.json']);
    expect(claude).toEqual({ hasCompletedOnboarding: true, projects: { '/home/dev/project': { hasTrustDialogAccepted: true } }, customApiKeyResponses: { approved: ['xxxxxxxxxx0123456789'], rejected: [] } });
    expect(JSON.parse(files('claude', {})['/home/dev/.claude.json']).customApiKeyResponses).toBeUndefined();
    expect(JSON.parse(files('claude', {})['/home/dev/.claude/settings.json'])).toEqual({ skipDangerousModePermissionPrompt: true });
    const codex = files('codex', { OPENAI_API_KEY: 'sk-o', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' });
    expect(codex['/home/dev/.codex/config.toml']).toBe('openai_base_url = "http://127.0.0.1:9/v1"\n\n[projects."/home/dev/project"]\ntrust_level = "trusted"\n');
    expect(JSON.parse(codex['/home/dev/.codex/auth.json'])).toEqual({ auth_mode: 'apikey', OPENAI_API_KEY: 'sk-o' });
    expect(JSON.parse(files('codex', { CODEX_API_KEY: 'sk-c', OPENAI_API_KEY: 'sk-o' })['/home/dev/.codex/auth.json']).OPENAI_API_KEY).toBe('sk-c');
    // No key: a login made inside the worker (auth.json) is left alone.
    expect(files('codex', {})['/home/dev/.codex/auth.json']).toBeUndefined();
    expect(JSON.parse(files('gemini', {})['/home/dev/.gemini/trustedFolders.json'])).toEqual({ '/home/dev/project': 'TRUST_FOLDER' });
    expect(files('gemini', {})['/home/dev/.gemini/settings.json']).toBeUndefined();
    expect(JSON.parse(files('gemini', { GEMINI_API_KEY: 'g' })['/home/dev/.gemini/settings.json'])).toEqual({ security: { auth: { selectedType: 'gemini-api-key' } } });
    expect(planAgent({ ...defaults('demo').agent, preset: 'opencode' }).env).toEqual({ OPENCODE_PERMISSION: '{"*":"allow"}' });
  });

  it('names the variables each preset reads', () => {
    expect(presetVariables('claude')).toEqual({ credentials: ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN', 'ANTHROPIC_AUTH_TOKEN'], baseUrl: 'ANTHROPIC_BASE_URL' });
    expect(presetVariables('codex').credentials).toEqual(['CODEX_API_KEY', 'OPENAI_API_KEY']);
    expect(presetVariables('gemini').baseUrl).toBe('GOOGLE_GEMINI_BASE_URL');
    expect(presetVariables('custom')).toEqual({ credentials: [], baseUrl: null });
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
  const PROTOCOL = /isollm-task (next|done|block|release)|git push/;

  it('fills every placeholder, for every preset and mode', () => {
    for (const preset of ['claude', 'codex', 'aider', 'gemini', 'opencode', 'custom'] as const) {
      for (const mode of ['interactive', 'loop'] as const) {
        const config = defaults('demo');
        config.git.branch_prefix = 'agents/';
        config.agent = { ...config.agent, preset, mode, command: 'x' };
        const text = renderInstructions(config, 'worker-2', 'Use pnpm, not npm.');
        expect(text).not.toMatch(/\{\{[#^/]?\w+\}\}/);
        expect(text).toContain('worker-2');
        expect(text).toContain('agents/<id>');
        expect(text).toContain('Use pnpm, not npm.');
        expect(text.includes('Claude Code')).toBe(preset === 'claude');
        expect(text.includes('cannot run shell commands')).toBe(preset === 'aider');
      }
    }
  });

  it('interactive mode teaches the queue protocol; loop mode gives one claimed task and forbids it', () => {
    const config = defaults('demo');
    const interactive = renderInstructions(config, 'worker-1', '');
    expect(interactive).toContain('isollm-task next');
    expect(interactive).toContain('isollm-task done <id>');
    expect(interactive).toContain('git push -u origin <branch>');
    expect(interactive).toContain('origin/main');
    config.agent.mode = 'loop';
    const loop = renderInstructions(config, 'worker-1', '');
    expect(loop).not.toMatch(PROTOCOL);
    expect(loop).not.toMatch(/go back to 1/i);
    expect(loop).toContain('already claimed one task');
    expect(loop).toContain('isollm commits whatever is left, pushes the branch and marks the task');
    expect(loop).toContain('Do not run `isollm-task`');
  });

  it('keeps or drops {{#flag}} and {{^flag}} blocks', () => {
    expect(renderTemplate('a\n{{#x}}\nX {{v}}\n{{/x}}\n{{^x}}\nnot X\n{{/x}}\nb', { v: '1' }, 't', { x: true })).toBe('a\nX 1\nb');
    expect(renderTemplate('a\n{{#x}}\nX\n{{/x}}\n{{^x}}\nnot X\n{{/x}}\nb', {}, 't', { x: false })).toBe('a\nnot X\nb');
  });

  it('does not re-expand placeholders inside substituted values', () => {
    expect(renderTemplate('{{a}} {{b}}', { a: '{{b}}', b: 'x' })).toBe('{{b}} x');
  });

  it('refuses a placeholder it has no value for (a mistake in the template)', () => {
    expect(() => renderTemplate('{{project}} {{nope}}', { project: 'p' }, 'templates/X.md')).toThrow('templates/X.md: unknown placeholder {{nope}}');
    expect(() => renderTemplate('{{toString}}', {})).toThrow('unknown placeholder {{toString}}');
    expect(() => renderTemplate('{{#nope}}x{{/nope}}', {}, 'templates/X.md')).toThrow('templates/X.md: unknown flag {{#nope}}');
  });
});

describe('agent.context', () => {
  const withContext = (context: string): Config => ({ ...defaults('demo'), agent: { ...defaults('demo').agent, context } });

  it('reads a file in the repository (through a symlink in it too), or takes the text as it is', () => {
    const root = tmpDir();
    fs.mkdirSync(path.join(root, 'docs'));
    fs.writeFileSync(path.join(root, 'docs/context.md'), 'About us\n');
    fs.symlinkSync('docs/context.md', path.join(root, 'CONTEXT.md'));
    expect(readContext(withContext('docs/context.md'), root)).toBe('About us');
    expect(readContext(withContext('CONTEXT.md'), root)).toBe('About us');
    expect(readContext(withContext('Plain words about the project'), root)).toBe('Plain words about the project');
  });

  it('never reads a host file outside the repository into the workers (a symlink landed from an agent, a ../ path)', () => {
    const root = tmpDir();
    const outside = path.join(tmpDir(), 'credentials');
    fs.writeFileSync(outside, 'SECRET-KEY\n');
    fs.symlinkSync(outside, path.join(root, 'CONTEXT.md'));
    expect(() => readContext(withContext('CONTEXT.md'), root)).toThrow(/^agent\.context: CONTEXT\.md is outside the repository/);
    expect(() => readContext(withContext(path.relative(root, outside)), root)).toThrow(/is outside the repository/);
    let message = '';
    try {
      readContext(withContext('CONTEXT.md'), root);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).not.toContain('SECRET');
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
