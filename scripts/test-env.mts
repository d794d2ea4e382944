#!/usr/bin/env node
// The test environment CI needs (real containers, tmux): the same code as `isollm setup`, with the
// test image and the host tools the e2e tests use. Quick when already done.
import { type CommandSpec, formatDuration, info, type Main, out, parse, runIfEntry, UserError } from 'isollm/cli';
import { setupHost } from 'isollm/runtime';

/** The image alias the e2e tests launch from. */
export const TEST_IMAGE = 'isollm-test';

export const SPEC: CommandSpec = {
  name: 'npm run test-env --',
  summary: `set up this machine for the e2e tests: isollm setup --image ${TEST_IMAGE} --yes, plus tmux and debootstrap`,
  notes: ['ISOLLM_TEST_RUNTIME=lxd|incus picks the runtime (else the rule every command uses). Changes the system without asking.'],
};

export const main: Main = async (argv) => {
  if (!parse(SPEC, argv)) return;
  const started = Date.now();
  // ISOLLM_TEST_RUNTIME (or ISOLLM_RUNTIME) forces one; else the rule every command and the test
  // harness use, so the image lands where the tests will look for it.
  const forced = process.env.ISOLLM_TEST_RUNTIME;
  if (forced !== undefined && forced !== 'lxd' && forced !== 'incus') throw new UserError(`ISOLLM_TEST_RUNTIME is lxd or incus, not ${JSON.stringify(forced)}.`);
  const result = await setupHost({
    kind: forced,
    kindFrom: 'ISOLLM_TEST_RUNTIME',
    image: TEST_IMAGE,
    tools: ['tmux', 'debootstrap'],
    log: info,
    confirm: async () => true,
  });
  const done = result.steps.filter((r) => r.status === 'done').length;
  out(`test environment (${result.runtime}) ready in ${formatDuration(Date.now() - started)} (${done ? `${done} step(s) done` : 'nothing to do'})`);
};

runIfEntry(import.meta.url, main);
