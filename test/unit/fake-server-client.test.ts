// Tests of the scripted server (serveDisk) on the paths libnbd 1.14 cannot speak or check: option
// errors, meta contexts and extended headers, driven by a hand-written client built only from
// test/support/bytes.ts (its tests against libnbd's own tools are test/tools/fake-server.test.ts).

import { afterEach, describe, expect, test } from 'vitest';

import * as B from '../support/bytes.js';
import { random } from '../support/data.js';
import type { FakeConn, FakeServerHandle } from '../support/fake-conn.js';
import { closeAll, disk, extendedHandshake, raw, readOptReply, readOptReplies, readReply } from '../support/fake-client.js';

afterEach(closeAll);

const MiB = 1 << 20;

describe('serveDisk option handling, with a hand-written client', () => {
  async function fixedNewstyle(s: FakeServerHandle): Promise<FakeConn> {
    const c = await raw(s);
    await c.read(18);
    await c.write(B.clientFlags(B.NBD_FLAG_C_FIXED_NEWSTYLE));
    return c;
  }
  const ask = async (c: FakeConn, opt: number, data?: Uint8Array) => {
    await c.write(B.option(opt, data));
    return readOptReplies(c);
  };

  test('option-errors-follow-proto-md', async () => {
    const s = await disk({
      exports: [
        {
          name: 'strict',
          size: MiB,
          blockSize: { minimum: 512, preferred: 4096, maximum: MiB },
          requireBlockSize: true,
        },
      ],
    });
    const c = await fixedNewstyle(s);
    const types = async (opt: number, data?: Uint8Array) => (await ask(c, opt, data)).map((r) => r.type);

    expect(await types(B.NBD_OPT_LIST, Uint8Array.of(0))).toEqual([B.NBD_REP_ERR_INVALID]);
    expect(await types(B.NBD_OPT_STARTTLS)).toEqual([B.NBD_REP_ERR_POLICY]);
    expect(await types(99)).toEqual([B.NBD_REP_ERR_UNSUP]);
    // SET_META_CONTEXT MUST NOT come before structured replies.
    expect(await types(B.NBD_OPT_SET_META_CONTEXT, B.metaContextRequest('strict', ['base:allocation']))).toEqual([
      B.NBD_REP_ERR_INVALID,
    ]);
    expect(await types(B.NBD_OPT_INFO, B.infoRequest('nope'))).toEqual([B.NBD_REP_ERR_UNKNOWN]);
    // The length of the name MUST be no larger than the option data length - 6.
    expect(await types(B.NBD_OPT_INFO, B.bytes().u32(100).build())).toEqual([B.NBD_REP_ERR_INVALID]);
    // Non-default block sizes, not requested: the sizes are sent, then the error.
    const refused = await ask(c, B.NBD_OPT_GO, B.infoRequest('strict'));
    expect(refused.map((r) => r.type)).toEqual([B.NBD_REP_INFO, B.NBD_REP_INFO, B.NBD_REP_ERR_BLOCK_SIZE_REQD]);
    expect(B.hex(refused[0]!.payload)).toBe(B.hex(B.infoBlockSize(512, 4096, MiB)));

    expect(await types(B.NBD_OPT_STRUCTURED_REPLY)).toEqual([B.NBD_REP_ACK]);
    expect(await types(B.NBD_OPT_STRUCTURED_REPLY)).toEqual([B.NBD_REP_ERR_INVALID]);
    // LIST_META_CONTEXT: ids are 0, "base:" is a wildcard; SET ignores it.
    const listed = await ask(c, B.NBD_OPT_LIST_META_CONTEXT, B.metaContextRequest('strict', ['base:']));
    expect(listed.map((r) => B.hex(r.payload))).toEqual([B.hex(B.repMetaContext(0, 'base:allocation')), '']);
    expect(await types(B.NBD_OPT_SET_META_CONTEXT, B.metaContextRequest('strict', ['base:', 'x-none:y']))).toEqual([
      B.NBD_REP_ACK,
    ]);

    expect(await types(B.NBD_OPT_ABORT)).toEqual([B.NBD_REP_ACK]);
    await c.closed;
    expect(s.errors).toEqual([]);
  });

  test('meta-contexts-reset-when-go-names-another-export', async () => {
    const s = await disk({ exports: [{ name: 'a', size: MiB }, { name: 'b', size: MiB }] });
    const c = await fixedNewstyle(s);
    await ask(c, B.NBD_OPT_STRUCTURED_REPLY);
    expect((await ask(c, B.NBD_OPT_SET_META_CONTEXT, B.metaContextRequest('a', ['base:allocation']))).length).toBe(2);
    const go = await ask(c, B.NBD_OPT_GO, B.infoRequest('b'));
    expect(go.at(-1)!.type).toBe(B.NBD_REP_ACK);
    await c.write(B.request(0, B.NBD_CMD_BLOCK_STATUS, 42, 0, 4096));
    const r = await readReply(c);
    expect(r.header).toMatchObject({ kind: 'structured', type: B.NBD_REPLY_TYPE_ERROR, cookie: 42n });
    expect(B.reader(r.payload).u32()).toBe(B.NBD_EINVAL);
    // Successful non-READ replies are simple in structured mode (as qemu).
    await c.write(B.request(0, B.NBD_CMD_FLUSH, 43, 0, 0));
    const flush = await readReply(c);
    expect(flush.header).toEqual({ magic: B.NBD_SIMPLE_REPLY_MAGIC, kind: 'simple', error: 0, cookie: 43n });
  });
});

describe('extended headers, with a hand-written client', () => {
  test('negotiates-extended-headers-and-replies-with-32-byte-headers', async () => {
    const s = await disk({ size: 1n << 40n });
    const c = await raw(s);
    const { size, flags } = await extendedHandshake(c);
    expect(size).toBe(1n << 40n);
    expect(flags & B.NBD_FLAG_BLOCK_STAT_PAYLOAD).toBeTruthy();
    expect(flags & B.NBD_FLAG_SEND_DF).toBeTruthy();

    // WRITE carries NBD_CMD_FLAG_PAYLOAD_LEN; success is a NONE chunk (no simple replies).
    const at = (1n << 39n) + 4096n;
    const data = random(4096, 11);
    await c.write(B.extendedRequest(B.NBD_CMD_FLAG_PAYLOAD_LEN, B.NBD_CMD_WRITE, 1, at, data.length, data));
    const w = await readReply(c);
    expect(w.header).toEqual({
      magic: B.NBD_EXTENDED_REPLY_MAGIC, kind: 'extended', flags: B.NBD_REPLY_FLAG_DONE,
      type: B.NBD_REPLY_TYPE_NONE, cookie: 1n, offset: at, length: 0n,
    });

    // READ: the header's offset echoes the request; OFFSET_DATA holds the bytes.
    await c.write(B.extendedRequest(0, B.NBD_CMD_READ, 2, at, 4096));
    const r = await readReply(c);
    expect(r.header).toMatchObject({ kind: 'extended', type: B.NBD_REPLY_TYPE_OFFSET_DATA, cookie: 2n, offset: at });
    expect(r.header).toMatchObject({ flags: B.NBD_REPLY_FLAG_DONE, length: 8n + 4096n });
    expect(B.hex(r.payload)).toBe(B.hex(B.offsetData(at, data)));

    // BLOCK_STATUS over more than 2^32 bytes: one 64-bit extent per run, _EXT form.
    await c.write(B.extendedRequest(0, B.NBD_CMD_BLOCK_STATUS, 3, 0, 1n << 40n));
    const bs = await readReply(c);
    expect(bs.header).toMatchObject({ type: B.NBD_REPLY_TYPE_BLOCK_STATUS_EXT, flags: 1, cookie: 3n, offset: 0n });
    expect(B.hex(bs.payload)).toBe(
      B.hex(B.blockStatusExt(1, [[at, 3], [4096, 0], [(1n << 40n) - at - 4096n, 3]])),
    );

    // Errors are chunks too.
    await c.write(B.extendedRequest(0, B.NBD_CMD_READ, 4, 1n << 40n, 512));
    const e = await readReply(c);
    expect(e.header).toMatchObject({ type: B.NBD_REPLY_TYPE_ERROR, flags: 1, cookie: 4n, offset: 1n << 40n });
    expect(B.reader(e.payload).u32()).toBe(B.NBD_EINVAL);

    await c.write(B.extendedRequest(0, B.NBD_CMD_DISC, 5, 0, 0));
    await c.closed;
    expect(s.connections[0]!.violations).toEqual([]);
    expect(s.errors).toEqual([]);
  });

  test('block-status-payload-selects-contexts-and-effect-length', async () => {
    const s = await disk({ size: MiB, contexts: [{ name: 'x-webnbd:all-one', extents: (_o, len) => [[len, 1]] }] });
    const c = await raw(s);
    await c.read(18);
    await c.write(B.clientFlags(B.NBD_FLAG_C_FIXED_NEWSTYLE));
    await c.write(B.option(B.NBD_OPT_EXTENDED_HEADERS));
    await readOptReply(c);
    const queries = ['base:allocation', 'x-webnbd:all-one'];
    await c.write(B.option(B.NBD_OPT_SET_META_CONTEXT, B.metaContextRequest('', queries)));
    expect((await readOptReplies(c)).map((r) => B.hex(r.payload))).toEqual([
      B.hex(B.repMetaContext(1, 'base:allocation')),
      B.hex(B.repMetaContext(2, 'x-webnbd:all-one')),
      '',
    ]);
    await c.write(B.option(B.NBD_OPT_GO, B.infoRequest('')));
    await readOptReplies(c);
    c.extendedHeaders = true;

    // Only context 2, for an effect length of 8192.
    const payload = B.blockStatusPayload(8192, [2]);
    const flag = B.NBD_CMD_FLAG_PAYLOAD_LEN;
    await c.write(B.extendedRequest(flag, B.NBD_CMD_BLOCK_STATUS, 7, 4096, payload.length, payload));
    const r = await readReply(c);
    expect(r.header).toMatchObject({ type: B.NBD_REPLY_TYPE_BLOCK_STATUS_EXT, flags: 1, cookie: 7n, offset: 4096n });
    expect(B.hex(r.payload)).toBe(B.hex(B.blockStatusExt(2, [[8192, 1]])));

    // A context id that was never negotiated is NBD_EINVAL.
    const bad = B.blockStatusPayload(8192, [9]);
    await c.write(B.extendedRequest(flag, B.NBD_CMD_BLOCK_STATUS, 8, 0, bad.length, bad));
    const e = await readReply(c);
    expect(e.header).toMatchObject({ type: B.NBD_REPLY_TYPE_ERROR, cookie: 8n });
    expect(B.reader(e.payload).u32()).toBe(B.NBD_EINVAL);
  });

  test('structured-reply-after-extended-headers-is-ext-header-reqd', async () => {
    const s = await disk({ size: MiB });
    const c = await raw(s);
    await c.read(18);
    await c.write(B.clientFlags(B.NBD_FLAG_C_FIXED_NEWSTYLE));
    await c.write(B.option(B.NBD_OPT_EXTENDED_HEADERS));
    expect((await readOptReply(c)).type).toBe(B.NBD_REP_ACK);
    await c.write(B.option(B.NBD_OPT_STRUCTURED_REPLY));
    expect((await readOptReply(c)).type).toBe(B.NBD_REP_ERR_EXT_HEADER_REQD);
    await c.write(B.option(B.NBD_OPT_EXTENDED_HEADERS));
    expect((await readOptReply(c)).type).toBe(B.NBD_REP_ERR_INVALID);
  });

  test('export-name-after-extended-headers-hangs-up', async () => {
    const s = await disk({ size: MiB });
    const c = await raw(s);
    await c.read(18);
    await c.write(B.clientFlags(B.NBD_FLAG_C_FIXED_NEWSTYLE));
    await c.write(B.option(B.NBD_OPT_EXTENDED_HEADERS));
    await readOptReply(c);
    await c.write(B.option(B.NBD_OPT_EXPORT_NAME));
    await expect(c.read(1)).rejects.toThrow(/closed/);
    expect(s.connections[0]!.violations).toEqual(['NBD_OPT_EXPORT_NAME after extended headers were negotiated']);
  });

  test('compact-request-after-extended-headers-hangs-up', async () => {
    const s = await disk({ size: MiB });
    const c = await raw(s);
    await extendedHandshake(c);
    await c.write(B.concat(B.request(0, B.NBD_CMD_READ, 1, 0, 512), new Uint8Array(4)));
    await expect(c.read(1)).rejects.toThrow(/closed/);
    expect(s.connections[0]!.violations[0]).toMatch(/bad request magic 0x25609513/);
  });

  test('delayed-reply-is-overtaken-by-a-later-one', async () => {
    const s = await disk({ size: MiB, hooks: { delayReply: (req) => (req.cookie === 1n ? 200 : 0) } });
    const c = await raw(s);
    await extendedHandshake(c);
    await c.write(B.extendedRequest(0, B.NBD_CMD_READ, 1, 0, 512));
    await c.write(B.extendedRequest(0, B.NBD_CMD_READ, 2, 512, 512));
    const first = await readReply(c);
    const second = await readReply(c);
    expect([first.header.cookie, second.header.cookie]).toEqual([2n, 1n]);
    expect(second.header).toMatchObject({ type: B.NBD_REPLY_TYPE_OFFSET_HOLE, offset: 0n });
    expect(B.hex(second.payload)).toBe(B.hex(B.offsetHole(0, 512)));
  });
});
