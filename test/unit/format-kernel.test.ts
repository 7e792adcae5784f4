// The WebAssembly SIMD kernel of the dump formatters (web/core/format/kernel.ts, kernel.c): it
// loads in Node, its memory allocator, and output written straight into its memory equals the JS
// formatter's. Its lines are checked against the real tools in test/tools (format-hexdump,
// format-nbddump, which run both paths); that kernel-wasm.ts is what
// `npm run generate` builds, in test/unit/generated.test.ts and test/wasm.
import { describe, expect, it } from 'vitest';
import { HexdumpC } from '../../web/core/format/hexdump.js';
import { getKernel } from '../../web/core/format/kernel.js';
import { NbdDump } from '../../web/core/format/nbddump.js';
import { random } from '../support/data.js';

describe('format-kernel', () => {
  it('loads in Node', () => {
    expect(getKernel()).not.toBeNull();
  });

  it('hands out its memory and takes it back, coalescing', () => {
    const k = getKernel()!;
    k.reserve(1 << 20);
    const a = k.alloc(300_000)!;
    const b = k.alloc(300_000)!;
    const c = k.alloc(300_000)!;
    expect(a.buffer === k.buffer).toBe(true);
    expect(k.alloc(400_000)).toBeNull(); // 1 MiB is nearly used up
    expect(k.alloc(0)!.length).toBe(0);
    k.free(b.subarray(0, 10)); // a view that starts where the buffer does frees all of it
    k.free(a);
    const ab = k.alloc(600_000)!; // a and b, coalesced
    expect(ab.byteOffset).toBe(a.byteOffset);
    k.free(ab);
    k.free(c);
    const all = k.alloc(1 << 20);
    expect(all).not.toBeNull();
    k.free(all!);
  });

  it('writes into its own memory what the JS formatter writes elsewhere', () => {
    const k = getKernel()!;
    k.reserve(16 << 20);
    const bytes = random(1 << 20, 3);
    bytes.fill(0, 5000, 9000);
    bytes.copyWithin(20_000, 19_984, 20_100); // some repeated lines
    for (const make of [
      (alloc?: (n: number) => Uint8Array, wasm = true) => new HexdumpC({ start: 7, alloc, wasm }),
      (alloc?: (n: number) => Uint8Array, wasm = true) => new NbdDump({ size: bytes.length + 5, alloc, wasm }),
    ]) {
      const js = make(undefined, false);
      const expected = Buffer.concat([js.push(bytes), js.end()]);
      const kernel = make((n) => k.alloc(n) ?? new Uint8Array(n));
      const out = kernel.push(bytes);
      expect(out.buffer === k.buffer).toBe(true);
      const got = Buffer.concat([out, kernel.end()]);
      k.free(out);
      expect(got.toString('latin1')).toBe(expected.toString('latin1'));
    }
  });
});
