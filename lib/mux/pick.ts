// Which multiplexer to use: `multiplexer.kind` from the config, and what is installed.
import process from 'node:process';
import type { MultiplexerKind } from '../config/load.ts';
import { UserError } from '../cli/errors.ts';
import { createTmux } from './tmux.ts';
import type { TmuxServer } from './tmux-commands.ts';
import type { Multiplexer } from './types.ts';
import { createZellij } from './zellij.ts';
import { findOnPath as findBin } from '../cli/which.ts';

export const INSTALL_HINT = 'No terminal multiplexer found: install tmux (`apt-get install tmux`) or zellij to watch the agents side by side.';

/** The first executable `name` on the PATH of `env`, or null. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  return findBin(name, env.PATH ?? '');
}

export type PickOptions = {
  /** Where zellij layouts are written (the caller uses `.isollm/layouts/`). */
  layoutDir: string;
  tmuxServer?: TmuxServer;
  env?: NodeJS.ProcessEnv;
};

/**
 * auto → zellij if on PATH, else tmux, else none (with `hint` saying how to get one);
 * zellij/tmux → that one, or a UserError when it is not installed; none → none.
 */
export function pickMultiplexer(kind: MultiplexerKind, options: PickOptions): { mux: Multiplexer | null; hint: string | null } {
  const env = options.env ?? process.env;
  const zellij = () => createZellij({ layoutDir: options.layoutDir, env });
  const tmux = () => createTmux({ server: options.tmuxServer, env });
  switch (kind) {
    case 'none':
      return { mux: null, hint: null };
    case 'zellij':
      if (!findOnPath('zellij', env)) throw new UserError('multiplexer.kind is zellij, but zellij is not on PATH. Install zellij, or set multiplexer.kind: tmux (or auto).');
      return { mux: zellij(), hint: null };
    case 'tmux':
      if (!findOnPath('tmux', env)) throw new UserError('multiplexer.kind is tmux, but tmux is not on PATH. Install it (`apt-get install tmux`), or set multiplexer.kind: auto.');
      return { mux: tmux(), hint: null };
    case 'auto':
      if (findOnPath('zellij', env)) return { mux: zellij(), hint: null };
      if (findOnPath('tmux', env)) return { mux: tmux(), hint: null };
      return { mux: null, hint: INSTALL_HINT };
  }
}
