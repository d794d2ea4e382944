// lib/project — the user's project on disk: finding its root (nearest isollm.yaml), the state
// folder .isollm/ with atomic writes (root), and the one-session-at-a-time lock (session).
export * from './root.ts';
export * from './session.ts';
