import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Spawned CLIs and real servers: keep output readable.
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
