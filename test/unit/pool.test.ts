// NbdPool against the scripted server in memory: how many connections it opens (nbdcopy's
// multi-conn rule), that they must see the same export, that commands spread over the least busy
// connection, that signals reach the command, that errors name the connection and close the rest.

import { describe, expect, it } from 'vitest';
import { serveDisk, type ServeDiskOptions } from '../support/fake-server.js';
import { memoryHandle } from '../support/memory.js';
import { NbdPool, type PoolHandle } from '../../web/core/pool.js';
import type { NbdHandle } from '../../web/core/handle.js';
import type { RemoteHandle } from '../../web/browser/client.js';
import { NBD_FLAG_HAS_FLAGS, NBD_FLAG_READ_ONLY, NBD_FLAG_SEND_FLUSH } from '../support/bytes.js';
import { errno, NbdError } from '../../web/core/errors.js';

// Both kinds of handle fit the pool (compile-time).
export const FITS: [NbdHandle, RemoteHandle] extends [PoolHandle, PoolHandle] ? true : never = true;

const data = Uint8Array.from({ length: 1 << 16 }, (_, i) => (i * 31 + (i >> 9)) & 0xff);

/** A factory that connects handle i to the server for `opts(i)`, and the handles it made. */
function factory(opts: (i: number) => ServeDiskOptions) {
  const made: NbdHandle[] = [];
  const servers = new Map<number, ReturnType<typeof serveDisk>>();
  const open = async (i: number) => {
    const server = serveDisk(opts(i));
    servers.set(i, server);
    const { h } = memoryHandle(server.handler, 'whole');
    made.push(h);
    await h.connectUri('nbd://fake/');
    return h;
  };
  return { open, made, servers };
}

describe('NbdPool', () => {
  it('pool-opens-n-when-multi-conn', async () => {
    const f = factory(() => ({ data }));
    const pool = await NbdPool.open(f.open, { connections: 4 });
    expect(pool.connections).toBe(4);
    const buf = new Uint8Array(4096);
    await pool.pread(buf, 8192);
    expect(buf).toEqual(data.subarray(8192, 8192 + 4096));
    await pool.close();
    expect(f.made.every((h) => h.aioIsClosed() || h.aioIsDead())).toBe(true);
  });

  it('pool-one-connection-without-multi-conn', async () => {
    const f = factory(() => ({ data, flags: NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH }));
    const pool = await NbdPool.open(f.open, { connections: 4 });
    expect(pool.connections).toBe(1);
    expect(f.made.length).toBe(1);
    await pool.close();
  });

  it('pool-read-only-multi-conn-when-asked', async () => {
    const flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY;
    const ro = factory(() => ({ data, flags }));
    const pool = await NbdPool.open(ro.open, { connections: 3, readOnlyMultiConn: true });
    expect(pool.connections).toBe(3);
    await pool.close();
    const rw = factory(() => ({ data, flags: NBD_FLAG_HAS_FLAGS }));
    const one = await NbdPool.open(rw.open, { connections: 3, readOnlyMultiConn: true });
    expect(one.connections).toBe(1);
    await one.close();
  });

  it('pool-refuses-different-exports', async () => {
    const f = factory((i) => ({ data: i === 2 ? data.subarray(0, 512) : data }));
    await expect(NbdPool.open(f.open, { connections: 3 })).rejects.toThrow(
      /connection 2: export size is 512, but 65536 on connection 0: not the same export/,
    );
    expect(f.made.every((h) => h.aioIsClosed() || h.aioIsDead())).toBe(true);
  });

  it('pool-names-the-connection-that-fails-to-open', async () => {
    const f = factory(() => ({ data }));
    const open = (i: number) => (i === 1 ? Promise.reject(new NbdError(errno.ECONNREFUSED, 'nbd_connect_uri', 'connect: refused')) : f.open(i));
    const e = await NbdPool.open(open, { connections: 2 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NbdError);
    expect((e as NbdError).message).toBe('nbd_connect_uri: connection 1: connect: refused: Connection refused');
    expect((e as NbdError).errno).toBe(errno.ECONNREFUSED);
    expect(f.made.every((h) => h.aioIsClosed() || h.aioIsDead())).toBe(true);
  });

  it('pool-spreads-over-least-in-flight', async () => {
    const seen: number[] = [];
    const f = factory((i) => ({ data, hooks: { onRequest: (req) => { if (req.type === 0) seen.push(i); }, delayReply: () => 20 } }));
    const pool = await NbdPool.open(f.open, { connections: 3 });
    const reads = Array.from({ length: 6 }, (_, k) => pool.pread(new Uint8Array(512), k * 512));
    expect(pool.inFlight()).toEqual([2, 2, 2]);
    await Promise.all(reads);
    expect(pool.inFlight()).toEqual([0, 0, 0]);
    expect(seen.sort()).toEqual([0, 0, 1, 1, 2, 2]);
    await pool.close();
  });

  it('pool-forwards-signal-and-names-connection-in-errors', async () => {
    const f = factory(() => ({ data, hooks: { delayReply: () => 200 } }));
    const pool = await NbdPool.open(f.open, { connections: 2 });
    const ac = new AbortController();
    const a = pool.pread(new Uint8Array(512), 0);
    const b = pool.pread(new Uint8Array(512), 0, 0, { signal: ac.signal });
    ac.abort();
    await expect(b).rejects.toMatchObject({ errno: errno.ECANCELED, message: expect.stringMatching(/connection 1: /) });
    await a;
    await pool.close();
    await expect(pool.pread(new Uint8Array(1), 0)).rejects.toThrow(/the pool is closed/);
  });

  it('pool-flushes-every-connection', async () => {
    const flushes: number[] = [];
    const f = factory((i) => ({ data, hooks: { onRequest: (req) => { if (req.type === 3) flushes.push(i); } } }));
    const pool = await NbdPool.open(f.open, { connections: 3 });
    await pool.pwrite(new Uint8Array(512).fill(7), 0);
    await pool.flush();
    expect(flushes.sort()).toEqual([0, 1, 2]);
    await pool.close();
  });

  it('pool-open-cancelled', async () => {
    const ac = new AbortController();
    const f = factory(() => ({ data }));
    const open = async (i: number) => {
      const h = await f.open(i);
      ac.abort();
      return h;
    };
    await expect(NbdPool.open(open, { connections: 2, signal: ac.signal })).rejects.toThrow(/cancelled/);
    expect(f.made.every((h) => h.aioIsClosed() || h.aioIsDead())).toBe(true);
  });
});
