// The scripted server's transmission phase (proto.md "Transmission", "Request types"): reads
// requests, checks them as the spec says a server should, acts on the disk and encodes the replies.

import {
  type Extent,
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_CACHE,
  NBD_CMD_DISC,
  NBD_CMD_FLAG_DF,
  NBD_CMD_FLAG_FAST_ZERO,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLAG_PAYLOAD_LEN,
  NBD_CMD_FLAG_REQ_ONE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_EINVAL,
  NBD_ENOSPC,
  NBD_EPERM,
  NBD_FLAG_BLOCK_STAT_PAYLOAD,
  NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_CACHE,
  NBD_FLAG_SEND_DF,
  NBD_FLAG_SEND_FAST_ZERO,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_FUA,
  NBD_FLAG_SEND_TRIM,
  NBD_FLAG_SEND_WRITE_ZEROES,
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE_BLOCK_STATUS,
  NBD_REPLY_TYPE_BLOCK_STATUS_EXT,
  NBD_REPLY_TYPE_ERROR,
  NBD_REPLY_TYPE_NONE,
  NBD_REPLY_TYPE_OFFSET_DATA,
  NBD_REPLY_TYPE_OFFSET_HOLE,
  NBD_STATE_HOLE,
  NBD_STATE_ZERO,
  blockStatus,
  blockStatusExt,
  errorChunkPayload,
  extendedChunk,
  offsetData,
  offsetHole,
  reader,
  simpleReply,
  structuredChunk,
} from './bytes.js';
import { type NbdRequest, ConnectionClosed, DEFAULT_MAX_PAYLOAD } from './fake-conn.js';
import type { DiskSession, Reply, ServeDiskOptions } from './fake-server.js';

const U32_MAX = 0xffffffffn;

export async function transmission(s: DiskSession, opts: ServeDiskOptions): Promise<void> {
  const { conn } = s;
  const hooks = opts.hooks ?? {};
  const inflight = new Set<Promise<void>>();
  let failure: unknown;

  for (;;) {
    let req: NbdRequest;
    try {
      req = await conn.readRequest({ extended: s.extended });
    } catch (e) {
      if (e instanceof ConnectionClosed && inflight.size === 0) return; // client went away
      await Promise.allSettled([...inflight]);
      throw e;
    }
    s.requests.push(req);
    if ((await hooks.onRequest?.(req, s)) === 'drop') {
      conn.destroy();
      return;
    }
    if (req.type === NBD_CMD_DISC) {
      // "The server MUST handle all outstanding requests" then close; no reply.
      await Promise.allSettled([...inflight]);
      if (failure) throw failure;
      await conn.end();
      return;
    }

    // Effects happen in arrival order; only the replies may be delayed and reordered.
    const replies = execute(s, req, opts);
    const delay = hooks.delayReply?.(req, s) ?? 0;
    const send = (async () => {
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      const replaced = await hooks.onReply?.(req, replies, s);
      const out: Reply[] = replaced instanceof Uint8Array ? [{ kind: 'raw', bytes: replaced }] : (replaced ?? replies);
      for (const r of out) {
        if (r.kind === 'drop') {
          conn.destroy();
          return;
        }
        await conn.write(encodeReply(s, req, r));
      }
    })();
    if (delay > 0) {
      inflight.add(send);
      send.then(
        () => inflight.delete(send),
        (e) => {
          inflight.delete(send);
          if (!(e instanceof ConnectionClosed)) failure ??= e;
        },
      );
    } else {
      await send;
    }
    if (failure) throw failure;
  }
}

function encodeReply(s: DiskSession, req: NbdRequest, r: Exclude<Reply, { kind: 'drop' }>): Uint8Array {
  switch (r.kind) {
    case 'raw':
      return r.bytes;
    case 'simple':
      return simpleReply(r.error, r.cookie ?? req.cookie, r.data);
    case 'chunk':
      return s.extended
        ? extendedChunk(r.flags, r.type, r.cookie ?? req.cookie, r.offset ?? req.offset, r.payload)
        : structuredChunk(r.flags, r.type, r.cookie ?? req.cookie, r.payload);
  }
}

/** The error reply for a request: simple, or an NBD_REPLY_TYPE_ERROR chunk with a message. */
function errorReply(s: DiskSession, errno: number, message: string): Reply[] {
  if (!s.structured) return [{ kind: 'simple', error: errno }];
  const payload = errorChunkPayload(errno, message);
  return [{ kind: 'chunk', flags: NBD_REPLY_FLAG_DONE, type: NBD_REPLY_TYPE_ERROR, payload }];
}

/** Success without data: simple reply, or NBD_REPLY_TYPE_NONE (the only choice with extended headers). */
function doneReply(s: DiskSession, opts: ServeDiskOptions): Reply[] {
  if (s.extended || (s.structured && opts.structuredSuccess === 'chunk')) {
    return [{ kind: 'chunk', flags: NBD_REPLY_FLAG_DONE, type: NBD_REPLY_TYPE_NONE, payload: new Uint8Array(0) }];
  }
  return [{ kind: 'simple', error: 0 }];
}

/** Validate and perform one request on the disk; returns the default replies. */
function execute(s: DiskSession, req: NbdRequest, opts: ServeDiskOptions): Reply[] {
  const exp = s.export!;
  const tf = s.transmissionFlags;
  const fail = (errno: number, message: string): Reply[] => errorReply(s, errno, message);
  const has = (flag: number): boolean => (tf & flag) !== 0;
  const payloadLen = s.extended && (req.flags & NBD_CMD_FLAG_PAYLOAD_LEN) !== 0;

  // proto.md "Command flags": FUA is valid on every command when NBD_FLAG_SEND_FUA is set.
  let valid = has(NBD_FLAG_SEND_FUA) ? NBD_CMD_FLAG_FUA : 0;
  let offset = req.offset;
  let length = req.length;
  let blockStatusIds: number[] | undefined;

  switch (req.type) {
    case NBD_CMD_READ:
      if (has(NBD_FLAG_SEND_DF)) valid |= NBD_CMD_FLAG_DF;
      break;
    case NBD_CMD_WRITE:
      if (s.extended) {
        valid |= NBD_CMD_FLAG_PAYLOAD_LEN;
        if (!payloadLen) s.conn.violations.push('NBD_CMD_WRITE without NBD_CMD_FLAG_PAYLOAD_LEN (tolerated)');
      }
      break;
    case NBD_CMD_FLUSH:
      if (!has(NBD_FLAG_SEND_FLUSH)) return fail(NBD_EINVAL, 'flush not advertised');
      // "length and offset are reserved, and MUST be set to all-zero".
      if (offset !== 0n || length !== 0n) return fail(NBD_EINVAL, 'flush with nonzero offset or length');
      break;
    case NBD_CMD_TRIM:
      if (!has(NBD_FLAG_SEND_TRIM)) return fail(NBD_EINVAL, 'trim not advertised');
      break;
    case NBD_CMD_CACHE:
      if (!has(NBD_FLAG_SEND_CACHE)) return fail(NBD_EINVAL, 'cache not advertised');
      break;
    case NBD_CMD_WRITE_ZEROES:
      if (!has(NBD_FLAG_SEND_WRITE_ZEROES)) return fail(NBD_EINVAL, 'write zeroes not advertised');
      valid |= NBD_CMD_FLAG_NO_HOLE;
      if (has(NBD_FLAG_SEND_FAST_ZERO)) valid |= NBD_CMD_FLAG_FAST_ZERO;
      break;
    case NBD_CMD_BLOCK_STATUS:
      valid |= NBD_CMD_FLAG_REQ_ONE;
      if (payloadLen && has(NBD_FLAG_BLOCK_STAT_PAYLOAD)) {
        valid |= NBD_CMD_FLAG_PAYLOAD_LEN;
        // Payload: 64-bit effect length, then the context ids wanted (as qemu checks it).
        const p = req.payload;
        if (p.length < 8 || p.length % 4 !== 0 || p.length > 8 + 4 * s.contexts.length) {
          return fail(NBD_EINVAL, 'malformed block status payload');
        }
        const r = reader(p);
        length = r.u64();
        blockStatusIds = [];
        while (r.remaining) {
          const id = r.u32();
          if (!s.contexts.some((c) => c.id === id) || blockStatusIds.includes(id)) {
            return fail(NBD_EINVAL, `context id ${id} not negotiated or repeated`);
          }
          blockStatusIds.push(id);
        }
      }
      break;
    default:
      return fail(NBD_EINVAL, `unknown command ${req.type}`);
  }
  if (payloadLen && req.type !== NBD_CMD_WRITE && !(valid & NBD_CMD_FLAG_PAYLOAD_LEN)) {
    return fail(NBD_EINVAL, 'unexpected payload');
  }
  if (req.flags & ~valid) return fail(NBD_EINVAL, `invalid flags 0x${req.flags.toString(16)}`);

  const writes = req.type === NBD_CMD_WRITE || req.type === NBD_CMD_TRIM || req.type === NBD_CMD_WRITE_ZEROES;
  // "the server MUST error subsequent write operations" on a read-only export.
  if (writes && has(NBD_FLAG_READ_ONLY)) return fail(NBD_EPERM, 'export is read-only');
  // proto.md "Error values": ENOSPC for writes past the end, EINVAL otherwise.
  if (offset > exp.size || length > exp.size - offset) {
    const write = req.type === NBD_CMD_WRITE || req.type === NBD_CMD_WRITE_ZEROES;
    return fail(write ? NBD_ENOSPC : NBD_EINVAL, 'request beyond the end of the export');
  }
  // proto.md "Block size constraints", enforced only when advertised.
  const bs = exp.spec.blockSize;
  if (bs && req.type !== NBD_CMD_FLUSH) {
    const min = BigInt(bs.minimum);
    if (offset % min !== 0n || length % min !== 0n) {
      return fail(NBD_EINVAL, 'request not aligned to the minimum block size');
    }
    const capped =
      req.type === NBD_CMD_READ ||
      req.type === NBD_CMD_WRITE ||
      req.type === NBD_CMD_CACHE ||
      (req.type === NBD_CMD_WRITE_ZEROES && !(req.flags & NBD_CMD_FLAG_FAST_ZERO));
    if (capped && length > BigInt(bs.maximum)) return fail(NBD_EINVAL, 'request larger than the maximum block size');
  }

  switch (req.type) {
    case NBD_CMD_READ:
      if (length > BigInt(opts.maxRead ?? DEFAULT_MAX_PAYLOAD)) {
        return fail(NBD_EINVAL, 'read larger than the fake server serves');
      }
      return readReplies(s, req, opts);
    case NBD_CMD_WRITE:
      exp.disk.write(offset, req.payload);
      return doneReply(s, opts);
    case NBD_CMD_TRIM:
      exp.disk.zero(offset, length, true); // a trimmed area may read as anything; zeroes will do
      return doneReply(s, opts);
    case NBD_CMD_WRITE_ZEROES:
      // Zeroing is always fast here, so NBD_CMD_FLAG_FAST_ZERO never fails with NBD_ENOTSUP.
      exp.disk.zero(offset, length, !(req.flags & NBD_CMD_FLAG_NO_HOLE));
      return doneReply(s, opts);
    case NBD_CMD_FLUSH:
    case NBD_CMD_CACHE:
      return doneReply(s, opts);
    case NBD_CMD_BLOCK_STATUS:
      return blockStatusReplies(s, req, offset, length, blockStatusIds, opts);
  }
  return fail(NBD_EINVAL, 'unreachable');
}

/** proto.md "NBD_CMD_READ": simple, or content chunks covering the request. */
function readReplies(s: DiskSession, req: NbdRequest, opts: ServeDiskOptions): Reply[] {
  const disk = s.export!.disk;
  const length = Number(req.length);
  if (!s.structured) return [{ kind: 'simple', error: 0, data: disk.read(req.offset, length) }];
  if (length === 0) return doneReplyChunk();

  // With NBD_CMD_FLAG_DF: at most one content chunk, holes included as data.
  const chunkOpts = opts.readChunks ?? {};
  const pieces: { offset: bigint; length: number; hole: boolean }[] = [];
  if (req.flags & NBD_CMD_FLAG_DF) {
    pieces.push({ offset: req.offset, length, hole: false });
  } else {
    const max = chunkOpts.size ?? Infinity;
    for (const run of disk.runs(req.offset, req.length)) {
      const hole = !run.allocated && chunkOpts.holes !== false;
      for (let done = 0; done < Number(run.length); ) {
        const take = Math.min(max, Number(run.length) - done);
        pieces.push({ offset: run.offset + BigInt(done), length: take, hole });
        done += take;
      }
    }
  }
  if (chunkOpts.order === 'reverse') pieces.reverse();
  return pieces.map((p, i) => ({
    kind: 'chunk' as const,
    flags: i === pieces.length - 1 ? NBD_REPLY_FLAG_DONE : 0,
    type: p.hole ? NBD_REPLY_TYPE_OFFSET_HOLE : NBD_REPLY_TYPE_OFFSET_DATA,
    payload: p.hole ? offsetHole(p.offset, p.length) : offsetData(p.offset, disk.read(p.offset, p.length)),
  }));
}

function doneReplyChunk(): Reply[] {
  return [{ kind: 'chunk', flags: NBD_REPLY_FLAG_DONE, type: NBD_REPLY_TYPE_NONE, payload: new Uint8Array(0) }];
}

/** proto.md "NBD_CMD_BLOCK_STATUS": one chunk per selected context; _EXT with extended headers. */
function blockStatusReplies(
  s: DiskSession,
  req: NbdRequest,
  offset: bigint,
  length: bigint,
  ids: number[] | undefined,
  opts: ServeDiskOptions,
): Reply[] {
  // "A client MUST NOT use NBD_CMD_BLOCK_STATUS unless it selected a nonzero number of
  // metadata contexts"; servers SHOULD reply NBD_EINVAL.
  if (s.contexts.length === 0) return errorReply(s, NBD_EINVAL, 'no metadata contexts negotiated');
  if (length === 0n) return errorReply(s, NBD_EINVAL, 'block status of zero length');
  const disk = s.export!.disk;
  const contexts = ids ? ids.map((id) => s.contexts.find((c) => c.id === id)!) : s.contexts;
  const maxExtents = req.flags & NBD_CMD_FLAG_REQ_ONE ? 1 : (opts.maxExtents ?? 1024);

  return contexts.map((c, i) => {
    let extents: Extent[] = c.spec
      ? (c.spec.extents?.(offset, length, disk) ?? [[length, 0]])
      : disk.runs(offset, length).map((r) => [r.length, r.allocated ? 0 : NBD_STATE_HOLE | NBD_STATE_ZERO] as const);
    extents = extents.slice(0, maxExtents);
    if (req.flags & NBD_CMD_FLAG_REQ_ONE) {
      // REQ_ONE: exactly one extent, not longer than the request.
      const [len, flags] = extents[0]!;
      extents = [[BigInt(len) > length ? length : len, flags]];
    }
    if (!s.extended) {
      // Compact descriptors hold 32 bits: cut the first too-long extent and drop the rest
      // (a reply MAY describe less than the request, never more).
      const long = extents.findIndex(([len]) => BigInt(len) > U32_MAX);
      if (long >= 0) extents = [...extents.slice(0, long), [U32_MAX, extents[long]![1]]];
    }
    return {
      kind: 'chunk' as const,
      flags: i === contexts.length - 1 ? NBD_REPLY_FLAG_DONE : 0,
      type: s.extended ? NBD_REPLY_TYPE_BLOCK_STATUS_EXT : NBD_REPLY_TYPE_BLOCK_STATUS,
      payload: s.extended ? blockStatusExt(c.id, extents) : blockStatus(c.id, extents),
    };
  });
}
