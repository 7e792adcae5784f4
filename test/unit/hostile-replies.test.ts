// Bad replies from a server in transmission, one class per case: the spec's client MUSTs
// (proto.md "Transmission", "Structured reply chunk message", "NBD_CMD_BLOCK_STATUS") and the bugs
// in libnbd's history. Each case checks the errno, whether the handle dies or carries on, that
// nothing lands outside the caller's buffer, that every command settles exactly once, and that
// no allocation follows a length the server chose (see support/hostile-scene.ts).

import { describe, it } from 'vitest';
import * as B from '../support/bytes.js';
import type { Reply } from '../support/fake-server.js';
import { DATA, VICTIM_LEN, VICTIM_OFFSET, check, stage, type Expect, type SceneOptions } from '../support/hostile-scene.js';

const DONE = B.NBD_REPLY_FLAG_DONE;
const U64_MAX = (1n << 64n) - 1n;
const START = BigInt(VICTIM_OFFSET);
const END = START + BigInt(VICTIM_LEN);

const chunk = (type: number, payload: Uint8Array, flags = DONE, cookie?: bigint): Reply => ({ kind: 'chunk', flags, type, payload, ...(cookie === undefined ? {} : { cookie }) });
/** OFFSET_DATA with the disk's bytes (zeroes where the disk has none, e.g. near 2^64). */
const data = (off: bigint, n: number, flags = DONE): Reply =>
  chunk(B.NBD_REPLY_TYPE_OFFSET_DATA, B.offsetData(off, off < BigInt(DATA.length) ? DATA.slice(Number(off), Number(off) + n) : new Uint8Array(n)), flags);
const hole = (off: bigint, n: number, flags = DONE): Reply => chunk(B.NBD_REPLY_TYPE_OFFSET_HOLE, B.offsetHole(off, n), flags);
const error = (err: number, flags = DONE, msg = 'bad'): Reply => chunk(B.NBD_REPLY_TYPE_ERROR, B.errorChunkPayload(err, msg), flags);
const errorAt = (err: number, off: bigint, flags = DONE): Reply => chunk(B.NBD_REPLY_TYPE_ERROR_OFFSET, B.errorChunkPayload(err, 'bad', off), flags);
const none = (): Reply => chunk(B.NBD_REPLY_TYPE_NONE, new Uint8Array(0));
const extents = (list: B.Extent[], id = 1, flags = DONE): Reply => chunk(B.NBD_REPLY_TYPE_BLOCK_STATUS, B.blockStatus(id, list), flags);
const extents64 = (list: B.Extent[], id = 1): Reply => chunk(B.NBD_REPLY_TYPE_BLOCK_STATUS_EXT, B.blockStatusExt(id, list));

/** Server setups: what the handle negotiates. */
const SIMPLE = { server: { unsupported: [B.NBD_OPT_STRUCTURED_REPLY, B.NBD_OPT_EXTENDED_HEADERS] } };
const COMPACT = { setup: (h: { setRequestExtendedHeaders(b: boolean): void }) => h.setRequestExtendedHeaders(false) };
const EXTENDED = {};
const BLOCK_STATUS: Pick<SceneOptions, 'victim'> = { victim: (h, _buf, cb) => h.aioBlockStatus(VICTIM_LEN, VICTIM_OFFSET, () => 0, cb) };

type Case = [name: string, scene: SceneOptions, want: Expect];
const dead = (why: RegExp, victim: Expect['victim'] = 'EPROTO'): Expect => ({ victim, dead: true, why });

function run(cases: Case[]): void {
  it.each(cases)('%s', async (_name, scene, want) => check(await stage(scene), want));
}

describe('magic, cookies and reply kinds', () => {
  run([
    // The header's first 4 bytes are bad: no cookie was read, so no command can be blamed.
    ['errors-reply-bad-magic', { ...COMPACT, reply: () => B.bytes().u32(0xdeadbeef).zeros(12).build() }, dead(/invalid reply magic 0xdeadbeef/, 'ENOTCONN')],
    ['errors-reply-unknown-cookie', { ...COMPACT, reply: (r) => [{ kind: 'simple', error: 0, cookie: r.cookie + 1000n }] }, dead(/no matching cookie/, 'ENOTCONN')],
    ['errors-reply-cookie-above-2^53', { ...COMPACT, reply: () => [{ kind: 'simple', error: 0, cookie: U64_MAX }] }, dead(/no matching cookie above 2\^53/, 'ENOTCONN')],
    ['errors-reply-cookie-zero', { ...EXTENDED, reply: () => [{ ...none(), cookie: 0n }] }, dead(/no matching cookie 0/, 'ENOTCONN')],
    // The victim completes; the repeat names a cookie no longer in flight.
    ['errors-reply-duplicate-cookie-simple', { ...SIMPLE, reply: (r) => B.concat(...[0, 1].map(() => B.simpleReply(0, r.cookie, DATA.slice(VICTIM_OFFSET, VICTIM_OFFSET + VICTIM_LEN)))) }, dead(/no matching cookie/, 'OK')],
    ['errors-reply-chunk-after-done', { ...COMPACT, reply: () => [data(START, VICTIM_LEN), none()] }, dead(/no matching cookie/, 'OK')],
    // nbdkit CVE-2021-3716: a structured chunk from a server that agreed only to simple replies.
    ['errors-structured-reply-not-negotiated', { ...SIMPLE, reply: (r) => B.structuredChunk(DONE, B.NBD_REPLY_TYPE_NONE, r.cookie, new Uint8Array(0)) }, dead(/structured reply that was never negotiated/, 'ENOTCONN')],
    ['errors-extended-reply-not-negotiated', { ...COMPACT, reply: (r) => B.extendedChunk(DONE, B.NBD_REPLY_TYPE_NONE, r.cookie, r.offset, new Uint8Array(0)) }, dead(/extended reply header that was never negotiated/, 'ENOTCONN')],
    ['errors-compact-reply-after-extended', { ...EXTENDED, reply: (r) => B.simpleReply(0, r.cookie) }, dead(/compact reply after extended headers/, 'ENOTCONN')],
    ['errors-simple-read-data-after-structured', { ...COMPACT, reply: () => [{ kind: 'simple', error: 0, data: new Uint8Array(VICTIM_LEN) }] }, dead(/simple reply with data to a read/)],
    ['errors-simple-reply-to-block-status', { ...COMPACT, ...BLOCK_STATUS, reply: () => [{ kind: 'simple', error: 0 }] }, dead(/simple reply to block status/)],
    ['errors-unknown-chunk-type', { ...COMPACT, reply: () => [chunk(0x42, new Uint8Array(4))] }, dead(/unknown structured reply type 66/)],
  ]);
});

/** A chunk header claiming `length` bytes, with no payload behind it. */
const header = (ext: boolean, type: number, length: bigint) => (r: { cookie: bigint; offset: bigint }) =>
  ext ? B.bytes().u32(B.NBD_EXTENDED_REPLY_MAGIC).u16(DONE).u16(type).u64(r.cookie).u64(r.offset).u64(length).build()
    : B.bytes().u32(B.NBD_STRUCTURED_REPLY_MAGIC).u16(DONE).u16(type).u64(r.cookie).u32(Number(length)).build();

describe('absurd chunk lengths are refused on the header, before anything is allocated', () => {
  const TYPES: [string, number][] = [
    ['NONE', B.NBD_REPLY_TYPE_NONE], ['OFFSET_DATA', B.NBD_REPLY_TYPE_OFFSET_DATA], ['OFFSET_HOLE', B.NBD_REPLY_TYPE_OFFSET_HOLE],
    ['BLOCK_STATUS', B.NBD_REPLY_TYPE_BLOCK_STATUS], ['ERROR', B.NBD_REPLY_TYPE_ERROR], ['ERROR_OFFSET', B.NBD_REPLY_TYPE_ERROR_OFFSET],
    ['unknown error type', 0x8123],
  ];
  // The server sends the header and nothing more, keeping the connection open: if the handle
  // waited for the payload, stage() would time out instead of finding it dead.
  const cases: Case[] = [];
  for (const [name, type] of TYPES) {
    const bs = type === B.NBD_REPLY_TYPE_BLOCK_STATUS ? BLOCK_STATUS : {};
    cases.push([`errors-chunk-length-2^32-1-${name}`, { ...COMPACT, ...bs, reply: header(false, type, 0xffffffffn) }, dead(/length|payload/)]);
    cases.push([`errors-extended-chunk-length-2^64-1-${name}`, { ...EXTENDED, ...bs, reply: header(true, type === B.NBD_REPLY_TYPE_BLOCK_STATUS ? B.NBD_REPLY_TYPE_BLOCK_STATUS_EXT : type, U64_MAX) }, dead(/length|payload/)]);
  }
  cases.push(['errors-extended-chunk-length-2^32', { ...EXTENDED, reply: header(true, B.NBD_REPLY_TYPE_OFFSET_DATA, 1n << 32n) }, dead(/chunk length 4294967296 is too large/)]);
  // One byte more than the request or the format allows.
  cases.push(['errors-offset-data-one-byte-too-long', { ...COMPACT, reply: header(false, B.NBD_REPLY_TYPE_OFFSET_DATA, BigInt(8 + VICTIM_LEN + 1)) }, dead(/invalid OFFSET_DATA chunk length 521/)]);
  cases.push(['errors-offset-hole-length-13', { ...COMPACT, reply: header(false, B.NBD_REPLY_TYPE_OFFSET_HOLE, 13n) }, dead(/invalid OFFSET_HOLE chunk length 13/)]);
  cases.push(['errors-error-chunk-longer-than-a-message', { ...COMPACT, reply: header(false, B.NBD_REPLY_TYPE_ERROR, BigInt(6 + 4096 + 8 + 1)) }, dead(/invalid error chunk length/)]);
  cases.push(['errors-block-status-more-extents-than-bytes', { ...COMPACT, ...BLOCK_STATUS, reply: header(false, B.NBD_REPLY_TYPE_BLOCK_STATUS, BigInt(4 + 8 * (VICTIM_LEN + 1))) }, dead(/invalid block status chunk length/)]);
  run(cases);
});

describe('read chunks outside the request, overlapping or missing', () => {
  run([
    ['errors-server-chunk-out-of-range-after', { ...COMPACT, reply: () => [data(END, 16)] }, dead(/offset 4608 out of range of the request/)],
    ['errors-server-chunk-out-of-range-before', { ...COMPACT, reply: () => [data(START - 1n, 16)] }, dead(/out of range of the request/)],
    ['errors-server-chunk-straddles-end', { ...COMPACT, reply: () => [data(START, VICTIM_LEN - 1, 0), data(END - 1n, 2)] }, dead(/out of range of the request/)],
    // libnbd 2019: offset + length wrapped past 2^64 and passed the bounds check in C.
    ['errors-server-chunk-offset-wraps-2^64', { ...COMPACT, reply: () => [data(U64_MAX - 7n, 16)] }, dead(/out of range of the request/)],
    ['errors-server-hole-offset-wraps-2^64', { ...COMPACT, reply: () => [hole(U64_MAX, 2)] }, dead(/hole offset .* out of range/)],
    ['errors-server-hole-out-of-range', { ...COMPACT, reply: () => [hole(END, 1)] }, dead(/hole offset 4608 out of range/)],
    ['errors-server-hole-zero-length', { ...COMPACT, reply: () => [hole(START, 0)] }, dead(/zero-length hole/)],
    ['errors-server-error-offset-out-of-range', { ...COMPACT, reply: () => [errorAt(B.NBD_EIO, END)] }, dead(/error offset 4608 out of range/)],
    ['errors-extended-chunk-out-of-range', { ...EXTENDED, reply: () => [data(END, 8)] }, dead(/out of range of the request/)],
    ['errors-overlapping-data-chunks', { ...COMPACT, reply: () => [data(START, 300, 0), data(START + 200n, 312)] }, dead(/overlapping/)],
    ['errors-overlapping-data-and-hole', { ...COMPACT, reply: () => [hole(START, 300, 0), data(START + 299n, 213)] }, dead(/overlapping/)],
    ['errors-same-chunk-twice', { ...EXTENDED, reply: () => [hole(START, 256, 0), hole(START, 256)] }, dead(/overlapping/)],
    ['errors-missing-chunks', { ...COMPACT, reply: () => [data(START, 100)] }, dead(/did not send data for the whole request/)],
    ['errors-missing-middle-chunk', { ...COMPACT, reply: () => [data(START, 100, 0), data(START + 101n, VICTIM_LEN - 101)] }, dead(/did not send data for the whole request/)],
    ['errors-read-done-without-data', { ...EXTENDED, reply: () => [none()] }, dead(/did not send data for the whole request/)],
    ['errors-offset-data-to-block-status', { ...COMPACT, ...BLOCK_STATUS, reply: () => [data(START, 16)] }, dead(/OFFSET_DATA to a command that is not a read/)],
  ]);
});

describe('error chunks', () => {
  run([
    ['errors-error-chunk-with-error-0', { ...COMPACT, reply: () => [error(0)] }, dead(/error chunk with error 0/)],
    ['errors-error-offset-chunk-with-error-0', { ...COMPACT, reply: () => [errorAt(0, START)] }, dead(/error chunk with error 0/)],
    ['errors-unknown-error-type-with-error-0', { ...EXTENDED, reply: () => [chunk(0x8123, B.errorChunkPayload(0))] }, dead(/error chunk with error 0/)],
    ['errors-error-chunk-message-longer-than-payload', { ...COMPACT, reply: () => [chunk(B.NBD_REPLY_TYPE_ERROR, B.bytes().u32(5).u16(100).str('short').build())] }, dead(/invalid error chunk/)],
    // The spec lets the client carry on after these: only the command failed.
    ['simple-error-reply-fails-only-the-read', { ...SIMPLE, reply: () => [{ kind: 'simple', error: B.NBD_EIO }] }, { victim: 'EIO', dead: false }],
    ['error-chunk-fails-only-the-read', { ...COMPACT, reply: () => [error(B.NBD_ENOSPC)] }, { victim: 'ENOSPC', dead: false }],
    ['unknown-error-type-fails-only-the-read', { ...EXTENDED, reply: () => [chunk(0x8123, B.errorChunkPayload(B.NBD_EPERM, 'odd'))] }, { victim: 'EPERM', dead: false }],
    ['unknown-wire-errno-becomes-EINVAL', { ...COMPACT, reply: () => [error(9999)] }, { victim: 'EINVAL', dead: false }],
    ['error-chunk-before-done-still-fails', { ...COMPACT, reply: () => [error(B.NBD_EIO, 0), data(START, VICTIM_LEN)] }, { victim: 'EIO', dead: false }],
  ]);
});

describe('block status replies', () => {
  run([
    ['errors-block-status-zero-extents', { ...COMPACT, ...BLOCK_STATUS, reply: () => [extents([])] }, dead(/invalid block status chunk length 4/)],
    ['errors-block-status-ext-zero-extents', { ...EXTENDED, ...BLOCK_STATUS, reply: () => [extents64([])] }, dead(/invalid block status chunk length 8/)],
    ['errors-block-status-too-many-extents', { ...COMPACT, ...BLOCK_STATUS, reply: () => [extents([[VICTIM_LEN, 0], [512, 0]])] }, dead(/too many extents/)],
    ['errors-block-status-past-end-of-export', { ...COMPACT, ...BLOCK_STATUS, reply: () => [extents([[0x10000000, 0]])] }, dead(/past the end of the export/)],
    ['errors-block-status-unknown-context', { ...COMPACT, ...BLOCK_STATUS, reply: () => [extents([[VICTIM_LEN, 0]], 77)] }, dead(/unknown meta context id 77/)],
    ['errors-block-status-zero-length-extent', { ...COMPACT, ...BLOCK_STATUS, reply: () => [extents([[0, 0], [VICTIM_LEN, 0]])] }, dead(/zero-length extent/)],
    ['errors-block-status-req-one-two-extents', { ...COMPACT, victim: (h, _b, cb) => h.aioBlockStatus(VICTIM_LEN, VICTIM_OFFSET, () => 0, cb, 8), reply: () => [extents([[256, 0], [256, 3]])] }, dead(/more than one extent with REQ_ONE/)],
    ['errors-block-status-ext-count-mismatch', { ...EXTENDED, ...BLOCK_STATUS, reply: () => [chunk(B.NBD_REPLY_TYPE_BLOCK_STATUS_EXT, B.bytes().u32(1).u32(2).u64(VICTIM_LEN).u64(0).build())] }, dead(/invalid block status payload/)],
    ['errors-block-status-compact-after-extended', { ...EXTENDED, ...BLOCK_STATUS, reply: () => [extents([[VICTIM_LEN, 0]])] }, dead(/compact BLOCK_STATUS after extended/)],
    ['errors-block-status-without-extents', { ...EXTENDED, ...BLOCK_STATUS, reply: () => [none()] }, dead(/replied without any extents/)],
    ['errors-block-status-to-a-read', { ...COMPACT, reply: () => [extents([[VICTIM_LEN, 0]])] }, dead(/block status to a command that is not block status/)],
  ]);
});
