// Reads straight into the caller's buffer (TransportEvents.into), as Node's socket transports do
// them: a transport that asks the handle where each read may go, against the scripted server with
// simple and structured replies. The bytes are right, most arrive in place (not copied), commands
// that can be cancelled are never read into, and data split at every size still lands right.

import { describe, expect, it } from 'vitest';
import { serveDisk } from '../support/fake-server.js';
import { memoryLink, type Split } from '../support/memory.js';
import { NbdHandle } from '../../web/core/handle.js';
import type { TransportEvents, TransportOpener, Transports } from '../../web/core/transport.js';

const data = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 131 + (i >> 11)) & 0xff);
const K = 256 << 10;
const same = (a: Uint8Array, b: Uint8Array) => expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);

/** A handle whose transport reads as Node's does: into() when offered, else its own small buffer. */
function intoHandle(split: Split, structured: boolean, readSize = 64 * 1024) {
  const server = serveDisk({ data });
  const link = memoryLink(server.handler, split);
  const stats = { inPlace: 0, copied: 0 };
  const wrap = (open: TransportOpener): TransportOpener => (t, ev) => open(t, {
    open: () => ev.open(),
    close: (e) => ev.close(e),
    data: (piece: Uint8Array) => {
      for (let pos = 0; pos < piece.length;) {
        const offered = ev.into?.() ?? null;
        const dest = offered ?? new Uint8Array(readSize);
        const n = Math.min(dest.length, piece.length - pos, readSize * 64);
        dest.set(piece.subarray(pos, pos + n));
        if (offered) stats.inPlace += n;
        else stats.copied += n;
        ev.data(dest.subarray(0, n));
        pos += n;
      }
    },
  } satisfies TransportEvents);
  const transports: Transports = { tcp: wrap(link.transports.tcp!) };
  const h = new NbdHandle({ transports });
  h.setRequestStructuredReplies(structured);
  return { h, stats };
}

describe('reads into the destination', () => {
  for (const structured of [false, true]) {
    it(`recv-into-lands-right-${structured ? 'structured' : 'simple'}`, async () => {
      const { h, stats } = intoHandle('whole', structured);
      await h.connectUri('nbd://fake/');
      const bufs = [0, 1, 2].map(() => new Uint8Array(K));
      await Promise.all(bufs.map((b, i) => h.pread(b, i * K)));
      bufs.forEach((b, i) => same(b, data.subarray(i * K, (i + 1) * K)));
      // All but the start of each payload (read with its header) went straight to its buffer.
      expect(stats.inPlace).toBeGreaterThanOrEqual(3 * (K - 65536));
      h.close();
    });
  }

  it('recv-into-not-for-cancellable-commands', async () => {
    const { h, stats } = intoHandle('whole', true);
    await h.connectUri('nbd://fake/');
    const b = new Uint8Array(K);
    await h.pread(b, 4096, 0, { signal: new AbortController().signal });
    same(b, data.subarray(4096, 4096 + K));
    expect(stats.inPlace).toBe(0);
    h.close();
  });

  it('recv-into-any-split', async () => {
    for (const split of [4099, 65537, 'whole'] as const) {
      for (const readSize of [17, 4096]) {
        const { h } = intoHandle(split, true, readSize);
        await h.connectUri('nbd://fake/');
        const b = new Uint8Array(300_000);
        const c = new Uint8Array(5);
        await Promise.all([h.pread(b, 12345), h.pread(c, 7)]);
        same(b, data.subarray(12345, 12345 + b.length));
        same(c, data.subarray(7, 12));
        h.close();
      }
    }
  });
});
