// What nbddump (libnbd 1.14) prints: 16-byte lines with an offset of at least 10 hex digits,
// "*" (colour: "☆") for repeated lines except the first and the export's last, and with
// --colour exactly its ANSI escape sequences and Unicode bars and dots. Streaming, table-driven.

import { HI, LO, LineFormatter, hex8, hexMin, hexPairs, type LineFormatterOptions } from './lines.js';
import { KIND_NBDDUMP } from './kernel.js';
import { nbddumpLine } from './word-stores.js';

export interface NbdDumpOptions extends LineFormatterOptions {
  /** The export size: nbddump never squeezes the line that reaches it. */
  size: bigint | number;
  /** --colour: ANSI colours, "│", "·" and "☆" (nbddump's default when stdout is a terminal). */
  colour?: boolean;
  /** Offset of the first byte fed (default 0): lines and their offsets start there. */
  start?: bigint | number;
}

const SP = 0x20;
const NL = 0x0a;
const bytes = (s: string): number[] => [...new TextEncoder().encode(s)];

// nbddump's ansi_* sequences.
const GREEN = bytes('\x1b[22;32m');
const GREY = bytes('\x1b[22;90m');
const BLUE = bytes('\x1b[1;34m');
const RED = bytes('\x1b[1;31m');
const MAGENTA = bytes('\x1b[1;35m');
const RESTORE = bytes('\x1b[0m');
const PIPE = bytes('│');
const STAR = bytes('☆\n');

// isalnum and isprint in the C locale (nbddump never calls setlocale).
const isAlnum = (b: number) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
const isPrint = (b: number) => b >= 0x20 && b < 0x7f;

const PRINT = Uint8Array.from({ length: 256 }, (_, b) => (isPrint(b) ? b : 0x2e));

/** Per-byte output cells for colour mode, packed in one array: start and length of each. */
function cells(make: (b: number) => number[]): { data: Uint8Array; start: Uint16Array; len: Uint8Array } {
  const all = Array.from({ length: 256 }, (_, b) => make(b));
  const start = new Uint16Array(256);
  const len = new Uint8Array(256);
  let n = 0;
  all.forEach((c, b) => { start[b] = n; len[b] = c.length; n += c.length; });
  return { data: Uint8Array.from(all.flat()), start, len };
}
const HEX_CELL = cells((b) => [...(b ? BLUE : GREY), HI[b]!, LO[b]!, SP]);
const TEXT_CELL = cells((b) => (isAlnum(b) ? [...RED, b] : isPrint(b) ? [...MAGENTA, b] : [...GREY, ...bytes('·')]));

function put(out: Uint8Array, p: number, seq: readonly number[]): number {
  for (let i = 0; i < seq.length; i++) out[p + i] = seq[i]!;
  return p + seq.length;
}

/**
 * nbddump's output for the bytes of an export from offset 0. Feed exactly the bytes it would dump
 * (the export, or its first --length bytes) with push() and pushZeros(), then end().
 */
export class NbdDump extends LineFormatter {
  protected readonly maxLine: number;
  protected readonly maxTrailer = 0;
  readonly #colour: boolean;

  constructor(opts: NbdDumpOptions) {
    super(opts.start ?? 0, opts);
    this.#colour = opts.colour ?? false;
    this.maxLine = this.#colour ? 448 : 16 + 70;
    // "offset + i + 16 < size": the line that reaches the end of the export is always printed.
    this.setSqueezeEnd(BigInt(opts.size) - 16n);
  }

  /** `%010zx`: at least 10 hex digits. */
  #offset(out: Uint8Array, p: number): number {
    p = hexMin(out, p, this.offHi, 2);
    hex8(out, p, this.offLo);
    return p + 8;
  }

  protected line(src: Uint8Array, s: number, out: Uint8Array, out32: Int32Array | null, p: number): number {
    if (this.#colour) return this.#colourLine(src, s, 16, out, p);
    if (out32 && this.offHi < 256) return nbddumpLine(src, s, out32, p, this.offHi, this.offLo);
    p = this.#offset(out, p);
    out[p] = 0x3a;
    out[p + 1] = SP;
    p += 2;
    p = hexPairs(src, s, out, p);
    out[p++] = 0x7c;
    for (let i = 0; i < 16; i++) out[p + i] = PRINT[src[s + i]!]!;
    out[p + 16] = 0x7c;
    out[p + 17] = NL;
    return p + 18;
  }

  /** The kernel writes 10-digit offsets, without colour. */
  protected kernelKind(lines: number): number | null {
    return !this.#colour && this.offHi * 2 ** 32 + this.offLo + 16 * (lines - 1) < 2 ** 40 ? KIND_NBDDUMP : null;
  }

  protected star(out: Uint8Array, p: number): number {
    if (this.#colour) return put(out, p, STAR);
    out[p] = 0x2a;
    out[p + 1] = NL;
    return p + 2;
  }

  protected override shortSqueezes(): boolean {
    return true;
  }

  /** The short last line: blanks stand for the missing bytes in both columns. */
  protected short(src: Uint8Array, n: number, out: Uint8Array, p: number): number {
    if (this.#colour) return this.#colourLine(src, 0, n, out, p);
    p = this.#offset(out, p);
    out[p] = 0x3a;
    out[p + 1] = SP;
    p += 2;
    out.fill(SP, p, p + 49 + 1 + 16);
    for (let i = 0; i < n; i++) {
      const at = p + 3 * i + (i >= 8 ? 1 : 0);
      out[at] = HI[src[i]!]!;
      out[at + 1] = LO[src[i]!]!;
      out[p + 50 + i] = PRINT[src[i]!]!;
    }
    out[p + 49] = 0x7c;
    out[p + 66] = 0x7c;
    out[p + 67] = NL;
    return p + 68;
  }

  protected trailer(_out: Uint8Array, p: number): number {
    return p;
  }

  /** A line of n ≤ 16 bytes with nbddump's colour sequences, byte by byte as it prints them. */
  #colourLine(src: Uint8Array, s: number, n: number, out: Uint8Array, p: number): number {
    p = put(out, p, GREEN);
    p = this.#offset(out, p);
    p = put(out, p, GREY);
    out[p++] = 0x3a;
    out[p++] = SP;
    for (let i = 0; i < n; i++) {
      const b = src[s + i]!;
      out.set(HEX_CELL.data.subarray(HEX_CELL.start[b]!, HEX_CELL.start[b]! + HEX_CELL.len[b]!), p);
      p += HEX_CELL.len[b]!;
      if (i === 7) out[p++] = SP;
    }
    p = put(out, p, GREY);
    for (let i = n; i < 16; i++) {
      out[p] = SP; out[p + 1] = SP; out[p + 2] = SP;
      p += 3;
      if (i === 7) out[p++] = SP;
    }
    p = put(out, p, PIPE);
    for (let i = 0; i < n; i++) {
      const b = src[s + i]!;
      out.set(TEXT_CELL.data.subarray(TEXT_CELL.start[b]!, TEXT_CELL.start[b]! + TEXT_CELL.len[b]!), p);
      p += TEXT_CELL.len[b]!;
    }
    p = put(out, p, GREY);
    for (let i = n; i < 16; i++) out[p++] = SP;
    p = put(out, p, PIPE);
    out[p++] = NL;
    return put(out, p, RESTORE);
  }
}

const utf8 = new TextDecoder();

/** nbddump's output for a whole export held in memory (`limit` as nbddump -n), as a string. */
export function nbddump(data: Uint8Array, opts: { colour?: boolean; limit?: bigint | number; wasm?: boolean } = {}): string {
  const count = opts.limit === undefined ? data.length : Math.min(data.length, Number(opts.limit));
  const d = new NbdDump({ size: data.length, colour: opts.colour ?? false, wasm: opts.wasm ?? true });
  const a = d.push(data.subarray(0, count));
  const b = d.end();
  const all = new Uint8Array(a.length + b.length);
  all.set(a);
  all.set(b, a.length);
  return utf8.decode(all);
}
