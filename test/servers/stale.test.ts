// Stale data, in Node: with pread_initialize (the default) a read that fails never leaves what the
// buffer held before, whether the server failed it (nbdkit's error filter), the handle refused it
// (dead handle, out of bounds: libnbd zeroes "prior to checking for any other errors"), or the
// server sent part of the data and then an error (the fake server: the only way to get that).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { create } from '../../web/node/index.js';
import * as B from '../support/bytes.js';
import { serveDisk } from '../support/fake-server.js';
import { memoryHandle } from '../support/memory.js';
import { startNbdkit, type NbdServer } from '../support/servers.js';

const OLD = 0xa5;
const zeros = (b: Uint8Array) => b.every((x) => x === 0);
const old = (b: Uint8Array) => b.every((x) => x === OLD);

/** nbdkit's pattern plugin: each 8-byte big-endian word holds its own offset. */
const isPattern = (b: Uint8Array, offset: number) => {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < b.length; i += 8) if (v.getBigUint64(i) !== BigInt(offset + i)) return false;
  return true;
};

describe('reads that nbdkit fails (error filter, switched on by a file)', () => {
  const inject = join(mkdtempSync(join(tmpdir(), 'webnbd-stale-')), 'inject');
  let nbd: NbdServer;
  beforeAll(async () => {
    nbd = await startNbdkit(['--filter=error', 'pattern', '1M', 'error-pread-rate=100%', `error-pread-file=${inject}`]);
  });
  const failing = async <T>(fn: () => Promise<T>): Promise<T> => {
    writeFileSync(inject, '');
    try {
      return await fn();
    } finally {
      rmSync(inject, { force: true });
    }
  };

  it('failed-read-shows-zeros-not-the-old-bytes', async () => {
    const h = create();
    await h.connectUri(nbd.uri);
    const buf = new Uint8Array(65536).fill(OLD);
    await failing(() => expect(h.pread(buf, 4096)).rejects.toMatchObject({ code: 'EIO' }));
    expect(zeros(buf)).toBe(true);
  });

  it('reused-buffer-after-a-good-read-shows-zeros-not-the-previous-data', async () => {
    const h = create();
    await h.connectUri(nbd.uri);
    const buf = new Uint8Array(65536);
    await h.pread(buf, 65536);
    expect(isPattern(buf, 65536)).toBe(true);
    let err = -1;
    await failing(async () => {
      h.aioPread(buf, 131072, (e) => { err = e.value; return 1; });
      while (h.aioInFlight() > 0) await h.poll();
    });
    expect(err).toBe(5); // EIO
    expect(zeros(buf)).toBe(true);
  });

  it('control: with pread_initialize off, the old bytes stay (so the tests above can fail)', async () => {
    const h = create();
    h.setPreadInitialize(false);
    await h.connectUri(nbd.uri);
    const buf = new Uint8Array(4096).fill(OLD);
    await failing(() => expect(h.pread(buf, 0)).rejects.toMatchObject({ code: 'EIO' }));
    expect(old(buf)).toBe(true);
  });
});

describe('reads the handle refuses are zeroed first, as libnbd does', () => {
  it('refused-reads-zero-the-buffer-dead-closed-out-of-bounds', async () => {
    const nbd = await startNbdkit(['pattern', '1M']);
    const h = create();
    const buf = new Uint8Array(4096);
    // Not connected yet.
    buf.fill(OLD);
    await expect(h.pread(buf, 0)).rejects.toMatchObject({ code: 'ENOTCONN' });
    expect(zeros(buf)).toBe(true);
    await h.connectUri(nbd.uri);
    // Out of bounds (strict mode refuses it without sending anything).
    buf.fill(OLD);
    expect(() => h.aioPread(buf, 1048576 - 100)).toThrow(/out of bounds/);
    expect(zeros(buf)).toBe(true);
    // Dead.
    await nbd.stop();
    while (!h.aioIsDead()) await h.poll(100).catch(() => 0);
    buf.fill(OLD);
    await expect(h.pread(buf, 0)).rejects.toMatchObject({ message: /invalid state: DEAD/ });
    expect(zeros(buf)).toBe(true);
    buf.fill(OLD);
    expect(() => h.aioPreadStructured(buf, 0, () => 0)).toThrow(/invalid state: DEAD/);
    expect(zeros(buf)).toBe(true);
  });
});

describe('partial data, then an error (fake server)', () => {
  it('partial-data-is-never-reported-as-success', async () => {
    const server = serveDisk({
      size: 65536,
      data: new Uint8Array(65536).fill(0x77),
      hooks: {
        onReply: (req) => req.type === B.NBD_CMD_READ ? [
          { kind: 'chunk', flags: 0, type: B.NBD_REPLY_TYPE_OFFSET_DATA, payload: B.offsetData(req.offset, new Uint8Array(Number(req.length) / 2).fill(0x77)) },
          { kind: 'chunk', flags: B.NBD_REPLY_FLAG_DONE, type: B.NBD_REPLY_TYPE_ERROR, payload: B.errorChunkPayload(5, 'disk fell off') },
        ] : undefined,
      },
    });
    const { h } = memoryHandle(server.handler, 'whole');
    await h.connectUri('nbd://fake/');
    const buf = new Uint8Array(4096).fill(OLD);
    await expect(h.pread(buf, 0)).rejects.toMatchObject({ code: 'EIO', message: /disk fell off/ });
    // The half the server sent may be there; the other half is zeros, never the old bytes.
    expect(buf.subarray(0, 2048).every((x) => x === 0x77)).toBe(true);
    expect(zeros(buf.subarray(2048))).toBe(true);
    expect(h.aioIsReady()).toBe(true);
  });
});
