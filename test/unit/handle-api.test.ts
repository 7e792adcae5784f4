// libnbd's contracts, checked against the reference fake server: exact 64-bit sizes, strict mode
// (a refused request sends nothing), the completion/free callback rules, extended headers,
// opt mode, soft disconnect on ESHUTDOWN. Protocol violations that kill the handle: hostile-*.test.ts.

import { describe, expect, it } from 'vitest';
import { NbdError, errno, getErrno, getError } from '../../web/core/errors.js';
import type { NbdHandle } from '../../web/core/handle.js';
import * as T from '../../web/core/types.js';
import * as B from '../support/bytes.js';
import { serveDisk, type ServeDiskOptions } from '../support/fake-server.js';
import { memoryHandle } from '../support/memory.js';

async function connect(opts: ServeDiskOptions, setup?: (h: NbdHandle) => void) {
  const server = serveDisk(opts);
  const { h } = memoryHandle(server.handler, 'whole');
  h.addMetaContext('base:allocation');
  setup?.(h);
  await h.connectUri('nbd://fake/');
  return { h, server, session: () => server.sessions[0]! };
}

describe('64-bit sizes and offsets', () => {
  it('reports an export of 2^53+1 bytes exactly and reads at its end', async () => {
    const size = 2n ** 53n + 1n;
    const { h, server } = await connect({ size });
    expect(h.getSize()).toBe(size);
    server.disk().write(size - 1n, Uint8Array.of(0xab));
    const b = new Uint8Array(2);
    await h.pread(b, size - 2n);
    expect([...b]).toEqual([0, 0xab]);
    await expect(h.pread(b, size - 1n)).rejects.toMatchObject({ code: 'EINVAL', message: 'nbd_pread: request out of bounds: Invalid argument' });
  });

  it('accepts 2^63-1 and refuses anything larger with EOVERFLOW', async () => {
    expect((await connect({ size: 2n ** 63n - 1n })).h.getSize()).toBe(2n ** 63n - 1n);
    for (const size of [2n ** 63n, 2n ** 64n - 1n]) {
      const err = await connect({ size }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NbdError);
      expect(err).toMatchObject({ code: 'EOVERFLOW', context: 'nbd_connect_uri' });
      expect((err as NbdError).message).toMatch(/larger than the maximum 2\^63-1/);
    }
  });

  it('refuses a too-large size in oldstyle and EXPORT_NAME handshakes too', async () => {
    for (const opts of [{ handshake: 'oldstyle' as const }, { unsupported: [B.NBD_OPT_GO, B.NBD_OPT_EXTENDED_HEADERS] }]) {
      await expect(connect({ size: 2n ** 63n + 5n, ...opts })).rejects.toMatchObject({ code: 'EOVERFLOW' });
    }
  });

  it('rejects offsets that are not unsigned 64-bit integers', async () => {
    const { h } = await connect({ size: 4096 });
    await expect(h.pread(new Uint8Array(1), -1)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(h.pread(new Uint8Array(1), 1.5)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(h.pread(new Uint8Array(1), 2n ** 64n)).rejects.toMatchObject({ code: 'EINVAL' });
  });
});

describe('strict mode: a refused request sends nothing and fails with libnbd\'s errno', () => {
  const cases: [string, ServeDiskOptions, (h: NbdHandle) => Promise<unknown>, string, string][] = [
    ['write to a read-only export', { size: 4096, readOnly: true }, (h) => h.pwrite(new Uint8Array(512), 0), 'EPERM', 'nbd_pwrite: server does not support write operations: Operation not permitted'],
    ['out of bounds', { size: 4096 }, (h) => h.pread(new Uint8Array(512), 3900), 'EINVAL', 'nbd_pread: request out of bounds: Invalid argument'],
    ['zero size', { size: 4096 }, (h) => h.trim(0, 0), 'EINVAL', 'nbd_trim: count cannot be 0: Invalid argument'],
    ['unaligned', { size: 65536, blockSize: { minimum: 4096, preferred: 4096, maximum: 65536 } }, (h) => h.pread(new Uint8Array(512), 0), 'EINVAL', 'nbd_pread: request is unaligned: Invalid argument'],
    ['payload above the maximum block size', { size: 1 << 20, blockSize: { minimum: 1, preferred: 4096, maximum: 65536 } }, (h) => h.pread(new Uint8Array(65537), 0), 'ERANGE', 'nbd_pread: request too large: maximum request size is 65536: Numerical result out of range'],
    ['unknown flag', { size: 4096 }, (h) => h.pread(new Uint8Array(512), 0, 0x40), 'EINVAL', 'nbd_pread: flags: invalid value for flag: 0x40: Invalid argument'],
    ['FUA on a read', { size: 4096 }, (h) => h.pread(new Uint8Array(512), 0, T.CMD_FLAG_FUA), 'EINVAL', 'nbd_pread: flags: invalid value for flag: 0x1: Invalid argument'],
    ['block status without meta contexts', { size: 4096, baseAllocation: false }, (h) => h.blockStatus(512, 0, () => 0), 'ENOTSUP', 'nbd_block_status: did not negotiate any metadata contexts, either you did not call nbd_add_meta_context before connecting or the server does not support it: Operation not supported'],
  ];
  it.each(cases)('%s', async (_name, opts, act, code, message) => {
    const { h, session } = await connect(opts);
    const before = session().requests.length;
    const err = await act(h).catch((e: unknown) => e);
    expect(err).toMatchObject({ code, message });
    expect(getError()).toBe(message);
    expect(getErrno()).toBe((err as NbdError).errno);
    await new Promise((r) => setTimeout(r, 10));
    expect(session().requests.length).toBe(before);
    expect(h.aioIsReady()).toBe(true);
  });

  it('with strict mode off the request reaches the server, which refuses it', async () => {
    const { h, session } = await connect({ size: 4096 });
    h.setStrictMode(0);
    await expect(h.pread(new Uint8Array(512), 3900)).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^nbd_pread: read: command failed/) });
    expect(session().requests.length).toBe(1);
  });
});

describe('callbacks keep libnbd\'s contract', () => {
  it('returning 1 retires; otherwise aioCommandCompleted retires; free runs exactly once', async () => {
    const { h } = await connect({ size: 65536 });
    const frees: number[] = [];
    const c1 = h.aioPread(new Uint8Array(512), 0, { callback: () => 1, free: () => frees.push(1) });
    const c2 = h.aioPread(new Uint8Array(512), 512, { callback: () => 0, free: () => frees.push(2) });
    expect(c1).toBeGreaterThanOrEqual(1);
    expect(c2).not.toBe(c1);
    while (h.aioInFlight() > 0) await h.poll();
    expect(frees).toEqual([1]);
    expect(h.aioPeekCommandCompleted()).toBe(c2);
    expect(h.aioCommandCompleted(c2)).toBe(true);
    expect(frees).toEqual([1, 2]);
    expect(() => h.aioCommandCompleted(c1)).toThrow(/invalid cookie/);
    expect(() => h.aioPeekCommandCompleted()).toThrow(/no commands are in flight/);
  });

  it('runs the free hook when the aio call itself fails', async () => {
    const { h } = await connect({ size: 4096 });
    let freed = 0;
    expect(() => h.aioPread(new Uint8Array(512), 4000, { callback: () => 1, free: () => void freed++ })).toThrow(/out of bounds/);
    expect(freed).toBe(1);
  });

  it('a completion returning -1 with error set fails the command with that error', async () => {
    const { h } = await connect({ size: 4096 });
    const c = h.aioPread(new Uint8Array(512), 0, (err) => { err.value = 28; return -1; });
    while (h.aioInFlight() > 0) await h.poll();
    expect(() => h.aioCommandCompleted(c)).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
  });

  it('a throwing callback does not escape into the I/O loop; the command fails', async () => {
    const { h } = await connect({ size: 4096 });
    await expect(h.preadStructured(new Uint8Array(512), 0, () => { throw new Error('boom'); })).rejects.toMatchObject({ code: 'EINVAL' });
    expect(h.aioIsReady()).toBe(true);
  });

  it('close() abandons commands in flight: free hooks run once, waiters settle', async () => {
    const { h } = await connect({ size: 4096, hooks: { delayReply: () => 1000 } });
    let freed = 0;
    h.aioPread(new Uint8Array(512), 0, { callback: () => 1, free: () => void freed++ });
    const p = h.pread(new Uint8Array(512), 512);
    h.close();
    await expect(p).rejects.toMatchObject({ code: 'ENOTCONN' });
    expect(freed).toBe(1);
    expect(h.aioIsClosed()).toBe(true);
  });

  it('preadStructured reports each chunk with its absolute offset', async () => {
    const data = Uint8Array.from({ length: 4096 }, (_, i) => i & 0xff);
    const { h } = await connect({ data, size: 8192, readChunks: { size: 1000, holes: true } });
    const seen: string[] = [];
    const buf = new Uint8Array(5000);
    await h.preadStructured(buf, 1000, (sub, off, status) => void seen.push(`${off}+${sub.length}:${status}`));
    expect(seen.join(' ')).toBe('1000+1000:1 2000+1000:1 3000+1000:1 4000+96:1 4096+1000:2 5096+904:2');
    expect([...buf.subarray(0, 4)]).toEqual([1000 & 0xff, 1001 & 0xff, 1002 & 0xff, 1003 & 0xff]);
  });
});

describe('extended headers', () => {
  it('negotiates them and carries 64-bit lengths and extents', async () => {
    const size = 2n ** 40n;
    const { h, session } = await connect({ size });
    expect(h.getExtendedHeadersNegotiated()).toBe(true);
    expect(session().extended).toBe(true);
    await h.zero(2n ** 33n, 0); // more than 32 bits: only possible with extended headers
    const ext: bigint[] = [];
    await h.blockStatus64(size, 0, (_ctx, _off, entries) => void entries.forEach((e) => ext.push(e.length, e.flags)));
    expect(ext[0]).toBeGreaterThan(2n ** 32n);
    const ext32: number[] = [];
    await h.blockStatus(size, 0, (_ctx, _off, entries) => void ext32.push(...entries));
    expect(ext32[0]).toBeLessThanOrEqual(0xffffffff);
  });

  it('without them, a count above 32 bits is refused on the client', async () => {
    const { h } = await connect({ size: 2n ** 40n }, (x) => x.setRequestExtendedHeaders(false));
    expect(h.getExtendedHeadersNegotiated()).toBe(false);
    await expect(h.zero(2n ** 33n, 0)).rejects.toMatchObject({ code: 'ERANGE' });
  });
});

describe('opt mode', () => {
  it('lists, fails an unknown export without leaving negotiation, then goes', async () => {
    const { h } = await connect({ exports: [{ name: 'a', size: 512 }, { name: 'b', description: 'bee', size: 1024 }] }, (x) => x.setOptMode(true));
    expect(h.aioIsNegotiating()).toBe(true);
    const names: string[] = [];
    expect(await h.optList((n, d) => void names.push(`${n}=${d}`))).toBe(2);
    expect(names).toEqual(['a=', 'b=bee']);
    h.setExportName('nope');
    await expect(h.optGo()).rejects.toMatchObject({ code: 'ENOENT', message: expect.stringMatching(/^nbd_opt_go: server replied with error to opt_go request/) });
    expect(h.aioIsNegotiating()).toBe(true);
    h.setExportName('b');
    h.setFullInfo(true);
    await h.optGo();
    expect(h.getSize()).toBe(1024n);
    expect(h.getExportDescription()).toBe('bee');
    expect(h.aioIsReady()).toBe(true);
  });

  it('optAbort closes softly', async () => {
    const { h, session } = await connect({ size: 512 }, (x) => x.setOptMode(true));
    await h.optAbort();
    expect(h.aioIsClosed()).toBe(true);
    expect(session().options.at(-1)?.option).toBe(B.NBD_OPT_ABORT);
  });

  it('setTls refuses clearly', async () => {
    const { h } = memoryHandle(serveDisk({ size: 512 }).handler, 'whole');
    expect(() => h.setTls(T.TLS_REQUIRE)).toThrow(/nbd_set_tls: TLS is not supported here: in a browser, TLS is wss:\/\/ to the bridge/);
  });
});

describe('the server shutting down', () => {
  it('ESHUTDOWN on a command makes the client disconnect softly', async () => {
    const { h, session } = await connect({
      size: 4096,
      hooks: { onReply: (req) => (req.type === B.NBD_CMD_READ ? [{ kind: 'chunk', flags: B.NBD_REPLY_FLAG_DONE, type: B.NBD_REPLY_TYPE_ERROR, payload: B.errorChunkPayload(108, 'going away') }] : undefined) },
    });
    await expect(h.pread(new Uint8Array(512), 0)).rejects.toMatchObject({ code: 'ESHUTDOWN' });
    while (!h.aioIsClosed() && !h.aioIsDead()) await h.poll(100);
    expect(h.aioIsClosed()).toBe(true);
    expect(session().requests.at(-1)?.type).toBe(B.NBD_CMD_DISC);
  });
});

describe('beyond libnbd: cancelling and timing out commands', () => {
  it('an AbortSignal ends a read at once; the late reply is dropped and never written', async () => {
    const { h } = await connect({ size: 65536, data: new Uint8Array(65536).fill(7), hooks: { delayReply: (req) => (req.offset === 0n ? 300 : 0) } });
    const ac = new AbortController();
    const buf = new Uint8Array(4096).fill(0xee);
    const p = h.pread(buf, 0, 0, { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'ECANCELED', message: 'nbd_pread: read: command failed: Operation canceled' });
    buf.fill(0xee);
    // The handle stays usable, and the cancelled command's reply does not land in `buf`.
    const other = new Uint8Array(16);
    await h.pread(other, 4096);
    expect(other.every((b) => b === 7)).toBe(true);
    await new Promise((r) => setTimeout(r, 400));
    expect(buf.every((b) => b === 0xee)).toBe(true);
    expect(h.aioIsReady()).toBe(true);
    await h.pread(other, 8192);
  });

  it('a timeout ends a slow command with ETIMEDOUT', async () => {
    const { h } = await connect({ size: 65536, hooks: { delayReply: () => 500 } });
    const t0 = Date.now();
    await expect(h.pread(new Uint8Array(512), 0, 0, { timeout: 50 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(Date.now() - t0).toBeLessThan(400);
    await h.pread(new Uint8Array(512), 0, 0, { timeout: 5000 });
  });

  it('an already aborted signal refuses the command before anything is sent', async () => {
    const { h, session } = await connect({ size: 4096 });
    let freed = 0;
    expect(() => h.aioPread(new Uint8Array(1), 0, { callback: () => 1, free: () => void freed++ }, 0, { signal: AbortSignal.abort() })).toThrow(/ECANCELED|cancelled/);
    expect(freed).toBe(1);
    expect(session().requests.length).toBe(0);
  });
});

describe('nbd_can_block_status_payload (libnbd 1.18): NBD_FLAG_BLOCK_STAT_PAYLOAD, only with extended headers', () => {
  it('is-true-when-the-server-advertises-it-after-extended-headers', async () => {
    const { h } = await connect({ size: 4096 });
    expect(h.getExtendedHeadersNegotiated()).toBe(true);
    expect(h.canBlockStatusPayload()).toBe(true);
  });

  it('is-false-when-the-server-does-not-advertise-it', async () => {
    const { h } = await connect({ size: 4096, flags: B.NBD_FLAG_HAS_FLAGS | B.NBD_FLAG_SEND_FLUSH });
    expect(h.getExtendedHeadersNegotiated()).toBe(true);
    expect(h.canBlockStatusPayload()).toBe(false);
  });

  it('is-never-true-without-extended-headers-even-if-advertised', async () => {
    const { h } = await connect({ size: 4096, flags: B.NBD_FLAG_HAS_FLAGS | B.NBD_FLAG_BLOCK_STAT_PAYLOAD }, (x) => x.setRequestExtendedHeaders(false));
    expect(h.getStructuredRepliesNegotiated()).toBe(true);
    expect(h.getExtendedHeadersNegotiated()).toBe(false);
    expect(h.canBlockStatusPayload()).toBe(false);
  });

  it('is-refused-before-the-server-said-anything', () => {
    const { h } = memoryHandle(serveDisk({ size: 4096 }).handler, 'whole');
    expect(() => h.canBlockStatusPayload()).toThrow(/^nbd_can_block_status_payload: invalid state: START: the handle must be negotiating, or connected with the server, or shut down/);
    expect(getErrno()).toBe(errno.ENOTCONN);
  });
});
