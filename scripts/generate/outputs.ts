// Every derived file of the repository, with what makes it: `npm run generate` (main.ts) writes
// them all, and the tests compare each with what is committed (test/unit/generated.test.ts; the
// emcc one in test/wasm/format-kernel.test.ts).

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generateCalls, generateHeader } from '../../wasm/runtime/generate.js';
import { API_PAGE, generateApiPage } from './api-page.js';
import { KERNEL_OUTPUT, KERNEL_SOURCE, buildKernel } from './kernel.js';
import { MANIFEST, generateManifest } from './manifest.js';

export interface Output {
  /** From the repository's root. */
  path: string;
  /** What it is made from. */
  from: string;
  /** Made with Debian's emcc: checked by test/wasm rather than by the unit tests. */
  emcc?: true;
  make(root: string): string;
}

export const OUTPUTS: readonly Output[] = [
  { path: 'wasm/include/libnbd.h', from: 'wasm/runtime/capi.ts, web/core/api.ts', make: generateHeader },
  { path: 'wasm/src/calls.c', from: 'wasm/runtime/capi.ts, web/core/api.ts', make: generateCalls },
  { path: API_PAGE, from: 'web/core/api.ts, wasm/runtime/capi.ts', make: generateApiPage },
  { path: MANIFEST, from: 'web/components/ (code and JSDoc)', make: generateManifest },
  { path: KERNEL_OUTPUT, from: KERNEL_SOURCE, emcc: true, make: buildKernel },
];

/** The repository's root: the nearest folder above with a package.json (from source or build/). */
export function repoRoot(from: string = import.meta.dirname): string {
  for (let d = from; ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json'))) return d;
    if (dirname(d) === d) throw new Error(`generate: no package.json above ${from}`);
  }
}
