// Pane titles that say what each worker's agent is doing (`worker-3 ⏳ waiting 2m`), set by the
// dashboard at each refresh. Pure builders here; the backends run them.
import { TITLE_OPTION } from './tmux-commands.ts';

/** tmux: the state lives in its own pane option (shown by the border after the worker's name) and
 * in the pane title (`select-pane -T`), which an agent may overwrite with its own escape sequences. */
export const STATE_OPTION = '@isollm_state';

/** `list-panes -F` for retitling: pane id, worker name, current state text. */
export const TITLE_FORMAT = ['#{pane_id}', `#{${TITLE_OPTION}}`, `#{${STATE_OPTION}}`].join('\t');

/** tmux commands that set each worker pane's state text; panes already showing it are left alone. */
export function tmuxTitleCommands(listPanesOut: string, titles: Map<string, string>): string[][] {
  const commands: string[][] = [];
  for (const line of listPanesOut.split('\n').filter(Boolean)) {
    const [id, name, current] = line.split('\t');
    const title = titles.get(name);
    if (title === undefined) continue;
    const state = title.startsWith(`${name} `) ? title.slice(name.length + 1) : '';
    if (state === current) continue;
    commands.push(['set-option', '-p', '-t', id, STATE_OPTION, state], ['select-pane', '-t', id, '-T', title]);
  }
  return commands;
}

/** zellij (≥ 0.44): `action rename-pane --pane-id` for each terminal pane named after a worker (its name, or its name then a state). */
export function zellijTitleArgs(session: string, listPanesJson: string, titles: Map<string, string>): string[][] {
  const panes = JSON.parse(listPanesJson) as Array<Record<string, unknown>>;
  const args: string[][] = [];
  for (const p of panes) {
    if (p.is_plugin === true || typeof p.id !== 'number') continue;
    const current = String(p.title ?? '');
    const name = [...titles.keys()].find((n) => current === n || current.startsWith(`${n} `));
    if (name === undefined || titles.get(name) === current) continue;
    args.push(['--session', session, 'action', 'rename-pane', '--pane-id', `terminal_${p.id}`, titles.get(name)!]);
  }
  return args;
}
