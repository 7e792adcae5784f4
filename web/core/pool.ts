// Multi-conn (libnbd(3) "Multi-conn", proto.md "NBD_FLAG_CAN_MULTI_CONN"): several connections to
// one export, each command sent on the connection with the fewest in flight. Connections come from
// a factory the caller gives, so Node's NbdHandle and the page's RemoteHandle both fit.

import { NbdError, errno } from './errors.js';
import * as T from './types.js';

/** What the pool needs of a connected handle (NbdHandle and RemoteHandle have it all). */
export interface PoolHandle {
  getSize(): bigint;
  getBlockSize(sizeType: number): number;
  isReadOnly(): boolean;
  canFlush(): boolean;
  canFua(): boolean;
  isRotational(): boolean;
  canTrim(): boolean;
  canZero(): boolean;
  canFastZero(): boolean;
  canDf(): boolean;
  canMultiConn(): boolean;
  canCache(): boolean;
  canMetaContext(name: string): boolean;
  pread(buf: Uint8Array, offset: T.U64, flags?: number, opts?: T.CommandOptions): Promise<void>;
  pwrite(buf: Uint8Array, offset: T.U64, flags?: number, opts?: T.CommandOptions): Promise<void>;
  zero(count: T.U64, offset: T.U64, flags?: number, opts?: T.CommandOptions): Promise<void>;
  trim(count: T.U64, offset: T.U64, flags?: number, opts?: T.CommandOptions): Promise<void>;
  cache(count: T.U64, offset: T.U64, flags?: number, opts?: T.CommandOptions): Promise<void>;
  flush(flags?: number, opts?: T.CommandOptions): Promise<void>;
  blockStatus(count: T.U64, offset: T.U64, extent: T.Callback<T.ExtentFn>, flags?: number, opts?: T.CommandOptions): Promise<void>;
  shutdown(flags?: number): Promise<void>;
  close(): void;
}

export interface PoolOptions {
  /** Connections wanted (at least 1). */
  connections: number;
  /**
   * Open more than one connection to a read-only export even when the server does not advertise
   * multi-conn: nothing can change under a reader. Off by default: nbdcopy's rule, one
   * connection unless the server says `can_multi_conn`.
   */
  readOnlyMultiConn?: boolean;
  /** Abandons opening: connections made so far are closed, the promise rejects with ECANCELED. */
  signal?: T.SignalLike;
}

/** The facts every connection of a pool must agree on (an export's identity). */
const FACTS: [string, (h: PoolHandle) => unknown][] = [
  ['size', (h) => h.getSize()],
  ['minimum block size', (h) => h.getBlockSize(T.SIZE_MINIMUM)],
  ['preferred block size', (h) => h.getBlockSize(T.SIZE_PREFERRED)],
  ['maximum block size', (h) => h.getBlockSize(T.SIZE_MAXIMUM)],
  ['read-only', (h) => h.isReadOnly()],
  ['can flush', (h) => h.canFlush()],
  ['can fua', (h) => h.canFua()],
  ['rotational', (h) => h.isRotational()],
  ['can trim', (h) => h.canTrim()],
  ['can zero', (h) => h.canZero()],
  ['can fast zero', (h) => h.canFastZero()],
  ['can df', (h) => h.canDf()],
  ['can multi-conn', (h) => h.canMultiConn()],
  ['can cache', (h) => h.canCache()],
];

const named = (i: number, e: unknown): NbdError => {
  if (e instanceof NbdError) return new NbdError(e.errno, e.context || 'nbd_pool', `connection ${i}: ${e.detail}`);
  return new NbdError(errno.EIO, 'nbd_pool', `connection ${i}: ${e instanceof Error ? e.message : String(e)}`);
};

/** Close quietly: the connection may be dead already. */
async function release(h: PoolHandle): Promise<void> {
  try { await h.shutdown(); } catch { /* already gone */ }
  h.close();
}

/** Whether a handle should be joined by more connections, as nbdcopy decides (copy/main.c). */
export function multiConnAllowed(h: PoolHandle, readOnlyMultiConn = false): boolean {
  return h.canMultiConn() || (readOnlyMultiConn && h.isReadOnly());
}

export class NbdPool<H extends PoolHandle = PoolHandle> {
  readonly handles: readonly H[];
  readonly #load: number[];
  #closed = false;

  private constructor(handles: H[]) {
    this.handles = handles;
    this.#load = handles.map(() => 0);
  }

  /**
   * Open connection 0, then, when multi-conn is allowed, the others at once; check they all see
   * the same export. Errors say which connection failed ("connection 2: ..."); on any failure
   * every connection already open is closed.
   */
  static async open<H extends PoolHandle>(factory: (i: number) => Promise<H>, o: PoolOptions): Promise<NbdPool<H>> {
    const want = Math.max(1, Math.floor(o.connections));
    const cancelled = () => new NbdError(errno.ECANCELED, 'nbd_pool', 'opening the connections was cancelled');
    if (o.signal?.aborted) throw cancelled();
    const first = await factory(0).catch((e: unknown) => { throw named(0, e); });
    const handles: H[] = [first];
    try {
      if (o.signal?.aborted) throw cancelled();
      const n = multiConnAllowed(first, o.readOnlyMultiConn) ? want : 1;
      const rest = await Promise.allSettled(Array.from({ length: n - 1 }, (_, k) => factory(k + 1)));
      let failure: NbdError | null = null;
      rest.forEach((r, k) => {
        if (r.status === 'fulfilled') handles.push(r.value);
        else failure ??= named(k + 1, r.reason);
      });
      if (failure) throw failure;
      if (o.signal?.aborted) throw cancelled();
      for (const [what, get] of FACTS) {
        const a = get(first);
        handles.forEach((h, i) => {
          const b = get(h);
          if (b !== a) throw new NbdError(errno.EINVAL, 'nbd_pool', `connection ${i}: export ${what} is ${b}, but ${a} on connection 0: not the same export`);
        });
      }
    } catch (e) {
      await Promise.all(handles.map(release));
      throw e;
    }
    return new NbdPool(handles);
  }

  /** How many connections are open. */
  get connections(): number {
    return this.handles.length;
  }

  /** The first connection, for the export's facts (all agree). */
  get first(): H {
    return this.handles[0]!;
  }

  /** Commands in flight through the pool on each connection. */
  inFlight(): readonly number[] {
    return this.#load.slice();
  }

  /** Run `f` on the connection with the fewest commands in flight; its errors name the connection. */
  async run<R>(f: (h: H) => Promise<R>): Promise<R> {
    if (this.#closed) throw new NbdError(errno.ENOTCONN, 'nbd_pool', 'the pool is closed');
    let i = 0;
    for (let k = 1; k < this.#load.length; k++) if (this.#load[k]! < this.#load[i]!) i = k;
    this.#load[i]!++;
    try {
      return await f(this.handles[i]!);
    } catch (e) {
      throw this.handles.length > 1 ? named(i, e) : e;
    } finally {
      this.#load[i]!--;
    }
  }

  pread(buf: Uint8Array, offset: T.U64, flags = 0, opts?: T.CommandOptions): Promise<void> {
    return this.run((h) => h.pread(buf, offset, flags, opts));
  }

  pwrite(buf: Uint8Array, offset: T.U64, flags = 0, opts?: T.CommandOptions): Promise<void> {
    return this.run((h) => h.pwrite(buf, offset, flags, opts));
  }

  zero(count: T.U64, offset: T.U64, flags = 0, opts?: T.CommandOptions): Promise<void> {
    return this.run((h) => h.zero(count, offset, flags, opts));
  }

  trim(count: T.U64, offset: T.U64, flags = 0, opts?: T.CommandOptions): Promise<void> {
    return this.run((h) => h.trim(count, offset, flags, opts));
  }

  cache(count: T.U64, offset: T.U64, flags = 0, opts?: T.CommandOptions): Promise<void> {
    return this.run((h) => h.cache(count, offset, flags, opts));
  }

  blockStatus(count: T.U64, offset: T.U64, extent: T.Callback<T.ExtentFn>, flags = 0, opts?: T.CommandOptions): Promise<void> {
    return this.run((h) => h.blockStatus(count, offset, extent, flags, opts));
  }

  /** Flush every connection (as nbdcopy does): what each one wrote is then on stable storage. */
  async flush(flags = 0, opts?: T.CommandOptions): Promise<void> {
    if (this.#closed) throw new NbdError(errno.ENOTCONN, 'nbd_pool', 'the pool is closed');
    const results = await Promise.allSettled(this.handles.map((h) => h.flush(flags, opts)));
    const i = results.findIndex((r) => r.status === 'rejected');
    if (i >= 0) {
      const e = (results[i] as PromiseRejectedResult).reason;
      throw this.handles.length > 1 ? named(i, e) : e;
    }
  }

  /** Shut down and close every connection; errors do not matter now. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.handles.map(release));
  }
}
