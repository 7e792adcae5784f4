// HexdumpC (web/core/format/hexdump.ts) against util-linux `hexdump -C` on the same bytes, fed
// whole, split at every position of a line, with zero runs given as pushZeros, and resumed
// from state() as the dump command's worker threads do.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HexdumpC, hexdumpC } from '../../web/core/format/hexdump.js';
import { random } from '../support/data.js';

const dir = mkdtempSync(join(tmpdir(), 'webnbd-format-hexdump-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function file(bytes: Uint8Array): string {
  const path = join(dir, `f${files++}`);
  writeFileSync(path, bytes);
  return path;
}

/** What `hexdump -C [args] FILE` prints. */
function hexdump(path: string, args: string[] = []): string {
  return execFileSync('hexdump', ['-C', ...args, path], { encoding: 'latin1', maxBuffer: 1 << 30 });
}

const latin1 = (chunks: Uint8Array[]): string => chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.length).toString('latin1')).join('');

/** Format `bytes` in pieces of the given sizes (the last piece takes the rest). */
function inPieces(bytes: Uint8Array, sizes: number[], start = 0n, wasm = true): string {
  const h = new HexdumpC({ start, wasm });
  const out: Uint8Array[] = [];
  let at = 0;
  for (const n of sizes) {
    out.push(h.push(bytes.subarray(at, at + n)));
    at += n;
  }
  out.push(h.push(bytes.subarray(at)), h.end());
  return latin1(out);
}

/** Deterministic pseudo-random bytes. */

/** Random bytes with zero runs that start and end anywhere in a line. */
function withZeroRuns(n: number): Uint8Array {
  const b = random(n, 7);
  for (const [from, len] of [[5, 40], [100, 333], [1000, 17], [2049, 4096], [7001, 1]]) b.fill(0, from, from + len);
  return b;
}

/** The same 16-byte line over and over, a different one, then the first again. */
function repeated(): Uint8Array {
  const line = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
  const b = new Uint8Array(16 * 20 + 7);
  for (let i = 0; i < 20; i++) b.set(line, 16 * i);
  b[16 * 9] = 0x21;
  b.set(line.subarray(0, 7), 16 * 20);
  return b;
}

const CASES: [string, Uint8Array][] = [
  ['random data', random(10_000)],
  ['zero runs that are not line-aligned', withZeroRuns(12_000)],
  ['repeated identical lines', repeated()],
  ['all 256 byte values', Uint8Array.from({ length: 256 }, (_, i) => i)],
  ['an odd final length', random(1001, 3)],
  ['one byte', Uint8Array.of(0x41)],
  ['sixteen zero bytes', new Uint8Array(16)],
  ['thirty-three zero bytes', new Uint8Array(33)],
  ['empty input', new Uint8Array(0)],
];

describe('hexdump-C-matches-util-linux', () => {
  for (const [name, bytes] of CASES) {
    it(name, () => {
      const expected = hexdump(file(bytes));
      expect(hexdumpC(bytes)).toBe(expected);
      expect(hexdumpC(bytes, 0, { wasm: false })).toBe(expected);
    });
  }
});

describe('hexdump-C-chunk-boundaries', () => {
  const bytes = withZeroRuns(300);
  const expected = hexdump(file(bytes));
  it('splits at every position of a line, then every byte', () => {
    for (let first = 0; first <= 16; first++) {
      expect(inPieces(bytes, [first, 16 - first, 16 + first])).toBe(expected);
      expect(inPieces(bytes, [first, 16 - first, 16 + first], 0n, false)).toBe(expected);
    }
    expect(inPieces(bytes, Array.from({ length: 300 }, () => 1))).toBe(expected);
  });
  it('splits at random places', () => {
    for (let seed = 1; seed < 50; seed++) {
      const sizes = [...random(12, seed)].map((n) => n % 40);
      expect(inPieces(bytes, sizes)).toBe(expected);
    }
  });
});

describe('hexdump-C-offsets', () => {
  const bytes = withZeroRuns(3000);
  const path = file(bytes);
  for (const [s, n] of [[5, 40], [3, 1000], [17, 0x500], [0, 16], [2999, 1]] as const) {
    it(`-s ${s} -n ${n} is the formatter started at ${s}`, () => {
      const expected = hexdump(path, ['-s', String(s), '-n', String(n)]);
      expect(hexdumpC(bytes.subarray(s, s + n), s)).toBe(expected);
      expect(hexdumpC(bytes.subarray(s, s + n), s, { wasm: false })).toBe(expected);
    });
  }

  it('prints offsets of 2^32 and beyond with more digits', () => {
    // A sparse file of 4 GiB + 64 bytes with data around the 2^32 boundary.
    const path = join(dir, 'big');
    const fd = openSync(path, 'w');
    ftruncateSync(fd, 2 ** 32 + 64);
    const tail = withZeroRuns(96);
    writeSync(fd, tail, 0, tail.length, 2 ** 32 - 32);
    closeSync(fd);
    const expected = hexdump(path, ['-s', String(2 ** 32 - 35)]);
    const window = new Uint8Array(99);
    window.set(tail, 3);
    expect(hexdumpC(window, 2 ** 32 - 35)).toBe(expected);
    expect(hexdumpC(window, 2 ** 32 - 35, { wasm: false })).toBe(expected);
    expect(expected).toContain('\n10000000d  ');
  });
});

describe('hexdump-C-zero-runs', () => {
  it('pushZeros prints what pushing the zeroes prints', () => {
    const bytes = withZeroRuns(12_000);
    const expected = hexdumpC(bytes);
    // Give every zero run of 16 bytes or more as pushZeros, the rest as bytes.
    const h = new HexdumpC();
    const out: Uint8Array[] = [];
    let i = 0;
    while (i < bytes.length) {
      let j = i;
      while (j < bytes.length && bytes[j] === 0) j++;
      if (j - i >= 16) {
        out.push(h.pushZeros(j - i));
        i = j;
      } else {
        out.push(h.push(bytes.subarray(i, i + 1)));
        i++;
      }
    }
    out.push(h.end());
    expect(latin1(out)).toBe(expected);
  });

  it('skips a 1 TiB run in constant time', () => {
    const h = new HexdumpC({ start: 3 });
    const t = performance.now();
    const out = [h.push(Uint8Array.of(1, 2, 3)), h.pushZeros(2n ** 40n), h.push(Uint8Array.of(4)), h.end()];
    expect(performance.now() - t).toBeLessThan(50);
    expect(latin1(out)).toBe(
      '00000003  01 02 03 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|\n' +
      '00000013  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|\n' +
      '*\n' +
      '10000000003  00 00 00 04                                       |....|\n' +
      '10000000007\n');
  });
});

describe('hexdump-C-resumes-from-state', () => {
  it('formats chunks from state() exactly as one formatter would', () => {
    const bytes = new Uint8Array(16 * 300);
    bytes.set(repeated().subarray(0, 320), 0);
    bytes.set(random(800, 9), 1600);
    const expected = hexdumpC(bytes, 7);
    const main = new HexdumpC({ start: 7 });
    const out: Uint8Array[] = [];
    for (const cut of [[0, 160], [160, 176], [176, 1600], [1600, 4000], [4000, 4800]]) {
      const chunk = bytes.subarray(cut[0], cut[1]);
      const worker = new HexdumpC({ state: main.state() });
      main.skip(chunk);
      out.push(worker.push(chunk));
    }
    out.push(main.end());
    expect(latin1(out)).toBe(expected);
  });
});
