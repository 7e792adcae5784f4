// Reading a range of an export in order, fast: block status (base:allocation) says which parts
// are zeroes, which are then not read at all; the rest is read with several commands in flight.

import type { NbdHandle } from '../node/index.js';
import { SIZE_MAXIMUM, SIZE_MINIMUM, SIZE_PAYLOAD, type CommandOptions } from '../core/types.js';

/** What the reader needs of a handle: NbdHandle, or a pool of them (NbdPool spreads the reads). */
export type Readable = Pick<NbdHandle, 'getSize' | 'getBlockSize' | 'pread' | 'blockStatus'>;

/** Bytes read, or a run of zeroes known from block status (possibly huge). */
export type Segment = { offset: bigint; data: Uint8Array } | { offset: bigint; zeros: bigint };

export interface ReaderOptions {
  /** Use block status to skip zeroes (needs base:allocation negotiated). */
  extents: boolean;
  /** Largest read, in bytes. */
  chunk?: number;
  /** Reads in flight at once. */
  inFlight?: number;
  /** Allocates read buffers (Node: Buffer.allocUnsafeSlow, whose memory can be transferred). */
  alloc?: (n: number) => Uint8Array;
  /** { signal, timeout } of every request. */
  limit?: CommandOptions;
}

/** A run of an export that is all zeroes or not. */
export interface Range {
  offset: bigint;
  length: bigint;
  zero: boolean;
}

const BASE_ALLOCATION = 'base:allocation';
const STATE_ZERO = 2;
const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);
const quiet = <T>(p: Promise<T>): Promise<T> => (p.catch(() => {}), p);

/** Zero and data ranges of [start, end), from one block status request at `start` (of a handle or a pool). */
export async function extentsAt(h: Pick<NbdHandle, 'blockStatus'>, start: bigint, end: bigint, maxLen: bigint, limit?: CommandOptions): Promise<Range[]> {
  const out: Range[] = [];
  let at = start;
  await h.blockStatus(min(end - start, maxLen), start, (context, _offset, entries) => {
    if (context !== BASE_ALLOCATION) return 0;
    for (let i = 0; i + 1 < entries.length && at < end; i += 2) {
      const len = min(BigInt(entries[i]!), end - at);
      const zero = (entries[i + 1]! & STATE_ZERO) !== 0;
      const last = out[out.length - 1];
      if (last && last.zero === zero) last.length += len;
      else out.push({ offset: at, length: len, zero });
      at += len;
    }
    return 0;
  }, 0, limit);
  // A server that says nothing about the range: read it.
  if (out.length === 0) out.push({ offset: start, length: min(end - start, maxLen), zero: false });
  return out;
}

/** The ranges of [start, end), one block status request ahead of the caller. */
async function* ranges(h: Readable, start: bigint, end: bigint, useExtents: boolean, limit?: CommandOptions): AsyncGenerator<Range> {
  if (!useExtents) {
    if (end > start) yield { offset: start, length: end - start, zero: false };
    return;
  }
  const align = BigInt(h.getBlockSize(SIZE_MINIMUM) || 512);
  const maxLen = 0xffffffffn - align + 1n;
  let next = start < end ? quiet(extentsAt(h, start, end, maxLen, limit)) : null;
  while (next) {
    const batch = await next;
    const last = batch[batch.length - 1]!;
    const after = last.offset + last.length;
    next = after < end ? quiet(extentsAt(h, after, end, maxLen, limit)) : null;
    yield* batch;
  }
}

/** The segments of [start, start + count) of the export, in order. */
export async function* readSegments(h: Readable, start: bigint, count: bigint, o: ReaderOptions): AsyncGenerator<Segment> {
  const size = h.getSize();
  const align = BigInt(h.getBlockSize(SIZE_MINIMUM) || 1);
  const maxBlock = h.getBlockSize(SIZE_MAXIMUM);
  const chunk = BigInt(Math.min(o.chunk ?? 2 << 20, h.getBlockSize(SIZE_PAYLOAD), maxBlock > 0 ? maxBlock : Infinity));
  const inFlight = o.inFlight ?? 8;
  const alloc = o.alloc ?? ((n: number) => new Uint8Array(n));
  const queue: { offset: bigint; data: Promise<Uint8Array> }[] = [];

  /** Read [a, b), widened to the server's minimum block size. */
  const read = (a: bigint, b: bigint): Promise<Uint8Array> => {
    const ra = (a / align) * align;
    const rb = min(size, ((b + align - 1n) / align) * align);
    const buf = alloc(Number(rb - ra));
    return h.pread(buf, ra, 0, o.limit).then(() => buf.subarray(Number(a - ra), Number(b - ra)));
  };

  for await (const r of ranges(h, start, start + count, o.extents, o.limit)) {
    if (r.zero) {
      while (queue.length) yield { offset: queue[0]!.offset, data: await queue.shift()!.data };
      yield { offset: r.offset, zeros: r.length };
      continue;
    }
    const end = r.offset + r.length;
    for (let a = r.offset; a < end;) {
      // Split at multiples of the chunk size, so most reads are aligned.
      const b = min(end, (a / chunk + 1n) * chunk);
      if (queue.length >= inFlight) yield { offset: queue[0]!.offset, data: await queue.shift()!.data };
      queue.push({ offset: a, data: quiet(read(a, b)) });
      a = b;
    }
  }
  while (queue.length) yield { offset: queue[0]!.offset, data: await queue.shift()!.data };
}
