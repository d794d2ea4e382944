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

type Preset = {
  command: string;
  interactive: string[];
  /** Headless args; the prompt is also given on stdin. */
  headless: string[];
  env?: Record<string, string>;
  /** Where the agent reads user-level instructions (outside the project tree). */
  instructions: string;
  template: 'CLAUDE.md' | 'AGENTS.md';
};

const PRESETS: Record<Exclude<Config['agent']['preset'], 'custom'>, Preset> = {
  // claude refuses --dangerously-skip-permissions as root unless it is told it runs in a sandbox.
  claude: {
    command: 'claude',
    interactive: ['--dangerously-skip-permissions'],
    headless: ['--dangerously-skip-permissions', '-p', PROMPT_PLACEHOLDER],
    env: { IS_SANDBOX: '1' },
    instructions: `${DEV_HOME}/.claude/CLAUDE.md`,
    template: 'CLAUDE.md',
  },
  codex: {
    command: 'codex',
    interactive: ['--dangerously-bypass-approvals-and-sandbox'],
    headless: ['exec', '--dangerously-bypass-approvals-and-sandbox', PROMPT_PLACEHOLDER],
    instructions: `${DEV_HOME}/.codex/AGENTS.md`,
    template: 'AGENTS.md',
  },
  aider: {
    command: 'aider',
    interactive: ['--yes-always', '--read', `${AGENT_DIR}/AGENTS.md`],
    headless: ['--yes-always', '--read', `${AGENT_DIR}/AGENTS.md`, '--message', PROMPT_PLACEHOLDER],
    instructions: `${AGENT_DIR}/AGENTS.md`,
    template: 'AGENTS.md',
  },
  gemini: {
    command: 'gemini',
    interactive: ['--yolo'],
    headless: ['--yolo', '-p', PROMPT_PLACEHOLDER],
    instructions: `${DEV_HOME}/.gemini/GEMINI.md`,
    template: 'AGENTS.md',
  },
  opencode: {
    command: 'opencode',
    interactive: [],
    headless: ['run', PROMPT_PLACEHOLDER],
    instructions: `${DEV_HOME}/.config/opencode/AGENTS.md`,
    template: 'AGENTS.md',
  },
};

export type AgentPlan = {
  /** argv of the agent in interactive mode. */
  interactive: string[];
  /** argv in headless (loop) mode, with PROMPT_PLACEHOLDER where the task's prompt goes. */
  headless: string[];
  /** Fixed environment of the preset (not secrets). */
  env: Record<string, string>;
  instructionsPath: string;
  template: 'CLAUDE.md' | 'AGENTS.md';
};

/** Resolve the configured agent into argv arrays. `agent.command` overrides a preset's command. */
export function planAgent(agent: Config['agent']): AgentPlan {
  if (agent.preset === 'custom') {
    if (!agent.command) throw new UserError('agent.preset is custom but agent.command is empty. Set agent.command in isollm.yaml.');
    return {
      interactive: [agent.command, ...agent.args],
      // A custom agent gets the prompt on stdin and in ISOLLM_TASK_PROMPT; args stay as configured.
      headless: [agent.command, ...agent.args],
      env: { ISOLLM_INSTRUCTIONS: `${AGENT_DIR}/AGENTS.md` },
      instructionsPath: `${AGENT_DIR}/AGENTS.md`,
      template: 'AGENTS.md',
    };
  }
  const preset = PRESETS[agent.preset];
  const command = agent.command ?? preset.command;
  return {
    interactive: [command, ...preset.interactive, ...agent.args],
    headless: [command, ...preset.headless, ...agent.args],
    env: { ...preset.env },
    instructionsPath: preset.instructions,
    template: preset.template,
  };
}

/** The project context for the instructions: `agent.context` is a file (relative to the project) or text. */
export function readContext(config: Config, root: string): string {
  const context = config.agent.context?.trim();
  if (!context) return '';
  const file = path.resolve(root, context);
  if (!context.includes('\n') && fs.existsSync(file) && fs.statSync(file).isFile()) {
    return fs.readFileSync(file, 'utf8').trim();
  }
  return context;
}

export { renderTemplate };

export function renderInstructions(config: Config, worker: string, context: string, template: 'CLAUDE.md' | 'AGENTS.md'): string {
  const text = fs.readFileSync(path.join(TEMPLATES, template), 'utf8');
  return renderTemplate(text, {
    project: config.project,
    worker,
    base_branch: config.git.base_branch,
    branch_prefix: config.git.branch_prefix,
    context: context ? `\n## About this project\n\n${context}\n` : '',
  }, `templates/${template}`);
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
