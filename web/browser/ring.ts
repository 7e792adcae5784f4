// Messages through shared memory between a cross-origin isolated page and its worker: a ring of
// fixed-size records of int32s in a SharedArrayBuffer, one writer, one reader, the reader woken by
// Atomics.waitAsync instead of a postMessage per message. The worker reports plain completions
// (handle, cookie, error) this way, and the page submits reads into buffers the worker already
// knows. Every message, through a ring or postMessage, carries a sequence number (its first int32
// here), so that each side takes both channels in the order the other side produced them.

/** Header: records written (index 0, waited on), records read (index 1), whether the reader waits (2). */
const WRITTEN = 0;
const READ = 1;
const WAITING = 2;
const HEADER = 4;

/** Atomics.waitAsync (ES2024; the project's library is ES2022). */
type WaitAsync = (a: Int32Array, index: number, value: number) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (a: Int32Array, index: number, value: number) => (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync(a, index, value);

export class Ring {
  readonly #i32: Int32Array;
  readonly #slots: number;

  /** A ring in `sab` whose records are `fields` int32s, the first of them the sequence number. */
  constructor(readonly sab: SharedArrayBuffer, readonly fields: number) {
    this.#i32 = new Int32Array(sab);
    this.#slots = Math.floor((this.#i32.length - HEADER) / fields);
  }

  /** A ring of `slots` records (when it is full, the writer posts instead). */
  static create(fields: number, slots = 1024): Ring {
    return new Ring(new SharedArrayBuffer((HEADER + slots * fields) * 4), fields);
  }

  /** Writer: add a record (its fields, sequence number first) and wake the reader; false when full. */
  push(...values: number[]): boolean {
    const i = this.#i32;
    const w = Atomics.load(i, WRITTEN);
    if (w - Atomics.load(i, READ) >= this.#slots) return false;
    const at = HEADER + (w % this.#slots) * this.fields;
    for (let k = 0; k < this.fields; k++) i[at + k] = values[k] ?? 0;
    Atomics.store(i, WRITTEN, w + 1);
    // Waking a thread costs about as much as a message; a reader that is not waiting needs none.
    if (Atomics.load(i, WAITING) === 1) Atomics.notify(i, WRITTEN);
    return true;
  }

  /** Reader: the sequence number of the oldest unread record, or -1. */
  peek(): number {
    const i = this.#i32;
    const r = Atomics.load(i, READ);
    return r === Atomics.load(i, WRITTEN) ? -1 : i[HEADER + (r % this.#slots) * this.fields]!;
  }

  /** Reader: take the oldest unread record (peek() said there is one): its fields, a copy. */
  shift(): Int32Array {
    const i = this.#i32;
    const r = Atomics.load(i, READ);
    const at = HEADER + (r % this.#slots) * this.fields;
    const rec = i.slice(at, at + this.fields);
    Atomics.store(i, READ, r + 1);
    return rec;
  }

  /**
   * Reader: call `wake` whenever records are written, until the returned function is called. One
   * Atomics.waitAsync at a time, on the count of records written.
   */
  watch(wake: () => void): () => void {
    let stopped = false;
    const i = this.#i32;
    const turn = (): void => {
      if (stopped) return;
      Atomics.store(i, WAITING, 0);
      // The count before taking what is there: a record written meanwhile makes the wait
      // below return at once, so none is left unseen until the one after it.
      const seen = Atomics.load(i, WRITTEN);
      try {
        wake();
      } finally {
        Atomics.store(i, WAITING, 1);
        const w = waitAsync(i, WRITTEN, seen);
        if (w.async) void w.value.then(turn);
        else queueMicrotask(turn);
      }
    };
    turn();
    return () => { stopped = true; Atomics.notify(i, WRITTEN); };
  }
}

/**
 * Takes what one side said from its messages and its ring, in the order it said it: `take`
 * receives each message; ring records become messages through `fromRing`.
 */
export class InOrder<M extends { s: number }> {
  readonly #early = new Map<number, M>();
  #next = 0;

  constructor(public ring: Ring | null, readonly fromRing: (r: Int32Array) => M, readonly take: (m: M) => void) {}

  /** A posted message arrived. */
  posted(m: M): void {
    this.#early.set(m.s, m);
    this.deliver();
  }

  /** Take every message whose turn has come. */
  deliver(): void {
    for (;;) {
      const m = this.#early.get(this.#next);
      if (m) {
        this.#early.delete(this.#next++);
        this.take(m);
      } else if (this.ring && this.ring.peek() === this.#next) {
        this.#next++;
        this.take(this.fromRing(this.ring.shift()));
      } else {
        return;
      }
    }
  }
}

/** Whether this host has what the rings need (Atomics.waitAsync: Chromium 87+, not every browser). */
export const ringSupported = (): boolean => typeof (Atomics as { waitAsync?: unknown }).waitAsync === 'function';

/** Int32s of a completion record: sequence number, handle, cookie, error. */
export const DONE_FIELDS = 4;
/** Int32s of a read record: sequence number, handle, cookie, buffer id, byte offset and length in it, offset (low, high 32 bits), flags. */
export const READ_FIELDS = 9;
