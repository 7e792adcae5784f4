// kernel-wasm.ts, the formatters' WebAssembly SIMD kernel, is what `npm run generate` builds from
// kernel.c with Debian's emcc (scripts/generate/kernel.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OUTPUTS } from '../../scripts/generate/outputs.js';

const ROOT = join(import.meta.dirname, '../..');

describe('format-kernel', () => {
  it('kernel-wasm.ts is what npm run generate builds from kernel.c', () => {
    const built = OUTPUTS.filter((o) => o.emcc);
    expect(built.map((o) => o.path)).toEqual(['web/core/format/kernel-wasm.ts']);
    for (const o of built) expect(readFileSync(join(ROOT, o.path), 'utf8'), `${o.path} is stale: run npm run generate`).toBe(o.make(ROOT));
  }, 120_000);
});
