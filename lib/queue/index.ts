// lib/queue — the task queue: an airyra-compatible HTTP server over SQLite (server, routes, store,
// tasks, transitions, deps, history; run as its own process from main), started and reached by the
// CLI through daemon and client, and printed by format. Callers outside import from here.
export * from './agents.ts';
export * from './client.ts';
export * from './daemon.ts';
export * from './events.ts';
export * from './format.ts';
export * from './types.ts';
