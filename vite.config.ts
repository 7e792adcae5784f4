// Vite serves and builds the browser pages (web/pages → dist/); Vitest (under `test`) runs every suite.
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// SharedArrayBuffer needs a cross-origin isolated page.
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

const pages = resolve(import.meta.dirname, 'web/pages');

export default defineConfig({
  root: pages,
  base: './',
  server: { headers: isolation },
  preview: { headers: isolation },
  worker: { format: 'es' },
  build: {
    outDir: resolve(import.meta.dirname, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: {
      input: {
        index: resolve(pages, 'index.html'),
        embed: resolve(pages, 'embed.html'),
        lab: resolve(pages, 'lab.html'),
        wasm: resolve(pages, 'wasm.html'),
      },
    },
  },
  // Tests by what they need (test/README.md): `npm run test:unit` runs the first group alone,
  // without machine set-up (test/unit/vitest.config.ts); `npm test` runs them all.
  test: {
    root: import.meta.dirname,
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: ['unit', 'tools', 'servers', 'cli', 'browser', 'wasm', 'package'].map((name) => ({
      extends: true,
      test: {
        name,
        // The bench's and the soak's smoke tests drive Chromium too.
        include: [`test/${name}/**/*.test.ts`, ...(name === 'browser' ? ['test/bench/*.test.ts', 'test/soak/*.test.ts'] : [])],
      },
    })),
  },
});
