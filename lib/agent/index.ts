// lib/agent — the coding agents: presets and the files, environment and secrets each needs (presets),
// and starting them in a worker, in a pane or detached (launch).
export * from './hooks.ts';
export * from './launch.ts';
export * from './presets.ts';
