import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    // Hooks start servers and browsers: bounded, but generous for a busy 2-core machine
    // (test/helpers/server.ts PROCESS_TEST_MS; a process gets PROCESS_READY_MS to be ready).
    hookTimeout: 300_000,
    pool: 'forks',
    // Two cores: more workers than that only queue behind PGlite's start-up.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
  },
});
