// kernel-wasm.ts, the formatters' WebAssembly SIMD kernel, is what kernel.sh builds from kernel.c
// with Debian's emcc.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const FORMAT = join(import.meta.dirname, '../../web/core/format');
const dir = mkdtempSync(join(tmpdir(), 'webnbd-format-kernel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('format-kernel', () => {
  it('kernel-wasm.ts is what kernel.sh builds from kernel.c', () => {
    for (const f of ['kernel.c', 'kernel.sh']) cpSync(join(FORMAT, f), join(dir, f));
    execFileSync('sh', [join(dir, 'kernel.sh')]);
    expect(readFileSync(join(dir, 'kernel-wasm.ts'), 'utf8')).toBe(readFileSync(join(FORMAT, 'kernel-wasm.ts'), 'utf8'));
  }, 120_000);

});
