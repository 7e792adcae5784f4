// Tests of the test harness's own oracles: the independent byte builder (test/support/bytes.ts)
// against layouts written out from proto.md, and the scripted server's sparse disk.

import { describe, expect, test } from 'vitest';

import * as B from '../support/bytes.js';
import { SparseDisk } from '../support/sparse-disk.js';

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
