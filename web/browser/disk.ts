// One open export as components see it: the handle (in the page's shared worker), its size, what
// block status has said (ExtentMap) and a bounded cache of 64 KiB blocks read on demand.
// Every element and inspector panel showing the same export shares one Disk.

import type { RemoteHandle } from './client.js';
import { allocBuffer } from './client.js';
import type { Extent64 } from '../core/types.js';
import { ExtentMap, STATE_ZERO } from './extents.js';

/** Bytes per cached block. Reads are whole blocks (the last one may be short). */
export const BLOCK = 64 * 1024;
/** Blocks kept: 16 MiB a disk. The least recently used goes first. */
export const CACHE_BLOCKS = 256;
/** Largest block status request: a little under the 32-bit limit, and 1 MiB aligned. */
const STATUS_SPAN = 0xfff00000n;

const ZERO_BLOCK = new Uint8Array(BLOCK);

export class Disk {
  readonly size: bigint;
  readonly extents: ExtentMap;
  /** Runs of zero bytes found in blocks read (STATE_ZERO), so data that is zeros squeezes too. */
  readonly readZeros: ExtentMap;
  /** Whether the server answers block status for base:allocation. */
  readonly hasAllocation: boolean;
  readonly #blocks = new Map<number, Uint8Array>();
  readonly #reading = new Map<number, Promise<Uint8Array>>();
  readonly #status = new Map<bigint, Promise<void>>();
  /** Reads and status requests sent, for tests and the benchmark. */
  readonly stats = { reads: 0, statusRequests: 0 };

  constructor(readonly uri: string, readonly handle: RemoteHandle) {
    this.size = handle.getSize();
    this.extents = new ExtentMap(this.size);
    this.readZeros = new ExtentMap(this.size);
    this.hasAllocation = handle.canMetaContext('base:allocation');
  }

  get blockCount(): number { return Number((this.size + BigInt(BLOCK) - 1n) / BigInt(BLOCK)); }

  /** Blocks in the cache now (bounded by CACHE_BLOCKS). */
  get cached(): number { return this.#blocks.size; }

  /** A cached block, if there (and it becomes the most recently used). */
  peek(i: number): Uint8Array | undefined {
    const b = this.#blocks.get(i);
    if (b) {
      this.#blocks.delete(i);
      this.#blocks.set(i, b);
      return b;
    }
    const start = BigInt(i) * BigInt(BLOCK);
    const end = start + BigInt(BLOCK) > this.size ? this.size : start + BigInt(BLOCK);
    // Known zeros are never read nor cached.
    return this.extents.isZero(start, end) ? ZERO_BLOCK.subarray(0, Number(end - start)) : undefined;
  }

  /** Block i, from the cache or read (one read per block however many ask). */
  block(i: number): Promise<Uint8Array> {
    const have = this.peek(i);
    if (have) return Promise.resolve(have);
    let p = this.#reading.get(i);
    if (!p) {
      const start = BigInt(i) * BigInt(BLOCK);
      const len = Number(this.size - start < BigInt(BLOCK) ? this.size - start : BigInt(BLOCK));
      const buf = allocBuffer(len);
      this.stats.reads++;
      p = this.handle.pread(buf, start).then(() => {
        this.#reading.delete(i);
        this.#blocks.set(i, buf);
        this.readZeros.add(start, zeroRuns(buf));
        while (this.#blocks.size > CACHE_BLOCKS) this.#blocks.delete(this.#blocks.keys().next().value!);
        return buf;
      }, (e: unknown) => {
        this.#reading.delete(i);
        throw e;
      });
      this.#reading.set(i, p);
    }
    return p;
  }

  /**
   * Make sure block status is known for [start, end) (clamped to the disk): asks the server for
   * each unknown stretch, from its start, as many times as it takes (replies may stop short).
   * A server without base:allocation is taken as all data. Stops early once `signal` is aborted.
   */
  async status(start: bigint, end: bigint, signal?: { readonly aborted: boolean }): Promise<void> {
    if (end > this.size) end = this.size;
    while (!signal?.aborted) {
      const gap = this.extents.firstUnknown(start, end);
      if (gap === null) return;
      if (!this.hasAllocation) {
        this.extents.add(gap, [{ length: this.size - gap, flags: 0 }]);
        return;
      }
      let p = this.#status.get(gap);
      if (!p) {
        p = this.#askStatus(gap, end);
        this.#status.set(gap, p);
        void p.finally(() => this.#status.delete(gap)).catch(() => {});
      }
      await p;
      start = gap;
    }
  }

  async #askStatus(at: bigint, end: bigint): Promise<void> {
    let count = end - at;
    if (count > STATUS_SPAN) count = STATUS_SPAN;
    if (count < BigInt(BLOCK) && this.size - at >= BigInt(BLOCK)) count = BigInt(BLOCK);
    this.stats.statusRequests++;
    let got = false;
    await this.handle.blockStatus64(count, at, (ctx: string, offset: bigint, entries: Extent64[]) => {
      if (ctx !== 'base:allocation') return 0;
      got = true;
      this.extents.add(offset, entries.map((e) => ({ length: e.length, flags: Number(e.flags) })));
      return 0;
    });
    // A server that answers with nothing for this context: treat the request as data.
    if (!got) this.extents.add(at, [{ length: count, flags: 0 }]);
  }

  /** Bytes [start, end) if every block holding them is in memory (or known zero), else null. */
  slice(start: bigint, end: bigint): Uint8Array | null {
    const out = new Uint8Array(Number(end - start));
    for (let at = start; at < end;) {
      const i = Number(at / BigInt(BLOCK));
      const b = this.peek(i);
      if (!b) return null;
      const rel = Number(at - BigInt(i) * BigInt(BLOCK));
      const n = Math.min(b.length - rel, Number(end - at));
      out.set(b.subarray(rel, rel + n), Number(at - start));
      at += BigInt(n);
    }
    return out;
  }

  /** Bytes [start, end), reading what is missing (for small ranges: a few blocks). */
  async read(start: bigint, end: bigint): Promise<Uint8Array> {
    const out = new Uint8Array(Number(end - start));
    if (end <= start) return out;
    const B = BigInt(BLOCK);
    const first = Number(start / B);
    const last = Number((end - 1n) / B);
    await Promise.all(Array.from({ length: last - first + 1 }, async (_, k) => {
      const i = first + k;
      const b = await this.block(i);
      const base = BigInt(i) * B;
      const from = start > base ? Number(start - base) : 0;
      const to = Math.min(b.length, Number(end - base));
      out.set(b.subarray(from, to), Number(base + BigInt(from) - start));
    }));
    return out;
  }
}

/**
 * A block as extents: all-zero 16-byte lines are STATE_ZERO, the rest data. Single lines count:
 * next to a zero run from block status they belong to its "*", as hexdump -C would squeeze them.
 */
function zeroRuns(b: Uint8Array): { length: bigint; flags: number }[] {
  const out: { length: bigint; flags: number }[] = [];
  const push = (length: number, flags: number) => {
    const last = out[out.length - 1];
    if (last && last.flags === flags) last.length += BigInt(length);
    else if (length > 0) out.push({ length: BigInt(length), flags });
  };
  let run = 0;
  for (let at = 0; at < b.length; at += 16) {
    let zero = at + 16 <= b.length;
    for (let k = at; zero && k < at + 16; k++) zero = b[k] === 0;
    if (zero) {
      run += 16;
      continue;
    }
    push(run, run >= 16 ? STATE_ZERO : 0);
    run = 0;
    push(Math.min(16, b.length - at), 0);
  }
  push(run, run >= 16 ? STATE_ZERO : 0);
  return out;
}
