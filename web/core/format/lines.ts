// The streaming machinery shared by the hexdump -C and nbddump formatters: 16-byte lines built
// from chunks split anywhere, "*" squeezing of repeated lines, zero runs skipped in O(1), and
// 64-bit offsets kept as two 32-bit halves so no line pays for a bigint.

import { getKernel, type Kernel } from './kernel.js';
import { HEX_DIGITS, LITTLE_ENDIAN } from './word-stores.js';

/** Allocates an output buffer; its contents need not be zeroed (Node passes Buffer.allocUnsafeSlow). */
export type Alloc = (size: number) => Uint8Array;

export interface LineFormatterOptions {
  /** Allocator for output buffers (default: new Uint8Array). */
  alloc?: Alloc;
  /** Carry on from another formatter's state() (for formatting chunks in parallel). */
  state?: LineState;
  /** Use the WebAssembly SIMD kernel (kernel.c) where the host has it (default true). */
  wasm?: boolean;
}

/** A formatter between two lines: all it needs to carry on, as plain (cloneable) data. */
export interface LineState {
  /** Offset of the next line. */
  offset: bigint;
  /** The last line printed or squeezed; null before the first. */
  prev: Uint8Array | null;
  /** Whether "*" was printed for the run of lines equal to prev. */
  starred: boolean;
}

const TWO32 = 0x1_0000_0000;
/** Room past the last line for the word stores of words.ts. */
const SLACK = 8;
const ZERO_LINE = new Uint8Array(16);

/** 64-bit value as [high, low] 32-bit halves. */
export function split64(v: bigint | number): [number, number] {
  const b = BigInt(v);
  if (b < 0n || b >= 1n << 64n) throw new RangeError(`offset out of range: ${b}`);
  return [Number(b >> 32n), Number(b & 0xffffffffn)];
}

/** Write `lo` as exactly 8 lowercase hex digits at out[p]. */
export function hex8(out: Uint8Array, p: number, lo: number): void {
  out[p] = HEX_DIGITS[lo >>> 28]!;
  out[p + 1] = HEX_DIGITS[(lo >>> 24) & 15]!;
  out[p + 2] = HEX_DIGITS[(lo >>> 20) & 15]!;
  out[p + 3] = HEX_DIGITS[(lo >>> 16) & 15]!;
  out[p + 4] = HEX_DIGITS[(lo >>> 12) & 15]!;
  out[p + 5] = HEX_DIGITS[(lo >>> 8) & 15]!;
  out[p + 6] = HEX_DIGITS[(lo >>> 4) & 15]!;
  out[p + 7] = HEX_DIGITS[lo & 15]!;
}

/** Write `hi` in hex, zero-padded to at least `width` digits; return the new position. */
export function hexMin(out: Uint8Array, p: number, hi: number, width: number): number {
  let digits = 1;
  while (digits < 8 && hi >>> (digits * 4) !== 0) digits++;
  if (digits < width) digits = width;
  for (let i = digits - 1; i >= 0; i--) out[p++] = HEX_DIGITS[i >= 8 ? 0 : (hi >>> (i * 4)) & 15]!;
  return p;
}

/** b → the ASCII code of its high and of its low hex digit. */
export const HI = Uint8Array.from({ length: 256 }, (_, b) => HEX_DIGITS[b >> 4]!);
export const LO = Uint8Array.from({ length: 256 }, (_, b) => HEX_DIGITS[b & 15]!);

/** A line's 16 bytes as "xx " pairs, an extra space between the halves (both formats' middle). */
export function hexPairs(src: Uint8Array, s: number, out: Uint8Array, p: number): number {
  for (let i = 0; i < 16; i++, p += 3) {
    if (i === 8) out[p++] = 0x20;
    const b = src[s + i]!;
    out[p] = HI[b]!;
    out[p + 1] = LO[b]!;
    out[p + 2] = 0x20;
  }
  return p;
}

/**
 * Lines of 16 bytes with squeezing. Subclasses write one line, a "*" line, and the short last
 * line; this class decides which line is printed and tracks the offset of each.
 */
export abstract class LineFormatter {
  /** Offset of the next line to complete, as 32-bit halves. */
  protected offHi: number;
  protected offLo: number;
  /** Lines at or after this offset are never squeezed (nbddump: the export's last line). */
  #endHi = 0xffffffff;
  #endLo = 0xffffffff;
  #noEnd = true;
  /** The last line printed or squeezed, for comparison when it is not in the current chunk. */
  #prev = new Uint8Array(16);
  #hasPrev = false;
  #starred = false;
  /** A line begun in an earlier chunk. */
  #pend = new Uint8Array(16);
  #pendLen = 0;
  #ended = false;
  readonly #alloc: Alloc;
  readonly #kernel: Kernel | null;
  /** Upper bound of one formatted line, in bytes. */
  protected abstract readonly maxLine: number;

  constructor(start: bigint | number, opts: LineFormatterOptions) {
    const st = opts.state;
    [this.offHi, this.offLo] = split64(st ? st.offset : start);
    if (st?.prev) {
      this.#prev.set(st.prev);
      this.#hasPrev = true;
      this.#starred = st.starred;
    }
    this.#alloc = opts.alloc ?? ((n) => new Uint8Array(n));
    this.#kernel = opts.wasm === false ? null : getKernel();
  }

  /** Bytes of an incomplete line held back until more come. */
  get pending(): number {
    return this.#pendLen;
  }

  /** The state between lines, for another formatter to carry on from. */
  state(): LineState {
    if (this.#pendLen) throw new Error('state(): a line is incomplete');
    return { offset: this.#offset(), prev: this.#hasPrev ? this.#prev.slice() : null, starred: this.#starred };
  }

  /**
   * Advance over whole lines as push() would, without formatting them: O(1). The output they
   * would produce is some other formatter's job (created from state() before the skip).
   */
  skip(bytes: Uint8Array): void {
    this.#checkOpen();
    const len = bytes.length;
    if (this.#pendLen || len % 16) throw new Error('skip(): only whole lines can be skipped');
    if (len === 0) return;
    const last = bytes.subarray(len - 16);
    const before = len >= 32 ? bytes.subarray(len - 32, len - 16) : this.#hasPrev ? this.#prev : null;
    this.#advance(BigInt(len - 16));
    // After the last line, "*" has been printed exactly when that line was squeezed.
    this.#starred = before !== null && this.#squeezable() && eq16(last, 0, before, 0);
    this.#advance(16n);
    this.#prev.set(last);
    this.#hasPrev = true;
  }

  #offset(): bigint {
    return (BigInt(this.offHi) << 32n) | BigInt(this.offLo);
  }

  /** Lines starting at or after `end` are always printed, never squeezed. */
  protected setSqueezeEnd(end: bigint): void {
    if (end < 0n) end = 0n;
    [this.#endHi, this.#endLo] = split64(end);
    this.#noEnd = false;
  }

  /**
   * Write the full line src[s..s+16) for the current offset at out[p]; return the new position.
   * out32 views the same bytes as 32-bit words when they are aligned (for words.ts); it may be
   * written up to 8 bytes past the line.
   */
  protected abstract line(src: Uint8Array, s: number, out: Uint8Array, out32: Int32Array | null, p: number): number;
  /** The kernel.c kind of line for the next `lines` lines, or null when they are not one. */
  protected abstract kernelKind(lines: number): number | null;
  /** Write the "*" line. */
  protected abstract star(out: Uint8Array, p: number): number;
  /** Write the short last line (n < 16 bytes; src is zero-padded to 16). */
  protected abstract short(src: Uint8Array, n: number, out: Uint8Array, p: number): number;
  /** Write what follows the last line; `total` is the offset just past the last byte. */
  protected abstract trailer(out: Uint8Array, p: number, totalHi: number, totalLo: number): number;
  /** Bytes `trailer` may write. */
  protected abstract readonly maxTrailer: number;

  /** Format the next bytes; returns the output they complete (possibly empty). */
  push(bytes: Uint8Array): Uint8Array {
    this.#checkOpen();
    const len = bytes.length;
    if (len === 0) return this.#alloc(0);
    const out = this.#alloc(Math.floor((this.#pendLen + len) / 16 + 1) * this.maxLine + SLACK);
    const out32 = words(out);
    let p = 0;
    let s = 0;
    if (this.#pendLen > 0) {
      s = Math.min(16 - this.#pendLen, len);
      this.#pend.set(bytes.subarray(0, s), this.#pendLen);
      this.#pendLen += s;
      if (this.#pendLen < 16) return out.subarray(0, 0);
      p = this.#one(this.#pend, 0, out, out32, p);
      this.#prev.set(this.#pend);
      this.#pendLen = 0;
    }
    const full = s + ((len - s) & ~15);
    if (full > s) {
      p = this.#run(bytes, s, full, out, out32, p);
      this.#prev.set(bytes.subarray(full - 16, full));
    }
    if (full < len) {
      this.#pend.set(bytes.subarray(full));
      this.#pendLen = len - full;
    }
    return out.subarray(0, p);
  }

  /** Format `n` zero bytes without being given them: O(1) however long the run. */
  pushZeros(n: bigint | number): Uint8Array {
    this.#checkOpen();
    let left = BigInt(n);
    if (left < 0n) throw new RangeError(`negative length: ${left}`);
    const out = this.#alloc(4 * this.maxLine + SLACK);
    let p = 0;
    if (this.#pendLen > 0 && left > 0n) {
      const k = Math.min(16 - this.#pendLen, Number(left));
      this.#pend.fill(0, this.#pendLen, this.#pendLen + k);
      this.#pendLen += k;
      left -= BigInt(k);
      if (this.#pendLen < 16) return out.subarray(0, p);
      p = this.#one(this.#pend, 0, out, null, p);
      this.#prev.set(this.#pend);
      this.#pendLen = 0;
    }
    let lines = left >> 4n;
    if (lines > 0n) {
      // The first zero line decides; all but the last after it repeat it.
      p = this.#one(ZERO_LINE, 0, out, null, p);
      this.#prev.fill(0);
      lines--;
      if (lines > 1n) {
        p = this.#one(ZERO_LINE, 0, out, null, p);
        this.#advance((lines - 2n) << 4n);
        lines = 1n;
      }
      // The last one may be the export's last line, which is never squeezed.
      if (lines === 1n) p = this.#one(ZERO_LINE, 0, out, null, p);
    }
    const rest = Number(left & 15n);
    if (rest > 0) {
      this.#pend.fill(0, 0, rest);
      this.#pendLen = rest;
    }
    return out.subarray(0, p);
  }

  /** Flush the short last line and the trailer. The formatter cannot be used afterwards. */
  end(): Uint8Array {
    this.#checkOpen();
    this.#ended = true;
    const out = this.#alloc(this.maxLine + this.maxTrailer);
    let p = 0;
    let hi = this.offHi;
    let lo = this.offLo;
    if (this.#pendLen > 0) {
      this.#pend.fill(0, this.#pendLen);
      p = this.shortLine(out, p);
      lo += this.#pendLen;
      if (lo >= TWO32) { lo -= TWO32; hi++; }
    }
    p = this.trailer(out, p, hi, lo);
    return out.subarray(0, p);
  }

  /** The short last line, or a squeezed "*" where the rules say it repeats the line before. */
  protected shortLine(out: Uint8Array, p: number): number {
    if (this.shortSqueezes() && this.#hasPrev && this.#squeezable() && eq16(this.#pend, 0, this.#prev, 0)) {
      return this.#starred ? p : this.star(out, p);
    }
    return this.short(this.#pend, this.#pendLen, out, p);
  }

  /** Whether a short last line, zero-padded, is squeezed like a full one (nbddump -n does). */
  protected shortSqueezes(): boolean {
    return false;
  }

  #checkOpen(): void {
    if (this.#ended) throw new Error('formatter already ended');
  }

  #squeezable(): boolean {
    return this.#noEnd || this.offHi < this.#endHi || (this.offHi === this.#endHi && this.offLo < this.#endLo);
  }

  /** One full line from a buffer that is not the previous line's. */
  #one(src: Uint8Array, s: number, out: Uint8Array, out32: Int32Array | null, p: number): number {
    if (this.#hasPrev && this.#squeezable() && eq16(src, s, this.#prev, 0)) {
      if (!this.#starred) { p = this.star(out, p); this.#starred = true; }
    } else {
      p = this.line(src, s, out, out32, p);
      this.#hasPrev = true;
      this.#starred = false;
    }
    this.#advance(16n);
    return p;
  }

  /** Full lines src[s..end): the hot loop. Each line compares with the one before it in place. */
  #run(src: Uint8Array, s: number, end: number, out: Uint8Array, out32: Int32Array | null, p: number): number {
    let prevArr: Uint8Array = this.#prev;
    let prevIdx = 0;
    let hasPrev = this.#hasPrev;
    let starred = this.#starred;
    let squeezable = this.#squeezableLines((end - s) >> 4);
    const kind = this.#kernel ? this.kernelKind((end - s) >> 4) : null;
    if (kind !== null && end > s) {
      const st = { offHi: this.offHi, offLo: this.offLo, squeezable, prev: hasPrev ? prevArr : null, starred };
      p = this.#kernel!.run(kind, st, src, s, end, out, p);
      this.offHi = st.offHi;
      this.offLo = st.offLo;
      this.#hasPrev = true;
      this.#starred = st.starred;
      return p;
    }
    for (; s < end; s += 16, squeezable--) {
      if (hasPrev && squeezable > 0 && eq16(src, s, prevArr, prevIdx)) {
        if (!starred) { p = this.star(out, p); starred = true; }
      } else {
        p = this.line(src, s, out, out32, p);
        hasPrev = true;
        starred = false;
      }
      prevArr = src;
      prevIdx = s;
      this.offLo += 16;
      if (this.offLo >= TWO32) { this.offLo -= TWO32; this.offHi++; }
    }
    this.#hasPrev = hasPrev;
    this.#starred = starred;
    return p;
  }

  /** How many of the next n lines may be squeezed (those before the squeeze end). */
  #squeezableLines(n: number): number {
    if (this.#noEnd) return n;
    const left = ((BigInt(this.#endHi) << 32n) | BigInt(this.#endLo)) - this.#offset();
    if (left <= 0n) return 0;
    const lines = (left + 15n) >> 4n;
    return lines < BigInt(n) ? Number(lines) : n;
  }

  /** Move the offset on by `n` bytes of lines already accounted for. */
  #advance(n: bigint): void {
    const v = this.#offset() + n;
    [this.offHi, this.offLo] = split64(v & ((1n << 64n) - 1n));
  }
}

/** A 32-bit view of an output buffer, when it is aligned for one. */
function words(out: Uint8Array): Int32Array | null {
  if (!LITTLE_ENDIAN || (out.byteOffset & 3) !== 0) return null;
  return new Int32Array(out.buffer, out.byteOffset, out.byteLength >> 2);
}

/** Are the 16 bytes at a[i] and b[j] equal? */
function eq16(a: Uint8Array, i: number, b: Uint8Array, j: number): boolean {
  for (let k = 0; k < 16; k++) if (a[i + k] !== b[j + k]) return false;
  return true;
}
