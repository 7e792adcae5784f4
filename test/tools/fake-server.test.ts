// Tests of the scripted server against libnbd's own tools: the reference server (serveDisk) as
// nbdinfo and nbdcopy see it, and FakeServer's raw scripting. Its byte builder and the paths
// libnbd 1.14 cannot speak are tested in test/unit/fake-server-*.test.ts.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, test } from 'vitest';

import * as B from '../support/bytes.js';
import { random } from '../support/data.js';
import { FakeServer } from '../support/fake-conn.js';
import { closeAll, disk, open, raw, readOptReplies } from '../support/fake-client.js';

// ---------------------------------------------------------------------------------------
// Helpers.

const tempDirs: string[] = [];

afterEach(async () => {
  await closeAll();
  for (const d of tempDirs.splice(0)) await rm(d, { recursive: true, force: true });
});

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

// ---------------------------------------------------------------------------------------

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
