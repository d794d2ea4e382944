// lib/status — one status model (collect, with its JSON Schema in schema), rendered as full, brief
// or a redrawn watch (render, watch). The CLI prints it; the dashboard pane runs `status --watch`.
export * from './agent-view.ts';
export * from './collect.ts';
export * from './render.ts';
export * from './schema.ts';
export * from './titles.ts';
export * from './watch.ts';
