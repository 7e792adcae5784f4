// Whole disks out of and into a page, in nbdcopy's spirit: download() copies an export (or a range
// of it) into a WritableStream, such as a file from showSaveFilePicker() or the origin-private file
// system; upload() copies a File or Blob into a writable export, then reads it back to verify.
// Memory stays bounded: at most `requests` requests of `requestSize` bytes are held at once,
// whatever the size of the disk. Block status (base:allocation) says where the zeroes are: they are
// not read, and they are skipped in files (which start as zeroes) or written as zero chunks into
// plain streams. Both take an AbortSignal and report progress with the speed.

import { NbdError, errno } from '../core/errors.js';
import { NbdPool } from '../core/pool.js';
import type { Extent64, U64 } from '../core/types.js';
import { allocBuffer, canShare, create, type RemoteHandle } from './client.js';
import { STATE_ZERO } from './extents.js';
import { ACCEPTS_SHARED, COPIES_CHUNKS } from './sinks.js';

export interface TransferProgress {
  /** What is being done: copying out, copying in, or reading back what was written. */
  phase: 'download' | 'upload' | 'verify';
  /** Bytes of the range done so far (zeroes skipped count as done), and the range's length. */
  bytes: bigint;
  total: bigint;
  /** MiB per second since the phase began. */
  mibps: number;
}

export interface TransferOptions {
  /** Cancels the transfer: commands in flight are cancelled and the promise rejects with ECANCELED. */
  signal?: AbortSignal;
  onProgress?: (p: TransferProgress) => void;
  /**
   * Connections to open when given a URI (nbdcopy's --connections, default 4). More than one only
   * where the server says can_multi_conn, as nbdcopy decides; a handle given is used alone.
   */
  connections?: number;
  /** Bytes per request (nbdcopy's --request-size), default 1 MiB. */
  requestSize?: number;
  /** Requests held at once across all connections (the memory window is requests × requestSize), default 16. */
  requests?: number;
}

export interface DownloadOptions extends TransferOptions {
  /** The range to copy: from `offset` (default 0), `count` bytes (default: to the end). */
  offset?: U64;
  count?: U64;
}

export interface UploadOptions extends TransferOptions {
  /** Where the image goes in the export (default 0). */
  offset?: U64;
  /** Read everything back and compare it with the image (default true). */
  verify?: boolean;
  /** The export is known to hold zeroes already (nbdcopy's --destination-is-zero): zero runs are not written. */
  destinationIsZero?: boolean;
  /** NBD_CMD_FLUSH at the end where the server can flush (default true). */
  flush?: boolean;
}

export interface TransferResult {
  /** Bytes of the range, and how many of them were zero runs not read (download) or not written as data (upload). */
  bytes: bigint;
  zeroBytes: bigint;
  /** Connections used. */
  connections: number;
  ms: number;
}

const MiB = 1 << 20;
/** Largest block status request: a little under the 32-bit limit, and 1 MiB aligned. */
const STATUS_SPAN = 0xfff00000n;

/** A sink written at positions, with WriteParams chunks: a FileSystemWritableFileStream (or one that acts like it). */
const positioned = (s: WritableStream): boolean =>
  typeof (s as Partial<FileSystemWritableFileStream>).seek === 'function' && typeof (s as Partial<FileSystemWritableFileStream>).truncate === 'function';
/** A real file's stream copies what it is given, so its buffers can be used again; other sinks may keep their chunks. */
const copiesChunks = (s: WritableStream): boolean =>
  (typeof FileSystemWritableFileStream !== 'undefined' && s instanceof FileSystemWritableFileStream) || (s as { [COPIES_CHUNKS]?: boolean })[COPIES_CHUNKS] === true;

const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
const sizeText = (n: bigint) => (n >= BigInt(MiB) ? `${(Number(n) / MiB).toFixed(n % BigInt(MiB) ? 1 : 0)} MiB` : plural(Number(n), 'byte'));
const exportText = (h: RemoteHandle) => {
  const name = h.getExportName();
  return name === '' ? 'the default export' : `export “${name}”`;
};

/** Connections to the export: a pool opened here (and so closed here), or the handle given alone. */
interface Lanes {
  pool: NbdPool<RemoteHandle>;
  owned: boolean;
}

/**
 * Connect to `target` (or use the handle given): `want` connections where the server says
 * can_multi_conn, one otherwise (nbdcopy's rule, NbdPool's), each asking for base:allocation.
 */
async function openLanes(target: string | RemoteHandle, want: number, signal?: AbortSignal): Promise<Lanes> {
  if (typeof target !== 'string') return { pool: await NbdPool.open(() => Promise.resolve(target), { connections: 1 }), owned: false };
  const connect = async (): Promise<RemoteHandle> => {
    const h = create();
    try {
      h.addMetaContext('base:allocation');
      await h.connectUri(target);
      return h;
    } catch (e) {
      h.close();
      throw e;
    }
  };
  return { pool: await NbdPool.open(connect, { connections: want, signal }), owned: true };
}

/** Disconnect what was opened here: NBD_CMD_DISC once replies in flight are in (cancelled ones are read and dropped), then close. */
async function closeLanes(lanes: Lanes): Promise<void> {
  if (lanes.owned) await lanes.pool.close();
}

const cancelled = (ctx: string, done: bigint, total: bigint) =>
  new NbdError(errno.ECANCELED, ctx, total > 0n ? `cancelled after ${sizeText(done)} of ${sizeText(total)}` : 'cancelled');

/** The range [offset, offset + count) checked against the export's size. */
function range(ctx: string, h: RemoteHandle, offset: U64 | undefined, count: U64 | undefined): [bigint, bigint] {
  const size = h.getSize();
  const start = BigInt(offset ?? 0);
  const end = count === undefined ? size : start + BigInt(count);
  if (start < 0n || end < start || end > size) {
    throw new NbdError(errno.EINVAL, ctx, `the range ${start}–${end} is not within ${exportText(h)} (${size} bytes)`);
  }
  return [start, end];
}

interface Piece {
  offset: bigint;
  length: number;
  /** Known to read as zeroes (NBD_STATE_ZERO): not read. */
  zero: boolean;
}

/**
 * [start, end) in pieces of at most `request` bytes, zero runs apart, from block status asked a
 * span at a time as the copy reaches it (replies may stop short: asked again from there).
 */
async function* pieces(h: RemoteHandle, start: bigint, end: bigint, request: number, signal?: AbortSignal): AsyncGenerator<Piece> {
  const sparse = h.canMetaContext('base:allocation');
  const R = BigInt(request);
  for (let at = start; at < end;) {
    const runs: { length: bigint; zero: boolean }[] = [];
    if (sparse) {
      const count = end - at > STATUS_SPAN ? STATUS_SPAN : end - at;
      let to = at;
      await h.blockStatus64(count, at, (ctx: string, offset: bigint, entries: Extent64[]) => {
        if (ctx !== 'base:allocation') return 0;
        to = offset;
        for (const e of entries) {
          const n = to + e.length > end ? end - to : e.length;
          if (n <= 0n) break;
          runs.push({ length: n, zero: (Number(e.flags) & STATE_ZERO) !== 0 });
          to += n;
        }
        return 0;
      }, 0, { signal });
    }
    if (!runs.length) runs.push({ length: sparse ? (end - at > STATUS_SPAN ? STATUS_SPAN : end - at) : end - at, zero: false });
    for (const r of runs) {
      const stop = at + r.length;
      if (r.zero) {
        yield { offset: at, length: Number(r.length), zero: true };
        at = stop;
        continue;
      }
      while (at < stop) {
        const n = stop - at > R ? R : stop - at;
        yield { offset: at, length: Number(n), zero: false };
        at += n;
      }
    }
  }
}

/**
 * Whether stretches of an export are known to read as zeroes (NBD_STATE_ZERO), asked in offset
 * order: block status is walked forward once, as pieces() gives it.
 */
class ZeroRuns {
  readonly #gen: AsyncGenerator<Piece>;
  #cur: { start: bigint; end: bigint; zero: boolean } | null = null;
  #done = false;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(h: RemoteHandle, start: bigint, end: bigint, signal?: AbortSignal) {
    this.#gen = pieces(h, start, end, 1 << 30, signal);
  }

  /** True when [at, at + n) is inside one known-zero run. Calls are answered in turn. */
  covers(at: bigint, n: number): Promise<boolean> {
    const p = this.#chain.then(() => this.#covers(at, at + BigInt(n)));
    this.#chain = p.catch(() => {});
    return p;
  }

  async #next(): Promise<Piece | null> {
    if (this.#done) return null;
    const r = await this.#gen.next();
    if (r.done) this.#done = true;
    return r.done ? null : r.value;
  }

  async #covers(at: bigint, end: bigint): Promise<boolean> {
    while (!this.#cur || this.#cur.end <= at) {
      const p = await this.#next();
      if (!p) return false;
      this.#cur = { start: p.offset, end: p.offset + BigInt(p.length), zero: p.zero };
    }
    // A zero run the status spans cut in two is one run.
    while (this.#cur.zero && this.#cur.end < end) {
      const p = await this.#next();
      if (!p) break;
      if (!p.zero) {
        this.#cur = { start: p.offset, end: p.offset + BigInt(p.length), zero: false };
        return false;
      }
      this.#cur.end = p.offset + BigInt(p.length);
    }
    return this.#cur.zero && this.#cur.start <= at && this.#cur.end >= end;
  }
}

/** Plain buffers of one size, used again once a sink is done with them. */
class Buffers {
  readonly #free: Uint8Array<ArrayBuffer>[] = [];
  constructor(readonly size: number, readonly reuse: boolean) {}
  take(n: number): Uint8Array<ArrayBuffer> { return (this.#free.pop() ?? new Uint8Array(this.size)).subarray(0, n); }
  give(b: Uint8Array<ArrayBuffer>): void { if (this.reuse && this.#free.length < 64) this.#free.push(new Uint8Array(b.buffer)); }
}

class Progress {
  readonly #t0 = performance.now();
  done = 0n;
  constructor(readonly phase: TransferProgress['phase'], readonly total: bigint, readonly fn?: (p: TransferProgress) => void) {}
  add(n: number): void {
    this.done += BigInt(n);
    const s = (performance.now() - this.#t0) / 1000;
    this.fn?.({ phase: this.phase, bytes: this.done, total: this.total, mibps: s > 0 ? Number(this.done) / MiB / s : 0 });
  }
  get ms(): number { return performance.now() - this.#t0; }
}

const settings = (o: TransferOptions) => {
  const requestSize = o.requestSize ?? MiB;
  const requests = o.requests ?? 16;
  if (!Number.isInteger(requestSize) || requestSize < 512 || requestSize > 32 * MiB) throw new NbdError(errno.EINVAL, 'transfer', `requestSize: must be 512 bytes to 32 MiB, not ${requestSize}`);
  if (!Number.isInteger(requests) || requests < 1) throw new NbdError(errno.EINVAL, 'transfer', `requests: must be a positive integer, not ${requests}`);
  const connections = o.connections ?? 4;
  if (!Number.isInteger(connections) || connections < 1) throw new NbdError(errno.EINVAL, 'transfer', `connections: must be a positive integer, not ${connections}`);
  return { requestSize, requests, connections };
}

/**
 * Copy bytes [offset, offset + count) of an export (a URI to connect to, or a connected handle)
 * into `sink`. A sink with seek() and truncate() (FileSystemWritableFileStream) is sized first
 * and written at positions, zero runs skipped; any other WritableStream gets the bytes in order,
 * zero runs as chunks of zeroes. The sink is closed at the end, aborted on failure.
 */
export async function download(src: string | RemoteHandle, sink: WritableStream, opts: DownloadOptions = {}): Promise<TransferResult> {
  const ctx = 'download';
  const { requestSize, requests, connections } = settings(opts);
  const signal = opts.signal;
  const writer = sink.getWriter();
  let lanes: Lanes | null = null;
  /** Reads issued and not yet written: on failure, waited for before the connections close. */
  const pending = new Set<Promise<unknown>>();
  let progress: Progress | null = null;
  try {
    if (signal?.aborted) throw cancelled(ctx, 0n, 0n);
    lanes = await openLanes(src, connections, signal);
    const pool = lanes.pool;
    const [start, end] = range(ctx, pool.first, opts.offset, opts.count);
    const seek = positioned(sink);
    const buffers = new Buffers(requestSize, copiesChunks(sink));
    const shared = canShare() ? Array.from({ length: requests }, () => allocBuffer(requestSize)) : [];
    const direct = shared.length > 0 && (sink as { [ACCEPTS_SHARED]?: boolean })[ACCEPTS_SHARED] === true;
    const zeroes = new Uint8Array(Math.min(requestSize, MiB));
    progress = new Progress('download', end - start, opts.onProgress);
    const p = progress;
    let zeroBytes = 0n;
    if (seek) await writer.write({ type: 'truncate', size: Number(end - start) }).catch(sinkError);

    // Pieces in offset order; each data piece's read is issued at once and its bytes handed to
    // the stream, in order, as soon as they are in (the stream queues them: no wait between one
    // write and the next). A request's memory is held from its read until the stream has written
    // it, and no read is issued while `requests` are held.
    const read = async (piece: Piece, lane: RemoteHandle): Promise<Uint8Array> => {
      // Into shared memory where the page has it (the worker writes it there); handed over as it
      // is to a sink that takes shared memory (privateFile()'s, whose worker writes it), else
      // copied once into a plain buffer, as streams take no shared memory. Elsewhere the worker's
      // buffer comes back.
      const sab = shared.pop();
      let kept = false;
      try {
        const into = sab ? sab.subarray(0, piece.length) : buffers.take(piece.length);
        await lane.pread(into, piece.offset, 0, { signal });
        if (!sab || direct) return (kept = true, into);
        const out = buffers.take(piece.length);
        out.set(into);
        return out;
      } finally {
        if (sab && !kept) shared.push(sab);
      }
    };
    /** A buffer the sink is done with, back where it came from. */
    const release = (d: Uint8Array) => {
      if (typeof SharedArrayBuffer !== 'undefined' && d.buffer instanceof SharedArrayBuffer) shared.push(new Uint8Array(d.buffer));
      else buffers.give(d as Uint8Array<ArrayBuffer>);
    };
    /** Writes the stream has been handed, oldest first. */
    const writing: { data: boolean; done: Promise<void> }[] = [];
    let handed: Promise<unknown> = Promise.resolve();
    let held = 0;
    // `counts`: the piece holds a request's place in the window (data, or zeroes to be written).
    const hand = (piece: Piece, data: Promise<Uint8Array> | null, counts: boolean) => {
      const rel = Number(piece.offset - start);
      // A positioned sink takes each piece when its bytes are in; a stream takes them in order.
      const ready = Promise.all([seek ? null : handed, data]);
      const given = ready.then(async ([, d]): Promise<unknown> => {
        if (d) return writer.write(seek ? { type: 'write', position: rel, data: d } : d).then(() => release(d), sinkError);
        return seek ? undefined : writer.write(zeroes.subarray(0, piece.length)).catch(sinkError);
      });
      handed = ready;
      handed.catch(() => {});
      const done = given.then(() => {
        if (counts) held--;
        p.add(piece.length);
      });
      done.catch(() => {});
      if (counts) held++;
      writing.push({ data: counts, done });
    };
    for await (const piece of pieces(pool.first, start, end, requestSize, signal)) {
      if (signal?.aborted) throw cancelled(ctx, p.done, p.total);
      if (piece.zero) zeroBytes += BigInt(piece.length);
      if (piece.zero && !seek) {
        // Zeroes written out, a chunk at a time, within the window like data.
        for (let n = 0; n < piece.length; n += zeroes.length) {
          if (signal?.aborted) throw cancelled(ctx, p.done, p.total);
          hand({ offset: piece.offset + BigInt(n), length: Math.min(zeroes.length, piece.length - n), zero: true }, null, true);
          while (held >= requests) await writing.shift()!.done;
        }
        continue;
      }
      const data = piece.zero ? null : pool.run((lane) => read(piece, lane));
      if (data) {
        const settled = data.then(() => {}, () => {});
        pending.add(settled);
        void settled.then(() => pending.delete(settled));
      }
      hand(piece, data, data !== null);
      while (held >= requests) await writing.shift()!.done;
      // Skipped zero runs already passed are no longer watched.
      while (writing.length > requests && !writing[0]!.data) await writing.shift()!.done;
    }
    for (const w of writing.splice(0)) await w.done;
    await writer.close().catch(sinkError);
    return { bytes: end - start, zeroBytes, connections: pool.connections, ms: p.ms };
  } catch (e) {
    const err = signal?.aborted ? cancelled(ctx, progress?.done ?? 0n, progress?.total ?? 0n) : asError(ctx, e);
    await Promise.all(pending);
    await writer.abort(err).catch(() => {});
    throw err;
  } finally {
    writer.releaseLock();
    if (lanes) await closeLanes(lanes);
  }
}

const asError = (ctx: string, e: unknown): NbdError =>
  e instanceof NbdError ? e : new NbdError(errno.EIO, ctx, e instanceof Error ? e.message : String(e));

/** The sink refused a write: say so, ENOSPC when the browser's storage is full (QuotaExceededError). */
const sinkError = (e: unknown): never => {
  const name = (e as { name?: string }).name;
  const why = e instanceof Error ? e.message : String(e);
  throw new NbdError(name === 'QuotaExceededError' ? errno.ENOSPC : errno.EIO, 'download', `writing the file: ${why}`);
};

/** True when every byte is zero (four at a time where aligned). */
export function isZero(b: Uint8Array): boolean {
  let i = 0;
  if (b.byteOffset % 4 === 0) {
    const w = new Uint32Array(b.buffer, b.byteOffset, b.length >> 2);
    for (let j = 0; j < w.length; j++) if (w[j] !== 0) return false;
    i = w.length << 2;
  }
  for (; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** Index of the first byte where `a` and `b` (of one length) differ, or -1. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  let i = 0;
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    const n = a.length >> 2;
    const wa = new Uint32Array(a.buffer, a.byteOffset, n);
    const wb = new Uint32Array(b.buffer, b.byteOffset, n);
    while (i < n && wa[i] === wb[i]) i++;
    i <<= 2;
  }
  for (; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/**
 * Copy `image` (a File or Blob) into an export at `offset`: runs of zero bytes as write-zeroes
 * (or not at all with destinationIsZero), a flush, then, unless `verify` is false, every byte read
 * back and compared. Refused with EPERM on a read-only export.
 */
export async function upload(image: Blob, dest: string | RemoteHandle, opts: UploadOptions = {}): Promise<TransferResult> {
  const ctx = 'upload';
  const { requestSize, requests, connections } = settings(opts);
  const signal = opts.signal;
  let lanes: Lanes | null = null;
  /** Commands in flight: on failure, waited for before the connections close. */
  const window: Promise<void>[] = [];
  let progress: Progress | null = null;
  try {
    if (signal?.aborted) throw cancelled(ctx, 0n, 0n);
    lanes = await openLanes(dest, connections, signal);
    const pool = lanes.pool;
    const h = pool.first;
    if (h.isReadOnly()) throw new NbdError(errno.EPERM, ctx, `${exportText(h)} is read-only`);
    const start = BigInt(opts.offset ?? 0);
    const total = BigInt(image.size);
    if (start < 0n || start + total > h.getSize()) {
      throw new NbdError(errno.ENOSPC, ctx, `the image (${image.size} bytes) does not fit in ${exportText(h)} (${h.getSize()} bytes) at offset ${start}`);
    }
    const canZero = h.canZero();
    let zeroBytes = 0n;
    const t0 = performance.now();
    // A window of `requests` writes in flight; the image is read a request at a time.
    // A window of `requests` commands in flight; the image read ahead as many requests again.
    // A window of `requests` commands in flight; the image read ahead as many requests again.
    // `skip` (asked in order) leaves a request out without reading the image there.
    // A step sends its commands through `io` (the pool): errors of its own are not a connection's.
    type Step = (rel: number, data: Uint8Array, io: (f: (lane: RemoteHandle) => Promise<void>) => Promise<void>) => Promise<void>;
    const run = async (phase: 'upload' | 'verify', step: Step, skip?: (rel: number, n: number) => Promise<boolean>) => {
      const p = (progress = new Progress(phase, total, opts.onProgress));
      const length = (rel: number) => Math.min(image.size, rel + requestSize) - rel;
      const read = async (rel: number) => ((await skip?.(rel, length(rel))) ? null : image.slice(rel, rel + length(rel)).arrayBuffer());
      const ahead: Promise<ArrayBuffer | null>[] = [];
      let next = 0;
      for (let rel = 0; rel < image.size; rel += requestSize) {
        if (signal?.aborted) throw cancelled(ctx, p.done, p.total);
        while (ahead.length < requests && next < image.size) {
          const a = read(next);
          a.catch(() => {});
          ahead.push(a);
          next += requestSize;
        }
        const got = await ahead.shift()!;
        if (!got) {
          p.add(length(rel));
          continue;
        }
        const data = new Uint8Array(got);
        const w = step(rel, data, (f) => pool.run(f)).then(() => p.add(data.length));
        w.catch(() => {}); // seen when its turn comes; not an unhandled rejection meanwhile
        window.push(w);
        if (window.length >= requests) await window.shift();
      }
      await Promise.all(window.splice(0));
    };
    /** Requests of the image that are all zeroes, found while writing. */
    const zeroed = new Uint8Array(Math.ceil(image.size / requestSize));
    await run('upload', async (rel, data, io) => {
      const at = start + BigInt(rel);
      if (isZero(data)) {
        zeroed[rel / requestSize] = 1;
        zeroBytes += BigInt(data.length);
        if (opts.destinationIsZero) return;
        if (canZero) return io((lane) => lane.zero(data.length, at, 0, { signal }));
      }
      return io((lane) => lane.pwrite(data, at, 0, { signal }));
    });
    if (opts.flush !== false && h.canFlush()) await pool.flush(0, { signal });
    if (opts.verify !== false) {
      // Read back into buffers used again (one per request in flight), compared a word at a time.
      // Where the image is zeroes and block status says the export reads as zeroes
      // (NBD_STATE_ZERO), neither needs reading.
      const spare = Array.from({ length: requests }, () => allocBuffer(requestSize));
      const zeroRuns = new ZeroRuns(h, start, start + total, signal);
      await run('verify', async (rel, data, io) => {
        const buf = spare.pop() ?? allocBuffer(requestSize);
        try {
          const back = buf.subarray(0, data.length);
          await io((lane) => lane.pread(back, start + BigInt(rel), 0, { signal }));
          const i = firstDifference(back, data);
          if (i >= 0) {
            const hex = (x: number) => `0x${x.toString(16).padStart(2, '0')}`;
            throw new NbdError(errno.EIO, ctx, `verify: byte ${start + BigInt(rel + i)} of ${exportText(h)} reads ${hex(back[i]!)}, the image has ${hex(data[i]!)}`);
          }
        } finally {
          spare.push(buf);
        }
      }, async (rel, n) => zeroed[rel / requestSize] === 1 && zeroRuns.covers(start + BigInt(rel), n));
    }
    return { bytes: total, zeroBytes, connections: pool.connections, ms: performance.now() - t0 };
  } catch (e) {
    const last = progress as Progress | null; // set by run(), which TypeScript does not follow
    const err = signal?.aborted ? cancelled(ctx, last?.done ?? 0n, last?.total ?? 0n) : asError(ctx, e);
    await Promise.allSettled(window);
    throw err;
  } finally {
    if (lanes) await closeLanes(lanes);
  }
}
