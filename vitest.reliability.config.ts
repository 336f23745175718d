import { defineConfig } from 'vitest/config';

/**
 * The reliability figures (issue 9): soak, crashes, fuzzing, canaries, isolation. Run by
 * `npm test` (scripts/test-all.sh) after the main suite, one file at a time, so that the soak's
 * same-run latency ratios are not measured against the rest of the suite's load.
 * Alone: `npx vitest run --config vitest.reliability.config.ts [file]`.
 */
export default defineConfig({
  test: {
    include: ['test/reliability/**/*.test.ts'],
    testTimeout: 900_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
