// Agents: what runs in a worker (presets or a custom command), in which mode, with which
// instructions and environment. Everything here is data; the worker layer pushes it into the container.
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../cli/errors.ts';
import { TEMPLATES_DIR } from '../cli/package-files.ts';
import { renderTemplate } from '../cli/template.ts';
import type { Config } from '../config/load.ts';

export const TEMPLATES = TEMPLATES_DIR;
export const DEV_HOME = '/home/dev';
export const PROJECT_DIR = `${DEV_HOME}/project`;
/** isollm's own files for the agent, outside the project tree so git never sees them. */
export const AGENT_DIR = `${DEV_HOME}/.isollm`;
/** Stands for the task's prompt in a headless argv; the loop replaces it. */
export const PROMPT_PLACEHOLDER = '{prompt}';

/** A file the preset's CLI reads from its home (settings, trust, credentials), written at every launch. */
export type HomeFile = { path: string; content: string; mode: number };

/** Machine-readable headless output isollm can read: one per CLI (none: only exit status and duration). */
export const OUTPUT_FORMATS = ['claude', 'codex', 'gemini', 'opencode'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

type Preset = {
  command: string;
  interactive: string[];
  /** Headless args with PROMPT_PLACEHOLDER: the prompt goes there only (not on stdin as well). */
  headless: string[];
  /** The machine-readable output the headless argv asks for (lib/agent/results.ts reads it). */
  output?: OutputFormat;
  /** Interactive args that continue the CLI's last conversation (after a reboot), from its --help. */
  resume?: { before?: string[]; after?: string[] };
  env?: Record<string, string>;
  /** Where the agent reads user-level instructions (outside the project tree). */
  instructions: string;
  /** Host variables the CLI reads for credentials (any one is enough) and for another model server. */
  credentials: string[];
  baseUrl: string;
  /** It cannot run shell commands by itself (the human or the loop does the protocol's commands). */
  noShell?: boolean;
  /** Files that keep first-run dialogs (onboarding, folder trust, key approval) from stopping it. */
  homeFiles?: (secrets: Record<string, string>) => HomeFile[];
};

const json = (value: unknown) => JSON.stringify(value, null, 2) + '\n';
/** A TOML basic string (JSON's escapes are valid TOML). */
const tomlString = (value: string) => JSON.stringify(value);

const PRESETS: Record<Exclude<Config['agent']['preset'], 'custom'>, Preset> = {
  // claude refuses --dangerously-skip-permissions as root unless it is told it runs in a sandbox.
  // Interactively it would first stop at onboarding (which needs api.anthropic.com), the folder trust
  // dialog, the "use this API key?" question (it remembers a key by its last 20 characters) and the
  // bypass-permissions warning: ~/.claude.json and ~/.claude/settings.json answer them.
  claude: {
    command: 'claude',
    interactive: ['--dangerously-skip-permissions'],
    headless: ['--dangerously-skip-permissions', '-p', '--output-format', 'stream-json', '--verbose', PROMPT_PLACEHOLDER],
    output: 'claude',
    resume: { after: ['--continue'] },
    env: { IS_SANDBOX: '1' },
    instructions: `${DEV_HOME}/.claude/CLAUDE.md`,
    credentials: ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN', 'ANTHROPIC_AUTH_TOKEN'],
    baseUrl: 'ANTHROPIC_BASE_URL',
    homeFiles: (secrets) => {
      const key = secrets.ANTHROPIC_API_KEY;
      return [
        {
          path: `${DEV_HOME}/.claude.json`,
          content: json({
            hasCompletedOnboarding: true,
            projects: { [PROJECT_DIR]: { hasTrustDialogAccepted: true } },
            ...(key ? { customApiKeyResponses: { approved: [key.slice(-20)], rejected: [] } } : {}),
          }),
          mode: 0o600,
        },
        { path: `${DEV_HOME}/.claude/settings.json`, content: json({ skipDangerousModePermissionPrompt: true }), mode: 0o644 },
      ];
    },
  },
  // codex exec reads CODEX_API_KEY, the TUI only a login: an API key given as CODEX_API_KEY or
  // OPENAI_API_KEY goes into ~/.codex/auth.json (what `codex login --with-api-key` writes), which both
  // read. config.toml trusts the project (else the TUI asks) and takes OPENAI_BASE_URL, which codex
  // itself no longer reads from the environment.
  codex: {
    command: 'codex',
    // Its hooks (isollm's, in ~/.codex/hooks.json) run only once trusted in an interactive review:
    // isollm writes them itself, in a worker that is the sandbox.
    interactive: ['--dangerously-bypass-approvals-and-sandbox', '--dangerously-bypass-hook-trust'],
    headless: ['exec', '--json', '--dangerously-bypass-approvals-and-sandbox', '--dangerously-bypass-hook-trust', PROMPT_PLACEHOLDER],
    output: 'codex',
    // `codex resume` is a subcommand: it goes before the options.
    resume: { before: ['resume', '--last'] },
    instructions: `${DEV_HOME}/.codex/AGENTS.md`,
    credentials: ['CODEX_API_KEY', 'OPENAI_API_KEY'],
    baseUrl: 'OPENAI_BASE_URL',
    homeFiles: (secrets) => {
      const key = secrets.CODEX_API_KEY || secrets.OPENAI_API_KEY;
      const base = secrets.OPENAI_BASE_URL;
      const config = [
        ...(base ? [`openai_base_url = ${tomlString(base)}`, ''] : []),
        `[projects.${tomlString(PROJECT_DIR)}]`,
        'trust_level = "trusted"',
      ];
      return [
        { path: `${DEV_HOME}/.codex/config.toml`, content: config.join('\n') + '\n', mode: 0o600 },
        ...(key ? [{ path: `${DEV_HOME}/.codex/auth.json`, content: json({ auth_mode: 'apikey', OPENAI_API_KEY: key }), mode: 0o600 }] : []),
      ];
    },
  },
  // aider's --yes-always answers "no" to running shell commands, so it cannot run isollm-task or
  // push. Interactively it asks you instead (no --yes-always); headless the loop does the protocol.
  aider: {
    command: 'aider',
    interactive: ['--read', `${AGENT_DIR}/AGENTS.md`],
    resume: { after: ['--restore-chat-history'] },
    headless: ['--yes-always', '--no-suggest-shell-commands', '--read', `${AGENT_DIR}/AGENTS.md`, '--message', PROMPT_PLACEHOLDER],
    instructions: `${AGENT_DIR}/AGENTS.md`,
    credentials: ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY', 'GEMINI_API_KEY', 'DEEPSEEK_API_KEY', 'OPENROUTER_API_KEY'],
    baseUrl: 'OPENAI_API_BASE',
    noShell: true,
  },
  // gemini's folder trust is on by default: in an untrusted folder --yolo falls back to asking, and
  // headless it exits 55. trustedFolders.json trusts the project. With GOOGLE_GEMINI_BASE_URL set it
  // picks a "gateway" auth it then refuses, so an API key selects gemini-api-key explicitly.
  gemini: {
    command: 'gemini',
    interactive: ['--yolo'],
    headless: ['--yolo', '--output-format', 'stream-json', '-p', PROMPT_PLACEHOLDER],
    output: 'gemini',
    resume: { after: ['--resume', 'latest'] },
    instructions: `${DEV_HOME}/.gemini/GEMINI.md`,
    credentials: ['GEMINI_API_KEY', 'GOOGLE_API_KEY'],
    baseUrl: 'GOOGLE_GEMINI_BASE_URL',
    homeFiles: (secrets) => [
      { path: `${DEV_HOME}/.gemini/trustedFolders.json`, content: json({ [PROJECT_DIR]: 'TRUST_FOLDER' }), mode: 0o644 },
      ...(secrets.GEMINI_API_KEY ? [{ path: `${DEV_HOME}/.gemini/settings.json`, content: json({ security: { auth: { selectedType: 'gemini-api-key' } } }), mode: 0o644 }] : []),
    ],
  },
  // opencode asks before some tools (e.g. outside the project) and `run` rejects whatever it would
  // ask: OPENCODE_PERMISSION allows everything in both modes, --auto is run's own approval flag.
  opencode: {
    command: 'opencode',
    interactive: [],
    headless: ['run', '--auto', '--format', 'json', PROMPT_PLACEHOLDER],
    output: 'opencode',
    resume: { after: ['--continue'] },
    env: { OPENCODE_PERMISSION: '{"*":"allow"}' },
    instructions: `${DEV_HOME}/.config/opencode/AGENTS.md`,
    credentials: ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY', 'GEMINI_API_KEY', 'OPENROUTER_API_KEY', 'OPENCODE_API_KEY'],
    baseUrl: 'OPENCODE_CONFIG_CONTENT',
  },
};

/**
 * How each preset's agent usually gets its credentials: the host variables it reads (any one is
 * enough), and the other way in when none is passed. `doctor` warns when none of them is passed.
 */
export type PresetCredentials = { env: string[]; login: string };

export const PRESET_CREDENTIALS: Record<Exclude<Config['agent']['preset'], 'custom'>, PresetCredentials> = {
  claude: {
    env: ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN'],
    login: 'or log in inside a worker: `isollm worker shell worker-1`, run `claude` and use /login (a subscription token from `claude setup-token` works as CLAUDE_CODE_OAUTH_TOKEN)',
  },
  codex: { env: ['OPENAI_API_KEY', 'CODEX_API_KEY'], login: 'or log in inside a worker: `isollm worker shell worker-1`, then `codex login --device-auth`' },
  aider: { env: ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY', 'GEMINI_API_KEY', 'OPENROUTER_API_KEY'], login: '(aider has no login of its own: it needs a provider key)' },
  gemini: { env: ['GEMINI_API_KEY', 'GOOGLE_API_KEY'], login: 'or log in inside a worker: `isollm worker shell worker-1`, run `gemini` and choose "Login with Google"' },
  opencode: {
    env: ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY', 'GEMINI_API_KEY', 'OPENROUTER_API_KEY'],
    login: 'or log in inside a worker: `isollm worker shell worker-1`, then `opencode auth login`',
  },
};

export type CredentialCheck = { passed: string[]; unset: string[]; usual: string[]; login: string } | null;

/**
 * Which of the preset's usual credential variables reach the agent: named in `agent.env` and set
 * on the host. Null for a custom agent (isollm cannot know what it reads).
 */
export function credentialCheck(agent: Config['agent'], hostEnv: NodeJS.ProcessEnv): CredentialCheck {
  if (agent.preset === 'custom') return null;
  const { env: usual, login } = PRESET_CREDENTIALS[agent.preset];
  const named = usual.filter((n) => agent.env.includes(n));
  return { passed: named.filter((n) => hostEnv[n]), unset: named.filter((n) => !hostEnv[n]), usual, login };
}

export type AgentPlan = {
  /** argv of the agent in interactive mode. */
  interactive: string[];
  /** argv in headless (loop) mode, with PROMPT_PLACEHOLDER where the task's prompt goes. */
  headless: string[];
  /** The interactive argv that continues the last conversation; null when the CLI has no such option. */
  resume: string[] | null;
  /** That option in words (`claude --continue`), for what `up` and `status` say. */
  resumeWords: string | null;
  /** Fixed environment of the preset (not secrets). */
  env: Record<string, string>;
  /** The headless argv's machine-readable output, or null (a custom agent, aider). */
  output: OutputFormat | null;
  instructionsPath: string;
  /** Instructions for an agent that cannot run shell commands itself. */
  noShell: boolean;
  homeFiles: (secrets: Record<string, string>) => HomeFile[];
};

/** The variables a preset reads for credentials (any one will do) and for another model server. */
export function presetVariables(preset: Config['agent']['preset']): { credentials: string[]; baseUrl: string | null } {
  if (preset === 'custom') return { credentials: [], baseUrl: null };
  return { credentials: PRESETS[preset].credentials, baseUrl: PRESETS[preset].baseUrl };
}

/** The machine-readable output of the preset's headless argv (null: a custom agent, aider). */
export function presetOutput(preset: Config['agent']['preset']): OutputFormat | null {
  return preset === 'custom' ? null : PRESETS[preset].output ?? null;
}

/** Resolve the configured agent into argv arrays. `agent.command` overrides a preset's command. */
export function planAgent(agent: Config['agent']): AgentPlan {
  if (agent.preset === 'custom') {
    if (!agent.command) throw new UserError('agent.preset is custom but agent.command is empty. Set agent.command in isollm.yaml.');
    return {
      interactive: [agent.command, ...agent.args],
      // A custom agent gets the prompt on stdin and in ISOLLM_TASK_PROMPT; args stay as configured.
      headless: [agent.command, ...agent.args],
      resume: null,
      resumeWords: null,
      env: { ISOLLM_INSTRUCTIONS: `${AGENT_DIR}/AGENTS.md` },
      output: null,
      instructionsPath: `${AGENT_DIR}/AGENTS.md`,
      noShell: false,
      homeFiles: () => [],
    };
  }
  const preset = PRESETS[agent.preset];
  const command = agent.command ?? preset.command;
  return {
    interactive: [command, ...preset.interactive, ...agent.args],
    headless: [command, ...preset.headless, ...agent.args],
    resume: preset.resume ? [command, ...(preset.resume.before ?? []), ...preset.interactive, ...(preset.resume.after ?? []), ...agent.args] : null,
    resumeWords: preset.resume ? [command, ...(preset.resume.before ?? []), ...(preset.resume.after ?? [])].join(' ') : null,
    env: { ...preset.env },
    output: preset.output ?? null,
    instructionsPath: preset.instructions,
    noShell: preset.noShell ?? false,
    homeFiles: preset.homeFiles ?? (() => []),
  };
}

/** The project context for the instructions: `agent.context` is a file (relative to the project) or text. */
export function readContext(config: Config, root: string): string {
  const context = config.agent.context?.trim();
  if (!context) return '';
  const file = path.resolve(root, context);
  if (!context.includes('\n') && fs.existsSync(file) && fs.statSync(file).isFile()) {
    // What it reads goes into every worker: a file of the repository only, never one a symlink (an
    // agent's, landed and pulled) or `..` points at, such as a key in the user's home.
    const real = fs.realpathSync(file);
    const inside = path.relative(fs.realpathSync(root), real);
    if (inside.startsWith('..') || path.isAbsolute(inside)) {
      throw new UserError(`agent.context: ${context} is outside the repository, and isollm puts only the repository's files into workers. Point it at a file in ${root}, or write the text itself.`);
    }
    return fs.readFileSync(real, 'utf8').trim();
  }
  return context;
}

export { renderTemplate };

export const INSTRUCTIONS_TEMPLATE = 'instructions.md';

/** The agent's instructions for the configured preset and mode, from the one template. */
export function renderInstructions(config: Config, worker: string, context: string): string {
  const text = fs.readFileSync(path.join(TEMPLATES, INSTRUCTIONS_TEMPLATE), 'utf8');
  const plan = planAgent(config.agent);
  return renderTemplate(text, {
    project: config.project,
    worker,
    base_branch: config.git.base_branch,
    branch_prefix: config.git.branch_prefix,
    context: context ? `\n## About this project\n\n${context}\n` : '',
  }, `templates/${INSTRUCTIONS_TEMPLATE}`, {
    loop: config.agent.mode === 'loop',
    interactive: config.agent.mode !== 'loop',
    claude: config.agent.preset === 'claude',
    no_shell: plan.noShell,
  });
}

/**
 * Secrets: the values of the host variables named in `agent.env`. Missing ones are reported by
 * name only; values are never printed.
 */
export function collectSecrets(names: string[], hostEnv: NodeJS.ProcessEnv): { values: Record<string, string>; missing: string[] } {
  const values: Record<string, string> = {};
  const missing: string[] = [];
  for (const name of names) {
    const value = hostEnv[name];
    if (value === undefined || value === '') missing.push(name);
    else values[name] = value;
  }
  return { values, missing };
}

/** One value per line; the in-container readers split on newlines, so none may contain one. */
export function linesFile(lines: string[], what: string): string {
  for (const line of lines) {
    if (line.includes('\n')) throw new UserError(`${what} contains a newline, which isollm cannot pass into a worker: ${JSON.stringify(line.slice(0, 40))}`);
  }
  return lines.map((l) => l + '\n').join('');
}

export function envFile(values: Record<string, string>, what: string): string {
  // Values may be secrets: a bad one is named, never shown.
  for (const [k, v] of Object.entries(values)) {
    if (v.includes('\n')) throw new UserError(`The value of ${k} (${what}) contains a newline, which isollm cannot pass into a worker.`);
  }
  return Object.entries(values).map(([k, v]) => `${k}=${v}\n`).join('');
}
