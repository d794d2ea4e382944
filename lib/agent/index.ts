// lib/agent — the coding agents: presets and the files, environment and secrets each needs (presets),
// starting them in a worker, in a pane or detached (launch), their state hooks (hooks), and installing
// their CLI in the base (install, registry).
export * from './hooks.ts';
export * from './install.ts';
export * from './launch.ts';
export * from './presets.ts';
export * from './registry.ts';
