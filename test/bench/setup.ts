// Before `npm run bench`: the pages, built as the tests build them but into build/bench-dist.
import { resolve } from 'node:path';
import { build } from 'vite';

export default async function setup(): Promise<void> {
  const root = resolve(import.meta.dirname, '../..');
  await build({ configFile: resolve(root, 'vite.config.ts'), logLevel: 'warn', build: { outDir: resolve(root, 'build/bench-dist'), emptyOutDir: true } });
}
