// The scripted server's in-memory disk: sparse, any size up to 2^64 - 1.

import type { U64 } from './bytes.js';

/**
 * A sparse disk of any size up to 2^64 - 1: a Map from block index to block. Never-written
 * areas read as zeroes and count as holes for base:allocation.
 */
export class SparseDisk {
  readonly size: bigint;
  readonly blockSize: number;
  readonly #blocks = new Map<bigint, Uint8Array>();

  constructor(size: U64, blockSize = 4096) {
    this.size = BigInt(size);
    this.blockSize = blockSize;
  }

  /** Number of allocated blocks. */
  get allocatedBlocks(): number {
    return this.#blocks.size;
  }

  read(offset: U64, length: number): Uint8Array {
    const out = new Uint8Array(length);
    const B = BigInt(this.blockSize);
    let pos = BigInt(offset);
    let done = 0;
    while (done < length) {
      const idx = pos / B;
      const within = Number(pos % B);
      const take = Math.min(this.blockSize - within, length - done);
      const block = this.#blocks.get(idx);
      if (block) out.set(block.subarray(within, within + take), done);
      done += take;
      pos += BigInt(take);
    }
    return out;
  }

  write(offset: U64, data: Uint8Array): void {
    const B = BigInt(this.blockSize);
    let pos = BigInt(offset);
    let done = 0;
    while (done < data.length) {
      const idx = pos / B;
      const within = Number(pos % B);
      const take = Math.min(this.blockSize - within, data.length - done);
      let block = this.#blocks.get(idx);
      if (!block) this.#blocks.set(idx, (block = new Uint8Array(this.blockSize)));
      block.set(data.subarray(done, done + take), within);
      done += take;
      pos += BigInt(take);
    }
  }

  /**
   * Zero [offset, offset + length). Whole blocks become holes when `punch` is set; with
   * `punch` unset (NBD_CMD_FLAG_NO_HOLE) blocks are allocated, up to 64 MiB of them.
   */
  zero(offset: U64, length: U64, punch = true): void {
    const start = BigInt(offset);
    const end = start + BigInt(length);
    const B = BigInt(this.blockSize);
    for (const idx of [...this.#blocks.keys()]) {
      const bStart = idx * B;
      const bEnd = bStart + B;
      if (bEnd <= start || bStart >= end) continue;
      if (punch && bStart >= start && bEnd <= end) {
        this.#blocks.delete(idx);
      } else {
        const from = Number((start > bStart ? start : bStart) - bStart);
        const to = Number((end < bEnd ? end : bEnd) - bStart);
        this.#blocks.get(idx)!.fill(0, from, to);
      }
    }
    if (!punch && end - start <= 64n << 20n) {
      for (let idx = start / B; idx * B < end; idx++) {
        if (!this.#blocks.has(idx)) this.#blocks.set(idx, new Uint8Array(this.blockSize));
      }
    }
  }

  /** Allocated and unallocated runs covering [offset, offset + length), merged. */
  runs(offset: U64, length: U64): { offset: bigint; length: bigint; allocated: boolean }[] {
    const start = BigInt(offset);
    const end = start + BigInt(length);
    const B = BigInt(this.blockSize);
    const firstIdx = start / B;
    const lastIdx = end === 0n ? 0n : (end - 1n) / B;
    const allocated = [...this.#blocks.keys()]
      .filter((i) => i >= firstIdx && i <= lastIdx)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const out: { offset: bigint; length: bigint; allocated: boolean }[] = [];
    const push = (from: bigint, to: bigint, isAlloc: boolean): void => {
      if (to <= from) return;
      const last = out[out.length - 1];
      if (last && last.allocated === isAlloc && last.offset + last.length === from) last.length += to - from;
      else out.push({ offset: from, length: to - from, allocated: isAlloc });
    };
    let pos = start;
    for (const idx of allocated) {
      const bStart = idx * B > start ? idx * B : start;
      const bEnd = (idx + 1n) * B < end ? (idx + 1n) * B : end;
      push(pos, bStart, false);
      push(bStart, bEnd, true);
      pos = bEnd;
    }
    push(pos, end, false);
    return out;
  }
}
