// Multi-conn in a page (libnbd(3) "Multi-conn"): an NbdPool (web/core/pool.ts) whose connections
// each live in a worker of their own, so that up to four sockets are received on as many threads,
// as four bare WebSockets in four workers are (the bench's ceiling). Large reads are spread over
// it where the server says can_multi_conn; small ones stay on the one connection they came on.

import { NbdPool } from '../core/pool.js';
import type * as T from '../core/types.js';
import { WorkerClient, defaultWorker, type RemoteHandle } from './client.js';

/** Most connections a page opens to one export (nbdcopy's default). */
export const MAX_CONNECTIONS = 4;
/** Reads and block status requests of at least this many bytes are spread over connections. */
export const SPREAD_BYTES = 8 << 20;
/** Pieces a spread read is cut into, and how many are in flight per connection. */
const PIECE = 1 << 20;
const DEPTH = 8;

/** The page's connection workers: the default one, then one more per further connection. */
const extra: WorkerClient[] = [];
const workerFor = (i: number): WorkerClient => (i === 0 ? defaultWorker() : (extra[i - 1] ??= new WorkerClient()));

export interface PoolOpenOptions {
  /** Connections wanted (default MAX_CONNECTIONS; one unless the server allows multi-conn). */
  connections?: number;
  /** Connection 0, already open: the pool adds the others (and closing the pool closes it). */
  first?: RemoteHandle;
  /** Settings for each new connection before it connects (e.g. addMetaContext). */
  setup?: (h: RemoteHandle) => void;
}

/** Open up to `connections` connections to `uri`, connection i in the page's worker i. */
export function openPool(uri: string, o: PoolOpenOptions = {}): Promise<NbdPool<RemoteHandle>> {
  return NbdPool.open<RemoteHandle>(async (i) => {
    const h = workerFor(i).create();
    o.setup?.(h);
    try {
      await h.connectUri(uri);
    } catch (e) {
      h.close();
      throw e;
    }
    return h;
  }, { connections: o.connections ?? MAX_CONNECTIONS, ...(o.first ? { first: o.first } : {}) });
}

/**
 * Read `buf` from `offset` through the pool: 1 MiB pieces, each on the connection with the fewest
 * in flight, eight in flight per connection. The first failure fails the read (after the pieces
 * in flight have ended); `signal` cancels it.
 */
export async function spreadRead(pool: NbdPool<RemoteHandle>, buf: Uint8Array, offset: T.U64, opts: T.CommandOptions = {}): Promise<void> {
  const base = BigInt(offset);
  let next = 0;
  let failed: unknown = null;
  const lane = async () => {
    while (next < buf.length && failed === null) {
      const at = next;
      next += PIECE;
      const end = Math.min(buf.length, at + PIECE);
      await pool.pread(buf.subarray(at, end), base + BigInt(at), 0, opts).catch((e: unknown) => { failed ??= e; });
    }
  };
  const lanes = Math.min(pool.connections * DEPTH, Math.ceil(buf.length / PIECE));
  await Promise.all(Array.from({ length: lanes }, lane));
  if (failed !== null) throw failed;
}
