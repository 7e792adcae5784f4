// `hexdump -C` (util-linux 2.38) as a streaming formatter: offsets as `hexdump -C -s OFFSET`
// prints them, "*" for repeated lines, the short last line, and the closing offset line.
// Output is ASCII bytes built with lookup tables, for speed.

import { HI, LO, LineFormatter, hex8, hexMin, hexPairs, type LineFormatterOptions } from './lines.js';
import { KIND_HEXDUMP } from './kernel.js';
import { hexdumpLine } from './word-stores.js';

export interface HexdumpOptions extends LineFormatterOptions {
  /** Offset of the first byte (`hexdump -s`); lines start there, not at a multiple of 16. */
  start?: bigint | number;
}

const SP = 0x20;
const BAR = 0x7c;
const NL = 0x0a;

/** `%_p`: printable ASCII as itself, anything else as ".". */
const PRINT = Uint8Array.from({ length: 256 }, (_, b) => (b >= 0x20 && b < 0x7f ? b : 0x2e));

/** Width of the hex area: 16 × "xx " plus the space between the two halves. */
const HEX_AREA = 49;

/**
 * `hexdump -C`. Feed bytes with push() and known zero runs with pushZeros(); end() adds the
 * short last line and the closing offset. Each call returns the output it completes.
 */
export class HexdumpC extends LineFormatter {
  protected readonly maxLine = 16 + 2 + HEX_AREA + 2 + 16 + 2;
  protected readonly maxTrailer = 17;

  constructor(opts: HexdumpOptions = {}) {
    super(opts.start ?? 0, opts);
  }

  /** `%08.8_ax`: at least 8 hex digits, more as the offset needs them. */
  #offset(out: Uint8Array, p: number, hi: number, lo: number): number {
    if (hi !== 0) p = hexMin(out, p, hi, 1);
    hex8(out, p, lo);
    return p + 8;
  }

  protected line(src: Uint8Array, s: number, out: Uint8Array, out32: Int32Array | null, p: number): number {
    if (out32 && this.offHi === 0) return hexdumpLine(src, s, out32, p, this.offLo);
    p = this.#offset(out, p, this.offHi, this.offLo);
    out[p] = SP;
    out[p + 1] = SP;
    p += 2;
    p = hexPairs(src, s, out, p);
    out[p] = SP;
    out[p + 1] = BAR;
    p += 2;
    for (let i = 0; i < 16; i++) out[p + i] = PRINT[src[s + i]!]!;
    out[p + 16] = BAR;
    out[p + 17] = NL;
    return p + 18;
  }

  /** The kernel writes 8-digit offsets. */
  protected kernelKind(lines: number): number | null {
    return this.offHi === 0 && this.offLo + 16 * (lines - 1) < 2 ** 32 ? KIND_HEXDUMP : null;
  }

  protected star(out: Uint8Array, p: number): number {
    out[p] = 0x2a;
    out[p + 1] = NL;
    return p + 2;
  }

  /** The short last line: missing bytes leave blanks in the hex area, nothing in the text. */
  protected short(src: Uint8Array, n: number, out: Uint8Array, p: number): number {
    p = this.#offset(out, p, this.offHi, this.offLo);
    out.fill(SP, p, p + 2 + HEX_AREA + 1);
    const hex = p + 2;
    for (let i = 0; i < n; i++) {
      const at = hex + 3 * i + (i >= 8 ? 1 : 0);
      out[at] = HI[src[i]!]!;
      out[at + 1] = LO[src[i]!]!;
    }
    p = hex + HEX_AREA + 1;
    out[p++] = BAR;
    for (let i = 0; i < n; i++) out[p++] = PRINT[src[i]!]!;
    out[p] = BAR;
    out[p + 1] = NL;
    return p + 2;
  }

  /** The offset after the last byte (`%08.8_Ax`), unless it is 0. */
  protected trailer(out: Uint8Array, p: number, hi: number, lo: number): number {
    if (hi === 0 && lo === 0) return p;
    p = this.#offset(out, p, hi, lo);
    out[p] = NL;
    return p + 1;
  }
}

const ascii = new TextDecoder('latin1');

/** `hexdump -C` of a whole buffer, as a string; `start` is the offset of its first byte. */
export function hexdumpC(bytes: Uint8Array, start: bigint | number = 0, opts: { wasm?: boolean } = {}): string {
  const h = new HexdumpC({ start, ...opts });
  return ascii.decode(h.push(bytes)) + ascii.decode(h.end());
}
