import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'web/src/**/*.test.ts'],
    // Integration suites start embedded Postgres instances (WASM) and real servers.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // expect.poll waits for something to become true (a page rendered, a run finished); on a
    // loaded 2-core CI machine a second is not enough. A poll still fails when it never holds.
    expect: { poll: { timeout: 20_000 } },
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
  },
});
