// `npm run test:unit`: the tests that need nothing but Node (no Debian packages, no servers, no
// browser, no build), for a fast loop while changing the core.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/unit/**/*.test.ts'],
    testTimeout: 60_000,
    pool: 'forks',
  },
});
