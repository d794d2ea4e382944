// Installing the agent's CLI. It runs once, as root, in the project's base container (after
// setup_script), never per worker: every worker is a copy of the base. Its text is part of the
// base's key, so changing what is installed rebuilds the base on the next `up`.
import type { Config } from '../config/load.ts';

export type AgentInstall = {
  /** A shell script run as root in the base (sh unless it has a `#!` line), or null: nothing to install. */
  script: string | null;
};

/**
 * What installs the configured agent's CLI in the base. The preset's own install commands go here
 * (e.g. `npm install -g @anthropic-ai/claude-code@<pinned>`); until a preset has them, the user's
 * setup_script installs the CLI.
 */
export function agentInstall(_agent: Config['agent']): AgentInstall {
  return { script: null };
}
