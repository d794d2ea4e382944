// How each agent CLI reports its state: the CLI's own hook mechanism, configured in the worker's
// user-level settings (never in the project tree, which is the user's repository), calling
// `isollm-state hook <cli>`, which reports through the worker's own queue socket. CLIs without
// hooks (aider, custom commands) are covered by the loop. Also the usage-limit patterns per preset,
// which the loop matches against the agent's output.
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/load.ts';
import { AGENT_DIR, DEV_HOME, TEMPLATES } from './presets.ts';

/** Owned by dev (its home) unless `root` says otherwise. */
type HookFile = { path: string; content: string; owner?: 'root' };

const HOOK = (cli: string) => `isollm-state hook ${cli}`;

/** Claude Code events → `isollm-state hook claude` (it reads the event's JSON on stdin). */
export const CLAUDE_HOOK_EVENTS = ['SessionStart', 'UserPromptSubmit', 'PreToolUse', 'PermissionRequest', 'PostToolUse', 'Notification', 'Stop', 'StopFailure', 'SessionEnd'] as const;
const CLAUDE_TOOL_EVENTS = new Set(['PreToolUse', 'PermissionRequest', 'PostToolUse']);

export function claudeSettings(): Record<string, unknown> {
  const hooks: Record<string, unknown> = {};
  for (const event of CLAUDE_HOOK_EVENTS) {
    hooks[event] = [{ ...(CLAUDE_TOOL_EVENTS.has(event) ? { matcher: '*' } : {}), hooks: [{ type: 'command', command: HOOK('claude'), timeout: 10 }] }];
  }
  return { hooks };
}

/**
 * Gemini CLI: the same idea, in gemini's system-defaults settings (its lowest layer; hook lists are
 * concatenated with the user's), so ~/.gemini/settings.json stays gemini's own — after "Login with
 * Google" it holds the chosen auth type, which a rewrite at every launch would lose (the auth dialog
 * again). Gemini reads a system file only when it and every parent are root's and not group- or
 * world-writable: root owns it (and the agent cannot change its own hooks). Gemini reads a hook's stdout as its
 * decision and takes an exit status of 2 or more as "deny" — a BeforeAgent hook that fails (say
 * isollm-state missing: 127) would stop every prompt before the model. So the command always ends
 * in `{}` and status 0.
 */
export const GEMINI_HOOK_EVENTS = ['SessionStart', 'BeforeAgent', 'BeforeTool', 'AfterTool', 'Notification', 'AfterAgent', 'SessionEnd'] as const;

export const GEMINI_HOOKS_FILE = '/etc/gemini-cli/system-defaults.json';
export const GEMINI_HOOK = `${HOOK('gemini')} || echo '{}'`;

export function geminiSettings(): Record<string, unknown> {
  const hooks: Record<string, unknown> = {};
  for (const event of GEMINI_HOOK_EVENTS) {
    hooks[event] = [{ matcher: '*', hooks: [{ name: 'isollm-state', type: 'command', command: GEMINI_HOOK, timeout: 10_000 }] }];
  }
  return { hooksConfig: { enabled: true }, hooks };
}

/** Codex's hooks (Claude Code's format, in ~/.codex/hooks.json): the event's JSON on stdin. */
export const CODEX_HOOK_EVENTS = ['SessionStart', 'UserPromptSubmit', 'PreToolUse', 'PermissionRequest', 'PostToolUse', 'Stop'] as const;

export function codexHooks(): Record<string, unknown> {
  const hooks: Record<string, unknown> = {};
  for (const event of CODEX_HOOK_EVENTS) hooks[event] = [{ hooks: [{ type: 'command', command: HOOK('codex'), timeout: 10 }] }];
  return { hooks };
}

/** Codex: its `notify` program gets each event as a JSON argument (turn complete, approval requested). */
export function codexConfig(): string {
  return `# Written by isollm at every launch: report this agent's state to the queue.\nnotify = ${JSON.stringify(['isollm-state', 'hook', 'codex'])}\n`;
}

/** opencode: a plugin (its event hook) passing session, permission and question events on. */
export function opencodePlugin(): string {
  return fs.readFileSync(path.join(TEMPLATES, 'isollm-opencode-plugin.js'), 'utf8');
}

/** Every preset's limit messages also match these (ERE, case-insensitive). */
export const COMMON_LIMIT_PATTERNS = ['usage[ _]limit', 'rate[ _]limit', 'limit reached', 'hit your (usage |session |weekly )?limit', 'quota exceeded', 'too many requests'];

/** What each CLI prints when the plan's limit stops it (its structured error names or its text). */
export const LIMIT_PATTERNS: Record<Config['agent']['preset'], string[]> = {
  claude: ['Claude AI usage limit reached', '[0-9]+-hour limit reached', 'rate_limit_error', 'out of (extra )?usage'],
  codex: ['usage_limit_reached', 'usage_limit_exceeded', "You've hit your usage limit", 'rate_limit_exceeded'],
  gemini: ['RESOURCE_EXHAUSTED', 'Quota exceeded for quota metric', 'exhausted your (daily )?quota'],
  opencode: ['rate_limit_error', 'usage_limit_reached', 'RESOURCE_EXHAUSTED'],
  aider: ['RateLimitError', 'insufficient_quota'],
  custom: [],
};

export function limitPatterns(preset: Config['agent']['preset']): string[] {
  return [...COMMON_LIMIT_PATTERNS, ...LIMIT_PATTERNS[preset]];
}

/** Which CLI's hooks apply: the preset's, or for a custom command named like a preset's CLI, that one's. */
export function hookFlavor(agent: Config['agent']): Config['agent']['preset'] {
  if (agent.preset !== 'custom') return agent.preset;
  const base = (agent.command ?? '').split('/').at(-1) ?? '';
  return (['claude', 'codex', 'gemini', 'opencode', 'aider'] as const).find((p) => p === base) ?? 'custom';
}

/** The files that make the configured agent report its state, plus the limit patterns. */
export function stateHookFiles(config: Config): HookFile[] {
  const flavor = hookFlavor(config.agent);
  const files: HookFile[] = [{ path: `${AGENT_DIR}/limit.patterns`, content: limitPatterns(flavor).join('\n') + '\n' }];
  const json = (value: unknown) => JSON.stringify(value, null, 2) + '\n';
  switch (flavor) {
    case 'claude':
      files.push({ path: `${DEV_HOME}/.claude/settings.json`, content: json(claudeSettings()) });
      break;
    case 'gemini':
      files.push({ path: GEMINI_HOOKS_FILE, content: json(geminiSettings()), owner: 'root' });
      break;
    case 'codex':
      files.push({ path: `${DEV_HOME}/.codex/config.toml`, content: codexConfig() }, { path: `${DEV_HOME}/.codex/hooks.json`, content: json(codexHooks()) });
      break;
    case 'opencode':
      files.push({ path: `${DEV_HOME}/.config/opencode/plugin/isollm-state.js`, content: opencodePlugin() });
      break;
  }
  return files;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isObject(out[k]) && isObject(v) ? deepMerge(out[k] as Record<string, unknown>, v) : v;
  return out;
}

/**
 * The hook files joined into the files the preset already writes at the same path (its settings.json
 * keeps its keys and gains `hooks`; a config.toml gets the hook's top-level keys first, before any
 * [table], as TOML needs), the others appended.
 */
export function withHookFiles<F extends { path: string; content: string }>(files: F[], hooks: HookFile[], make: (h: HookFile) => F): F[] {
  const out = [...files];
  for (const hook of hooks) {
    const i = out.findIndex((f) => f.path === hook.path);
    if (i < 0) {
      out.push(make(hook));
      continue;
    }
    const content = hook.path.endsWith('.json')
      ? JSON.stringify(deepMerge(JSON.parse(out[i].content) as Record<string, unknown>, JSON.parse(hook.content) as Record<string, unknown>), null, 2) + '\n'
      : `${hook.content}\n${out[i].content}`;
    out[i] = { ...out[i], content };
  }
  return out;
}
