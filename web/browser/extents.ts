// What block status has told us about an export, kept as sorted, non-overlapping runs of
// base:allocation flags, so that zero runs can be squeezed (and skipped) without reading them.
// Pure data: no DOM, no I/O (disk.ts asks the server and adds what it answers).

/** NBD_STATE_HOLE and NBD_STATE_ZERO (NBD spec, "base:allocation metadata context"). */
export const STATE_HOLE = 1;
export const STATE_ZERO = 2;

export interface Run {
  start: bigint;
  end: bigint;
  /** base:allocation flags: 0 data, 1 hole, 2 zero, 3 hole and zero. */
  flags: number;
}

export class ExtentMap {
  readonly #runs: Run[] = [];
  #known = 0n;

  constructor(readonly size: bigint) {}

  /** Bytes whose status is known. */
  get known(): bigint { return this.#known; }

  /** Forget everything (the export was written to). */
  clear(): void {
    this.#runs.length = 0;
    this.#known = 0n;
  }

  /** Every run known so far, in order (do not modify). */
  get runs(): readonly Run[] { return this.#runs; }

  /** Index of the first run that ends after `offset`. */
  #after(offset: bigint): number {
    let lo = 0;
    let hi = this.#runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#runs[mid]!.end <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The run holding `offset`, if known. */
  find(offset: bigint): Run | null {
    const r = this.#runs[this.#after(offset)];
    return r && r.start <= offset ? r : null;
  }

  /** The first offset in [start, end) whose status is unknown, or null when all is known. */
  firstUnknown(start: bigint, end: bigint): bigint | null {
    if (end > this.size) end = this.size;
    let at = start;
    for (let i = this.#after(start); at < end; i++) {
      const r = this.#runs[i];
      if (!r || r.start > at) return at;
      at = r.end;
    }
    return null;
  }

  /**
   * Record a block status answer: extents (length, flags) in order from `offset`. Knowledge only
   * grows: a run overlapping one already known is trimmed to the part that is new.
   */
  add(offset: bigint, extents: readonly { length: bigint; flags: number }[]): void {
    let at = offset;
    for (const e of extents) {
      const end = at + e.length > this.size ? this.size : at + e.length;
      for (let s = at; s < end;) {
        const gap = this.firstUnknown(s, end);
        if (gap === null) break;
        const i = this.#after(gap);
        const next = this.#runs[i];
        const stop = next && next.start < end ? next.start : end;
        this.#insert(i, { start: gap, end: stop, flags: e.flags });
        this.#known += stop - gap;
        s = stop;
      }
      at = end;
      if (at >= this.size) break;
    }
  }

  /** Insert at index i, merging with equal neighbours so the list stays short. */
  #insert(i: number, r: Run): void {
    const prev = this.#runs[i - 1];
    const next = this.#runs[i];
    if (prev && prev.end === r.start && prev.flags === r.flags) {
      prev.end = r.end;
      if (next && next.start === prev.end && next.flags === prev.flags) {
        prev.end = next.end;
        this.#runs.splice(i, 1);
      }
    } else if (next && next.start === r.end && next.flags === r.flags) {
      next.start = r.start;
    } else {
      this.#runs.splice(i, 0, r);
    }
  }

  /**
   * The known-zero region around `offset`: [start, end) made of adjacent runs that read as zeros
   * (NBD_STATE_ZERO), or null when `offset` is not known to be zero.
   */
  zeroAround(offset: bigint): { start: bigint; end: bigint } | null {
    const i = this.#after(offset);
    const r = this.#runs[i];
    if (!r || r.start > offset || !(r.flags & STATE_ZERO)) return null;
    let lo = i;
    while (lo > 0 && this.#runs[lo - 1]!.end === this.#runs[lo]!.start && this.#runs[lo - 1]!.flags & STATE_ZERO) lo--;
    let hi = i;
    while (hi + 1 < this.#runs.length && this.#runs[hi + 1]!.start === this.#runs[hi]!.end && this.#runs[hi + 1]!.flags & STATE_ZERO) hi++;
    return { start: this.#runs[lo]!.start, end: this.#runs[hi]!.end };
  }

  /** Whether every byte of [start, end) is known to read as zero. */
  isZero(start: bigint, end: bigint): boolean {
    const z = this.zeroAround(start);
    return z !== null && z.end >= end;
  }
}
