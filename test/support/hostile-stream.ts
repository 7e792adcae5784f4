// The pieces hostile server streams are made of (hostile-cases.ts assembles them into fuzz cases):
// fast-check arbitraries for the client's configuration and commands and for the server's shape;
// valid handshakes of every style and option replies for opt mode; replies planned for each
// command (data and hole chunks, extents, errors, junk chunks, other commands' cookies); and
// mutations (bit flips, interesting integers, cuts, duplicated or dropped segments).
// All bytes come from ./bytes.ts, never from the client's encoder.

import fc from 'fast-check';
import * as T from '../../web/core/types.js';
import * as B from './bytes.js';
import type { ClientConfig, Cmd, CmdKind, FuzzCase, OptKind } from './hostile-fuzz.js';

const DONE = B.NBD_REPLY_FLAG_DONE;
const GOOD_FLAGS = B.NBD_FLAG_HAS_FLAGS | B.NBD_FLAG_SEND_FLUSH | B.NBD_FLAG_SEND_FUA | B.NBD_FLAG_SEND_TRIM |
  B.NBD_FLAG_SEND_WRITE_ZEROES | B.NBD_FLAG_SEND_CACHE | B.NBD_FLAG_SEND_FAST_ZERO | B.NBD_FLAG_SEND_DF;
const DISK = 65536;
/** Bytes the server claims are at `off` (any function of the offset will do). */
const content = (off: number, n: number) => Uint8Array.from({ length: n }, (_, i) => ((off + i) * 31 + 7) & 0xff);

// ---------------------------------------------------------------------------------------
// Client side: configuration and commands.

export const clientArb: fc.Arbitrary<ClientConfig> = fc.record({
  sr: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  ext: fc.boolean(),
  meta: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  preadInit: fc.boolean(),
  strict: fc.oneof({ weight: 4, arbitrary: fc.constant(T.STRICT_MASK) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: T.STRICT_MASK }) }),
});

const KINDS: CmdKind[] = ['pread', 'preadStructured', 'pread', 'preadStructured', 'pwrite', 'flush', 'trim', 'zero', 'cache', 'blockStatus', 'blockStatus64'];
export const cmdArb: fc.Arbitrary<Cmd> = fc.record({
  kind: fc.constantFrom(...KINDS),
  offset: fc.oneof(fc.integer({ min: 0, max: DISK - 64 }), fc.constantFrom(0, DISK - 1, DISK)),
  count: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 48 }) }, { weight: 1, arbitrary: fc.constantFrom(0, 1, 512) }),
  flags: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(T.CMD_FLAG_FUA, T.CMD_FLAG_DF, T.CMD_FLAG_REQ_ONE, T.CMD_FLAG_NO_HOLE) }),
  style: fc.constantFrom('aio', 'aio-keep', 'promise'),
});

export const endArb = fc.oneof({ weight: 6, arbitrary: fc.constant('eof' as const) }, { weight: 1, arbitrary: fc.constantFrom('reset' as const, 'close' as const) });
export const cancelsArb = fc.oneof({ weight: 5, arbitrary: fc.constant<FuzzCase['cancels']>([]) }, { weight: 1, arbitrary: fc.array(fc.record({ cmd: fc.nat(7), before: fc.nat(6) }), { maxLength: 2 }) });

// ---------------------------------------------------------------------------------------
// Server side: the handshake.

/** What the server agrees to, and what it says about the export. */
export interface Shape {
  style: 'fixed' | 'newstyle' | 'oldstyle' | 'export-name';
  replies: 'simple' | 'sr' | 'ext';
  noZeroes: boolean;
  metaId: number;
  metaOk: boolean;
  size: bigint;
  flags: number;
  blockSize: [number, number, number] | null;
  extraInfo: Uint8Array[];
}

export const shapeArb: fc.Arbitrary<Shape> = fc.record({
  style: fc.oneof({ weight: 8, arbitrary: fc.constant('fixed' as const) }, { weight: 1, arbitrary: fc.constantFrom('newstyle' as const, 'oldstyle' as const, 'export-name' as const) }),
  replies: fc.constantFrom('simple' as const, 'sr' as const, 'ext' as const),
  noZeroes: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  metaId: fc.oneof(fc.constant(1), fc.nat()),
  metaOk: fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  size: fc.oneof({ weight: 12, arbitrary: fc.constant(BigInt(DISK)) }, { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
  flags: fc.oneof({ weight: 8, arbitrary: fc.constant(GOOD_FLAGS) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
  blockSize: fc.oneof(fc.constant(null), fc.constantFrom<[number, number, number]>([1, 4096, 0xffffffff], [512, 4096, 1 << 20], [1, 1, 16]), fc.tuple(fc.nat(), fc.nat(), fc.nat())),
  extraInfo: fc.oneof({ weight: 6, arbitrary: fc.constant<Uint8Array[]>([]) }, { weight: 1, arbitrary: fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 2 }) }),
});

/** What the handshake agreed on: reply kinds, and the meta context's id. */
export interface Negotiated {
  sr: boolean;
  ext: boolean;
  metaId: number;
}

/** The server's handshake turns for a client configured as `c`; in opt mode, up to NEGOTIATING. */
export function handshake(s: Shape, c: ClientConfig, optMode = false): { segs: Uint8Array[]; neg: Negotiated } {
  const noZ = s.noZeroes ? B.NBD_FLAG_NO_ZEROES : 0;
  const none = { sr: false, ext: false, metaId: s.metaId };
  if (s.style === 'oldstyle' && !optMode) return { segs: [B.oldstyleGreeting(s.size, s.flags)], neg: none };
  if (s.style === 'newstyle' && !optMode) return { segs: [B.newstyleGreeting(noZ), B.exportNameReply(s.size, s.flags, s.noZeroes)], neg: none };
  const segs = [B.newstyleGreeting(B.NBD_FLAG_FIXED_NEWSTYLE | noZ)];
  const ack = (opt: number, yes: boolean) => B.optReply(opt, yes ? B.NBD_REP_ACK : B.NBD_REP_ERR_UNSUP);
  const neg = { ...none };
  if (c.sr && c.ext) segs.push(ack(B.NBD_OPT_EXTENDED_HEADERS, (neg.ext = neg.sr = s.replies === 'ext')));
  if (c.sr && !neg.ext) segs.push(ack(B.NBD_OPT_STRUCTURED_REPLY, (neg.sr = s.replies !== 'simple')));
  if (optMode) return { segs, neg };
  if (s.style === 'export-name') {
    segs.push(...meta(s, c, neg), B.optReply(B.NBD_OPT_GO, B.NBD_REP_ERR_UNSUP), B.exportNameReply(s.size, s.flags, s.noZeroes));
    return { segs, neg };
  }
  return { segs: [...segs, ...go(s, c, neg, B.NBD_OPT_GO, true)], neg };
}

/** NBD_OPT_SET_META_CONTEXT's replies, when the client sends it (before GO or INFO). */
function meta(s: Shape, c: ClientConfig, neg: Negotiated): Uint8Array[] {
  if (!neg.sr || !c.meta) return [];
  const M = B.NBD_OPT_SET_META_CONTEXT;
  return [s.metaOk ? B.concat(B.optReply(M, B.NBD_REP_META_CONTEXT, B.repMetaContext(s.metaId, 'base:allocation')), B.optReply(M, B.NBD_REP_ACK)) : B.optReply(M, B.NBD_REP_ERR_POLICY)];
}

/** The turns answering NBD_OPT_GO or NBD_OPT_INFO: meta contexts first, then the export, or an error. */
function go(s: Shape, c: ClientConfig, neg: Negotiated, option: number, good: boolean): Uint8Array[] {
  if (!good) return [...meta(s, c, neg), B.optReply(option, B.NBD_REP_ERR_UNKNOWN, new TextEncoder().encode('no such export'))];
  const infos = [...s.extraInfo.map((x) => B.optReply(option, B.NBD_REP_INFO, x)), B.optReply(option, B.NBD_REP_INFO, B.infoExport(s.size, s.flags))];
  if (s.blockSize) infos.push(B.optReply(option, B.NBD_REP_INFO, B.infoBlockSize(...s.blockSize)));
  return [...meta(s, c, neg), B.concat(...infos, B.optReply(option, B.NBD_REP_ACK))];
}

/** The turns answering one opt-mode call (nbd_opt_list and friends). */
export function optReplies(kind: OptKind, good: boolean, s: Shape, c: ClientConfig, neg: Negotiated): Uint8Array[] {
  switch (kind) {
    case 'list': {
      const L = B.NBD_OPT_LIST;
      return [good ? B.concat(B.optReply(L, B.NBD_REP_SERVER, B.repServer('', 'the default')), B.optReply(L, B.NBD_REP_SERVER, B.repServer('other')), B.optReply(L, B.NBD_REP_ACK)) : B.optReply(L, B.NBD_REP_ERR_POLICY)];
    }
    case 'listMeta': {
      const L = B.NBD_OPT_LIST_META_CONTEXT;
      return [good ? B.concat(B.optReply(L, B.NBD_REP_META_CONTEXT, B.repMetaContext(0, 'base:allocation')), B.optReply(L, B.NBD_REP_ACK)) : B.optReply(L, B.NBD_REP_ERR_UNSUP)];
    }
    case 'info': return go(s, c, neg, B.NBD_OPT_INFO, good);
    case 'go': case 'aioGo': return go(s, c, neg, B.NBD_OPT_GO, good);
  }
}

// ---------------------------------------------------------------------------------------
// Server side: replies to the commands, planned per command.

export interface Plan {
  form: 'good' | 'error' | 'data-then-error' | 'junk' | 'random';
  cuts: number[];
  holes: boolean[];
  reverse: boolean;
  error: number;
  flags: number[];
  /** Answer as another command (its cookie), mostly 0. */
  cookieShift: number;
  junk: { type: number; flags: number; payload: Uint8Array };
}

export const planArb: fc.Arbitrary<Plan> = fc.record({
  form: fc.oneof({ weight: 8, arbitrary: fc.constant('good' as const) }, { weight: 2, arbitrary: fc.constantFrom('error' as const, 'data-then-error' as const) }, { weight: 1, arbitrary: fc.constantFrom('junk' as const, 'random' as const) }),
  cuts: fc.array(fc.nat(), { maxLength: 3 }),
  holes: fc.array(fc.boolean(), { maxLength: 4 }),
  reverse: fc.boolean(),
  error: fc.constantFrom(B.NBD_EIO, B.NBD_EPERM, B.NBD_ENOSPC, B.NBD_ESHUTDOWN, B.NBD_EOVERFLOW, 0, 9999),
  flags: fc.array(fc.oneof(fc.nat(3), fc.constant(0xffffffff), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(Number)), { maxLength: 4 }),
  cookieShift: fc.oneof({ weight: 30, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -2, max: 2 }) }),
  junk: fc.record({
    type: fc.oneof(fc.constantFrom(0, 1, 2, 5, 6, 0x8001, 0x8002, 0x8123, 0x42), fc.nat(0xffff)),
    flags: fc.oneof(fc.constant(DONE), fc.nat(0xffff)),
    payload: fc.uint8Array({ maxLength: 40 }),
  }),
});

/** Split [0, n) at the plan's cuts: [start, end) pieces in order. */
function pieces(n: number, cuts: number[]): [number, number][] {
  const at = [...new Set(cuts.map((c) => (n > 1 ? 1 + (c % (n - 1)) : n)))].filter((c) => c > 0 && c < n).sort((a, b) => a - b);
  const edges = [0, ...at, n];
  return edges.slice(1).map((e, i) => [edges[i]!, e]);
}

/** The chunks (or simple reply) answering `cmd`, cookie `cookie`, under what was negotiated. */
export function reply(p: Plan, cmd: Cmd, cookie: number, neg: Negotiated, random: Uint8Array): Uint8Array[] {
  const read = cmd.kind === 'pread' || cmd.kind === 'preadStructured';
  const bs = cmd.kind === 'blockStatus' || cmd.kind === 'blockStatus64';
  const off = BigInt(cmd.offset);
  const chunk = (flags: number, type: number, payload: Uint8Array) =>
    neg.ext ? B.extendedChunk(flags, type, cookie, off, payload) : B.structuredChunk(flags, type, cookie, payload);
  const done = (list: [number, Uint8Array][]) => {
    const order = p.reverse ? [...list].reverse() : list;
    return order.map(([type, payload], i) => chunk(i === order.length - 1 ? DONE : 0, type, payload));
  };
  if (p.form === 'random') return [random];
  if (p.form === 'junk') return [chunk(p.junk.flags, p.junk.type, p.junk.payload)];
  if (!neg.sr) {
    if (p.form !== 'good') return [B.simpleReply(p.error, cookie)];
    return [B.simpleReply(0, cookie, read ? content(cmd.offset, cmd.count) : new Uint8Array(0))];
  }
  const error = (at?: number) => [B.NBD_REPLY_TYPE_ERROR + (at === undefined ? 0 : 1), B.errorChunkPayload(p.error, 'fuzz', at === undefined ? undefined : off + BigInt(at))] as [number, Uint8Array];
  if (p.form === 'error') return done([error()]);
  const parts = pieces(cmd.count, p.cuts);
  if (read) {
    const list = parts.map(([s, e], i): [number, Uint8Array] => p.holes[i]
      ? [B.NBD_REPLY_TYPE_OFFSET_HOLE, B.offsetHole(off + BigInt(s), e - s)]
      : [B.NBD_REPLY_TYPE_OFFSET_DATA, B.offsetData(off + BigInt(s), content(cmd.offset + s, e - s))]);
    if (p.form === 'data-then-error') list.splice(list.length - 1, 1, error(parts.at(-1)![0]));
    return done(list);
  }
  if (bs) {
    const extents = parts.map(([s, e], i): B.Extent => [e - s, BigInt(p.flags[i] ?? 0) & (neg.ext ? (1n << 64n) - 1n : 0xffffffffn)]);
    const payload = neg.ext ? B.blockStatusExt(neg.metaId, extents) : B.blockStatus(neg.metaId, extents);
    const list: [number, Uint8Array][] = [[neg.ext ? B.NBD_REPLY_TYPE_BLOCK_STATUS_EXT : B.NBD_REPLY_TYPE_BLOCK_STATUS, payload]];
    if (p.form === 'data-then-error') list.push(error());
    return done(list);
  }
  return p.form === 'good' && !neg.ext && p.reverse ? [B.simpleReply(0, cookie)] : done(p.form === 'good' ? [[B.NBD_REPLY_TYPE_NONE, new Uint8Array(0)]] : [error()]);
}

/**
 * Make a command one the handle will send under this shape (in bounds, aligned, advertised,
 * flags it accepts), so that cookies 1..n line up with the replies and the fuzzer gets deep.
 */
export function sanitize(cmd: Cmd, s: Shape, neg: Negotiated, c: ClientConfig): Cmd {
  const f = s.flags;
  const has = (bit: number) => (f & bit) !== 0;
  let kind = cmd.kind;
  const writes = kind === 'pwrite' || kind === 'trim' || kind === 'zero';
  if ((writes && has(B.NBD_FLAG_READ_ONLY)) || (kind === 'trim' && !has(B.NBD_FLAG_SEND_TRIM)) || (kind === 'zero' && !has(B.NBD_FLAG_SEND_WRITE_ZEROES))
    || (kind === 'cache' && !has(B.NBD_FLAG_SEND_CACHE)) || (kind === 'flush' && !has(B.NBD_FLAG_SEND_FLUSH))
    || ((kind === 'blockStatus' || kind === 'blockStatus64') && !(neg.sr && c.meta && s.metaOk))) kind = 'pread';
  const [min, pref, max] = s.blockSize ?? [0, 0, 0];
  const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
  const sized = pow2(min) && min <= 65536 && pow2(pref) && pref >= min && max >= min && (max === 0xffffffff || max % min === 0);
  const unit = sized ? min : 1;
  const size = Number(s.size < BigInt(DISK) ? s.size : BigInt(DISK));
  let count = Math.max(unit, Math.ceil(cmd.count / unit) * unit);
  if (sized && (kind === 'pread' || kind === 'preadStructured' || kind === 'pwrite') && count > max) count = max - (max % unit);
  count = Math.min(count, size - (size % unit));
  const offset = Math.max(0, Math.min(cmd.offset, size - count));
  const allowed = kind === 'preadStructured' ? (neg.sr && has(B.NBD_FLAG_SEND_DF) ? T.CMD_FLAG_DF : 0)
    : kind === 'pwrite' || kind === 'trim' ? (has(B.NBD_FLAG_SEND_FUA) ? T.CMD_FLAG_FUA : 0)
    : kind === 'zero' ? T.CMD_FLAG_NO_HOLE | (has(B.NBD_FLAG_SEND_FUA) ? T.CMD_FLAG_FUA : 0)
    : kind === 'blockStatus' || kind === 'blockStatus64' ? T.CMD_FLAG_REQ_ONE : 0;
  return { ...cmd, kind, count, offset: offset - (offset % unit), flags: cmd.flags & allowed };
}

// ---------------------------------------------------------------------------------------
// Mutations, applied to the segments after they are built.

export interface Mutation {
  where: 'handshake' | 'opt' | 'replies';
  seg: number;
  pos: number;
  op: 'flip' | 'byte' | 'u32' | 'u64' | 'truncate' | 'dup' | 'drop' | 'insert';
  value: number;
  bytes: Uint8Array;
}

const INTERESTING = [0, 1, 2, 7, 8, 12, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
export const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  where: fc.oneof({ weight: 1, arbitrary: fc.constantFrom('handshake' as const, 'opt' as const) }, { weight: 6, arbitrary: fc.constant('replies' as const) }),
  seg: fc.nat(),
  pos: fc.nat(),
  op: fc.constantFrom('flip', 'byte', 'u32', 'u64', 'truncate', 'dup', 'drop', 'insert'),
  value: fc.oneof(fc.constantFrom(...INTERESTING), fc.nat(0xffffffff)),
  bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
});

export function mutate(segs: Uint8Array[], m: Mutation): Uint8Array[] {
  if (segs.length === 0) return m.op === 'insert' ? [m.bytes] : segs;
  const out: Uint8Array[] = segs.map((s) => s.slice());
  const i = m.seg % out.length;
  const s = out[i]!;
  const at = s.length ? m.pos % s.length : 0;
  const dv = new DataView(s.buffer);
  switch (m.op) {
    case 'flip': if (s.length) s[at]! ^= 1 << (m.value & 7); break;
    case 'byte': if (s.length) s[at] = m.value & 0xff; break;
    case 'u32': if (s.length >= 4) dv.setUint32(Math.min(at, s.length - 4), m.value); break;
    case 'u64': if (s.length >= 8) { const k = Math.min(at, s.length - 8); dv.setUint32(k, m.value); dv.setUint32(k + 4, m.value); } break;
    case 'truncate': out[i] = s.subarray(0, at); break;
    case 'dup': out.splice(i, 0, s.slice()); break;
    case 'drop': out.splice(i, 1); break;
    case 'insert': out[i] = B.concat(s.subarray(0, at), m.bytes, s.subarray(at)); break;
  }
  return out;
}

/** Cut the concatenation of `segs` at the given points instead (framing must not matter). */
export function resplit(segs: Uint8Array[], cuts: number[]): Uint8Array[] {
  const all = B.concat(...segs);
  if (all.length === 0) return [];
  const at = [...new Set(cuts.map((c) => c % all.length))].filter((c) => c > 0).sort((a, b) => a - b);
  return [0, ...at].map((s, i) => all.subarray(s, at[i] ?? all.length));
}
