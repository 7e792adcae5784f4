// What a filesystem reads through: a byte range of the export (a partition, or the whole disk),
// with a bounded cache of aligned chunks for metadata (superblocks, inode tables, FATs,
// directories) and uncached reads for file contents, which are read once and passed on.

import { NbdError, errno } from '../core/errors.js';

/** Read `length` bytes at byte `offset` of the export. */
export type Reader = (offset: bigint, length: number) => Promise<Uint8Array>;

/** Bytes per cached chunk, and chunks kept: 8 MiB of metadata at most. */
const CHUNK = 64 * 1024;
const CHUNKS = 128;

export class Device {
  readonly #read: Reader;
  readonly #chunks = new Map<number, Promise<Uint8Array>>();
  /** Reads sent to the export, for tests. */
  readonly stats = { reads: 0, bytes: 0 };

  /**
   * `start` and `size`: the range of the export this device is (a partition). `align`: the
   * server's minimum block size; direct reads are widened to it (NBD_INFO_BLOCK_SIZE).
   */
  constructor(read: Reader, readonly start: bigint, readonly size: bigint, readonly align = 1) {
    this.#read = read;
  }

  /** A device for [start, start + size) of this one (a partition inside a partition). */
  slice(start: bigint, size: bigint): Device {
    return new Device(this.#read, this.start + start, size, this.align);
  }

  #check(offset: bigint, length: number): void {
    if (offset < 0n || length < 0 || offset + BigInt(length) > this.size) {
      throw new NbdError(errno.EIO, 'read', `bytes ${offset}–${offset + BigInt(length)} are past the end of the filesystem (${this.size} bytes): it is damaged or truncated`);
    }
  }

  /** Bytes [offset, offset + length) through the cache (for metadata). */
  async read(offset: bigint, length: number): Promise<Uint8Array> {
    this.#check(offset, length);
    const out = new Uint8Array(length);
    if (length === 0) return out;
    const C = BigInt(CHUNK);
    const first = Number(offset / C);
    const last = Number((offset + BigInt(length) - 1n) / C);
    await Promise.all(Array.from({ length: last - first + 1 }, async (_, k) => {
      const i = first + k;
      const chunk = await this.#chunk(i);
      const base = BigInt(i) * C;
      const from = offset > base ? Number(offset - base) : 0;
      const to = Math.min(chunk.length, Number(offset + BigInt(length) - base));
      out.set(chunk.subarray(from, to), Number(base + BigInt(from) - offset));
    }));
    return out;
  }

  #chunk(i: number): Promise<Uint8Array> {
    let p = this.#chunks.get(i);
    if (p) {
      this.#chunks.delete(i); // most recently used goes last
      this.#chunks.set(i, p);
      return p;
    }
    const at = BigInt(i) * BigInt(CHUNK);
    const n = Number(this.size - at < BigInt(CHUNK) ? this.size - at : BigInt(CHUNK));
    p = this.direct(at, n);
    p.catch(() => this.#chunks.delete(i));
    this.#chunks.set(i, p);
    while (this.#chunks.size > CHUNKS) this.#chunks.delete(this.#chunks.keys().next().value!);
    return p;
  }

  /** Bytes [offset, offset + length) straight from the export (file contents). */
  async direct(offset: bigint, length: number): Promise<Uint8Array> {
    this.#check(offset, length);
    this.stats.reads++;
    this.stats.bytes += length;
    const at = this.start + offset;
    const a = BigInt(this.align);
    const from = (at / a) * a;
    const to = ((at + BigInt(length) + a - 1n) / a) * a;
    if (from === at && to === at + BigInt(length)) return this.#read(at, length);
    const b = await this.#read(from, Number(to - from));
    return b.subarray(Number(at - from), Number(at - from) + length);
  }
}
