// Every derived file is what `npm run generate` writes from its source (scripts/generate/outputs.ts
// lists them): a hand edit, or a source changed without regenerating, fails here. The kernel that
// emcc builds is rebuilt by test/wasm/format-kernel.test.ts; here, without emcc, its file must
// record the current kernel.c and hold the wasm it records.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KERNEL_OUTPUT, KERNEL_SOURCE, kernelInputs, readKernelModule } from '../../scripts/generate/kernel.js';
import { OUTPUTS } from '../../scripts/generate/outputs.js';

const ROOT = join(import.meta.dirname, '../..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const stale = (path: string) => `${path} is stale: run npm run generate`;

describe('generated files', () => {
  for (const o of OUTPUTS.filter((x) => !x.emcc)) {
    it(`${o.path} is what npm run generate writes from ${o.from}`, () => {
      expect(read(o.path), stale(o.path)).toBe(o.make(ROOT));
    });
  }

  it(`${KERNEL_OUTPUT} records the current ${KERNEL_SOURCE} and holds the wasm it records`, () => {
    const recorded = readKernelModule(read(KERNEL_OUTPUT));
    expect(recorded, `${KERNEL_OUTPUT} has no inputs and wasm hashes: run npm run generate`).not.toBeNull();
    expect(recorded!.inputs, stale(KERNEL_OUTPUT)).toBe(kernelInputs(read(KERNEL_SOURCE)));
    expect(recorded!.actual, `${KERNEL_OUTPUT} was edited by hand: run npm run generate`).toBe(recorded!.wasm);
  });
});
