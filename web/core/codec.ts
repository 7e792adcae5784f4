// Bytes in, values out; values in, bytes out. Pure functions over the messages of proto.md.
// Nothing here knows about sockets or handles.

import * as P from './protocol.js';

const utf8 = new TextEncoder();
const utf8d = new TextDecoder('utf-8', { fatal: false });

export const encodeString = (s: string): Uint8Array => utf8.encode(s);
export const decodeString = (b: Uint8Array): string => utf8d.decode(b);

const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Read a big-endian u64 exactly. */
export const u64 = (b: Uint8Array, at: number): bigint => view(b).getBigUint64(at);

/** Read a big-endian u64 as a number, or -1 when it does not fit in 2^53 (never a valid cookie). */
export const u64small = (b: Uint8Array, at: number): number => {
  const v = view(b);
  const hi = v.getUint32(at);
  return hi >= 0x200000 ? -1 : hi * 0x100000000 + v.getUint32(at + 4);
};

export const u32 = (b: Uint8Array, at: number): number => view(b).getUint32(at);
export const u16 = (b: Uint8Array, at: number): number => view(b).getUint16(at);

// --- Handshake ("Newstyle negotiation", "Fixed newstyle negotiation") ---

/** C: 32 bits of client flags. */
export function clientFlags(flags: number): Uint8Array {
  const b = new Uint8Array(4);
  view(b).setUint32(0, flags);
  return b;
}

/** C: IHAVEOPT, option, length, data. */
export function option(opt: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(16 + data.length);
  const v = view(b);
  v.setBigUint64(0, P.NBD_OPTS_MAGIC);
  v.setUint32(8, opt);
  v.setUint32(12, data.length);
  b.set(data, 16);
  return b;
}

/** Concatenate parts, each either bytes, a u32 (number) or a u16 ({u16}). */
function pack(parts: (Uint8Array | number | { u16: number })[]): Uint8Array {
  const size = parts.reduce<number>((n, p) => n + (p instanceof Uint8Array ? p.length : typeof p === 'number' ? 4 : 2), 0);
  const b = new Uint8Array(size);
  const v = view(b);
  let at = 0;
  for (const p of parts) {
    if (p instanceof Uint8Array) { b.set(p, at); at += p.length; }
    else if (typeof p === 'number') { v.setUint32(at, p); at += 4; }
    else { v.setUint16(at, p.u16); at += 2; }
  }
  return b;
}

/** NBD_OPT_GO / NBD_OPT_INFO data: export name and the info types requested. */
export function goData(name: string, infos: readonly number[]): Uint8Array {
  const n = encodeString(name);
  return pack([n.length, n, { u16: infos.length }, ...infos.map((i) => ({ u16: i }))]);
}

/** NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT data: export name and queries. */
export function metaContextData(name: string, queries: readonly string[]): Uint8Array {
  const n = encodeString(name);
  const q = queries.map(encodeString);
  return pack([n.length, n, q.length, ...q.flatMap((s) => [s.length, s])]);
}

/** S: option reply header (20 bytes): magic, option, reply type, length. */
export interface OptReplyHeader {
  magic: bigint;
  option: number;
  type: number;
  length: number;
}

export const decodeOptReplyHeader = (b: Uint8Array): OptReplyHeader => ({
  magic: u64(b, 0),
  option: u32(b, 8),
  type: u32(b, 12),
  length: u32(b, 16),
});

// --- Transmission ("Request message", "Simple reply message", "Structured reply chunk message") ---

export const REQUEST_SIZE = 28;
export const EXTENDED_REQUEST_SIZE = 32;

/**
 * A request header, compact (28 bytes) or extended (32 bytes, "Extended headers").
 * The caller sends any write payload separately so that it is never copied here.
 */
export function request(
  extended: boolean, flags: number, type: number, cookie: number, offset: bigint, length: bigint,
): Uint8Array {
  const b = new Uint8Array(extended ? EXTENDED_REQUEST_SIZE : REQUEST_SIZE);
  const v = view(b);
  v.setUint32(0, extended ? P.NBD_EXTENDED_REQUEST_MAGIC : P.NBD_REQUEST_MAGIC);
  v.setUint16(4, flags);
  v.setUint16(6, type);
  v.setUint32(8, Math.floor(cookie / 0x100000000));
  v.setUint32(12, cookie >>> 0);
  v.setBigUint64(16, offset);
  if (extended) v.setBigUint64(24, length);
  else v.setUint32(24, Number(length));
  return b;
}

/** Reply header sizes by magic; the first 4 bytes decide which one follows. */
export const SIMPLE_REPLY_SIZE = 16;
export const STRUCTURED_REPLY_SIZE = 20;
export const EXTENDED_REPLY_SIZE = 32;

/** A reply header of any kind, normalised: simple replies become a DONE chunk with an error. */
export interface ReplyHeader {
  kind: 'simple' | 'structured' | 'extended';
  flags: number;
  type: number;
  /** -1 when the cookie is too large to be one of ours. */
  cookie: number;
  /** Payload length; for simple replies the server's error instead (no length on the wire). */
  length: bigint;
  error: number;
}

export function decodeReplyHeader(b: Uint8Array): ReplyHeader {
  const magic = u32(b, 0);
  if (magic === P.NBD_SIMPLE_REPLY_MAGIC) {
    return { kind: 'simple', flags: P.NBD_REPLY_FLAG_DONE, type: 0, cookie: u64small(b, 8), length: 0n, error: u32(b, 4) };
  }
  if (magic === P.NBD_STRUCTURED_REPLY_MAGIC) {
    return { kind: 'structured', flags: u16(b, 4), type: u16(b, 6), cookie: u64small(b, 8), length: BigInt(u32(b, 16)), error: 0 };
  }
  // Extended: the offset at 16 echoes the request; length is at 24.
  return { kind: 'extended', flags: u16(b, 4), type: u16(b, 6), cookie: u64small(b, 8), length: u64(b, 24), error: 0 };
}

/** NBD_REPLY_TYPE_ERROR / ERROR_OFFSET payload. */
export interface ErrorChunk {
  error: number;
  message: string;
  offset: bigint | null;
}

export function decodeErrorChunk(b: Uint8Array, withOffset: boolean): ErrorChunk | null {
  if (b.length < 6) return null;
  const len = u16(b, 4);
  if (6 + len + (withOffset ? 8 : 0) !== b.length) return null;
  return {
    error: u32(b, 0),
    message: decodeString(b.subarray(6, 6 + len)),
    offset: withOffset ? u64(b, 6 + len) : null,
  };
}

/** One block status descriptor, 64-bit whether it came compact or extended. */
export interface Descriptor {
  length: bigint;
  flags: bigint;
}

/**
 * NBD_REPLY_TYPE_BLOCK_STATUS (context id, then u32 length/flags pairs) or
 * NBD_REPLY_TYPE_BLOCK_STATUS_EXT (context id, count, then u64 length/flags pairs).
 * Returns null when the payload's size does not fit the format.
 */
export function decodeBlockStatus(b: Uint8Array, ext: boolean): { contextId: number; extents: Descriptor[] } | null {
  const head = ext ? 8 : 4;
  const size = ext ? 16 : 8;
  if (b.length < head + size || (b.length - head) % size !== 0) return null;
  const count = (b.length - head) / size;
  if (ext && u32(b, 4) !== count) return null;
  const v = view(b);
  const extents: Descriptor[] = new Array(count);
  for (let i = 0, at = head; i < count; i++, at += size) {
    extents[i] = ext
      ? { length: v.getBigUint64(at), flags: v.getBigUint64(at + 8) }
      : { length: BigInt(v.getUint32(at)), flags: BigInt(v.getUint32(at + 4)) };
  }
  return { contextId: u32(b, 0), extents };
}
