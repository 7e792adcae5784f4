// REPLY.CHUNK_REPLY: one chunk of a structured or extended reply ("Structured reply chunk
// message", "Structured reply types"): its type and length are checked against the command before
// anything is read; data lands in the caller's buffer; holes, block status and errors go to the
// command's callbacks (libnbd's generator/states-reply-chunk.c).

import * as C from '../codec.js';
import { errno } from '../errors.js';
import * as P from '../protocol.js';
import * as T from '../types.js';
import type { Engine, WireCommand } from './engine.js';
import { MAX_REQUEST } from './flags.js';
import { finishReply } from './states-reply.js';
import type { Steps } from './steps.js';
import { Violation } from './violation.js';

const MAX_ERROR_CHUNK = 6 + P.NBD_MAX_STRING + 8;
const MAX_BLOCK_STATUS = MAX_REQUEST + 8;

/** libnbd's mapping of the protocol's error numbers; anything unknown becomes EINVAL. */
export const wireErrno = (e: number): number =>
  [P.NBD_EPERM, P.NBD_EIO, P.NBD_ENOMEM, P.NBD_EINVAL, P.NBD_ENOSPC, P.NBD_EOVERFLOW, P.NBD_ENOTSUP, P.NBD_ESHUTDOWN]
    .includes(e) ? e : errno.EINVAL;

const violation = (cmd: WireCommand, why: string): never => { throw new Violation(`${P.nameOf('cmd', cmd.type)}: ${why}`); };

export function chunkCallback(e: Engine, cmd: WireCommand, sub: Uint8Array, offset: bigint, status: number, err = 0): void {
  if (!cmd.cancelled) e.cmds.midCallback(cmd, (ref) => cmd.chunk!.callback(sub, offset, status, ref), err);
}

/** A chunk header: check its type and length against the command before reading anything. */
export function chunkHeader(e: Engine, h: C.ReplyHeader, cmd: WireCommand): void {
  const from = 'REPLY.RECV_REPLY';
  const len = h.length;
  const isRead = cmd.type === P.NBD_CMD_READ;
  const bad = (why: string) => violation(cmd, why);
  if (len > 0xffffffffn) bad(`chunk length ${len} is too large`);
  const n = Number(len);
  e.chunkLength = n;
  switch (h.type) {
    case P.NBD_REPLY_TYPE_NONE:
      if (n !== 0) bad('NBD_REPLY_TYPE_NONE with a payload');
      if (!(h.flags & P.NBD_REPLY_FLAG_DONE)) bad('NBD_REPLY_TYPE_NONE without the done flag');
      return finishReply(e, from, true);
    case P.NBD_REPLY_TYPE_OFFSET_DATA:
      if (!isRead) bad('server sent OFFSET_DATA to a command that is not a read');
      if (n <= 8 || BigInt(n - 8) > cmd.count) bad(`invalid OFFSET_DATA chunk length ${n}`);
      e.goto(from, 'REPLY.CHUNK_REPLY.RECV_OFFSET_DATA');
      return e.rx.need(8);
    case P.NBD_REPLY_TYPE_OFFSET_HOLE:
      if (!isRead) bad('server sent OFFSET_HOLE to a command that is not a read');
      if (n !== 12) bad(`invalid OFFSET_HOLE chunk length ${n}`);
      e.goto(from, 'REPLY.CHUNK_REPLY.RECV_OFFSET_HOLE');
      return e.rx.need(12);
    case P.NBD_REPLY_TYPE_BLOCK_STATUS:
    case P.NBD_REPLY_TYPE_BLOCK_STATUS_EXT: {
      if (cmd.type !== P.NBD_CMD_BLOCK_STATUS) bad('server sent block status to a command that is not block status');
      const ext = h.type === P.NBD_REPLY_TYPE_BLOCK_STATUS_EXT;
      if (ext !== e.s.conn.extendedHeaders) bad(ext ? 'BLOCK_STATUS_EXT without extended headers' : 'compact BLOCK_STATUS after extended headers were negotiated');
      const head = ext ? 8 : 4;
      const size = ext ? 16 : 8;
      const most = Math.min(MAX_BLOCK_STATUS, head + size * Number(cmd.count < 0x1000000n ? cmd.count : 0x1000000n));
      if (n < head + size || (n - head) % size !== 0 || n > most) bad(`invalid block status chunk length ${n}`);
      e.goto(from, 'REPLY.CHUNK_REPLY.RECV_BS_ENTRIES');
      return e.rx.need(n);
    }
    case P.NBD_REPLY_TYPE_ERROR:
    case P.NBD_REPLY_TYPE_ERROR_OFFSET:
      if (n < 6 || n > MAX_ERROR_CHUNK) bad(`invalid error chunk length ${n}`);
      e.goto(from, 'REPLY.CHUNK_REPLY.RECV_ERROR');
      return e.rx.need(n);
    default:
      // "A client MUST NOT ... an unknown type without the error bit is fatal; with it, the
      // command failed" (Structured reply types).
      if (!P.isErrorReplyType(h.type)) bad(`unknown structured reply type ${h.type}`);
      if (n < 4 || n > MAX_ERROR_CHUNK) bad(`invalid error chunk length ${n}`);
      e.goto(from, 'REPLY.CHUNK_REPLY.RECV_ERROR');
      return e.rx.need(n);
  }
}

/** The extents of one block status chunk, checked, then given to the extent callback. */
function blockStatus(e: Engine, cmd: WireCommand, b: Uint8Array, ext: boolean): void {
  const bad = (why: string): never => { throw new Violation(`block-status: ${why}`); };
  const bs = C.decodeBlockStatus(b, ext);
  if (!bs) return bad('invalid block status payload');
  const name = e.s.conn.metaContexts.find(([id]) => id === bs.contextId)?.[1];
  if (name === undefined) bad(`server sent unknown meta context id ${bs.contextId}`);
  if ((cmd.flags & P.NBD_CMD_FLAG_REQ_ONE) && bs.extents.length > 1) bad('server sent more than one extent with REQ_ONE');
  const info = e.s.conn.info!;
  let at = cmd.offset;
  for (let i = 0; i < bs.extents.length; i++) {
    const x = bs.extents[i]!;
    if (x.length === 0n) bad('server sent a zero-length extent');
    // Only the last extent may reach past the request; none may reach past the export.
    if (i > 0 && at >= cmd.offset + cmd.count) bad('server sent too many extents');
    at += x.length;
    if (at > info.size) bad(`server sent extents past the end of the export (${at} > ${info.size})`);
  }
  cmd.gotExtents = true;
  if (cmd.cancelled) return;
  if (cmd.extent64) {
    const entries = bs.extents.map((x) => ({ length: x.length, flags: x.flags }));
    e.cmds.midCallback(cmd, (ref) => cmd.extent64!.callback(name!, cmd.offset, entries, ref));
  } else if (cmd.extent) {
    // The 32-bit callback of nbd_block_status(3): flags must fit; a length that does not fit
    // ends the list there, clamped (the caller asks again from where it stops).
    const entries: number[] = [];
    for (const x of bs.extents) {
      if (x.flags > 0xffffffffn) { e.fail(cmd, errno.EOVERFLOW, `extent flags 0x${x.flags.toString(16)} do not fit in 32 bits`); return; }
      if (x.length > 0xffffffffn) { entries.push(0xffffffff - (0xffffffff % Math.max(1, info.minimum)), Number(x.flags)); break; }
      entries.push(Number(x.length), Number(x.flags));
    }
    e.cmds.midCallback(cmd, (ref) => cmd.extent!.callback(name!, cmd.offset, entries, ref));
  }
}

export const REPLY_CHUNK = {
  'REPLY.CHUNK_REPLY.RECV_OFFSET_DATA': (e: Engine, b: Uint8Array) => {
    const cmd = e.cmd!;
    const offset = C.u64(b, 0);
    const n = e.chunkLength - 8;
    if (offset < cmd.offset || offset + BigInt(n) > cmd.offset + cmd.count) violation(cmd, `server reply offset ${offset} out of range of the request`);
    const rel = Number(offset - cmd.offset);
    if (!cmd.coverage!.add(rel, rel + n)) violation(cmd, 'server sent overlapping read chunks');
    e.chunkOffset = offset;
    e.goto('REPLY.CHUNK_REPLY.RECV_OFFSET_DATA', 'REPLY.CHUNK_REPLY.RECV_OFFSET_DATA_DATA');
    e.rx.sink(cmd.buf, rel, n);
  },
  'REPLY.CHUNK_REPLY.RECV_OFFSET_DATA_DATA': (e: Engine) => {
    const cmd = e.cmd!;
    if (cmd.chunk && cmd.buf) {
      const rel = Number(e.chunkOffset - cmd.offset);
      chunkCallback(e, cmd, cmd.buf.subarray(rel, rel + e.chunkLength - 8), e.chunkOffset, T.READ_DATA);
    }
    finishReply(e, 'REPLY.CHUNK_REPLY.RECV_OFFSET_DATA_DATA', false);
  },
  'REPLY.CHUNK_REPLY.RECV_OFFSET_HOLE': (e: Engine, b: Uint8Array) => {
    const cmd = e.cmd!;
    const offset = C.u64(b, 0);
    const n = C.u32(b, 8);
    if (n === 0) violation(cmd, 'server sent a zero-length hole');
    if (offset < cmd.offset || offset + BigInt(n) > cmd.offset + cmd.count) violation(cmd, `server hole offset ${offset} out of range of the request`);
    const rel = Number(offset - cmd.offset);
    if (!cmd.coverage!.add(rel, rel + n)) violation(cmd, 'server sent overlapping read chunks');
    cmd.buf?.fill(0, rel, rel + n);
    if (cmd.chunk && cmd.buf) chunkCallback(e, cmd, cmd.buf.subarray(rel, rel + n), offset, T.READ_HOLE);
    finishReply(e, 'REPLY.CHUNK_REPLY.RECV_OFFSET_HOLE', false);
  },
  'REPLY.CHUNK_REPLY.RECV_BS_ENTRIES': (e: Engine, b: Uint8Array) => {
    blockStatus(e, e.cmd!, b, e.reply!.type === P.NBD_REPLY_TYPE_BLOCK_STATUS_EXT);
    finishReply(e, 'REPLY.CHUNK_REPLY.RECV_BS_ENTRIES', false);
  },
  'REPLY.CHUNK_REPLY.RECV_ERROR': (e: Engine, b: Uint8Array) => {
    // ERROR, ERROR_OFFSET, or an unknown error type (whose payload starts with an error too).
    const cmd = e.cmd!;
    const type = e.reply!.type;
    const withOffset = type === P.NBD_REPLY_TYPE_ERROR_OFFSET;
    const known = type === P.NBD_REPLY_TYPE_ERROR || withOffset;
    const err = known ? C.decodeErrorChunk(b, withOffset) : { error: C.u32(b, 0), message: '', offset: null };
    if (!err) return violation(cmd, 'invalid error chunk');
    if (err.error === 0) violation(cmd, 'server sent an error chunk with error 0');
    if (err.offset !== null && (err.offset < cmd.offset || err.offset >= cmd.offset + cmd.count)) {
      violation(cmd, `server error offset ${err.offset} out of range of the request`);
    }
    e.fail(cmd, wireErrno(err.error), err.message ? `server: ${err.message}` : '');
    if (cmd.chunk && cmd.type === P.NBD_CMD_READ) {
      const rel = err.offset !== null ? Number(err.offset - cmd.offset) : 0;
      chunkCallback(e, cmd, (cmd.buf ?? new Uint8Array(0)).subarray(rel, rel), err.offset ?? cmd.offset, T.READ_ERROR, wireErrno(err.error));
    }
    finishReply(e, 'REPLY.CHUNK_REPLY.RECV_ERROR', false);
  },
} satisfies Steps;
