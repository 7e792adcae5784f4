// The rows <nbd-hexdump> shows, as sources the view walks through a few at a time:
// ExactRows, the whole text of a small range (exactly what `hexdump -C -s -n` prints), and
// LazyRows, a huge range laid out from block status (zero runs squeezed without being read) and,
// once read, from the zero lines found in the data; bytes come from the Disk's cache. No DOM here.

import { HexdumpC } from '../core/format/hexdump.js';
import { NbdDump } from '../core/format/nbddump.js';
import type { Disk } from '../browser/disk.js';

export type HexdumpFormat = 'hexdump-C' | 'nbddump';

/**
 * line: 16 bytes; zero: the first line of a squeezed zero run; star: the "*" standing for the
 * rest of it; short: the last, partial line; end: hexdump's closing offset line.
 */
export type RowKind = 'line' | 'zero' | 'star' | 'short' | 'end';

export interface Row {
  kind: RowKind;
  /** First byte the row stands for (for 'end', the end of the range). */
  pos: bigint;
  /** First byte of the next row. */
  next: bigint;
}

export interface RowSource {
  readonly start: bigint;
  readonly end: bigint;
  /** The row holding byte p (clamped to the range). */
  rowAt(p: bigint): Row;
  after(r: Row): Row | null;
  before(r: Row): Row | null;
  /** Where a row is, from 0 to 1, for the scroll bar; and the row at such a place. */
  fraction(r: Row): number;
  at(f: number): Row;
  /** The row's text without its newline, or null while its bytes are not in memory. */
  text(r: Row): string | null;
  /** The bytes a line shows, or null (no bytes, or not in memory). */
  bytes(r: Row): Uint8Array | null;
  /** What stands for a row whose bytes are still coming: its offset column. */
  label(r: Row): string;
  /** Start rows afresh at the line holding p (as `hexdump -s` would), for going to an offset. */
  anchor?(p: bigint): void;
}

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder();

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * The whole dump of `bytes`, which start at `start`, as hexdump -C or nbddump prints it; `wasm`
 * false formats in JavaScript (a line or two: not worth compiling the kernel for).
 */
export function formatDump(format: HexdumpFormat, bytes: Uint8Array, start: bigint, exportSize: bigint, wasm = true): string {
  if (format === 'nbddump') {
    const d = new NbdDump({ size: exportSize, start, wasm });
    return utf8.decode(concat(d.push(bytes), d.end()));
  }
  const h = new HexdumpC({ start, wasm });
  return latin1.decode(concat(h.push(bytes), h.end()));
}

/** One line (≤ 16 bytes at `at`) exactly as the whole dump would print it when not squeezed. */
export function formatLine(format: HexdumpFormat, at: bigint, bytes: Uint8Array, exportSize: bigint): string {
  const text = formatDump(format, bytes, at, exportSize, false);
  return text.slice(0, text.indexOf('\n'));
}

/** hexdump -C's closing line: the offset just past the last byte. */
export const endLine = (end: bigint): string => latin1.decode(new HexdumpC({ start: end }).end()).replace('\n', '');

/** The offset a dump line starts with (hex, before ":" or the first space). */
const lineOffset = (line: string): bigint => BigInt('0x' + /^[0-9a-f]+/.exec(line)![0]);

/** A small range in full: rows are the lines of the real dump text. */
export class ExactRows implements RowSource {
  readonly text0: string;
  readonly #lines: string[];
  readonly #rows: Row[] = [];

  constructor(readonly format: HexdumpFormat, readonly data: Uint8Array, readonly start: bigint, exportSize: bigint) {
    this.text0 = formatDump(format, data, start, exportSize);
    this.#lines = this.text0.split('\n');
    this.#lines.pop();
    const end = start + BigInt(data.length);
    let prev = start - 16n;
    for (const line of this.#lines) {
      let kind: RowKind;
      let pos: bigint;
      if (line === '*') {
        kind = 'star';
        pos = prev + 16n;
      } else {
        pos = lineOffset(line);
        kind = pos >= end ? 'end' : end - pos < 16n ? 'short' : 'line';
        prev = pos;
      }
      this.#rows.push({ kind, pos, next: end });
    }
    for (let i = 0; i + 1 < this.#rows.length; i++) this.#rows[i]!.next = this.#rows[i + 1]!.pos;
  }

  get end(): bigint { return this.start + BigInt(this.data.length); }
  get count(): number { return this.#rows.length; }

  /** Index of the last row at or before byte p (rows are ordered by pos, each pos once). */
  #index(p: bigint): number {
    let lo = 0;
    let hi = this.#rows.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#rows[mid]!.pos <= p) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  rowAt(p: bigint): Row { return this.#rows[this.#index(p)] ?? { kind: 'end', pos: this.start, next: this.start }; }
  after(r: Row): Row | null { return this.#rows[this.#index(r.pos) + 1] ?? null; }
  before(r: Row): Row | null { return this.#rows[this.#index(r.pos) - 1] ?? null; }
  fraction(r: Row): number { return this.#rows.length > 1 ? this.#index(r.pos) / (this.#rows.length - 1) : 0; }
  at(f: number): Row { return this.#rows[Math.round(f * (this.#rows.length - 1))] ?? this.rowAt(this.start); }
  text(r: Row): string | null { return this.#lines[this.#index(r.pos)] ?? null; }
  label(r: Row): string { return this.text(r) ?? ''; }

  bytes(r: Row): Uint8Array | null {
    if (r.kind !== 'line' && r.kind !== 'short') return null;
    const from = Number(r.pos - this.start);
    return this.data.subarray(from, Math.min(from + 16, this.data.length));
  }
}

/**
 * A range of any size laid out from block status: every line is a row, except that a run of
 * two or more whole lines inside a known-zero region shows as its first line and "*". The
 * layout never depends on data, so it holds still while bytes arrive.
 */
export class LazyRows implements RowSource {
  #anchor: bigint | null = null;

  constructor(readonly format: HexdumpFormat, readonly disk: Disk, readonly start: bigint, readonly end: bigint) {}

  anchor(p: bigint): void {
    this.#anchor = p <= this.start ? null : this.start + ((p - this.start) / 16n) * 16n;
  }

  /** hexdump -C closes with the end offset; nbddump does not. */
  get #hasEnd(): boolean { return this.format === 'hexdump-C'; }

  rowAt(p: bigint): Row {
    const { start, end } = this;
    if (p < start) p = start;
    if (p >= end) return this.#hasEnd ? { kind: 'end', pos: end, next: end } : this.rowAt(end - 1n);
    const x = start + ((p - start) / 16n) * 16n;
    if (x + 16n > end) return { kind: 'short', pos: x, next: end };
    const z = this.#zeroAround(x);
    if (z && z.end >= x + 16n) {
      // A run is cut at the anchor, so that the line gone to is shown, not hidden in a "*".
      const a = this.#anchor;
      const [zs, ze] = a !== null && a > z.start && a < z.end ? (x >= a ? [a, z.end] : [z.start, a]) : [z.start, z.end];
      const first = zs <= start ? start : start + ((zs - start + 15n) / 16n) * 16n;
      const lines = ((ze < end ? ze : end) - first) / 16n;
      if (lines >= 2n) {
        return x === first ? { kind: 'zero', pos: first, next: first + 16n } : { kind: 'star', pos: first + 16n, next: first + 16n * lines };
      }
    }
    return { kind: 'line', pos: x, next: x + 16n };
  }

  /**
   * The zero region around x, from block status and from data read, joined: where a run known from
   * one meets or overlaps a run known from the other, they are one run, shown as one line and one
   * "*" (hexdump -C never prints two "*" in a row).
   */
  #zeroAround(x: bigint): { start: bigint; end: bigint } | null {
    const maps = [this.disk.extents, this.disk.readZeros];
    const z0 = maps[0]!.zeroAround(x) ?? maps[1]!.zeroAround(x);
    if (!z0) return null;
    const z = { ...z0 };
    for (let grew = true; grew;) {
      grew = false;
      for (const m of maps) {
        const after = m.zeroAround(z.end);
        if (after && after.end > z.end) [z.end, grew] = [after.end, true];
        const before = z.start > 0n ? m.zeroAround(z.start - 1n) : null;
        if (before && before.start < z.start) [z.start, grew] = [before.start, true];
      }
    }
    return z;
  }

  after(r: Row): Row | null {
    if (r.kind === 'end' || (r.next >= this.end && !this.#hasEnd)) return null;
    return this.rowAt(r.next);
  }

  before(r: Row): Row | null {
    if (r.pos <= this.start) return null;
    if (r.kind === 'end') return this.rowAt(this.start + ((this.end - 1n - this.start) / 16n) * 16n);
    return this.rowAt(r.pos - 16n);
  }

  fraction(r: Row): number {
    const len = this.end - this.start;
    return len > 0n ? Number(r.pos - this.start) / Number(len) : 0;
  }

  at(f: number): Row {
    const len = Number(this.end - this.start);
    return this.rowAt(this.start + BigInt(Math.floor(Math.min(1, Math.max(0, f)) * len)));
  }

  bytes(r: Row): Uint8Array | null {
    if (r.kind === 'zero') return new Uint8Array(16);
    if (r.kind !== 'line' && r.kind !== 'short') return null;
    return this.disk.slice(r.pos, r.next);
  }

  label(r: Row): string {
    // The offset column as the format prints it: hexdump -C at least 8 hex digits, nbddump 10.
    return r.pos.toString(16).padStart(this.format === 'nbddump' ? 10 : 8, '0');
  }

  text(r: Row): string | null {
    if (r.kind === 'star') return '*';
    if (r.kind === 'end') return endLine(r.pos);
    const b = this.bytes(r);
    return b ? formatLine(this.format, r.pos, b, this.disk.size) : null;
  }
}
