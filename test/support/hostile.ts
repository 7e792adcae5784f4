// Instruments for hostile-server tests and the fuzzer: a sentinel arena that proves nothing is
// written outside the caller's buffers, a ledger that proves every command settles exactly once,
// an allocation spy, and ScriptLink, a transport driven by hand (feed bytes, then EOF).

import { NbdHandle } from '../../web/core/handle.js';
import type { NbdError } from '../../web/core/errors.js';
import type { Transport, TransportEvents, Transports } from '../../web/core/transport.js';
import type * as T from '../../web/core/types.js';

export const SENTINEL = 0xa5;

/**
 * One large buffer filled with SENTINEL; `take(n)` hands out subarray views separated by guard
 * bytes. `intruders()` lists guard bytes that changed: a write outside some caller's buffer.
 */
export class Arena {
  readonly bytes: Uint8Array;
  #at = 0;
  #views: [number, number][] = [];
  constructor(size = 1 << 16, readonly guard = 64) {
    this.bytes = new Uint8Array(size).fill(SENTINEL);
    this.#at = guard;
  }
  take(n: number): Uint8Array {
    if (this.#at + n + this.guard > this.bytes.length) throw new Error('Arena: out of space');
    const v = this.bytes.subarray(this.#at, this.#at + n);
    this.#views.push([this.#at, this.#at + n]);
    this.#at += n + this.guard;
    return v;
  }
  /** Offsets of changed bytes outside every view handed out. */
  intruders(): number[] {
    const out: number[] = [];
    let from = 0;
    for (const [s, e] of [...this.#views, [this.bytes.length, this.bytes.length] as [number, number]]) {
      for (let i = from; i < s; i++) if (this.bytes[i] !== SENTINEL) out.push(i);
      from = e;
    }
    return out;
  }
}

/** What happened to one command or call, counted. */
export interface Entry {
  name: string;
  /**
   * aio: a command's completion and free hook; callback: the same for an option; promise: a
   * sync-style call; free: a callback's free hook alone (nbd_opt_list's list callback).
   */
  kind: 'aio' | 'callback' | 'promise' | 'free';
  cookie: number;
  completions: number;
  frees: number;
  settlements: number;
  /** errno seen by the completion callback or the promise; 0 on success, null if never settled. */
  errno: number | null;
  /** errno that aioCommandCompleted threw when Ledger.retire retired it (0: none). */
  retired: number;
  /** The call itself failed (errno): its completion must never run, its free hook once. */
  refused: number;
  message: string;
}

/** Counts completion callbacks, free hooks and promise settlements per command. */
export class Ledger {
  readonly entries: Entry[] = [];

  #entry(name: string, kind: Entry['kind']): Entry {
    const e: Entry = { name, kind, cookie: 0, completions: 0, frees: 0, settlements: 0, errno: null, retired: 0, refused: 0, message: '' };
    this.entries.push(e);
    return e;
  }

  /**
   * A completion callback with a free hook; returns 1 (retire) when `retire`, else 0. Set the
   * entry's cookie for Ledger.retire; kind 'callback' is for options (aioOptGo and friends).
   */
  completion(name: string, retire = true, kind: 'aio' | 'callback' = 'aio'): { entry: Entry; cb: T.WithFree<T.CompletionFn> } {
    const entry = this.#entry(name, kind);
    return {
      entry,
      cb: {
        callback: (err) => { entry.completions++; entry.errno = err.value; return retire ? 1 : 0; },
        free: () => void entry.frees++,
      },
    };
  }

  /** Issue an aio call with a counted completion, noting a call refused at once. */
  aio(name: string, issue: (cb: T.WithFree<T.CompletionFn>) => number | void, retire = true, kind: 'aio' | 'callback' = 'aio'): Entry {
    const { entry, cb } = this.completion(name, retire, kind);
    try {
      entry.cookie = issue(cb) ?? 0;
    } catch (e) {
      entry.refused = entry.errno = (e as NbdError).errno ?? -1;
      entry.message = String((e as Error).message);
    }
    return entry;
  }

  /** A free hook to count, for a callback whose calls are not counted. */
  freeHook(name: string): () => void {
    const entry = this.#entry(name, 'free');
    return () => void entry.frees++;
  }

  /** Count how a promise settles. */
  promise(name: string, p: Promise<unknown>): Entry {
    const entry = this.#entry(name, 'promise');
    p.then(
      () => { entry.settlements++; entry.errno = 0; },
      (e: NbdError) => { entry.settlements++; entry.errno = e.errno ?? -1; entry.message = String(e.message); },
    );
    return entry;
  }

  /** Track a promise instead of an unused completion entry. */
  swap(unused: Entry, p: Promise<unknown>): Entry {
    this.entries.splice(this.entries.indexOf(unused), 1);
    return this.promise(unused.name, p);
  }

  /** Whether the entry has settled at all (its completion ran, or its promise settled). */
  static settled(e: Entry): boolean {
    if (e.kind === 'free') return e.frees > 0;
    return e.kind === 'promise' ? e.settlements > 0 : e.completions > 0 || e.refused !== 0;
  }

  /** Retire aio commands whose completion returned 0 (runs their free hooks), recording errors. */
  retire(h: NbdHandle): void {
    for (const e of this.entries) {
      if (e.kind !== 'aio' || !e.cookie || e.frees) continue;
      try {
        h.aioCommandCompleted(e.cookie);
      } catch (err) {
        e.retired = (err as NbdError).errno;
      }
    }
  }

  /** Everything that was not settled exactly once. */
  problems(): string[] {
    const out: string[] = [];
    for (const e of this.entries) {
      if (e.kind === 'promise' || e.kind === 'free') {
        if (e.kind === 'promise' && e.settlements !== 1) out.push(`${e.name}: promise settled ${e.settlements} times`);
        if (e.kind === 'free' && e.frees !== 1) out.push(`${e.name}: free hook ran ${e.frees} times`);
        continue;
      }
      if (e.completions !== (e.refused ? 0 : 1)) out.push(`${e.name}: completion ran ${e.completions} times${e.refused ? ' after the call failed' : ''}`);
      if (e.frees !== 1) out.push(`${e.name}: free hook ran ${e.frees} times`);
      if (e.retired && e.retired !== e.errno) out.push(`${e.name}: completed with ${e.errno}, retired with ${e.retired}`);
    }
    return out;
  }
}

/** Run `fn` while counting the sizes of every `new Uint8Array(n)` and `new ArrayBuffer(n)`. */
export async function spyAllocations<R>(fn: () => Promise<R>): Promise<{ result: R; largest: number }> {
  const g = globalThis as { Uint8Array: typeof Uint8Array; ArrayBuffer: typeof ArrayBuffer };
  const saved = { u8: g.Uint8Array, ab: g.ArrayBuffer };
  let largest = 0;
  const note = (a: unknown): void => { if (typeof a === 'number' && a > largest) largest = a; };
  const spy = <C extends abstract new (...a: never[]) => unknown>(C: C): C =>
    new Proxy(C, { construct(t, args, nt) { note(args[0]); return Reflect.construct(t, args, nt) as object; } });
  g.Uint8Array = spy(saved.u8);
  g.ArrayBuffer = spy(saved.ab);
  try {
    return { result: await fn(), largest };
  } finally {
    g.Uint8Array = saved.u8;
    g.ArrayBuffer = saved.ab;
  }
}

/**
 * A transport the test drives by hand, synchronously: `feed` delivers server bytes, `eof` ends
 * the stream. Anything the handle throws back into the transport's events is kept in `escaped`.
 */
export class ScriptLink {
  /** Bytes the client wrote, in order. */
  readonly sent: Uint8Array[] = [];
  readonly escaped: unknown[] = [];
  /** How the client let go: 'end' (polite), 'destroy' (hard), or null while it holds on. */
  hungUp: 'end' | 'destroy' | null = null;
  #ev: TransportEvents | null = null;

  readonly transports: Transports;

  constructor() {
    const open = (_t: unknown, ev: TransportEvents): Transport => {
      this.#ev = ev;
      queueMicrotask(() => this.#call(() => ev.open()));
      return {
        write: (b) => void this.sent.push(b.slice()),
        end: () => void (this.hungUp ??= 'end'),
        destroy: () => void (this.hungUp = 'destroy'),
      };
    };
    this.transports = { tcp: open, unix: open, websocket: open };
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.escaped.push(e);
    }
  }

  feed(b: Uint8Array): void {
    const ev = this.#ev;
    if (ev && this.hungUp !== 'destroy') this.#call(() => ev.data(b));
  }

  eof(error: NbdError | null = null): void {
    const ev = this.#ev;
    this.#ev = null;
    if (ev && this.hungUp !== 'destroy') this.#call(() => ev.close(error));
  }

  /** A handle connected through this link. */
  handle(): NbdHandle {
    return new NbdHandle({ transports: this.transports });
  }
}

/** Let every pending microtask and one round of macrotasks run. */
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Wait for `cond`, at most `ms` (false if it never came true): a few ticks first, then every
 * millisecond. The limit only matters when something hangs; it is generous for loaded machines.
 */
export async function until(cond: () => boolean, ms = 10_000): Promise<boolean> {
  for (let i = 0, t0 = Date.now(); !cond(); i++) {
    if (Date.now() - t0 > ms) return false;
    await (i < 20 ? tick() : new Promise((r) => setTimeout(r, 1)));
  }
  return true;
}
