// The dashboard (`status --watch`) keeps the pane titles up to date: after each refresh, every
// worker's pane says what its agent does. Failing to retitle never breaks the dashboard.
import type { Multiplexer } from '../mux/types.ts';
import { statePaths } from '../project/root.ts';
import { paneTitle } from './agent-view.ts';
import type { StatusModel } from './collect.ts';

/** worker name → title, for the workers whose agent has reported (the others keep their plain name). */
export function paneTitles(m: StatusModel): Map<string, string> {
  return new Map((m.workers ?? []).filter((w) => w.container).map((w) => [w.name, paneTitle(w)]));
}

/** The session's backend, loaded only when used (as collect does). */
async function backend(kind: 'tmux' | 'zellij', root: string): Promise<Multiplexer> {
  if (kind === 'tmux') return (await import('../mux/tmux.ts')).createTmux();
  return (await import('../mux/zellij.ts')).createZellij({ layoutDir: statePaths(root).layouts });
}

/** Retitle the session's panes from the model (`mux`: the backend, for tests; else the session's own). */
export async function retitlePanes(m: StatusModel, root: string, mux?: Multiplexer): Promise<void> {
  const { kind, session, running } = m.services.multiplexer;
  if (!running || !session || (kind !== 'tmux' && kind !== 'zellij')) return;
  try {
    await (mux ?? (await backend(kind, root))).setTitles(session, paneTitles(m));
  } catch {
    // a title is a nicety: the dashboard goes on
  }
}
