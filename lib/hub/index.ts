// lib/hub — git: small git helpers (git), the bare hub repository that workers share (hub), what a
// worker may write in it (access), and moving branches between the user's repo and the hub (sync,
// sync-status), and where a claimed task's branch starts (task-start).
export * from './access.ts';
export * from './git.ts';
export * from './hub.ts';
export * from './sync.ts';
export * from './sync-status.ts';
export * from './task-start.ts';
