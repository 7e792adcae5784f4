// One open export as components see it: the handle (in the page's shared worker), its size, what
// block status has said (ExtentMap) and a bounded cache of 64 KiB blocks read on demand.
// Every element and inspector panel showing the same export shares one Disk. Its users only read,
// so when the connection is lost (the bridge or the server restarted) the Disk connects again by
// itself, with back-off, and sends again the requests the loss failed; it gives up after a bound.

import type { RemoteHandle } from './client.js';
import { allocBuffer, create } from './client.js';
import { NbdError, errno } from '../core/errors.js';
import { formatDuration } from '../core/handle/deadline.js';
import type { NbdPool } from '../core/pool.js';
import type { Extent64 } from '../core/types.js';
import { ExtentMap, STATE_ZERO } from './extents.js';
import { SPREAD_BYTES, openPool, spreadRead } from './multi.js';

/** How long connecting (WebSocket, handshake) may take before it fails with ETIMEDOUT. */
export const CONNECT_TIMEOUT_MS = 15_000;
/** Reconnecting: this many attempts, waiting 250 ms, 500 ms, 1 s … (at most 8 s) before each. */
export const RECONNECT_ATTEMPTS = 6;
const RECONNECT_FIRST_MS = 250;
const RECONNECT_MAX_MS = 8000;
/** A request is sent again after at most this many reconnections. */
const RETRIES = 3;

/** What the Disk's connection is doing, for status lines. */
export type LinkState =
  | { state: 'connected' }
  | { state: 'reconnecting'; attempt: number; of: number; delay: number; why: string }
  | { state: 'failed'; error: NbdError };

/** A handle for the page's worker connected to `uri` (base:allocation asked), within CONNECT_TIMEOUT_MS. */
export async function openHandle(uri: string): Promise<RemoteHandle> {
  const h = create();
  h.addMetaContext('base:allocation');
  try {
    await h.connectUri(uri, { timeout: CONNECT_TIMEOUT_MS });
  } catch (e) {
    h.close();
    throw e;
  }
  return h;
}

const gone = (h: RemoteHandle): boolean => h.aioIsDead() || h.aioIsClosed();
/** Errors that say the server sent nonsense: a new connection would not help. */
const HOPELESS = new Set(['EPROTO', 'EOVERFLOW']);

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
  /** Reads and status requests sent, and reconnections made, for tests and the benchmark. */
  readonly stats = { reads: 0, statusRequests: 0, reconnects: 0 };
  #handle: RemoteHandle;
  #redialing: Promise<void> | null = null;
  #failed: NbdError | null = null;
  #closed = false;
  readonly #watchers = new Set<(s: LinkState) => void>();
  #poll: ReturnType<typeof setInterval> | null = null;
  /** Up to four connections for large reads and scans (multi.ts), opened on first need. */
  #pool: Promise<NbdPool<RemoteHandle> | null> | null = null;

  constructor(readonly uri: string, handle: RemoteHandle) {
    this.#handle = handle;
    this.size = handle.getSize();
    this.extents = new ExtentMap(this.size);
    this.readZeros = new ExtentMap(this.size);
    this.hasAllocation = handle.canMetaContext('base:allocation');
  }

  /** The connection now (a new one after each reconnection). */
  get handle(): RemoteHandle { return this.#handle; }

  /** The connection was lost and could not be made again: this Disk is done. */
  get failed(): NbdError | null { return this.#failed; }

  /**
   * Hear of losses, reconnections and giving up; returns the function that stops it. While
   * anyone watches, a connection lost while idle is noticed within a second and made again.
   */
  watch(fn: (s: LinkState) => void): () => void {
    this.#watchers.add(fn);
    this.#poll ??= setInterval(() => {
      if (!this.#closed && !this.#failed && gone(this.#handle)) this.reconnect().catch(() => {});
    }, 1000);
    return () => {
      this.#watchers.delete(fn);
      if (this.#watchers.size === 0 && this.#poll !== null) {
        clearInterval(this.#poll);
        this.#poll = null;
      }
    };
  }

  #say(s: LinkState): void {
    for (const fn of [...this.#watchers]) fn(s);
  }

  /** Close the connection for good (the last user let go), and the pool's. */
  close(): void {
    this.#closed = true;
    if (this.#poll !== null) clearInterval(this.#poll);
    this.#poll = null;
    this.#dropPool();
    const h = this.#handle;
    void h.shutdown().catch(() => {}).finally(() => h.close());
  }

  /**
   * The connections large reads and block status scans are spread over, the first of them this
   * Disk's handle: opened on first need where the server says can_multi_conn, else (or if they
   * could not be opened) null, and everything stays on the one handle.
   */
  connections(): Promise<NbdPool<RemoteHandle> | null> {
    if (!this.#pool) {
      const h = this.#handle;
      // The pool may close what it opened, never the Disk's own handle (closed by close()).
      const first = new Proxy(h, {
        get: (t, k) => (k === 'close' ? () => {} : k === 'shutdown' ? async () => {} : typeof t[k as keyof RemoteHandle] === 'function' ? (t[k as keyof RemoteHandle] as (...a: unknown[]) => unknown).bind(t) : t[k as keyof RemoteHandle]),
      });
      this.#pool = h.canMultiConn() && !this.#closed
        ? openPool(this.uri, { first, setup: (c) => { if (this.hasAllocation) c.addMetaContext('base:allocation'); } }).then((p) => (p.connections > 1 ? p : null), () => null)
        : Promise.resolve(null);
    }
    return this.#pool;
  }

  /** Close the pool's own connections (the Disk's stays); the next large read opens them again. */
  #dropPool(): void {
    const p = this.#pool;
    this.#pool = null;
    void p?.then((pool) => pool?.close(), () => {});
  }

  /** After a failure through the pool: a pool with a dead connection is dropped. */
  async #checkPool(pool: NbdPool<RemoteHandle>): Promise<void> {
    if (!pool.handles.some((h) => h.aioIsDead() || h.aioIsClosed())) return;
    if (this.#pool && (await this.#pool) === pool) this.#dropPool();
  }

  /**
   * Connect again if the connection is lost (at once if it is, else a no-op): RECONNECT_ATTEMPTS
   * attempts with back-off; rejects with why once they have all failed.
   */
  reconnect(why = 'the connection was lost'): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (!gone(this.#handle)) return Promise.resolve();
    return (this.#redialing ??= this.#redial(why).finally(() => { this.#redialing = null; }));
  }

  async #redial(why: string): Promise<void> {
    let last: unknown = null;
    let waited = 0;
    for (let attempt = 1; attempt <= RECONNECT_ATTEMPTS && !this.#closed; attempt++) {
      const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** (attempt - 1));
      this.#say({ state: 'reconnecting', attempt, of: RECONNECT_ATTEMPTS, delay, why });
      await new Promise((r) => setTimeout(r, delay));
      waited += delay;
      if (this.#closed) break;
      try {
        const h = await openHandle(this.uri);
        if (h.getSize() !== this.size) {
          h.close();
          last = new NbdError(errno.EIO, 'nbd_connect_uri', `the export is now ${h.getSize()} bytes, not ${this.size}`);
          break;
        }
        const old = this.#handle;
        this.#handle = h;
        old.close();
        this.#dropPool(); // its first connection was the old one
        this.stats.reconnects++;
        this.#say({ state: 'connected' });
        return;
      } catch (e) {
        last = e;
      }
    }
    const reason = last instanceof Error ? last.message : this.#closed ? 'the disk was closed' : String(last);
    this.#failed = new NbdError(errno.ENOTCONN, 'webnbd',
      `${why}; reconnecting failed (${RECONNECT_ATTEMPTS} attempts over ${formatDuration(waited)}): ${reason}`);
    this.#say({ state: 'failed', error: this.#failed });
    throw this.#failed;
  }

  /**
   * Run a request on the connection; when it fails because the connection was lost (not
   * because the server refused it), reconnect and run it again, RETRIES times at most.
   */
  async #request<T>(run: (h: RemoteHandle) => Promise<T>): Promise<T> {
    for (let tries = 0; ; tries++) {
      if (gone(this.#handle) && !this.#closed) await this.reconnect();
      const h = this.#handle;
      try {
        return await run(h);
      } catch (e) {
        const code = (e as { code?: string }).code ?? '';
        if (this.#closed || tries >= RETRIES || !gone(h) || HOPELESS.has(code)) throw e;
        await this.reconnect((e as Error).message ?? String(e));
      }
    }
  }

  get blockCount(): number { return Number((this.size + BigInt(BLOCK) - 1n) / BigInt(BLOCK)); }

  /** Blocks in the cache now (bounded by CACHE_BLOCKS). */
  get cached(): number { return this.#blocks.size; }

  /**
   * Forget the blocks read and what block status said, after the export was written to (by an
   * upload): everything is read and asked again. Reads in flight still land, as they were asked.
   */
  invalidate(): void {
    this.#blocks.clear();
    this.extents.clear();
    this.readZeros.clear();
  }

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
      p = this.#request((h) => h.pread(buf, start)).then(() => {
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
   * With `spread` (a scan of the whole disk), large requests go over the connections.
   */
  async status(start: bigint, end: bigint, signal?: { readonly aborted: boolean }, spread = false): Promise<void> {
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
        p = this.#askStatus(gap, end, spread);
        this.#status.set(gap, p);
        void p.finally(() => this.#status.delete(gap)).catch(() => {});
      }
      await p;
      start = gap;
    }
  }

  async #askStatus(at: bigint, end: bigint, spread: boolean): Promise<void> {
    let count = end - at;
    if (count > STATUS_SPAN) count = STATUS_SPAN;
    if (count < BigInt(BLOCK) && this.size - at >= BigInt(BLOCK)) count = BigInt(BLOCK);
    this.stats.statusRequests++;
    let got = false;
    const extent = (ctx: string, offset: bigint, entries: Extent64[]) => {
      if (ctx !== 'base:allocation') return 0;
      got = true;
      this.extents.add(offset, entries.map((e) => ({ length: e.length, flags: Number(e.flags) })));
      return 0;
    };
    // A scan of the whole disk is spread over the connections; a screen's status is not worth them.
    const pool = spread && count >= BigInt(SPREAD_BYTES) ? await this.connections() : null;
    if (pool) await pool.run((h) => h.blockStatus64(count, at, extent)).catch(async (e: unknown) => { await this.#checkPool(pool); throw e; });
    else await this.#request((h) => h.blockStatus64(count, at, extent));
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

  /**
   * Bytes [start, end), reading what is missing: small ranges a few cached blocks at a time on the
   * one connection, ranges of many MiB straight into one buffer over the connections (multi.ts).
   */
  async read(start: bigint, end: bigint): Promise<Uint8Array> {
    if (end - start >= BigInt(SPREAD_BYTES)) {
      const pool = await this.connections();
      if (pool) {
        const buf = allocBuffer(Number(end - start));
        await spreadRead(pool, buf, start).catch(async (e: unknown) => { await this.#checkPool(pool); throw e; });
        return buf;
      }
    }
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
  // Four 32-bit words a line where the block is aligned (blocks are): a quarter of the comparisons.
  const w = b.byteOffset % 4 === 0 ? new Uint32Array(b.buffer, b.byteOffset, b.length >> 2) : null;
  let run = 0;
  for (let at = 0; at < b.length; at += 16) {
    let zero = at + 16 <= b.length;
    if (zero && w) zero = (w[at >> 2]! | w[(at >> 2) + 1]! | w[(at >> 2) + 2]! | w[(at >> 2) + 3]!) === 0;
    else for (let k = at; zero && k < at + 16; k++) zero = b[k] === 0;
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
