// Completions through shared memory: on cross-origin isolated pages the worker writes each plain
// completion (handle, cookie, error) into a ring in a SharedArrayBuffer and the page, waiting with
// Atomics.waitAsync, reads it there, instead of a postMessage per command. One writer (the worker),
// one reader (the page). Every message from the worker, through the ring or postMessage, carries
// a sequence number, so the page takes them in the order the worker produced them.

/** Int32s per record: sequence number, handle, cookie, error. */
const RECORD = 4;
/** Header: records written (index 0, waited on), records read (index 1). */
const WRITTEN = 0;
const READ = 1;
const HEADER = 4;

/** Atomics.waitAsync (ES2024; the project's library is ES2022). */
type WaitAsync = (a: Int32Array, index: number, value: number) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (a: Int32Array, index: number, value: number) => (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync(a, index, value);

export interface RingRecord { seq: number; h: number; cookie: number; error: number }

export class Ring {
  readonly #i32: Int32Array;
  readonly #slots: number;

  constructor(readonly sab: SharedArrayBuffer) {
    this.#i32 = new Int32Array(sab);
    this.#slots = (this.#i32.length - HEADER) / RECORD;
  }

  /** A ring of `slots` records (when it is full, the worker posts instead). */
  static create(slots = 1024): Ring {
    return new Ring(new SharedArrayBuffer((HEADER + slots * RECORD) * 4));
  }

  /** Writer: add a record and wake the reader; false when the ring is full. */
  push(r: RingRecord): boolean {
    const i = this.#i32;
    const w = Atomics.load(i, WRITTEN);
    if (w - Atomics.load(i, READ) >= this.#slots) return false;
    const at = HEADER + (w % this.#slots) * RECORD;
    i[at] = r.seq;
    i[at + 1] = r.h;
    i[at + 2] = r.cookie;
    i[at + 3] = r.error;
    Atomics.store(i, WRITTEN, w + 1);
    Atomics.notify(i, WRITTEN);
    return true;
  }

  /** Reader: the sequence number of the oldest unread record, or -1. */
  peek(): number {
    const i = this.#i32;
    const r = Atomics.load(i, READ);
    return r === Atomics.load(i, WRITTEN) ? -1 : i[HEADER + (r % this.#slots) * RECORD]!;
  }

  /** Reader: take the oldest unread record (peek() said there is one). */
  shift(): RingRecord {
    const i = this.#i32;
    const r = Atomics.load(i, READ);
    const at = HEADER + (r % this.#slots) * RECORD;
    const rec = { seq: i[at]!, h: i[at + 1]!, cookie: i[at + 2]!, error: i[at + 3]! };
    Atomics.store(i, READ, r + 1);
    return rec;
  }

  /**
   * Reader: call `wake` whenever records are written, until stop() is called. One
   * Atomics.waitAsync at a time, on the count of records written.
   */
  watch(wake: () => void): () => void {
    let stopped = false;
    const i = this.#i32;
    const arm = (): void => {
      if (stopped) return;
      const seen = Atomics.load(i, WRITTEN);
      const w = waitAsync(i, WRITTEN, seen);
      const next = () => {
        try { wake(); } finally { arm(); }
      };
      if (w.async) void w.value.then(next);
      else queueMicrotask(next);
    };
    arm();
    return () => { stopped = true; Atomics.notify(i, WRITTEN); };
  }
}

/** Whether this host has what the ring needs (Atomics.waitAsync: Chromium 87+, not every browser). */
export const ringSupported = (): boolean => typeof (Atomics as { waitAsync?: unknown }).waitAsync === 'function';
