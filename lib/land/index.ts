// lib/land — the merge train: which done tasks land and in what order (order), the decisions of a
// run with batches and bisection, free of git and containers (train), putting a task branch on the
// integration head in the hub by merge, rebase or squash and moving the base only forward (integrate),
// land.test in a container made from the project's image and setup_script (tester), and one run over
// the queue and the hub (land). Task branches start from their parents' work in lib/hub/task-start.
export * from './integrate.ts';
export * from './land.ts';
export * from './now.ts';
export * from './order.ts';
export * from './tester.ts';
export * from './train.ts';
export * from './follow.ts';
export * from './format.ts';
export * from './service.ts';
export * from './watch.ts';
