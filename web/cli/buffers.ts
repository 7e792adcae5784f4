// Recycled memory for dumps: a dump reads and formats gigabytes in chunks of the same few sizes,
// and reusing the chunks spares the garbage collector (and the zeroing of fresh memory). Output
// buffers can live in the formatting kernel's memory, which it then fills without a copy.

import type { Kernel } from '../core/format/kernel.js';

/** A free list of ArrayBuffers, handed out as views of the size asked for. */
export class Buffers {
  readonly #free: ArrayBuffer[] = [];
  readonly #max: number;
  readonly #kernel: Kernel | null;

  /** With a kernel, buffers come from its memory while it has room. */
  constructor(max = 16, kernel: Kernel | null = null) {
    this.#max = max;
    this.#kernel = kernel;
  }

  /** n bytes, not zeroed, in memory of their own or the kernel's. */
  get(n: number): Uint8Array {
    const k = this.#kernel?.alloc(n);
    if (k) return k;
    const i = this.#free.findIndex((b) => b.byteLength >= n);
    const memory = i < 0 ? Buffer.allocUnsafeSlow(n).buffer as ArrayBuffer : this.#free.splice(i, 1)[0]!;
    return new Uint8Array(memory, 0, n);
  }

  /** Take back the memory of a view from get() that is no longer needed. */
  put(view: Uint8Array | ArrayBuffer): void {
    if (this.#kernel && view instanceof Uint8Array && view.buffer === this.#kernel.buffer) return this.#kernel.free(view);
    const b = (view instanceof ArrayBuffer ? view : view.buffer) as ArrayBuffer;
    // Small ones are not worth a slot.
    if (b.byteLength < 65536 || this.#free.length >= this.#max || this.#free.includes(b)) return;
    this.#free.push(b);
  }

  /** A spare buffer of any size, if there is one. */
  take(): ArrayBuffer | null {
    return this.#free.pop() ?? null;
  }
}
