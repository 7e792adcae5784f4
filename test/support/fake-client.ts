// The scripted server's own tests share these: servers and client sockets closed after each test
// (closeAll), and a hand-written client (FakeConn's exact reads on a client socket, messages built
// only from bytes.ts) for what libnbd 1.14 cannot send or check, such as extended headers.

import { expect } from 'vitest';

import * as B from './bytes.js';
import { type FakeConn, type FakeServerHandle, connectRaw } from './fake-conn.js';
import { type ServeDiskOptions, startDiskServer } from './fake-server.js';

/** Servers and clients the running test opened; closeAll() closes them. */
export const open: FakeServerHandle[] = [];
export const clients: FakeConn[] = [];

export async function closeAll(): Promise<void> {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of open.splice(0)) await s.close();
}

export async function disk(opts: ServeDiskOptions, unix = false): Promise<Awaited<ReturnType<typeof startDiskServer>>> {
  const s = await startDiskServer(opts, { unix });
  open.push(s);
  return s;
}

// The hand-written client.

export async function raw(target: FakeServerHandle): Promise<FakeConn> {
  const c = await connectRaw(target);
  clients.push(c);
  return c;
}

export async function readOptReply(c: FakeConn): Promise<B.OptReplyHeader & { payload: Uint8Array }> {
  const h = B.parseOptReplyHeader(await c.read(20));
  expect(h.magic).toBe(B.NBD_REP_MAGIC);
  return { ...h, payload: await c.read(h.length) };
}

/** Read option replies up to and including the first non-NBD_REP_INFO/META_CONTEXT/SERVER one. */
export async function readOptReplies(c: FakeConn): Promise<(B.OptReplyHeader & { payload: Uint8Array })[]> {
  const out = [];
  for (;;) {
    const r = await readOptReply(c);
    out.push(r);
    if (r.type !== B.NBD_REP_INFO && r.type !== B.NBD_REP_META_CONTEXT && r.type !== B.NBD_REP_SERVER) return out;
  }
}

/** Read one transmission reply header (by its magic) and the chunk payload that follows. */
export async function readReply(c: FakeConn): Promise<{ header: B.ReplyHeader; payload: Uint8Array }> {
  const magic = await c.read(4);
  const size = B.replyHeaderSize(B.reader(magic).u32());
  if (size === undefined) throw new Error(`bad reply magic ${B.hex(magic)}`);
  const header = B.parseReplyHeader(B.concat(magic, await c.read(size - 4)));
  const payload = header.kind === 'simple' ? new Uint8Array(0) : await c.read(Number(header.length));
  return { header, payload };
}

/** Fixed newstyle up to transmission, with extended headers and base:allocation. */
export async function extendedHandshake(c: FakeConn, exportName = ''): Promise<{ size: bigint; flags: number }> {
  const greeting = await c.read(18);
  expect(B.hex(greeting)).toBe(B.hex(B.newstyleGreeting(B.NBD_FLAG_FIXED_NEWSTYLE | B.NBD_FLAG_NO_ZEROES)));
  await c.write(B.clientFlags(B.NBD_FLAG_C_FIXED_NEWSTYLE | B.NBD_FLAG_C_NO_ZEROES));

  await c.write(B.option(B.NBD_OPT_EXTENDED_HEADERS));
  expect((await readOptReply(c)).type).toBe(B.NBD_REP_ACK);

  await c.write(B.option(B.NBD_OPT_SET_META_CONTEXT, B.metaContextRequest(exportName, ['base:allocation'])));
  const meta = await readOptReplies(c);
  expect(meta.map((r) => r.type)).toEqual([B.NBD_REP_META_CONTEXT, B.NBD_REP_ACK]);
  expect(B.hex(meta[0]!.payload)).toBe(B.hex(B.repMetaContext(1, 'base:allocation')));

  await c.write(B.option(B.NBD_OPT_GO, B.infoRequest(exportName, [B.NBD_INFO_BLOCK_SIZE])));
  const go = await readOptReplies(c);
  expect(go.at(-1)!.type).toBe(B.NBD_REP_ACK);
  const info = go.map((r) => B.reader(r.payload)).find((r) => r.remaining === 12 && r.u16() === B.NBD_INFO_EXPORT)!;
  const size = info.u64();
  const flags = info.u16();
  c.extendedHeaders = true;
  return { size, flags };
}
