// The WebAssembly SIMD kernel of the dump formatters (kernel.c): loaded on first use where the
// host has WebAssembly with SIMD (Node, browsers), else lines.ts keeps to its JS loop. Its
// memory can also hold output buffers (alloc), which it then fills without a copy.

import { KERNEL_WASM } from './kernel-wasm.js';

/** Kinds of line, as kernel.c numbers them. */
export const KIND_HEXDUMP = 0;
export const KIND_NBDDUMP = 1;

/** The part of the WebAssembly API used here (the core sees no DOM or Node types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
interface Exports {
  memory: WasmMemory;
  init(): void;
  state_ptr(): number;
  heap_base(): number;
  run(kind: number, input: number, lines: number, output: number): number;
}

const PAGE = 65536;
/** Input is copied in, and output not in kernel memory copied out, this much at a time. */
const SCRATCH_IN = 1 << 20;
const SCRATCH_OUT = (SCRATCH_IN / 16) * 80 + 64;

export interface KernelState {
  offHi: number;
  offLo: number;
  /** Lines from here on that may be squeezed. */
  squeezable: number;
  prev: Uint8Array | null;
  starred: boolean;
}

export class Kernel {
  readonly #x: Exports;
  readonly #state: number;
  readonly #scratchIn: number;
  readonly #scratchOut: number;
  /** Free ranges [start, end) of the memory handed out by alloc, in order. */
  #free: [number, number][] = [];
  /** Sizes of the buffers out, by address. */
  #out = new Map<number, number>();

  constructor(x: Exports) {
    this.#x = x;
    x.init();
    this.#state = x.state_ptr();
    const base = (x.heap_base() + 63) & ~63;
    this.#scratchIn = base;
    this.#scratchOut = base + SCRATCH_IN;
    this.#growTo(this.#scratchOut + SCRATCH_OUT);
    this.#free = [[this.#scratchOut + SCRATCH_OUT, x.memory.buffer.byteLength]];
  }

  get buffer(): ArrayBuffer {
    return this.#x.memory.buffer;
  }

  /**
   * Make room for `bytes` of alloc'ed buffers. The memory can only grow while no buffer is out
   * (growing detaches views), so call this before the first alloc.
   */
  reserve(bytes: number): void {
    if (this.#out.size) return;
    const start = this.#scratchOut + SCRATCH_OUT;
    this.#growTo(start + bytes);
    this.#free = [[start, this.buffer.byteLength]];
  }

  /** n bytes of kernel memory (not zeroed), or null when there is no free range that big. */
  alloc(n: number): Uint8Array | null {
    if (n === 0) return new Uint8Array(0);
    const size = (n + 63) & ~63;
    const i = this.#free.findIndex(([a, b]) => b - a >= size);
    if (i < 0) return null;
    const [a, b] = this.#free[i]!;
    if (b - a === size) this.#free.splice(i, 1);
    else this.#free[i] = [a + size, b];
    this.#out.set(a, size);
    return new Uint8Array(this.buffer, a, n);
  }

  /** Give back a buffer from alloc (or a view that starts where it starts). */
  free(view: Uint8Array): void {
    const a = view.byteOffset;
    const size = view.buffer === this.buffer ? this.#out.get(a) : undefined;
    if (size === undefined) return;
    this.#out.delete(a);
    const b = a + size;
    let i = 0;
    while (i < this.#free.length && this.#free[i]![0] < a) i++;
    this.#free.splice(i, 0, [a, b]);
    // Coalesce with the neighbours.
    if (i + 1 < this.#free.length && this.#free[i]![1] === this.#free[i + 1]![0]) this.#free.splice(i, 2, [a, this.#free[i + 1]![1]]);
    if (i > 0 && this.#free[i - 1]![1] === this.#free[i]![0]) this.#free.splice(i - 1, 2, [this.#free[i - 1]![0], this.#free[i]![1]]);
  }

  /**
   * Squeeze or format the whole lines src[s..end) into out at p, from state `st` (updated);
   * returns the new p. Writes up to 16 bytes past the output.
   */
  run(kind: number, st: KernelState, src: Uint8Array, s: number, end: number, out: Uint8Array, p: number): number {
    const x = this.#x;
    const mem = new Uint8Array(this.buffer);
    const dv = new DataView(this.buffer, this.#state, 40);
    dv.setUint32(0, st.offLo, true);
    dv.setUint32(4, st.offHi, true);
    dv.setUint32(8, st.squeezable, true);
    dv.setUint32(12, 0, true);
    dv.setUint32(16, st.prev ? 1 : 0, true);
    dv.setUint32(20, st.starred ? 1 : 0, true);
    if (st.prev) mem.set(st.prev, this.#state + 24);
    const direct = out.buffer === this.buffer;
    while (s < end) {
      const n = Math.min(end - s, SCRATCH_IN);
      mem.set(src.subarray(s, s + n), this.#scratchIn);
      if (direct) {
        p += x.run(kind, this.#scratchIn, n >> 4, out.byteOffset + p);
      } else {
        const w = x.run(kind, this.#scratchIn, n >> 4, this.#scratchOut);
        out.set(mem.subarray(this.#scratchOut, this.#scratchOut + w), p);
        p += w;
      }
      s += n;
    }
    st.offLo = dv.getUint32(0, true);
    st.offHi = dv.getUint32(4, true);
    st.squeezable = dv.getUint32(8, true);
    st.prev = mem.slice(this.#state + 24, this.#state + 40);
    st.starred = dv.getUint32(20, true) !== 0;
    return p;
  }

  #growTo(bytes: number): void {
    const have = this.buffer.byteLength;
    if (bytes > have) this.#x.memory.grow(Math.ceil((bytes - have) / PAGE));
  }
}

let kernel: Kernel | null | undefined;

/** The kernel, or null where WebAssembly SIMD is not available (or not allowed). */
export function getKernel(): Kernel | null {
  if (kernel !== undefined) return kernel;
  try {
    const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
    if (!wasm) return (kernel = null);
    const instance = new wasm.Instance(new wasm.Module(decodeBase64(KERNEL_WASM)), {});
    kernel = new Kernel(instance.exports as unknown as Exports);
  } catch {
    kernel = null;
  }
  return kernel;
}

function decodeBase64(s: string): Uint8Array {
  // atob is native in browsers and Node alike (a loop over the alphabet cost a fresh page 5 ms).
  const bin = (globalThis as unknown as { atob(s: string): string }).atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
