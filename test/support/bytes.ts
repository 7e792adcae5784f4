// An independent byte builder and reader for NBD test fixtures. Codec tests and the fake
// server write wire messages with this file, never with web/core's encoder, so a mistake in
// the client's codec cannot hide behind the same mistake in its fixtures (see STYLE.md).
// Every layout below is written out from NetworkBlockDevice/nbd doc/proto.md; the extended
// header layouts (not yet in every copy of proto.md) follow qemu's nbd/server.c and libnbd.
// All integers are big-endian ("network byte order", proto.md "Conventions").

// ---------------------------------------------------------------------------------------
// Constants, with the spec's names. Deliberately duplicated from web/core: a typo there
// must not silently become a typo here.

// proto.md "Handshake": INIT_PASSWD, the oldstyle cliserv_magic, and IHAVEOPT.
export const NBD_INIT_PASSWD = 'NBDMAGIC';
export const NBD_CLISERV_MAGIC = 0x00420281861253n;
export const NBD_OPTS_MAGIC = 0x49484156454f5054n; // 'IHAVEOPT'
export const NBD_REP_MAGIC = 0x0003e889045565a9n;

// proto.md "Request message", "Simple reply message", "Structured reply chunk message";
// extended forms from NBD_OPT_EXTENDED_HEADERS.
export const NBD_REQUEST_MAGIC = 0x25609513;
export const NBD_EXTENDED_REQUEST_MAGIC = 0x21e41c71;
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
export const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;
export const NBD_EXTENDED_REPLY_MAGIC = 0x6e8a278c;

// proto.md "Handshake flags" and "Client flags".
export const NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_NO_ZEROES = 1 << 1;
export const NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_C_NO_ZEROES = 1 << 1;

// proto.md "Transmission flags".
export const NBD_FLAG_HAS_FLAGS = 1 << 0;
export const NBD_FLAG_READ_ONLY = 1 << 1;
export const NBD_FLAG_SEND_FLUSH = 1 << 2;
export const NBD_FLAG_SEND_FUA = 1 << 3;
export const NBD_FLAG_ROTATIONAL = 1 << 4;
export const NBD_FLAG_SEND_TRIM = 1 << 5;
export const NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6;
export const NBD_FLAG_SEND_DF = 1 << 7;
export const NBD_FLAG_CAN_MULTI_CONN = 1 << 8;
export const NBD_FLAG_SEND_RESIZE = 1 << 9;
export const NBD_FLAG_SEND_CACHE = 1 << 10;
export const NBD_FLAG_SEND_FAST_ZERO = 1 << 11;
export const NBD_FLAG_BLOCK_STAT_PAYLOAD = 1 << 12;

// proto.md "Option types".
export const NBD_OPT_EXPORT_NAME = 1;
export const NBD_OPT_ABORT = 2;
export const NBD_OPT_LIST = 3;
export const NBD_OPT_STARTTLS = 5;
export const NBD_OPT_INFO = 6;
export const NBD_OPT_GO = 7;
export const NBD_OPT_STRUCTURED_REPLY = 8;
export const NBD_OPT_LIST_META_CONTEXT = 9;
export const NBD_OPT_SET_META_CONTEXT = 10;
export const NBD_OPT_EXTENDED_HEADERS = 11;

// proto.md "Option reply types". Errors have bit 31 set.
const REP_ERR = 0x80000000;
export const NBD_REP_ACK = 1;
export const NBD_REP_SERVER = 2;
export const NBD_REP_INFO = 3;
export const NBD_REP_META_CONTEXT = 4;
export const NBD_REP_ERR_UNSUP = REP_ERR + 1;
export const NBD_REP_ERR_POLICY = REP_ERR + 2;
export const NBD_REP_ERR_INVALID = REP_ERR + 3;
export const NBD_REP_ERR_PLATFORM = REP_ERR + 4;
export const NBD_REP_ERR_TLS_REQD = REP_ERR + 5;
export const NBD_REP_ERR_UNKNOWN = REP_ERR + 6;
export const NBD_REP_ERR_SHUTDOWN = REP_ERR + 7;
export const NBD_REP_ERR_BLOCK_SIZE_REQD = REP_ERR + 8;
export const NBD_REP_ERR_TOO_BIG = REP_ERR + 9;
export const NBD_REP_ERR_EXT_HEADER_REQD = REP_ERR + 10;

// proto.md "NBD_REP_INFO" information types.
export const NBD_INFO_EXPORT = 0;
export const NBD_INFO_NAME = 1;
export const NBD_INFO_DESCRIPTION = 2;
export const NBD_INFO_BLOCK_SIZE = 3;

// proto.md "Request types".
export const NBD_CMD_READ = 0;
export const NBD_CMD_WRITE = 1;
export const NBD_CMD_DISC = 2;
export const NBD_CMD_FLUSH = 3;
export const NBD_CMD_TRIM = 4;
export const NBD_CMD_CACHE = 5;
export const NBD_CMD_WRITE_ZEROES = 6;
export const NBD_CMD_BLOCK_STATUS = 7;

// proto.md "Command flags".
export const NBD_CMD_FLAG_FUA = 1 << 0;
export const NBD_CMD_FLAG_NO_HOLE = 1 << 1;
export const NBD_CMD_FLAG_DF = 1 << 2;
export const NBD_CMD_FLAG_REQ_ONE = 1 << 3;
export const NBD_CMD_FLAG_FAST_ZERO = 1 << 4;
export const NBD_CMD_FLAG_PAYLOAD_LEN = 1 << 5;

// proto.md "Structured reply flags" and "Structured reply types". Errors have bit 15 set.
export const NBD_REPLY_FLAG_DONE = 1 << 0;
export const NBD_REPLY_TYPE_NONE = 0;
export const NBD_REPLY_TYPE_OFFSET_DATA = 1;
export const NBD_REPLY_TYPE_OFFSET_HOLE = 2;
export const NBD_REPLY_TYPE_BLOCK_STATUS = 5;
export const NBD_REPLY_TYPE_BLOCK_STATUS_EXT = 6;
export const NBD_REPLY_TYPE_ERROR = (1 << 15) + 1;
export const NBD_REPLY_TYPE_ERROR_OFFSET = (1 << 15) + 2;

// proto.md "base:allocation metadata context".
export const NBD_STATE_HOLE = 1 << 0;
export const NBD_STATE_ZERO = 1 << 1;

// proto.md "Error values".
export const NBD_SUCCESS = 0;
export const NBD_EPERM = 1;
export const NBD_EIO = 5;
export const NBD_ENOMEM = 12;
export const NBD_EINVAL = 22;
export const NBD_ENOSPC = 28;
export const NBD_EOVERFLOW = 75;
export const NBD_ENOTSUP = 95;
export const NBD_ESHUTDOWN = 108;

// ---------------------------------------------------------------------------------------
// The builder.

const U64_MAX = (1n << 64n) - 1n;
const utf8 = new TextEncoder();

/** A value that goes into a 64-bit field: a safe integer or any bigint in range. */
export type U64 = number | bigint;

function toU64(n: U64): bigint {
  if (typeof n === 'number') {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`u64: ${n} is not a safe unsigned integer`);
    return BigInt(n);
  }
  if (n < 0n || n > U64_MAX) throw new RangeError(`u64: ${n} is out of range`);
  return n;
}

function checkUint(n: number, bits: 8 | 16 | 32): number {
  if (!Number.isInteger(n) || n < 0 || n > 2 ** bits - 1) {
    throw new RangeError(`u${bits}: ${n} is out of range`);
  }
  return n;
}

/** Fluent big-endian writer: `bytes().u32(1).str('x').build()`. Range-checks every field. */
export class ByteBuilder {
  #buf = new Uint8Array(64);
  #view = new DataView(this.#buf.buffer);
  #len = 0;

  get length(): number {
    return this.#len;
  }

  #reserve(n: number): number {
    const at = this.#len;
    if (at + n > this.#buf.length) {
      const grown = new Uint8Array(Math.max(this.#buf.length * 2, at + n));
      grown.set(this.#buf.subarray(0, at));
      this.#buf = grown;
      this.#view = new DataView(grown.buffer);
    }
    this.#len += n;
    return at;
  }

  u8(n: number): this {
    const v = checkUint(n, 8);
    const at = this.#reserve(1); // may replace the buffer: reserve before touching it
    this.#view.setUint8(at, v);
    return this;
  }

  u16(n: number): this {
    const v = checkUint(n, 16);
    const at = this.#reserve(2); // may replace the buffer: reserve before touching it
    this.#view.setUint16(at, v);
    return this;
  }

  u32(n: number): this {
    const v = checkUint(n, 32);
    const at = this.#reserve(4); // may replace the buffer: reserve before touching it
    this.#view.setUint32(at, v);
    return this;
  }

  u64(n: U64): this {
    const v = toU64(n);
    const at = this.#reserve(8); // may replace the buffer: reserve before touching it
    this.#view.setBigUint64(at, v);
    return this;
  }

  /** UTF-8 bytes of `s`, no length prefix and no NUL (proto.md "Conventions": strings). */
  str(s: string): this {
    return this.raw(utf8.encode(s));
  }

  raw(b: Uint8Array): this {
    const at = this.#reserve(b.length);
    this.#buf.set(b, at);
    return this;
  }

  zeros(n: number): this {
    this.#reserve(n); // fresh space is already zero: the buffer only ever grows
    return this;
  }

  build(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

export function bytes(): ByteBuilder {
  return new ByteBuilder();
}

/** Concatenate byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const b = bytes();
  for (const p of parts) b.raw(p);
  return b.build();
}

/** Lower-case hex, handy in assertion messages and fixtures. */
export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Parse hex written with optional spaces, e.g. `fromHex('67446698 00000000')`. */
export function fromHex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new Error(`fromHex: bad hex ${s}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// ---------------------------------------------------------------------------------------
// Handshake messages (proto.md "Handshake").

/** Oldstyle greeting: 152 bytes (proto.md "Oldstyle negotiation"). */
export function oldstyleGreeting(size: U64, flags: number): Uint8Array {
  // The 32-bit flags field: handshake flags (high half, MUST be zero) then transmission flags.
  return bytes().str(NBD_INIT_PASSWD).u64(NBD_CLISERV_MAGIC).u64(size).u32(flags).zeros(124).build();
}

/** Newstyle greeting: NBDMAGIC, IHAVEOPT, 16-bit handshake flags (proto.md "Newstyle negotiation"). */
export function newstyleGreeting(handshakeFlags: number): Uint8Array {
  return bytes().str(NBD_INIT_PASSWD).u64(NBD_OPTS_MAGIC).u16(handshakeFlags).build();
}

/** The client's 32-bit flags after the greeting. */
export function clientFlags(flags: number): Uint8Array {
  return bytes().u32(flags).build();
}

/** A client option: IHAVEOPT, option, length, data (proto.md "Newstyle negotiation"). */
export function option(opt: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  return bytes().u64(NBD_OPTS_MAGIC).u32(opt).u32(data.length).raw(data).build();
}

/** Reply to NBD_OPT_EXPORT_NAME: size, transmission flags, 124 zeroes unless NO_ZEROES. */
export function exportNameReply(size: U64, flags: number, noZeroes = false): Uint8Array {
  const b = bytes().u64(size).u16(flags);
  if (!noZeroes) b.zeros(124);
  return b.build();
}

/** A fixed newstyle option reply (proto.md "Fixed newstyle negotiation"). */
export function optReply(opt: number, type: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  return bytes().u64(NBD_REP_MAGIC).u32(opt).u32(type).u32(payload.length).raw(payload).build();
}

/** NBD_REP_SERVER payload: name length, name, then the description (proto.md "NBD_REP_SERVER"). */
export function repServer(name: string, description = ''): Uint8Array {
  const n = utf8.encode(name);
  return bytes().u32(n.length).raw(n).str(description).build();
}

/** NBD_REP_META_CONTEXT payload: context id, then the name. */
export function repMetaContext(id: number, name: string): Uint8Array {
  return bytes().u32(id).str(name).build();
}

/** NBD_REP_INFO payload for NBD_INFO_EXPORT: 12 bytes. */
export function infoExport(size: U64, flags: number): Uint8Array {
  return bytes().u16(NBD_INFO_EXPORT).u64(size).u16(flags).build();
}

export function infoName(name: string): Uint8Array {
  return bytes().u16(NBD_INFO_NAME).str(name).build();
}

export function infoDescription(description: string): Uint8Array {
  return bytes().u16(NBD_INFO_DESCRIPTION).str(description).build();
}

/** NBD_REP_INFO payload for NBD_INFO_BLOCK_SIZE: 14 bytes. */
export function infoBlockSize(minimum: number, preferred: number, maximum: number): Uint8Array {
  return bytes().u16(NBD_INFO_BLOCK_SIZE).u32(minimum).u32(preferred).u32(maximum).build();
}

/** Client data for NBD_OPT_INFO / NBD_OPT_GO: name, then the list of NBD_INFO_* requests. */
export function infoRequest(name: string, infos: number[] = []): Uint8Array {
  const n = utf8.encode(name);
  const b = bytes().u32(n.length).raw(n).u16(infos.length);
  for (const i of infos) b.u16(i);
  return b.build();
}

/** Client data for NBD_OPT_{LIST,SET}_META_CONTEXT: export name, then the queries. */
export function metaContextRequest(exportName: string, queries: string[]): Uint8Array {
  const n = utf8.encode(exportName);
  const b = bytes().u32(n.length).raw(n).u32(queries.length);
  for (const q of queries) {
    const qb = utf8.encode(q);
    b.u32(qb.length).raw(qb);
  }
  return b.build();
}

// ---------------------------------------------------------------------------------------
// Transmission messages (proto.md "Transmission").

/** A compact request: 28 bytes, then the payload (WRITE data). */
export function request(
  flags: number,
  type: number,
  cookie: U64,
  offset: U64,
  length: number,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  return bytes().u32(NBD_REQUEST_MAGIC).u16(flags).u16(type).u64(cookie).u64(offset).u32(length).raw(payload).build();
}

/** An extended request: 32 bytes with a 64-bit length, then the payload if any. */
export function extendedRequest(
  flags: number,
  type: number,
  cookie: U64,
  offset: U64,
  length: U64,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  return bytes()
    .u32(NBD_EXTENDED_REQUEST_MAGIC)
    .u16(flags)
    .u16(type)
    .u64(cookie)
    .u64(offset)
    .u64(length)
    .raw(payload)
    .build();
}

/** Client payload of NBD_CMD_BLOCK_STATUS with NBD_CMD_FLAG_PAYLOAD_LEN: effect length, ids. */
export function blockStatusPayload(effectLength: U64, contextIds: number[]): Uint8Array {
  const b = bytes().u64(effectLength);
  for (const id of contextIds) b.u32(id);
  return b.build();
}

/** A simple reply: magic, error, cookie, then the data of a successful simple READ. */
export function simpleReply(error: number, cookie: U64, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  return bytes().u32(NBD_SIMPLE_REPLY_MAGIC).u32(error).u64(cookie).raw(data).build();
}

/** A structured reply chunk: 20-byte header with a 32-bit payload length, then the payload. */
export function structuredChunk(flags: number, type: number, cookie: U64, payload: Uint8Array): Uint8Array {
  return bytes()
    .u32(NBD_STRUCTURED_REPLY_MAGIC)
    .u16(flags)
    .u16(type)
    .u64(cookie)
    .u32(payload.length)
    .raw(payload)
    .build();
}

/** An extended reply chunk: 32-byte header (offset echoes the request), 64-bit payload length. */
export function extendedChunk(
  flags: number,
  type: number,
  cookie: U64,
  offset: U64,
  payload: Uint8Array,
): Uint8Array {
  return bytes()
    .u32(NBD_EXTENDED_REPLY_MAGIC)
    .u16(flags)
    .u16(type)
    .u64(cookie)
    .u64(offset)
    .u64(payload.length)
    .raw(payload)
    .build();
}

/** NBD_REPLY_TYPE_OFFSET_DATA payload: offset, data. */
export function offsetData(offset: U64, data: Uint8Array): Uint8Array {
  return bytes().u64(offset).raw(data).build();
}

/** NBD_REPLY_TYPE_OFFSET_HOLE payload: offset, 32-bit hole size (also with extended headers). */
export function offsetHole(offset: U64, size: number): Uint8Array {
  return bytes().u64(offset).u32(size).build();
}

/** Extent list: [length, status flags] pairs. */
export type Extent = readonly [length: U64, flags: U64];

/** NBD_REPLY_TYPE_BLOCK_STATUS payload: context id, then 32-bit length/flags descriptors. */
export function blockStatus(contextId: number, extents: readonly Extent[]): Uint8Array {
  const b = bytes().u32(contextId);
  for (const [len, flags] of extents) b.u32(Number(toU64(len))).u32(Number(toU64(flags)));
  return b.build();
}

/** NBD_REPLY_TYPE_BLOCK_STATUS_EXT payload: context id, count, then 64-bit descriptors. */
export function blockStatusExt(contextId: number, extents: readonly Extent[]): Uint8Array {
  const b = bytes().u32(contextId).u32(extents.length);
  for (const [len, flags] of extents) b.u64(len).u64(flags);
  return b.build();
}

/** NBD_REPLY_TYPE_ERROR payload, or NBD_REPLY_TYPE_ERROR_OFFSET's when `offset` is given. */
export function errorChunkPayload(errno: number, message = '', offset?: U64): Uint8Array {
  const m = utf8.encode(message);
  const b = bytes().u32(errno).u16(m.length).raw(m);
  if (offset !== undefined) b.u64(offset);
  return b.build();
}

// ---------------------------------------------------------------------------------------
// Readers, for parsing what a client sent and for small hand-written clients in tests.

const utf8d = new TextDecoder('utf-8', { fatal: true });

/** Sequential big-endian reader over one message. Throws RangeError past the end. */
export class ByteReader {
  readonly bytes: Uint8Array;
  #view: DataView;
  #at = 0;

  constructor(b: Uint8Array) {
    this.bytes = b;
    this.#view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  get offset(): number {
    return this.#at;
  }

  get remaining(): number {
    return this.bytes.length - this.#at;
  }

  #take(n: number): number {
    if (n < 0 || this.#at + n > this.bytes.length) {
      throw new RangeError(`ByteReader: need ${n} bytes at ${this.#at}, have ${this.remaining}`);
    }
    const at = this.#at;
    this.#at += n;
    return at;
  }

  u8(): number {
    return this.#view.getUint8(this.#take(1));
  }

  u16(): number {
    return this.#view.getUint16(this.#take(2));
  }

  u32(): number {
    return this.#view.getUint32(this.#take(4));
  }

  u64(): bigint {
    return this.#view.getBigUint64(this.#take(8));
  }

  raw(n: number): Uint8Array {
    const at = this.#take(n);
    return this.bytes.subarray(at, at + n);
  }

  /** `n` bytes decoded as UTF-8; invalid UTF-8 throws (strings MUST be UTF-8). */
  str(n: number): string {
    return utf8d.decode(this.raw(n));
  }

  rest(): Uint8Array {
    return this.raw(this.remaining);
  }
}

export function reader(b: Uint8Array): ByteReader {
  return new ByteReader(b);
}

/** Header fields of a request, compact or extended (payload excluded). */
export interface RequestHeader {
  magic: number;
  flags: number;
  type: number;
  cookie: bigint;
  offset: bigint;
  length: bigint;
  extended: boolean;
}

/** Parse a 28-byte compact or 32-byte extended request header. */
export function parseRequestHeader(b: Uint8Array, extended: boolean): RequestHeader {
  const r = reader(b);
  const magic = r.u32();
  const flags = r.u16();
  const type = r.u16();
  const cookie = r.u64();
  const offset = r.u64();
  const length = extended ? r.u64() : BigInt(r.u32());
  return { magic, flags, type, cookie, offset, length, extended };
}

/** Header of a client option: the 16 bytes before the option data. */
export interface OptionHeader {
  magic: bigint;
  option: number;
  length: number;
}

export function parseOptionHeader(b: Uint8Array): OptionHeader {
  const r = reader(b);
  return { magic: r.u64(), option: r.u32(), length: r.u32() };
}

/** Header of a fixed newstyle option reply: the 20 bytes before the payload. */
export interface OptReplyHeader {
  magic: bigint;
  option: number;
  type: number;
  length: number;
}

export function parseOptReplyHeader(b: Uint8Array): OptReplyHeader {
  const r = reader(b);
  return { magic: r.u64(), option: r.u32(), type: r.u32(), length: r.u32() };
}

/** A transmission reply header: simple (16 bytes), structured (20) or extended (32). */
export type ReplyHeader =
  | { magic: number; kind: 'simple'; error: number; cookie: bigint }
  | { magic: number; kind: 'structured'; flags: number; type: number; cookie: bigint; length: bigint }
  | { magic: number; kind: 'extended'; flags: number; type: number; cookie: bigint; offset: bigint; length: bigint };

/** Size of the header that starts with `magic` (read the first 4 bytes, then the rest). */
export function replyHeaderSize(magic: number): number | undefined {
  switch (magic) {
    case NBD_SIMPLE_REPLY_MAGIC:
      return 16;
    case NBD_STRUCTURED_REPLY_MAGIC:
      return 20;
    case NBD_EXTENDED_REPLY_MAGIC:
      return 32;
    default:
      return undefined;
  }
}

export function parseReplyHeader(b: Uint8Array): ReplyHeader {
  const r = reader(b);
  const magic = r.u32();
  switch (magic) {
    case NBD_SIMPLE_REPLY_MAGIC:
      return { magic, kind: 'simple', error: r.u32(), cookie: r.u64() };
    case NBD_STRUCTURED_REPLY_MAGIC:
      return { magic, kind: 'structured', flags: r.u16(), type: r.u16(), cookie: r.u64(), length: BigInt(r.u32()) };
    case NBD_EXTENDED_REPLY_MAGIC:
      return {
        magic,
        kind: 'extended',
        flags: r.u16(),
        type: r.u16(),
        cookie: r.u64(),
        offset: r.u64(),
        length: r.u64(),
      };
    default:
      throw new Error(`parseReplyHeader: unknown magic 0x${magic.toString(16)}`);
  }
}
