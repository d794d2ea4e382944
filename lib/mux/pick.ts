// Which multiplexer to use: `multiplexer.kind` from the config, and what is installed.
import fs from 'node:fs';
import process from 'node:process';
import type { MultiplexerKind } from '../config/load.ts';
import { UserError } from '../cli/errors.ts';
import { createTmux } from './tmux.ts';
import type { TmuxServer } from './tmux-commands.ts';
import type { Multiplexer } from './types.ts';
import { createZellij } from './zellij.ts';
import { findOnPath as findBin } from '../cli/which.ts';
import { defaultZellijTemplate } from './zellij-layout.ts';
import { readZellijTemplate } from './zellij-template.ts';

function checkReadable(file: string, key: string): void {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    if (!fs.statSync(file).isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
  } catch (err) {
    throw new UserError(`${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}). Fix the path in isollm.yaml, or remove the key.`);
  }
}

export const INSTALL_HINT = 'No terminal multiplexer found: install tmux (`apt-get install tmux`) or zellij to watch the agents side by side.';

/** The first executable `name` on the PATH of `env`, or null. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  return findBin(name, env.PATH ?? '');
}

export type PickOptions = {
  /** Where zellij layouts are written (the caller uses `.isollm/layouts/`). */
  layoutDir: string;
  /** multiplexer.template, absolute: read and checked here, so a bad one stops `up` before anything starts. */
  template?: string | null;
  /** multiplexer.tmux_conf, absolute: must be readable. */
  tmuxConf?: string | null;
  tmuxServer?: TmuxServer;
  env?: NodeJS.ProcessEnv;
};

/**
 * auto → zellij if on PATH, else tmux, else none (with `hint` saying how to get one);
 * zellij/tmux → that one, or a UserError when it is not installed; none → none.
 */
export function pickMultiplexer(kind: MultiplexerKind, options: PickOptions): { mux: Multiplexer | null; hint: string | null } {
  const env = options.env ?? process.env;
  // Checked whichever backend is picked: a broken file should not wait until the day zellij is installed.
  const template = kind !== 'none' && options.template ? readZellijTemplate(options.template) : undefined;
  if (kind !== 'none' && options.tmuxConf) checkReadable(options.tmuxConf, 'multiplexer.tmux_conf');
  const zellij = () => createZellij({ layoutDir: options.layoutDir, env, template: template ?? defaultZellijTemplate() });
  const tmux = () => createTmux({ server: options.tmuxServer, env, conf: options.tmuxConf ?? undefined });
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
