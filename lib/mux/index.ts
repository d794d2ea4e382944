// lib/mux: one interface over zellij and tmux. A plan (plain data: session, dashboard, workers,
// arrangement, panes per tab) goes in; tmux gets one command list built from it (with the user's
// tmux_conf sourced), zellij a layout made from a KDL v1 template whose placeholder nodes are filled
// (templates/zellij-layout.kdl or multiplexer.template). Callers import from here.
export type { Multiplexer, MuxKind, MuxPlan, PaneInfo, PaneSpec } from './types.ts';
export { DASHBOARD_TITLE, LANDER_ROWS, LANDER_SHARE, LANDER_TITLE } from './types.ts';
export { arrangeRows, checkPlan, DASHBOARD_MAX_ROWS, DEFAULT_MAX_PANES_PER_TAB, gridColumns, parseDashboardSize, resolveDashboardSize } from './arrange.ts';
export { sessionName, zellijSessionName, zellijSocketDir, zellijNameProblem } from './session-name.ts';
export { buildZellijLayout, defaultZellijTemplate, formatZellijLayout, writeZellijLayout } from './zellij-layout.ts';
export { DEFAULT_ZELLIJ_TEMPLATE, parseZellijTemplate, readZellijTemplate, type ZellijTemplate } from './zellij-template.ts';
export { createZellij, parseZellijPanes, parseZellijSessions, zellijArgs, type ZellijOptions } from './zellij.ts';
export { buildTmuxCreate, joinTmuxCommands, parseTmuxPanes, tmuxServerArgs, TMUX_WORKERS_PER_WINDOW, type TmuxServer } from './tmux-commands.ts';
export { createTmux, type TmuxOptions } from './tmux.ts';
export { STATE_OPTION, tmuxTitleCommands, zellijTitleArgs } from './titles.ts';
export { findOnPath, INSTALL_HINT, pickMultiplexer, type PickOptions } from './pick.ts';
