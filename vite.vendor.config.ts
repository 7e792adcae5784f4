// dist/vendor/nbd-hexdump.js: <nbd-hexdump> for plain pages, one self-contained ES module (no
// bare imports, the worker inside it), so `<script type="module" src="/vendor/nbd-hexdump.js">`
// is all a page needs, from its own server or any other origin (`npm run build`, `npm pack`).
import { resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

// The client starts its worker as bundlers expect:
//   new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })
// A worker script must come from the page's own origin, so this file carries the worker inside
// it instead (Vite's ?worker&inline: a blob: URL made from its text).
const WORKER = /new\s+Worker\(\s*new\s+URL\(\s*(['"`])([^'"`]+)\1\s*,\s*import\.meta\.url\s*\)\s*(?:,\s*\{[^}]*\}\s*)?\)/g;

function inlineWorkers(): Plugin {
  let replaced = 0;
  return {
    name: 'webnbd-inline-workers',
    enforce: 'pre',
    transform(code, id) {
      if (id.includes('/node_modules/') || !WORKER.test(code)) return null;
      WORKER.lastIndex = 0;
      const imports: string[] = [];
      const out = code.replace(WORKER, (_all, _q, path: string) => {
        const name = `__webnbdInlineWorker${imports.length}`;
        imports.push(`import ${name} from ${JSON.stringify(`${path}?worker&inline`)};`);
        return `new ${name}()`;
      });
      replaced += imports.length;
      return { code: `${imports.join('\n')}\n${out}`, map: null };
    },
    generateBundle(_options, bundle) {
      const files = Object.keys(bundle);
      if (replaced === 0) this.error('no `new Worker(new URL(…, import.meta.url))` found to inline: the page client changed how it starts its worker');
      if (files.length !== 1) this.error(`expected one self-contained file, got ${files.join(', ')}`);
    },
  };
}

export default defineConfig({
  root: import.meta.dirname,
  publicDir: false,
  logLevel: 'warn',
  plugins: [inlineWorkers()],
  worker: { format: 'es' },
  build: {
    outDir: resolve(import.meta.dirname, 'dist/vendor'),
    emptyOutDir: true,
    target: 'es2022',
    minify: true,
    rolldownOptions: { output: { minify: true } },
    lib: {
      entry: resolve(import.meta.dirname, 'web/components/nbd-hexdump-define.ts'),
      formats: ['es'],
      fileName: () => 'nbd-hexdump.js',
    },
  },
});
