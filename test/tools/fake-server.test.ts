// Tests of the test harness itself: the byte builder against layouts written out from
// proto.md, the reference server (serveDisk) against libnbd's own tools (nbdinfo, nbdcopy),
// and the extended-header paths, which libnbd 1.14 cannot speak, with a hand-written client
// built only from test/support/bytes.ts.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, test } from 'vitest';

import * as B from '../support/bytes.js';
import { random } from '../support/data.js';
import {
  type FakeConn,
  type FakeServerHandle,
  type ServeDiskOptions,
  FakeServer,
  SparseDisk,
  connectRaw,
  startDiskServer,
} from '../support/fake-server.js';

// ---------------------------------------------------------------------------------------
// Helpers.

const open: FakeServerHandle[] = [];
const clients: FakeConn[] = [];
const tempDirs: string[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of open.splice(0)) await s.close();
  for (const d of tempDirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function disk(opts: ServeDiskOptions, unix = false): Promise<Awaited<ReturnType<typeof startDiskServer>>> {
  const s = await startDiskServer(opts, { unix });
  open.push(s);
  return s;
}

interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Run a libnbd tool; never throws on a nonzero exit (tests assert on `code`). */
function run(cmd: string, args: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'buffer', timeout: 30_000, maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr: stderr.toString() });
    });
  });
}

async function ok(cmd: string, args: string[]): Promise<Buffer> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

async function nbdinfoJson(args: string[]): Promise<any> {
  return JSON.parse((await ok('nbdinfo', ['--json', ...args])).toString());
}

async function tempFile(data: Uint8Array): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'webnbd-test-'));
  tempDirs.push(dir);
  const path = join(dir, 'data');
  await writeFile(path, data);
  return path;
}

const MiB = 1 << 20;

// The hand-written client: FakeConn's exact reads on a client socket, messages from bytes.ts.

async function raw(target: FakeServerHandle): Promise<FakeConn> {
  const c = await connectRaw(target);
  clients.push(c);
  return c;
}

async function readOptReply(c: FakeConn): Promise<B.OptReplyHeader & { payload: Uint8Array }> {
  const h = B.parseOptReplyHeader(await c.read(20));
  expect(h.magic).toBe(B.NBD_REP_MAGIC);
  return { ...h, payload: await c.read(h.length) };
}

/** Read option replies up to and including the first non-NBD_REP_INFO/META_CONTEXT/SERVER one. */
async function readOptReplies(c: FakeConn): Promise<(B.OptReplyHeader & { payload: Uint8Array })[]> {
  const out = [];
  for (;;) {
    const r = await readOptReply(c);
    out.push(r);
    if (r.type !== B.NBD_REP_INFO && r.type !== B.NBD_REP_META_CONTEXT && r.type !== B.NBD_REP_SERVER) return out;
  }
}

/** Read one transmission reply header (by its magic) and the chunk payload that follows. */
async function readReply(c: FakeConn): Promise<{ header: B.ReplyHeader; payload: Uint8Array }> {
  const magic = await c.read(4);
  const size = B.replyHeaderSize(B.reader(magic).u32());
  if (size === undefined) throw new Error(`bad reply magic ${B.hex(magic)}`);
  const header = B.parseReplyHeader(B.concat(magic, await c.read(size - 4)));
  const payload = header.kind === 'simple' ? new Uint8Array(0) : await c.read(Number(header.length));
  return { header, payload };
}

/** Fixed newstyle up to transmission, with extended headers and base:allocation. */
async function extendedHandshake(c: FakeConn, exportName = ''): Promise<{ size: bigint; flags: number }> {
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

// ---------------------------------------------------------------------------------------

describe('bytes: the independent builder', () => {
  test('builder-writes-big-endian-and-range-checks', () => {
    const b = B.bytes().u8(1).u16(0x0203).u32(0x04050607).u64(0x08090a0b0c0d0e0fn).str('é').zeros(2).build();
    expect(B.hex(b)).toBe('01' + '0203' + '04050607' + '08090a0b0c0d0e0f' + 'c3a9' + '0000');
    expect(B.hex(B.bytes().u64((1n << 64n) - 1n).build())).toBe('ffffffffffffffff');
    expect(B.hex(B.bytes().u64(2 ** 53 - 1).build())).toBe('001fffffffffffff');
    expect(() => B.bytes().u64(2 ** 53)).toThrow(RangeError); // not a safe integer: use a bigint
    expect(() => B.bytes().u64(1n << 64n)).toThrow(RangeError);
    expect(() => B.bytes().u64(-1)).toThrow(RangeError);
    expect(() => B.bytes().u32(2 ** 32)).toThrow(RangeError);
    expect(() => B.bytes().u16(-1)).toThrow(RangeError);
    expect(() => B.bytes().u8(1.5)).toThrow(RangeError);
  });

  test('messages-match-proto-md-layouts-written-by-hand', () => {
    // Each expectation is the wire layout from proto.md, typed out field by field.
    expect(B.hex(B.newstyleGreeting(3))).toBe('4e42444d41474943' + '49484156454f5054' + '0003');
    expect(B.hex(B.option(B.NBD_OPT_GO, B.infoRequest('ab', [3])))).toBe(
      '49484156454f5054' + '00000007' + '0000000a' + '00000002' + '6162' + '0001' + '0003',
    );
    expect(B.hex(B.optReply(7, B.NBD_REP_INFO, B.infoExport(1n << 63n, 0x1234)))).toBe(
      '0003e889045565a9' + '00000007' + '00000003' + '0000000c' + '0000' + '8000000000000000' + '1234',
    );
    expect(B.hex(B.infoBlockSize(512, 4096, 0xffffffff))).toBe('0003' + '00000200' + '00001000' + 'ffffffff');
    expect(B.oldstyleGreeting(1, 1)).toHaveLength(152);
    expect(B.exportNameReply(1, 1)).toHaveLength(134);
    expect(B.exportNameReply(1, 1, true)).toHaveLength(10);
    expect(B.hex(B.request(1, B.NBD_CMD_WRITE, 0x0102030405060708n, 512, 2, Uint8Array.of(9, 9)))).toBe(
      '25609513' + '0001' + '0001' + '0102030405060708' + '0000000000000200' + '00000002' + '0909',
    );
    expect(B.hex(B.extendedRequest(0x20, B.NBD_CMD_BLOCK_STATUS, 5, 0, 12, B.blockStatusPayload(1n << 40n, [1])))).toBe(
      '21e41c71' + '0020' + '0007' + '0000000000000005' + '0000000000000000' + '000000000000000c' +
        '0000010000000000' + '00000001',
    );
    expect(B.hex(B.simpleReply(22, 0x1122334455667788n))).toBe('67446698' + '00000016' + '1122334455667788');
    expect(B.hex(B.structuredChunk(1, 2, 3, B.offsetHole(4096, 512)))).toBe(
      '668e33ef' + '0001' + '0002' + '0000000000000003' + '0000000c' + '0000000000001000' + '00000200',
    );
    expect(B.hex(B.extendedChunk(1, 6, 3, 4096, B.blockStatusExt(2, [[1n << 33n, 3]])))).toBe(
      '6e8a278c' + '0001' + '0006' + '0000000000000003' + '0000000000001000' + '0000000000000018' +
        '00000002' + '00000001' + '0000000200000000' + '0000000000000003',
    );
    expect(B.hex(B.blockStatus(2, [[512, 3], [1024, 0]]))).toBe(
      '00000002' + '00000200' + '00000003' + '00000400' + '00000000',
    );
    expect(B.hex(B.errorChunkPayload(22, 'no', 8))).toBe('00000016' + '0002' + '6e6f' + '0000000000000008');
    expect(B.hex(B.repServer('a', 'desc'))).toBe('00000001' + '61' + '64657363');
    expect(B.hex(B.metaContextRequest('', ['base:']))).toBe('00000000' + '00000001' + '00000005' + '626173653a');
  });

  test('readers-parse-what-builders-write', () => {
    const ext = B.parseReplyHeader(B.extendedChunk(1, 6, 0xfeedn, 1n << 62n, new Uint8Array(40)).subarray(0, 32));
    expect(ext).toEqual({
      magic: B.NBD_EXTENDED_REPLY_MAGIC,
      kind: 'extended',
      flags: 1,
      type: 6,
      cookie: 0xfeedn,
      offset: 1n << 62n,
      length: 40n,
    });
    const req = B.parseRequestHeader(B.extendedRequest(0x21, 1, 9, 1n << 63n, 1n << 40n), true);
    expect(req).toMatchObject({ magic: B.NBD_EXTENDED_REQUEST_MAGIC, flags: 0x21, type: 1, cookie: 9n });
    expect([req.offset, req.length]).toEqual([1n << 63n, 1n << 40n]);
    const r = B.reader(B.fromHex('0102 ff'));
    expect(r.u16()).toBe(0x0102);
    expect(() => r.u16()).toThrow(RangeError);
  });
});

describe('SparseDisk', () => {
  test('sparse-disk-reads-zeroes-and-tracks-allocation', () => {
    const d = new SparseDisk((1n << 64n) - 1n, 4096);
    d.write((1n << 63n) + 10n, Uint8Array.of(1, 2, 3));
    expect(Array.from(d.read((1n << 63n) + 9n, 5))).toEqual([0, 1, 2, 3, 0]);
    expect(d.runs((1n << 63n) - 4096n, 3n * 4096n)).toEqual([
      { offset: (1n << 63n) - 4096n, length: 4096n, allocated: false },
      { offset: 1n << 63n, length: 4096n, allocated: true },
      { offset: (1n << 63n) + 4096n, length: 4096n, allocated: false },
    ]);
    d.zero(1n << 63n, 4096n);
    expect(d.allocatedBlocks).toBe(0);
  });
});

describe('serveDisk against libnbd tools', () => {
  test('nbdinfo-json-reports-size-flags-description-block-sizes-contexts', async () => {
    const s = await disk({
      size: MiB,
      description: 'a fake disk',
      blockSize: { minimum: 512, preferred: 4096, maximum: MiB },
      contexts: [{ name: 'x-webnbd:test' }],
    });
    const info = await nbdinfoJson([s.uri]);
    expect(info).toMatchObject({ protocol: 'newstyle-fixed', TLS: false, structured: true });
    const e = info.exports[0];
    expect(e).toMatchObject({
      'export-name': '',
      description: 'a fake disk',
      'export-size': MiB,
      is_read_only: false,
      is_rotational: false,
      can_cache: true,
      can_df: true,
      can_fast_zero: true,
      can_flush: true,
      can_fua: true,
      can_multi_conn: true,
      can_trim: true,
      can_zero: true,
      block_size_minimum: 512,
      block_size_preferred: 4096,
      block_size_maximum: MiB,
    });
    expect(e.contexts).toEqual(['base:allocation', 'x-webnbd:test']);
    expect(s.errors).toEqual([]);
    expect(s.connections.flatMap((c) => c.violations)).toEqual([]);
  });

  test('nbdinfo-sees-read-only-export-without-write-commands', async () => {
    const s = await disk({ size: MiB, readOnly: true });
    const e = (await nbdinfoJson([s.uri])).exports[0];
    expect(e).toMatchObject({ is_read_only: true, can_trim: false, can_zero: false, can_fast_zero: false });
  });

  test('nbdinfo-list-shows-every-export-and-description', async () => {
    const s = await disk({
      exports: [
        { name: 'first', size: MiB, description: 'one' },
        { name: 'second one', size: 2 * MiB, description: 'two' },
      ],
    });
    const info = await nbdinfoJson(['--list', s.uriFor('first')]);
    expect(info.exports.map((e: any) => [e['export-name'], e.description, e['export-size']])).toEqual([
      ['first', 'one', MiB],
      ['second one', 'two', 2 * MiB],
    ]);
  });

  test('unknown-export-is-refused-with-rep-err-unknown', async () => {
    const s = await disk({ name: 'only', size: MiB });
    const r = await run('nbdinfo', ['--size', s.uriFor('other')]);
    expect(r.code).not.toBe(0);
    const replies = s.connections[0]!.sent.filter((b) => b.length >= 20).map((b) => B.parseOptReplyHeader(b));
    expect(replies).toContainEqual(
      expect.objectContaining({ magic: B.NBD_REP_MAGIC, option: B.NBD_OPT_GO, type: B.NBD_REP_ERR_UNKNOWN }),
    );
  });

  test('go-unsupported-falls-back-to-export-name', async () => {
    const data = random(3 * MiB, 2);
    const s = await disk({ size: 3 * MiB, data, unsupported: [B.NBD_OPT_GO, B.NBD_OPT_INFO] });
    expect((await ok('nbdinfo', ['--size', s.uri])).toString().trim()).toBe(String(3 * MiB));
    const opts = s.sessions[0]!.options.map((o) => o.option);
    expect(opts).toContain(B.NBD_OPT_GO);
    expect(opts.at(-1)).toBe(B.NBD_OPT_EXPORT_NAME);
    // libnbd asked for NBD_FLAG_C_NO_ZEROES: the reply is 10 bytes, and transmission works.
    expect(s.sessions[0]!.noZeroes).toBe(true);
    expect(s.connections[0]!.sent.at(-1)).toHaveLength(10);
    const back = await ok('nbdcopy', [s.uri, '-']);
    expect(Buffer.compare(back, Buffer.from(data))).toBe(0);
  });

  test('oldstyle-and-plain-newstyle-handshakes', async () => {
    const old = await disk({ size: 5 * MiB, handshake: 'oldstyle' });
    const a = await nbdinfoJson([old.uri]);
    expect(a.protocol).toBe('oldstyle');
    expect(a.exports[0]['export-size']).toBe(5 * MiB);

    const plain = await disk({ size: 6 * MiB, handshake: 'newstyle' });
    const b = await nbdinfoJson([plain.uri]);
    expect(b.protocol).toBe('newstyle');
    expect(b.structured).toBe(false);
    expect(b.exports[0]['export-size']).toBe(6 * MiB);
  });

  test('unix-socket-listener', async () => {
    const s = await disk({ size: 7 * MiB }, true);
    expect(s.uri).toMatch(/^nbd\+unix:\/\/\/\?socket=/);
    expect((await ok('nbdinfo', ['--size', s.uri])).toString().trim()).toBe(String(7 * MiB));
  });

  test('huge-size-2^53+1-reaches-nbdinfo-exactly', async () => {
    const s = await disk({ size: 2n ** 53n + 1n });
    expect((await ok('nbdinfo', ['--size', s.uri])).toString().trim()).toBe('9007199254740993');
    // JSON.parse would round the number: read the raw text.
    expect((await ok('nbdinfo', ['--json', s.uri])).toString()).toContain('"export-size": 9007199254740993');
  });

  test('size-above-2^63-is-sent-as-is', async () => {
    const size = 2n ** 63n + 512n;
    const s = await disk({ size });
    const c = await raw(s);
    await c.read(18);
    await c.write(B.clientFlags(B.NBD_FLAG_C_FIXED_NEWSTYLE));
    await c.write(B.option(B.NBD_OPT_INFO, B.infoRequest('')));
    const replies = await readOptReplies(c);
    const info = replies.find((r) => r.type === B.NBD_REP_INFO && r.payload.length === 12)!;
    const r0 = B.reader(info.payload);
    expect([r0.u16(), r0.u64()]).toEqual([B.NBD_INFO_EXPORT, size]);
    // libnbd 1.14 keeps the size in an int64_t and prints it wrapped: exactly size - 2^64.
    expect((await ok('nbdinfo', ['--size', s.uri])).toString().trim()).toBe(String(size - (1n << 64n)));
  });

  test('nbdcopy-writes-then-reads-back-the-same-bytes', async () => {
    const s = await disk({ size: 4 * MiB });
    const data = random(MiB + 4096, 7);
    await ok('nbdcopy', [await tempFile(data), s.uri]);
    const back = await ok('nbdcopy', [s.uri, '-']);
    expect(back.length).toBe(4 * MiB);
    expect(Buffer.compare(back.subarray(0, data.length), Buffer.from(data))).toBe(0);
    expect(back.subarray(data.length).every((x) => x === 0)).toBe(true);
    // The shared disk holds what was written, whatever connection wrote it.
    expect(Buffer.from(s.disk().read(0, data.length)).equals(Buffer.from(data))).toBe(true);
    expect(s.errors).toEqual([]);
  });

  test('reads-split-into-reversed-chunks-reassemble-in-libnbd', async () => {
    const data = random(256 * 1024, 3);
    const chunksPerRead: number[] = [];
    const s = await disk({
      size: MiB,
      data,
      readChunks: { size: 3000, order: 'reverse' },
      hooks: {
        onReply(req, replies) {
          if (req.type === B.NBD_CMD_READ) chunksPerRead.push(replies.length);
        },
      },
    });
    const back = await ok('nbdcopy', [s.uri, '-']);
    expect(Buffer.compare(back.subarray(0, data.length), Buffer.from(data))).toBe(0);
    expect(back.subarray(data.length).every((x) => x === 0)).toBe(true);
    expect(Math.max(...chunksPerRead)).toBeGreaterThan(1);
  });

  test('simple-replies-when-structured-replies-are-unsupported', async () => {
    const data = random(100_000, 5);
    const s = await disk({ size: MiB, data, unsupported: [B.NBD_OPT_STRUCTURED_REPLY] });
    expect((await nbdinfoJson([s.uri])).structured).toBe(false);
    const back = await ok('nbdcopy', [s.uri, '-']);
    expect(Buffer.compare(back.subarray(0, data.length), Buffer.from(data))).toBe(0);
  });

  test('nbdinfo-map-reports-allocation-from-the-sparse-disk', async () => {
    const s = await disk({ size: MiB });
    s.disk().write(65536, random(65536));
    const map = await nbdinfoJson(['--map', s.uri]);
    expect(map.map((e: any) => [e.offset, e.length, e.type])).toEqual([
      [0, 65536, 3],
      [65536, 65536, 0],
      [131072, MiB - 131072, 3],
    ]);
  });

  test('nbdinfo-map-of-an-extra-context', async () => {
    const s = await disk({
      size: MiB,
      contexts: [{ name: 'x-webnbd:stripes', extents: (_off, len) => [[len / 2n, 1], [len / 2n, 0]] }],
    });
    const map = await nbdinfoJson(['--map=x-webnbd:stripes', s.uri]);
    expect(map.map((e: any) => [e.offset, e.length, e.type])).toEqual([
      [0, MiB / 2, 1],
      [MiB / 2, MiB / 2, 0],
    ]);
  });

  test('hook-corrupting-read-data-reaches-the-client', async () => {
    const data = random(4096, 9);
    const s = await disk({
      size: 4096,
      data,
      hooks: {
        onReply(req, replies) {
          if (req.type !== B.NBD_CMD_READ) return;
          return replies.map((r) =>
            r.kind === 'chunk' && r.type === B.NBD_REPLY_TYPE_OFFSET_DATA
              ? { ...r, payload: B.offsetData(req.offset, new Uint8Array(Number(req.length)).fill(0xee)) }
              : r,
          );
        },
      },
    });
    const back = await ok('nbdcopy', [s.uri, '-']);
    expect(back.every((x) => x === 0xee)).toBe(true);
  });

  // These disks hold data: nbdcopy skips reading areas that block status calls holes.
  test('hook-out-of-range-chunk-offset-is-rejected-by-libnbd', async () => {
    const s = await disk({
      size: 8192,
      data: random(8192),
      hooks: {
        onReply(req) {
          if (req.type !== B.NBD_CMD_READ) return;
          const payload = B.offsetData(req.offset + req.length, new Uint8Array(Number(req.length)));
          return [{ kind: 'chunk', flags: B.NBD_REPLY_FLAG_DONE, type: B.NBD_REPLY_TYPE_OFFSET_DATA, payload }];
        },
      },
    });
    const r = await run('nbdcopy', [s.uri, '-']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/range of structured reply is out of bounds, offset=8192/);
  });

  test('hook-dropping-mid-reply-fails-the-client', async () => {
    const s = await disk({
      size: 8192,
      data: random(8192),
      hooks: {
        onReply(req, replies) {
          if (req.type !== B.NBD_CMD_READ) return;
          const payload = B.offsetData(req.offset, new Uint8Array(100));
          const first = B.structuredChunk(0, B.NBD_REPLY_TYPE_OFFSET_DATA, req.cookie, payload);
          return [{ kind: 'raw', bytes: first.subarray(0, 50) }, { kind: 'drop' }, ...replies];
        },
      },
    });
    const r = await run('nbdcopy', [s.uri, '-']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/server disconnected unexpectedly/);
  });

  test('hook-replacing-the-greeting-is-seen-by-the-client', async () => {
    const s = await disk({ size: MiB, hooks: { onGreeting: (g) => B.concat(B.fromHex('00'), g.subarray(1)) } });
    const r = await run('nbdinfo', ['--size', s.uri]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/magic/i);
  });
});

describe('raw FakeServer scripting', () => {
  test('scripted-server-records-what-the-client-sent', async () => {
    const s = await FakeServer.start(async (conn) => {
      await conn.write(B.newstyleGreeting(B.NBD_FLAG_FIXED_NEWSTYLE));
      expect(await conn.readClientFlags()).toBe(B.NBD_FLAG_C_FIXED_NEWSTYLE);
      const opt = await conn.readOption();
      await conn.write(B.optReply(opt.option, B.NBD_REP_ERR_POLICY, new TextEncoder().encode('go away')));
      await conn.readOption(); // NBD_OPT_ABORT, or EOF
    });
    open.push(s);
    const r = await run('nbdinfo', ['--size', s.uri]);
    expect(r.code).not.toBe(0);
    const sent = s.connections[0]!.receivedBytes;
    expect(B.hex(sent.subarray(0, 4))).toBe('00000001');
    expect(B.parseOptionHeader(sent.subarray(4, 20)).magic).toBe(B.NBD_OPTS_MAGIC);
    expect(s.errors).toEqual([]); // the handler's own expectations held
  });

  test('read-rejects-on-eof', async () => {
    let seen: unknown;
    const s = await FakeServer.start(async (conn) => {
      try {
        await conn.read(100);
      } catch (e) {
        seen = e;
      }
    });
    open.push(s);
    const c = await raw(s);
    await c.write(Uint8Array.of(1, 2, 3));
    await c.end();
    await s.connections[0]!.closed;
    expect(String(seen)).toMatch(/ConnectionClosed: connection closed after 3 of 100 bytes/);
  });
});

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
