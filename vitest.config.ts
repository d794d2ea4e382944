import { defineConfig } from 'vitest/config';

// Two projects: `unit` (git, SQLite, HTTP, child processes: no containers) and `e2e` (real LXD/Incus
// and tmux). `npm run test:unit` runs the first; `npm test` runs both.
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/e2e/**'] } },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'] } },
    ],
  },
});
