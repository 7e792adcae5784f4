// The copying loops of `webnbd copy`, as nbdcopy's multi-thread-copying.c and synch-copying.c:
// work in 128 MiB regions, block status says which runs are zeroes (not read; zeroed at the
// destination, or skipped when it is known to be zero), data is read with many requests in
// flight, and blocks of zeroes found in the data are zeroed rather than written.

import { NbdError } from '../core/errors.js';
import type { End, Extent } from './copy-ends.js';

export interface LoopOptions {
  requestSize: number;
  /** Requests in flight at once, over all connections. */
  inFlight: number;
  allocated: boolean;
  destinationIsZero: boolean;
  /** Block size for finding zeroes in data (nbdcopy's --sparse); 0: off. */
  sparse: number;
  /** Called with (done, size) as nbdcopy calls progress_bar. */
  progress(pos: bigint, size: bigint): void;
  signal: AbortSignal;
}

/** nbdcopy's THREAD_WORK_SIZE: the unit of block status queries and of progress. */
const WORK = 128n << 20n;

/** An error that says which end and where: "SRC: read at offset N: ...". */
export class CopyError extends Error {
  constructor(readonly end: string, what: string, offset: bigint, e: unknown) {
    super(`${end}: ${what} at offset ${offset}: ${e instanceof NbdError ? e.message : e instanceof Error ? e.message : String(e)}`);
  }
}

const at = (end: End, what: string, offset: bigint) => (e: unknown): never => {
  if (e instanceof CopyError) throw e;
  throw new CopyError(end.name, what, offset, e);
};

/** Reusable read buffers of one size (Buffer.allocUnsafeSlow: not zeroed, not pooled). */
class Buffers {
  readonly #free: Uint8Array[] = [];
  constructor(readonly size: number) {}
  get(): Uint8Array {
    return this.#free.pop() ?? new Uint8Array(Buffer.allocUnsafeSlow(this.size).buffer, 0, this.size);
  }
  put(b: Uint8Array): void {
    this.#free.push(new Uint8Array(b.buffer, 0, this.size));
  }
}

/** At most `limit` tasks at once; the first failure is kept and stops new work. */
class Slots {
  #running = 0;
  #wake: (() => void) | null = null;
  failure: unknown = null;
  constructor(readonly limit: number) {}

  async take(): Promise<void> {
    while (this.#running >= this.limit && this.failure === null) await new Promise<void>((r) => { this.#wake = r; });
    if (this.failure !== null) throw this.failure;
    this.#running++;
  }

  run(task: Promise<void>): void {
    task.then(
      () => this.#done(),
      (e: unknown) => {
        this.failure ??= e;
        this.#done();
      },
    );
  }

  async drain(): Promise<void> {
    while (this.#running > 0) await new Promise<void>((r) => { this.#wake = r; });
    if (this.failure !== null) throw this.failure;
  }

  #done(): void {
    this.#running--;
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }
}

/** Whether `b` is all zero bytes (8 bytes at a time; Buffer.compare's memcmp for long runs). */
function isZero(b: Uint8Array, zeroes: Buffer): boolean {
  if (b.length === 0) return true;
  if (b[0] !== 0 || b[b.length - 1] !== 0 || b[b.length >> 1] !== 0) return false;
  return Buffer.compare(Buffer.from(b.buffer, b.byteOffset, b.length), zeroes.subarray(0, b.length)) === 0;
}

/** Zero [offset, offset + count) at the destination, unless it is zero already. */
async function fillZeroes(dst: End, offset: bigint, count: bigint, o: LoopOptions, zeroes: Uint8Array): Promise<void> {
  if (count === 0n || o.destinationIsZero) return;
  if (await dst.zero(offset, count, o.allocated).catch(at(dst, 'zero', offset))) return;
  // No efficient zeroing: write zeroes the hard way.
  for (let a = offset; a < offset + count;) {
    const n = Number(offset + count - a < BigInt(zeroes.length) ? offset + count - a : BigInt(zeroes.length));
    await dst.write(zeroes.subarray(0, n), a).catch(at(dst, 'write', a));
    a += BigInt(n);
  }
}

/** Write `data` (read from `offset`): its blocks of zeroes as zeroes, the rest as data. */
async function writeSparse(dst: End, data: Uint8Array, offset: bigint, o: LoopOptions, zeroes: Buffer): Promise<void> {
  if (o.allocated || o.sparse === 0) return dst.write(data, offset).catch(at(dst, 'write', offset));
  const s = o.sparse;
  // Runs of whole blocks from a block boundary, as nbdcopy's finished_read; the unaligned ends
  // are data.
  const runs: [number, number, boolean][] = [];
  const push = (from: number, to: number, zero: boolean) => {
    const last = runs[runs.length - 1];
    if (to <= from) return;
    if (last && last[2] === zero && last[1] === from) last[1] = to;
    else runs.push([from, to, zero]);
  };
  const first = Math.min(Number((BigInt(s) - (offset % BigInt(s))) % BigInt(s)), data.length);
  push(0, first, false);
  let i = first;
  for (; i + s <= data.length; i += s) push(i, i + s, isZero(data.subarray(i, i + s), zeroes));
  push(i, data.length, false);
  const work = runs.map(([from, to, zero]) => {
    const where = offset + BigInt(from);
    return zero ? fillZeroes(dst, where, BigInt(to - from), o, zeroes) : dst.write(data.subarray(from, to), where).catch(at(dst, 'write', where));
  });
  await Promise.all(work);
}

/** Source ranges of one work region: block status, or all data when the source cannot tell. */
async function extentsOf(src: End, offset: bigint, count: bigint): Promise<Extent[]> {
  const out: Extent[] = [];
  for (let a = offset; a < offset + count;) {
    const got = await src.extents(a, offset + count - a).catch(at(src, 'block status', a));
    if (!got) return [{ offset: a, length: offset + count - a, zero: false }];
    out.push(...got);
    const last = got[got.length - 1]!;
    a = last.offset + last.length;
  }
  return out;
}

/** Copy a source of known size with many requests in flight. */
export async function parallelCopy(src: End, dst: End, o: LoopOptions): Promise<void> {
  const size = src.size!;
  const buffers = new Buffers(o.requestSize);
  const slots = new Slots(o.inFlight);
  const zeroes = Buffer.alloc(Math.max(o.requestSize, o.sparse, 1 << 20));
  const discard = dst.kind === 'null';
  const R = BigInt(o.requestSize);
  let next = size > 0n ? extentsOf(src, 0n, size < WORK ? size : WORK) : null;
  for (let region = 0n; region < size; region += WORK) {
    o.progress(region, size);
    const ranges = await next!;
    next = null;
    const after = region + WORK;
    if (after < size) {
      next = extentsOf(src, after, size - after < WORK ? size - after : WORK);
      next.catch(() => {});
    }
    for (const r of ranges) {
      if (o.signal.aborted) throw o.signal.reason;
      if (r.zero) {
        await slots.take();
        slots.run(fillZeroes(dst, r.offset, r.length, o, zeroes));
        continue;
      }
      const end = r.offset + r.length;
      for (let a = r.offset; a < end;) {
        // Split at multiples of the request size, so most requests are aligned.
        const b = end < (a / R + 1n) * R ? end : (a / R + 1n) * R;
        await slots.take();
        const buf = buffers.get().subarray(0, Number(b - a));
        const offset = a;
        slots.run(src.read(buf, offset).catch(at(src, 'read', offset)).then(async () => {
          if (!discard) await writeSparse(dst, buf, offset, o, zeroes);
          buffers.put(buf);
        }));
        a = b;
      }
    }
  }
  await slots.drain();
}

/** Copy one request at a time, in order: a pipe at either end (nbdcopy's synch_copying). */
export async function synchronousCopy(src: End, dst: End, o: LoopOptions): Promise<void> {
  const buf = new Uint8Array(o.requestSize);
  const zeroes = Buffer.alloc(o.requestSize);
  let offset = 0n;
  if (src.size === null) {
    for (;;) {
      if (o.signal.aborted) throw o.signal.reason;
      const n = await src.readStream(buf).catch(at(src, 'read', offset));
      if (n === 0) break;
      await dst.write(buf.subarray(0, n), offset).catch(at(dst, 'write', offset));
      offset += BigInt(n);
    }
    return;
  }
  const size = src.size;
  while (offset < size) {
    if (o.signal.aborted) throw o.signal.reason;
    const count = size - offset < BigInt(o.requestSize) ? size - offset : BigInt(o.requestSize);
    for (const e of await extentsOf(src, offset, count)) {
      if (e.zero) {
        await fillZeroes(dst, e.offset, e.length, { ...o, destinationIsZero: o.destinationIsZero && dst.kind !== 'pipe' }, zeroes);
      } else {
        const part = buf.subarray(0, Number(e.length));
        await src.read(part, e.offset).catch(at(src, 'read', e.offset));
        await dst.write(part, e.offset).catch(at(dst, 'write', e.offset));
        o.progress(e.offset + e.length, size);
      }
    }
    offset += count;
  }
}

