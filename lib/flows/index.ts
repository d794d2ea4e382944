// lib/flows — whole commands built from the layers below: init, up, down, doctor and the demo.
// Flows report through callbacks and returned results; only scripts/ print.
export * from './demo.ts';
export * from './demo-repo.ts';
export * from './doctor.ts';
export * from './down.ts';
export * from './init.ts';
export * from './up.ts';
