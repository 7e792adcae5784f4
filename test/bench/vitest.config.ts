// Vitest settings for `npm run bench` alone: only bench.ts, pages built into build/bench-dist (so a
// test run elsewhere rebuilding dist/ cannot pull them away mid-run), output straight to the terminal.
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

const root = resolve(import.meta.dirname, '../..');

export default defineConfig({
  test: {
    root,
    include: ['test/bench/bench.ts'],
    globalSetup: ['test/bench/setup.ts'],
    testTimeout: 900_000, // a safety net: on a quiet machine the run takes under 3 minutes
    hookTimeout: 60_000,
    pool: 'forks',
    disableConsoleIntercept: true,
  },
});
