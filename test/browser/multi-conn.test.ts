// Multi-conn by default where it helps (web/browser/multi.ts, disk.ts): a Disk spreads a read of
// many MiB over four connections, each in a worker of its own, when the server says
// can_multi_conn (nbdkit's file plugin), and keeps small reads on its one connection; against a
// server that does not (qemu-nbd without -r) everything stays on one. The bytes are checked. The
// allocation map's scan spreads its block status requests the same way.

import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labPage, serveDist, type Site } from '../support/browser.js';
import { startNbdkit, startQemuNbd, startWebsockify } from '../support/servers.js';

const SIZE = 32 << 20;
const disk = Buffer.alloc(SIZE);
for (let i = 0; i < SIZE; i += 4) disk.writeUInt32BE((i * 2654435761 + 12345) >>> 0, i);
const file = join(mkdtempSync(join(tmpdir(), 'webnbd-multi-')), 'disk.img');
writeFileSync(file, disk);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const servers: Record<string, string> = {};
beforeAll(async () => {
  const nbdkit = await startNbdkit(['file', file]);
  const qemu = await startQemuNbd(file);
  servers['nbdkit'] = `nbd+ws://127.0.0.1:${(await startWebsockify({ port: nbdkit.port! })).port}/`;
  servers['qemu-nbd'] = `nbd+ws://127.0.0.1:${(await startWebsockify({ port: qemu.port! })).port}/`;
});

describe.each([true, false])('isolated page: %s', (isolated) => {
  let site: Site;
  beforeAll(async () => { site = await serveDist(isolated); });
  afterAll(() => site.close());

  it.each([['nbdkit', 4], ['qemu-nbd', 1]] as const)('a large read from %s goes over %i connection(s), small ones over one', async (server, conns) => {
    const { page, errors } = await labPage(site);
    const r = await page.evaluate(async ([u, size]) => {
      const w = window.webnbd;
      // Which workers are told anything (a buffer's first read is always posted, ring or not).
      const told = new Map<object, number>();
      const post = Worker.prototype.postMessage as (this: Worker, m: unknown, transfer?: Transferable[]) => void;
      Worker.prototype.postMessage = function (this: Worker, m: unknown, transfer?: Transferable[]) {
        told.set(this, (told.get(this) ?? 0) + 1);
        post.call(this, m, transfer ?? []);
      } as typeof Worker.prototype.postMessage;
      const hex = async (b: Uint8Array) => {
        const copy = new Uint8Array(b.length);
        copy.set(b);
        return [...new Uint8Array(await crypto.subtle.digest('SHA-256', copy))].map((x) => x.toString(16).padStart(2, '0')).join('');
      };
      const d = await w.acquire(u);
      const small = await d.read(1000n, 70000n);
      const afterSmall = told.size;
      const all = await d.read(0n, BigInt(size));
      const pool = await d.connections();
      const workers = told.size;
      // The allocation map's scan: two halves asked at once, each on the connection with fewer in
      // flight.
      told.clear();
      const half = BigInt(size / 2);
      await Promise.all([d.status(0n, half, undefined, true), d.status(half, 2n * half, undefined, true)]);
      const scan = told.size;
      // A screen's block status, however large, stays on its Disk's one connection (a Disk of its
      // own: the same export under another spelling of its URI; qemu-nbd takes one client).
      let screen = 1;
      if (d.handle.canMultiConn()) {
        const d2 = await w.acquire(u.replace(/\/$/, ''));
        told.clear();
        await d2.status(0n, BigInt(size));
        screen = told.size;
        w.release(u.replace(/\/$/, ''));
      }
      const out = {
        multiConn: d.handle.canMultiConn(), afterSmall, workers, scan, known: String(d.extents.known), screen,
        pool: pool?.connections ?? 1, small: await hex(small), all: await hex(all),
      };
      w.release(u);
      return out;
    }, [servers[server]!, SIZE] as const);
    expect(r).toEqual({
      multiConn: conns > 1, afterSmall: 1, workers: conns, scan: Math.min(conns, 2), known: String(SIZE), screen: 1, pool: conns,
      small: sha(disk.subarray(1000, 70000)), all: sha(disk),
    });
    expect(errors).toEqual([]);
  });
});
