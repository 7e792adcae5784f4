// NbdDump (web/core/format/nbddump.ts) against libnbd 1.14's nbddump on the same bytes, served
// by nbdkit: with and without colour, with -n limits (including nbddump's squeezing of a short
// last line), split at every position of a line, with zero runs as pushZeros, resumed from state().
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NbdDump, nbddump } from '../../web/core/format/nbddump.js';
import { random } from '../support/data.js';

const dir = mkdtempSync(join(tmpdir(), 'webnbd-format-nbddump-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What nbddump prints for an export nbdkit serves with `plugin` (and the URI in "$uri"). */
function real(plugin: string[], args: string[]): string {
  const run = `nbddump ${args.join(' ')} "$uri"`;
  return execFileSync('nbdkit', ['-U', '-', ...plugin, '--run', run], { encoding: 'utf8', maxBuffer: 1 << 30 });
}

let files = 0;
function realOf(bytes: Uint8Array, args: string[]): string {
  const path = join(dir, `f${files++}`);
  writeFileSync(path, bytes);
  return real(['file', path], args);
}

const text = (chunks: Uint8Array[]): string => Buffer.concat(chunks).toString('utf8');


function withZeroRuns(n: number): Uint8Array {
  const b = random(n, 7);
  for (const [from, len] of [[5, 40], [100, 333], [1000, 17], [2049, 4096], [7001, 1]]) b.fill(0, from, from + len);
  return b;
}

/** Text that is alphanumeric, punctuation and neither, to see every colour. */
function mixed(): Uint8Array {
  const s = 'hello, world! ABC xyz 0123456789 ~{|}';
  const b = new Uint8Array(100);
  b.set(Uint8Array.from(s, (c) => c.charCodeAt(0)), 3);
  b.set([0x7f, 0x80, 0xff, 0x09, 0x0a], 60);
  return b;
}

/** "ABCD" and 12 zeroes, four times: with -n 20, the short line repeats the first, padded. */
function abcd(): Uint8Array {
  const b = new Uint8Array(64);
  for (let i = 0; i < 64; i += 16) b.set([0x41, 0x42, 0x43, 0x44], i);
  return b;
}

const CASES: [string, Uint8Array][] = [
  ['random data', random(10_000)],
  ['zero runs that are not line-aligned', withZeroRuns(12_000)],
  ['repeated identical lines', abcd()],
  ['all 256 byte values', Uint8Array.from({ length: 256 }, (_, i) => i)],
  ['text of every class', mixed()],
  ['an odd final length', random(1001, 3)],
  ['one byte', Uint8Array.of(0x41)],
  ['sixteen zero bytes', new Uint8Array(16)],
  ['thirty-three zero bytes', new Uint8Array(33)],
  ['an empty export', new Uint8Array(0)],
];

describe('nbddump-matches-libnbd', () => {
  for (const [name, bytes] of CASES) {
    it(name, () => {
      const expected = realOf(bytes, ['--no-colour']);
      expect(nbddump(bytes)).toBe(expected);
      expect(nbddump(bytes, { wasm: false })).toBe(expected);
      expect(nbddump(bytes, { colour: true })).toBe(realOf(bytes, ['--colour']));
    });
  }
});

describe('nbddump-length-limits', () => {
  const data = withZeroRuns(3000);
  for (const n of [0, 1, 15, 16, 17, 20, 33, 100, 2999, 3000, 5000]) {
    it(`-n ${n}`, () => {
      const expected = realOf(data, ['-n', String(n)]);
      expect(nbddump(data, { limit: n })).toBe(expected);
      expect(nbddump(data, { limit: n, wasm: false })).toBe(expected);
    });
  }
  it('squeezes a short last line that, padded with zeroes, repeats the one before', () => {
    const expected = realOf(abcd(), ['-n', '20']);
    expect(expected.endsWith('*\n')).toBe(true);
    expect(nbddump(abcd(), { limit: 20 })).toBe(expected);
    expect(nbddump(abcd(), { limit: 20, colour: true })).toBe(realOf(abcd(), ['--colour', '-n', '20']));
  });
});

describe('nbddump-chunk-boundaries', () => {
  const bytes = withZeroRuns(300);
  const expected = realOf(bytes, []);
  function inPieces(sizes: number[], wasm = true): string {
    const d = new NbdDump({ size: bytes.length, wasm });
    const out: Uint8Array[] = [];
    let at = 0;
    for (const n of sizes) {
      out.push(d.push(bytes.subarray(at, at + n)));
      at += n;
    }
    out.push(d.push(bytes.subarray(at)), d.end());
    return text(out);
  }
  it('splits at every position of a line, then every byte', () => {
    for (let first = 0; first <= 16; first++) {
      expect(inPieces([first, 16 - first, 16 + first])).toBe(expected);
      expect(inPieces([first, 16 - first, 16 + first], false)).toBe(expected);
    }
    expect(inPieces(Array.from({ length: 300 }, () => 1))).toBe(expected);
  });
});

describe('nbddump-offsets', () => {
  it('at and past 2^32 (4 GiB of zeroes given as one run)', () => {
    const expected = real(['data', '1 @0x100000000 2 3 @0x10000000f 4'], []);
    const d = new NbdDump({ size: 2 ** 32 + 16 });
    const tail = new Uint8Array(16);
    tail.set([2, 3]);
    tail[15] = 4;
    const out = [d.push(Uint8Array.of(1)), d.pushZeros(2 ** 32 - 1), d.push(tail), d.end()];
    expect(text(out)).toBe(expected);
  });

  // From `nbdkit data "1 @0x10000000000 2 3 @0x100000000ff 4" --run 'nbddump $uri'`, which takes
  // minutes (nbddump asks for block status every 16 MiB), so the suite keeps its recorded output.
  const TIB = [
    '0000000000: 01 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00 |................|',
    '0000000010: 00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00 |................|',
    '*',
    '10000000000: 02 03 00 00 00 00 00 00  00 00 00 00 00 00 00 00 |................|',
    '10000000010: 00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00 |................|',
    '*',
    '100000000f0: 00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 04 |................|',
    '',
  ].join('\n');
  it('past 2^40, in more than ten digits', () => {
    const d = new NbdDump({ size: 2 ** 40 + 256 });
    const out = [d.push(Uint8Array.of(1)), d.pushZeros(2n ** 40n - 1n), d.push(Uint8Array.of(2, 3)), d.pushZeros(253), d.push(Uint8Array.of(4)), d.end()];
    expect(text(out)).toBe(TIB);
  });
});

describe('nbddump-zero-runs', () => {
  it('pushZeros prints what pushing the zeroes prints, up to the last line of the export', () => {
    for (const size of [64, 65, 80, 4096]) {
      const bytes = new Uint8Array(size);
      bytes[3] = 9;
      const d = new NbdDump({ size });
      const out = [d.push(bytes.subarray(0, 5)), d.pushZeros(size - 5), d.end()];
      expect(text(out)).toBe(nbddump(bytes));
    }
  });
});

describe('nbddump-resumes-from-state', () => {
  it('formats chunks from state() exactly as one formatter would', () => {
    const bytes = new Uint8Array(16 * 300);
    bytes.set(abcd(), 0);
    bytes.set(random(800, 9), 1600);
    for (const [colour, wasm] of [[false, true], [false, false], [true, true]]) {
      const expected = nbddump(bytes, { colour, wasm: false });
      const main = new NbdDump({ size: bytes.length, colour, wasm });
      const out: Uint8Array[] = [];
      for (const [a, b] of [[0, 160], [160, 176], [176, 1600], [1600, 4784], [4784, 4800]]) {
        const chunk = bytes.subarray(a, b);
        const worker = new NbdDump({ size: bytes.length, colour, wasm, state: main.state() });
        main.skip(chunk);
        out.push(worker.push(chunk));
      }
      out.push(main.end());
      expect(text(out)).toBe(expected);
    }
  });
});
