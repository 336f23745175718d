import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The reliability figures run on their own, one file at a time: vitest.reliability.config.ts.
    exclude: [...configDefaults.exclude, 'test/reliability/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Suites spawn real server processes; two cores do not gain from more workers.
    maxWorkers: 2,
  },
});
