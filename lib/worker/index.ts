// lib/worker — one container per worker: what to create as data (plan, base-plan), the project's
// base that workers are copied from (base), creating and listing them through the runtime gateway
// (create), start/stop/reset/remove (ops), and finding and saving the work inside them before
// anything is lost (salvage, salvage-git, salvage-report).
export * from './base.ts';
export * from './base-plan.ts';
export * from './create.ts';
export * from './ops.ts';
export * from './plan.ts';
export * from './salvage.ts';
export * from './salvage-report.ts';
export * from './stray-credentials.ts';
