import { defineConfig } from 'vitest/config';

// Unit tests sit beside the code they pin (*.test.ts); browser tests live in test/e2e and run under Playwright.
export default defineConfig({
  test: {
    include: ['{src,worker,coordinator,scripts,test/unit}/**/*.test.ts'],
    exclude: ['node_modules', 'dist', 'test/e2e'],
    testTimeout: 60_000,
    pool: 'forks',
  },
});
