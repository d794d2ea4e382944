// The files that make each agent CLI report its state: Claude Code / Gemini hooks in the user-level
// settings, Codex's notify program, the limit patterns; joined into the preset's own settings files.
import { describe, expect, it } from 'vitest';
import { CLAUDE_HOOK_EVENTS, geminiSettings, stateHookFiles, withHookFiles } from '../lib/agent/hooks.ts';
import { defaults, type Config } from '../lib/config/load.ts';
import { agentFiles } from '../lib/worker/plan.ts';

const config = (agent: Partial<Config['agent']>): Config => {
  const c = defaults('demo');
  c.agent = { ...c.agent, ...agent };
  return c;
};
const byPath = (files: { path: string; content: string }[]) => Object.fromEntries(files.map((f) => [f.path, f.content]));

describe('state hooks per agent', () => {
  it('claude: every hook event runs isollm-state in ~/.claude/settings.json, outside the project tree', () => {
    const files = byPath(stateHookFiles(config({ preset: 'claude' })));
    expect(Object.keys(files).sort()).toEqual(['/home/dev/.claude/settings.json', '/home/dev/.isollm/limit.patterns']);
    const settings = JSON.parse(files['/home/dev/.claude/settings.json']);
    expect(Object.keys(settings.hooks)).toEqual([...CLAUDE_HOOK_EVENTS]);
    for (const event of CLAUDE_HOOK_EVENTS) expect(settings.hooks[event][0].hooks).toEqual([{ type: 'command', command: 'isollm-state hook claude', timeout: 10 }]);
    expect(settings.hooks.PreToolUse[0].matcher).toBe('*');
    expect(files['/home/dev/.isollm/limit.patterns']).toContain('Claude AI usage limit reached\n');
  });

  it('gemini, codex, and a custom command named like a CLI get that CLI\'s hooks; others only the patterns', () => {
    const geminiFiles = byPath(stateHookFiles(config({ preset: 'gemini' })));
    // Its system-defaults layer: ~/.gemini/settings.json stays gemini's own.
    expect(Object.keys(geminiFiles).sort()).toEqual(['/etc/gemini-cli/system-defaults.json', '/home/dev/.isollm/limit.patterns']);
    const gemini = JSON.parse(geminiFiles['/etc/gemini-cli/system-defaults.json']);
    // A failing hook must not deny the prompt (gemini takes exit >= 2 as "deny"): it always ends in {} and 0.
    expect(gemini.hooks.AfterAgent).toEqual([{ matcher: '*', hooks: [{ name: 'isollm-state', type: 'command', command: "isollm-state hook gemini || echo '{}'", timeout: 10_000 }] }]);
    expect(gemini).toEqual(geminiSettings());
    expect(byPath(stateHookFiles(config({ preset: 'codex' })))['/home/dev/.codex/config.toml']).toContain('notify = ["isollm-state","hook","codex"]\n');
    expect(Object.keys(byPath(stateHookFiles(config({ preset: 'custom', command: '/usr/local/bin/claude' }))))).toContain('/home/dev/.claude/settings.json');
    expect(stateHookFiles(config({ preset: 'custom', command: 'isollm-demo-agent' })).map((f) => f.path)).toEqual(['/home/dev/.isollm/limit.patterns']);
    expect(stateHookFiles(config({ preset: 'aider' })).map((f) => f.path)).toEqual(['/home/dev/.isollm/limit.patterns']);
  });

  it('joins the preset\'s own settings: JSON keys kept, TOML top-level keys before its tables', () => {
    const make = (f: { path: string; content: string }) => ({ ...f, mode: 0o644 });
    const own = [
      { path: '/home/dev/.claude/settings.json', content: '{"skipDangerousModePermissionPrompt":true,"hooks":{"Stop":[]}}', mode: 0o600 },
      { path: '/home/dev/.codex/config.toml', content: '[projects."/home/dev/project"]\ntrust_level = "trusted"\n', mode: 0o600 },
    ];
    const hooks = [...stateHookFiles(config({ preset: 'claude' })), ...stateHookFiles(config({ preset: 'codex' })).filter((f) => f.path.endsWith('.toml'))];
    const joined = withHookFiles(own, hooks, make);
    expect(joined.map((f) => [f.path, f.mode])).toEqual([['/home/dev/.claude/settings.json', 0o600], ['/home/dev/.codex/config.toml', 0o600], ['/home/dev/.isollm/limit.patterns', 0o644]]);
    const settings = JSON.parse(joined[0].content);
    expect(settings.skipDangerousModePermissionPrompt).toBe(true);
    expect(settings.hooks.Stop[0].hooks[0].command).toBe('isollm-state hook claude');
    expect(joined[1].content).toMatch(/^# Written by isollm.*\nnotify = \["isollm-state","hook","codex"\]\n\n\[projects\."\/home\/dev\/project"\]\ntrust_level = "trusted"\n$/);
  });

  it('agentFiles pushes them, owned by dev', () => {
    const files = agentFiles(config({ preset: 'claude' }), '/tmp', 'worker-1', {});
    const settings = files.find((f) => f.path === '/home/dev/.claude/settings.json')!;
    expect(settings).toMatchObject({ owner: 'dev' });
    expect(JSON.parse(settings.content).hooks.Notification).toBeDefined();
    // gemini: its own settings.json keeps only the API key's auth type; the hooks are root's (gemini
    // ignores a system file anyone else could write).
    const gemini = agentFiles(config({ preset: 'gemini', env: ['GEMINI_API_KEY'] }), '/tmp', 'worker-1', { GEMINI_API_KEY: 'k' });
    expect(JSON.parse(gemini.find((f) => f.path === '/home/dev/.gemini/settings.json')!.content)).toEqual({ security: { auth: { selectedType: 'gemini-api-key' } } });
    expect(gemini.find((f) => f.path === '/etc/gemini-cli/system-defaults.json')).toMatchObject({ owner: 'root', mode: 0o644 });
  });
});
