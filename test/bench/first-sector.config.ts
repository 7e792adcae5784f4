// Vitest settings to run the first-sector benchmark alone:
//   npx vitest run --config test/bench/first-sector.config.ts
// It builds the pages into build/bench-dist first (test/bench/setup.ts), as `npm run bench` does.
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: resolve(import.meta.dirname, '../..'),
    include: ['test/bench/first-sector-alone.ts'],
    globalSetup: ['test/bench/setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    pool: 'forks',
    disableConsoleIntercept: true,
  },
});
