#!/usr/bin/env node
// The test environment CI needs (real containers, tmux): the same code as `isollm setup`, with the
// test image and the host tools the e2e tests use. Quick when already done.
import { formatDuration, info, type Main, out, runIfEntry } from 'isollm/cli';
import { setupHost } from 'isollm/runtime';

/** The image alias the e2e tests launch from. */
export const TEST_IMAGE = 'isollm-test';

export const main: Main = async () => {
  const started = Date.now();
  const results = await setupHost({
    runtime: process.env.ISOLLM_TEST_RUNTIME === 'incus' ? 'incus' : 'lxd',
    image: TEST_IMAGE,
    tools: ['tmux', 'debootstrap'],
    log: info,
    confirm: async () => true,
  });
  const done = results.filter((r) => r.status === 'done').length;
  out(`test environment ready in ${formatDuration(Date.now() - started)} (${done ? `${done} step(s) done` : 'nothing to do'})`);
};

runIfEntry(import.meta.url, main);
