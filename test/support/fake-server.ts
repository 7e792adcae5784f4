// A scripted NBD server for tests that real servers cannot serve: extended headers (no
// Debian server speaks them yet) and hostile or broken replies. Two layers:
//   1. FakeServer.start(handler): a TCP or Unix listener handing each connection to a script
//      as a FakeConn (exact reads, parsed options and requests, writes, a log of the bytes).
//   2. serveDisk(opts): a reference server on that layer, following NetworkBlockDevice/nbd
//      doc/proto.md over an in-memory sparse disk, with hooks to corrupt, delay or drop.
// Every message is built with ./bytes.ts, never with the client's encoder.

import { mkdtemp, rm } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  type Extent,
  type RequestHeader,
  type U64,
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
  NBD_EXTENDED_REQUEST_MAGIC,
  NBD_FLAG_BLOCK_STAT_PAYLOAD,
  NBD_FLAG_CAN_MULTI_CONN,
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_HAS_FLAGS,
  NBD_FLAG_NO_ZEROES,
  NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_CACHE,
  NBD_FLAG_SEND_DF,
  NBD_FLAG_SEND_FAST_ZERO,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_FUA,
  NBD_FLAG_SEND_TRIM,
  NBD_FLAG_SEND_WRITE_ZEROES,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_NAME,
  NBD_OPTS_MAGIC,
  NBD_OPT_ABORT,
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_EXTENDED_HEADERS,
  NBD_OPT_GO,
  NBD_OPT_INFO,
  NBD_OPT_LIST,
  NBD_OPT_LIST_META_CONTEXT,
  NBD_OPT_SET_META_CONTEXT,
  NBD_OPT_STARTTLS,
  NBD_OPT_STRUCTURED_REPLY,
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE_BLOCK_STATUS,
  NBD_REPLY_TYPE_BLOCK_STATUS_EXT,
  NBD_REPLY_TYPE_ERROR,
  NBD_REPLY_TYPE_NONE,
  NBD_REPLY_TYPE_OFFSET_DATA,
  NBD_REPLY_TYPE_OFFSET_HOLE,
  NBD_REP_ACK,
  NBD_REP_ERR_BLOCK_SIZE_REQD,
  NBD_REP_ERR_EXT_HEADER_REQD,
  NBD_REP_ERR_INVALID,
  NBD_REP_ERR_POLICY,
  NBD_REP_ERR_UNKNOWN,
  NBD_REP_ERR_UNSUP,
  NBD_REP_INFO,
  NBD_REP_META_CONTEXT,
  NBD_REP_SERVER,
  NBD_REQUEST_MAGIC,
  NBD_STATE_HOLE,
  NBD_STATE_ZERO,
  blockStatus,
  blockStatusExt,
  concat,
  errorChunkPayload,
  exportNameReply,
  extendedChunk,
  infoBlockSize,
  infoDescription,
  infoExport,
  infoName,
  newstyleGreeting,
  offsetData,
  offsetHole,
  oldstyleGreeting,
  optReply,
  parseOptionHeader,
  parseRequestHeader,
  reader,
  repMetaContext,
  repServer,
  simpleReply,
  structuredChunk,
} from './bytes.js';

// =======================================================================================
// Layer 1: the raw scripting server.

/** The peer closed the connection (EOF on read, or a write after close). Not a test failure. */
export class ConnectionClosed extends Error {
  override name = 'ConnectionClosed';
}

/** The client broke a MUST of the protocol; the server hangs up (proto.md "hard disconnect"). */
export class HardDisconnect extends Error {
  override name = 'HardDisconnect';
}

/** A client option as received: header fields and the option data. */
export interface NbdOption {
  option: number;
  data: Uint8Array;
}

/** A client request as received: header fields, the payload (WRITE data etc.) and raw bytes. */
export interface NbdRequest extends RequestHeader {
  payload: Uint8Array;
  raw: Uint8Array;
}

/** Largest option data or request payload the fake server accepts before hanging up. */
const DEFAULT_MAX_OPTION = 1 << 20;
const DEFAULT_MAX_PAYLOAD = 64 << 20;

/** One accepted connection, as seen by a script. */
export class FakeConn {
  readonly socket: net.Socket;
  /** Every chunk the client sent, in arrival order. */
  readonly received: Uint8Array[] = [];
  /** Every chunk the server wrote, in order. */
  readonly sent: Uint8Array[] = [];
  /** Client protocol violations noticed (tolerated or leading to a hard disconnect). */
  readonly violations: string[] = [];
  /** Whether readRequest() expects 32-byte extended requests (set once negotiated). */
  extendedHeaders = false;
  /** Resolves when the socket has closed, for whatever reason. */
  readonly closed: Promise<void>;

  #queue: Uint8Array[] = [];
  #queued = 0;
  #eof = false;
  #error: Error | undefined;
  #waiter: (() => void) | undefined;

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      const chunk = new Uint8Array(d); // copy: Node may pool the Buffer's memory
      this.received.push(chunk);
      this.#queue.push(chunk);
      this.#queued += chunk.length;
      this.#wake();
    });
    socket.on('end', () => {
      this.#eof = true;
      this.#wake();
    });
    socket.on('error', (e) => {
      this.#error = e;
      this.#wake();
    });
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.#eof = true;
        this.#wake();
        resolve();
      }),
    );
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  /** All bytes the client sent so far, concatenated. */
  get receivedBytes(): Uint8Array {
    return concat(...this.received);
  }

  /** Exactly `n` bytes; rejects with ConnectionClosed if the stream ends first. */
  async read(n: number): Promise<Uint8Array> {
    if (this.#waiter) throw new Error('FakeConn.read: concurrent reads');
    while (this.#queued < n) {
      if (this.#eof || this.#error) {
        throw new ConnectionClosed(
          `connection closed after ${this.#queued} of ${n} bytes` + (this.#error ? `: ${this.#error.message}` : ''),
        );
      }
      await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.#queue[0]!;
      const take = Math.min(head.length, n - filled);
      out.set(head.subarray(0, take), filled);
      filled += take;
      if (take === head.length) this.#queue.shift();
      else this.#queue[0] = head.subarray(take);
    }
    this.#queued -= n;
    return out;
  }

  /** The 32-bit client flags sent after the newstyle greeting. */
  async readClientFlags(): Promise<number> {
    return reader(await this.read(4)).u32();
  }

  /** One option: IHAVEOPT, option, length, data (proto.md "Newstyle negotiation"). */
  async readOption(maxLength = DEFAULT_MAX_OPTION): Promise<NbdOption> {
    const h = parseOptionHeader(await this.read(16));
    if (h.magic !== NBD_OPTS_MAGIC) throw new HardDisconnect(`bad option magic 0x${h.magic.toString(16)}`);
    if (h.length > maxLength) throw new HardDisconnect(`option ${h.option} data length ${h.length} too large`);
    return { option: h.option, data: await this.read(h.length) };
  }

  /**
   * One request with its payload (proto.md "Request message"). Compact requests carry a
   * payload only for NBD_CMD_WRITE; extended requests also for NBD_CMD_FLAG_PAYLOAD_LEN.
   */
  async readRequest(opts: { extended?: boolean; maxPayload?: number } = {}): Promise<NbdRequest> {
    const extended = opts.extended ?? this.extendedHeaders;
    const head = await this.read(extended ? 32 : 28);
    const h = parseRequestHeader(head, extended);
    const want = extended ? NBD_EXTENDED_REQUEST_MAGIC : NBD_REQUEST_MAGIC;
    if (h.magic !== want) {
      throw new HardDisconnect(`bad request magic 0x${h.magic.toString(16)}, expected 0x${want.toString(16)}`);
    }
    const hasPayload = h.type === NBD_CMD_WRITE || (extended && (h.flags & NBD_CMD_FLAG_PAYLOAD_LEN) !== 0);
    let payload: Uint8Array = new Uint8Array(0);
    if (hasPayload) {
      if (h.length > BigInt(opts.maxPayload ?? DEFAULT_MAX_PAYLOAD)) {
        throw new HardDisconnect(`request payload of ${h.length} bytes is too large`);
      }
      payload = await this.read(Number(h.length));
    }
    return { ...h, payload, raw: concat(head, payload) };
  }

  /** Write bytes; resolves once handed to the kernel, rejects with ConnectionClosed if gone. */
  write(b: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed || this.socket.writableEnded) {
        reject(new ConnectionClosed('write after close'));
        return;
      }
      this.sent.push(b);
      this.socket.write(b, (err) => (err ? reject(new ConnectionClosed(err.message)) : resolve()));
    });
  }

  /** Close gracefully (FIN after pending writes); resolves when the socket has closed. */
  end(): Promise<void> {
    if (!this.socket.destroyed) this.socket.end();
    return this.closed;
  }

  /** Drop the connection at once (a hard disconnect). */
  destroy(): void {
    this.socket.destroy();
  }
}

export type ConnHandler = (conn: FakeConn) => Promise<void>;

export interface FakeServerOptions {
  /** Listen on a Unix socket in a fresh temporary directory instead of 127.0.0.1. */
  unix?: boolean;
}

export interface FakeServerHandle {
  port?: number;
  socket?: string;
  /** NBD URI of the default ("") export. */
  uri: string;
  /** NBD URI of a named export. */
  uriFor(exportName: string): string;
  /** Every accepted connection, in order. */
  connections: FakeConn[];
  /** Unexpected errors thrown by handlers (not disconnects or client violations). */
  errors: unknown[];
  close(): Promise<void>;
}

export const FakeServer = {
  /**
   * Listen and run `handler` on every connection. When the handler returns, the connection
   * is closed gracefully; ConnectionClosed and HardDisconnect end it quietly (the latter is
   * logged in `conn.violations`); anything else is collected in `errors` and the socket dropped.
   */
  async start(handler: ConnHandler, opts: FakeServerOptions = {}): Promise<FakeServerHandle> {
    const connections: FakeConn[] = [];
    const errors: unknown[] = [];
    const running = new Set<Promise<void>>();
    const server = net.createServer((socket) => {
      const conn = new FakeConn(socket);
      connections.push(conn);
      const run = (async () => {
        try {
          await handler(conn);
          await conn.end();
        } catch (e) {
          if (e instanceof HardDisconnect) conn.violations.push(e.message);
          else if (!(e instanceof ConnectionClosed)) errors.push(e);
          conn.destroy();
        }
      })();
      running.add(run);
      void run.finally(() => running.delete(run));
    });

    let dir: string | undefined;
    let socketPath: string | undefined;
    if (opts.unix) {
      dir = await mkdtemp(join(tmpdir(), 'webnbd-fake-'));
      socketPath = join(dir, 'nbd.sock');
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, resolve));
    } else {
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    }
    const port = opts.unix ? undefined : (server.address() as net.AddressInfo).port;
    const uriFor = (name: string): string =>
      socketPath !== undefined
        ? `nbd+unix:///${encodeURIComponent(name)}?socket=${socketPath}`
        : `nbd://127.0.0.1:${port}/${encodeURIComponent(name)}`;

    return {
      ...(port !== undefined ? { port } : {}),
      ...(socketPath !== undefined ? { socket: socketPath } : {}),
      uri: uriFor(''),
      uriFor,
      connections,
      errors,
      async close() {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const c of connections) c.destroy();
        await Promise.allSettled([...running]);
        await closed;
        if (dir) await rm(dir, { recursive: true, force: true });
      },
    };
  },
};

// =======================================================================================
// The in-memory disk.

/**
 * A sparse disk of any size up to 2^64 - 1: a Map from block index to block. Never-written
 * areas read as zeroes and count as holes for base:allocation.
 */
export class SparseDisk {
  readonly size: bigint;
  readonly blockSize: number;
  readonly #blocks = new Map<bigint, Uint8Array>();

  constructor(size: U64, blockSize = 4096) {
    this.size = BigInt(size);
    this.blockSize = blockSize;
  }

  /** Number of allocated blocks. */
  get allocatedBlocks(): number {
    return this.#blocks.size;
  }

  read(offset: U64, length: number): Uint8Array {
    const out = new Uint8Array(length);
    const B = BigInt(this.blockSize);
    let pos = BigInt(offset);
    let done = 0;
    while (done < length) {
      const idx = pos / B;
      const within = Number(pos % B);
      const take = Math.min(this.blockSize - within, length - done);
      const block = this.#blocks.get(idx);
      if (block) out.set(block.subarray(within, within + take), done);
      done += take;
      pos += BigInt(take);
    }
    return out;
  }

  write(offset: U64, data: Uint8Array): void {
    const B = BigInt(this.blockSize);
    let pos = BigInt(offset);
    let done = 0;
    while (done < data.length) {
      const idx = pos / B;
      const within = Number(pos % B);
      const take = Math.min(this.blockSize - within, data.length - done);
      let block = this.#blocks.get(idx);
      if (!block) this.#blocks.set(idx, (block = new Uint8Array(this.blockSize)));
      block.set(data.subarray(done, done + take), within);
      done += take;
      pos += BigInt(take);
    }
  }

  /**
   * Zero [offset, offset + length). Whole blocks become holes when `punch` is set; with
   * `punch` unset (NBD_CMD_FLAG_NO_HOLE) blocks are allocated, up to 64 MiB of them.
   */
  zero(offset: U64, length: U64, punch = true): void {
    const start = BigInt(offset);
    const end = start + BigInt(length);
    const B = BigInt(this.blockSize);
    for (const idx of [...this.#blocks.keys()]) {
      const bStart = idx * B;
      const bEnd = bStart + B;
      if (bEnd <= start || bStart >= end) continue;
      if (punch && bStart >= start && bEnd <= end) {
        this.#blocks.delete(idx);
      } else {
        const from = Number((start > bStart ? start : bStart) - bStart);
        const to = Number((end < bEnd ? end : bEnd) - bStart);
        this.#blocks.get(idx)!.fill(0, from, to);
      }
    }
    if (!punch && end - start <= 64n << 20n) {
      for (let idx = start / B; idx * B < end; idx++) {
        if (!this.#blocks.has(idx)) this.#blocks.set(idx, new Uint8Array(this.blockSize));
      }
    }
  }

  /** Allocated and unallocated runs covering [offset, offset + length), merged. */
  runs(offset: U64, length: U64): { offset: bigint; length: bigint; allocated: boolean }[] {
    const start = BigInt(offset);
    const end = start + BigInt(length);
    const B = BigInt(this.blockSize);
    const firstIdx = start / B;
    const lastIdx = end === 0n ? 0n : (end - 1n) / B;
    const allocated = [...this.#blocks.keys()]
      .filter((i) => i >= firstIdx && i <= lastIdx)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const out: { offset: bigint; length: bigint; allocated: boolean }[] = [];
    const push = (from: bigint, to: bigint, isAlloc: boolean): void => {
      if (to <= from) return;
      const last = out[out.length - 1];
      if (last && last.allocated === isAlloc && last.offset + last.length === from) last.length += to - from;
      else out.push({ offset: from, length: to - from, allocated: isAlloc });
    };
    let pos = start;
    for (const idx of allocated) {
      const bStart = idx * B > start ? idx * B : start;
      const bEnd = (idx + 1n) * B < end ? (idx + 1n) * B : end;
      push(pos, bStart, false);
      push(bStart, bEnd, true);
      pos = bEnd;
    }
    push(pos, end, false);
    return out;
  }
}

// =======================================================================================
// Layer 2: the reference server.

export interface BlockSizes {
  minimum: number;
  preferred: number;
  maximum: number;
}

/** A metadata context other than base:allocation (proto.md "Metadata querying"). */
export interface MetaContextSpec {
  /** Full name, namespace and leaf, e.g. "qemu:dirty-bitmap:b0". */
  name: string;
  /** Context id sent in NBD_REP_META_CONTEXT; default: its position in the list, from 1. */
  id?: number;
  /** Extents for a block status query; default: one extent of the whole range, flags 0. */
  extents?(offset: bigint, length: bigint, disk: SparseDisk): Extent[];
}

/** One export the server offers. */
export interface ExportSpec {
  name?: string;
  description?: string;
  /** Size reported in the handshake: anything up to 2^64 - 1. Default: `data`'s length. */
  size?: U64;
  /** Initial contents, written at offset 0. */
  data?: Uint8Array;
  /** Backing store; default: a fresh SparseDisk of `size`. */
  disk?: SparseDisk;
  readOnly?: boolean;
  /** Exact transmission flags to advertise, replacing the computed ones (may be bogus). */
  flags?: number;
  /** Advertised with NBD_INFO_BLOCK_SIZE and enforced on requests. */
  blockSize?: BlockSizes;
  /** Refuse NBD_OPT_INFO/GO without an NBD_INFO_BLOCK_SIZE request (NBD_REP_ERR_BLOCK_SIZE_REQD). */
  requireBlockSize?: boolean;
  /** Offer base:allocation (default true). */
  baseAllocation?: boolean;
  /** Extra metadata contexts. */
  contexts?: MetaContextSpec[];
}

/** A reply the server is about to send for one request, before encoding. */
export type Reply =
  /** Simple reply (proto.md "Simple reply message"); `data` follows for a successful READ. */
  | { kind: 'simple'; error: number; data?: Uint8Array; cookie?: bigint }
  /** A chunk, framed as structured or extended per negotiation; `offset` overrides the header. */
  | { kind: 'chunk'; flags: number; type: number; payload: Uint8Array; cookie?: bigint; offset?: bigint }
  /** Bytes sent verbatim. */
  | { kind: 'raw'; bytes: Uint8Array }
  /** Hard disconnect at this point. */
  | { kind: 'drop' };

/** What a handshake hook may send instead of the default: bytes, 'drop', or a sequence. */
export type Substitute = Uint8Array | 'drop' | ReadonlyArray<Uint8Array | 'drop'>;

export interface DiskHooks {
  /** Replace the greeting (oldstyle or newstyle). */
  onGreeting?(greeting: Uint8Array, session: DiskSession): Substitute | void;
  /** See each option first; 'drop' hangs up, bytes are sent instead of handling it. */
  onOption?(opt: NbdOption, session: DiskSession): Substitute | void | Promise<Substitute | void>;
  /** Replace the replies to an option (for EXPORT_NAME: the export information). */
  onOptionReply?(
    opt: NbdOption,
    replies: Uint8Array[],
    session: DiskSession,
  ): Substitute | void | Promise<Substitute | void>;
  /** See each request after it is read; 'drop' hangs up before any effect. */
  onRequest?(req: NbdRequest, session: DiskSession): 'drop' | void | Promise<'drop' | void>;
  /** Replace a request's replies: new Reply[] (or raw bytes) instead of the defaults. */
  onReply?(
    req: NbdRequest,
    replies: Reply[],
    session: DiskSession,
  ): Reply[] | Uint8Array | void | Promise<Reply[] | Uint8Array | void>;
  /** Milliseconds to wait before replying; replies to later requests may overtake. */
  delayReply?(req: NbdRequest, session: DiskSession): number;
}

export interface ServeDiskOptions extends ExportSpec {
  /** Exports offered; default a single export made from the top-level ExportSpec fields. */
  exports?: ExportSpec[];
  /** Handshake style (proto.md "Handshake"); default fixed newstyle. */
  handshake?: 'fixed-newstyle' | 'newstyle' | 'oldstyle';
  /** Advertise NBD_FLAG_NO_ZEROES (default true). */
  noZeroes?: boolean;
  /** Options answered with NBD_REP_ERR_UNSUP, e.g. [NBD_OPT_GO, NBD_OPT_INFO] to force EXPORT_NAME. */
  unsupported?: number[];
  /** How READ replies are cut into chunks once structured replies are negotiated. */
  readChunks?: {
    /** Largest chunk in bytes; default unlimited (one chunk per data or hole run). */
    size?: number;
    /** Send never-written runs as NBD_REPLY_TYPE_OFFSET_HOLE (default true). */
    holes?: boolean;
    /** Chunk order; the DONE flag always goes on the last chunk sent. */
    order?: 'forward' | 'reverse';
  };
  /** Successful non-READ replies in structured mode: simple (default, as qemu) or a NONE chunk. */
  structuredSuccess?: 'simple' | 'chunk';
  /** Most extents per block status chunk (default 1024). */
  maxExtents?: number;
  /** Largest READ the fake server serves (default 64 MiB); beyond: NBD_EINVAL. */
  maxRead?: number;
  hooks?: DiskHooks;
}

/** An export as served: its spec resolved, and its disk. */
export interface DiskExport {
  name: string;
  description: string | undefined;
  size: bigint;
  disk: SparseDisk;
  spec: ExportSpec;
  contexts: { id: number; name: string; spec?: MetaContextSpec }[];
}

/** Per-connection negotiation state, visible to hooks and tests. */
export interface DiskSession {
  conn: FakeConn;
  style: 'oldstyle' | 'newstyle' | 'fixed-newstyle';
  clientFlags: number;
  noZeroes: boolean;
  structured: boolean;
  extended: boolean;
  /** Export named by the last NBD_OPT_SET_META_CONTEXT, and what it selected. */
  metaExport: string | undefined;
  contexts: DiskExport['contexts'];
  /** Export in use once transmission begins. */
  export: DiskExport | undefined;
  /** Transmission flags sent for that export. */
  transmissionFlags: number;
  /** Whether the client requested NBD_INFO_BLOCK_SIZE on the final NBD_OPT_GO. */
  blockSizeAgreed: boolean;
  /** Options and requests received, in order. */
  options: NbdOption[];
  requests: NbdRequest[];
}

export interface DiskServer {
  /** Pass to FakeServer.start. */
  handler: ConnHandler;
  exports: DiskExport[];
  /** The disk of an export (default ""). */
  disk(name?: string): SparseDisk;
  /** One session per connection, in order. */
  sessions: DiskSession[];
}

const DEFAULT_BLOCK_SIZES: BlockSizes = { minimum: 1, preferred: 4096, maximum: 0xffffffff };
const U32_MAX = 0xffffffffn;

function resolveExport(spec: ExportSpec): DiskExport {
  const size = BigInt(spec.size ?? spec.disk?.size ?? spec.data?.length ?? 0);
  const disk = spec.disk ?? new SparseDisk(size);
  if (spec.data) disk.write(0n, spec.data);
  const contexts: DiskExport['contexts'] = [];
  if (spec.baseAllocation !== false) contexts.push({ id: 1, name: 'base:allocation' });
  for (const c of spec.contexts ?? []) contexts.push({ id: c.id ?? contexts.length + 1, name: c.name, spec: c });
  return { name: spec.name ?? '', description: spec.description, size, disk, spec, contexts };
}

/** A spec-following NBD server over in-memory disks. Start it with FakeServer.start(s.handler). */
export function serveDisk(opts: ServeDiskOptions = {}): DiskServer {
  const exports = (opts.exports ?? [opts]).map(resolveExport);
  const sessions: DiskSession[] = [];
  const server: DiskServer = {
    exports,
    sessions,
    disk(name = '') {
      const e = exports.find((x) => x.name === name);
      if (!e) throw new Error(`no export named "${name}"`);
      return e.disk;
    },
    handler: async (conn) => {
      const session: DiskSession = {
        conn,
        style: opts.handshake ?? 'fixed-newstyle',
        clientFlags: 0,
        noZeroes: false,
        structured: false,
        extended: false,
        metaExport: undefined,
        contexts: [],
        export: undefined,
        transmissionFlags: 0,
        blockSizeAgreed: false,
        options: [],
        requests: [],
      };
      sessions.push(session);
      if (!(await handshake(session, exports, opts))) return;
      await transmission(session, opts);
    },
  };
  return server;
}

/** serveDisk plus FakeServer.start in one call. */
export async function startDiskServer(
  opts: ServeDiskOptions = {},
  serverOpts: FakeServerOptions = {},
): Promise<FakeServerHandle & DiskServer> {
  const s = serveDisk(opts);
  const h = await FakeServer.start(s.handler, serverOpts);
  return Object.assign(h, { handler: s.handler, exports: s.exports, disk: s.disk, sessions: s.sessions });
}

/** Send a substitute; false once the connection has been dropped. */
async function sendAll(conn: FakeConn, out: Substitute): Promise<boolean> {
  const items = out instanceof Uint8Array || out === 'drop' ? [out] : out;
  for (const item of items) {
    if (item === 'drop') {
      conn.destroy();
      return false;
    }
    await conn.write(item);
  }
  return true;
}

/** proto.md "Transmission flags": what this export advertises to this session. */
function transmissionFlags(exp: DiskExport, s: DiskSession, opt?: number): number {
  if (exp.spec.flags !== undefined) return exp.spec.flags;
  let f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_CACHE | NBD_FLAG_CAN_MULTI_CONN;
  if (exp.spec.readOnly) f |= NBD_FLAG_READ_ONLY;
  else f |= NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
  // NBD_FLAG_SEND_DF: MUST be clear unless structured replies were negotiated.
  if (s.structured) f |= NBD_FLAG_SEND_DF;
  // As qemu: payloads on BLOCK_STATUS are only useful once contexts exist (always for INFO).
  if (s.extended && (s.contexts.length > 0 || opt === NBD_OPT_INFO)) f |= NBD_FLAG_BLOCK_STAT_PAYLOAD;
  return f;
}

// ---------------------------------------------------------------------------------------
// Handshake (proto.md "Handshake", "Option types", "Option reply types").

/** Run the handshake; true when transmission should begin. */
async function handshake(s: DiskSession, exports: DiskExport[], opts: ServeDiskOptions): Promise<boolean> {
  const { conn } = s;
  const hooks = opts.hooks ?? {};
  const noZeroesOffered = opts.noZeroes !== false;

  if (s.style === 'oldstyle') {
    // proto.md "Oldstyle negotiation": no options, the default export at once.
    const exp = exports[0]!;
    s.export = exp;
    s.transmissionFlags = transmissionFlags(exp, s);
    const greeting = oldstyleGreeting(exp.size, s.transmissionFlags);
    return sendAll(conn, hooks.onGreeting?.(greeting, s) ?? greeting);
  }

  const fixed = s.style === 'fixed-newstyle';
  const gflags = (fixed ? NBD_FLAG_FIXED_NEWSTYLE : 0) | (noZeroesOffered ? NBD_FLAG_NO_ZEROES : 0);
  const greeting = newstyleGreeting(gflags);
  if (!(await sendAll(conn, hooks.onGreeting?.(greeting, s) ?? greeting))) return false;

  // proto.md "Client flags": the server MUST drop the connection on unknown flags or on a
  // flag not matching something advertised.
  s.clientFlags = await conn.readClientFlags();
  const known = NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES;
  if (s.clientFlags & ~known) throw new HardDisconnect(`unknown client flags 0x${s.clientFlags.toString(16)}`);
  if (s.clientFlags & NBD_FLAG_C_FIXED_NEWSTYLE && !fixed) {
    throw new HardDisconnect('client set NBD_FLAG_C_FIXED_NEWSTYLE, which the server did not advertise');
  }
  if (s.clientFlags & NBD_FLAG_C_NO_ZEROES && !noZeroesOffered) {
    throw new HardDisconnect('client set NBD_FLAG_C_NO_ZEROES, which the server did not advertise');
  }
  s.noZeroes = (s.clientFlags & NBD_FLAG_C_NO_ZEROES) !== 0;
  // As qemu: a client that does not confirm fixed newstyle gets plain newstyle.
  const fixedMode = fixed && (s.clientFlags & NBD_FLAG_C_FIXED_NEWSTYLE) !== 0;

  for (;;) {
    const opt = await conn.readOption();
    s.options.push(opt);
    const seen = await hooks.onOption?.(opt, s);
    if (seen !== undefined) {
      if (!(await sendAll(conn, seen))) return false;
      continue;
    }

    if (!fixedMode && opt.option !== NBD_OPT_EXPORT_NAME) {
      // proto.md "NBD_OPT_EXPORT_NAME": the only valid option in non-fixed newstyle.
      throw new HardDisconnect(`option ${opt.option} in non-fixed newstyle negotiation`);
    }

    const outcome =
      opt.option === NBD_OPT_EXPORT_NAME
        ? handleExportName(s, exports, opt, opts)
        : (opts.unsupported ?? []).includes(opt.option)
          ? optError(opt.option, NBD_REP_ERR_UNSUP, `option ${opt.option} unsupported`)
          : handleOption(s, exports, opt);

    const replaced = await hooks.onOptionReply?.(opt, outcome.replies, s);
    if (!(await sendAll(conn, replaced ?? outcome.replies))) return false;
    if (outcome.next === 'transmission') return true;
    if (outcome.next === 'close') return false;
  }
}

type OptionOutcome = { replies: Uint8Array[]; next: 'continue' | 'transmission' | 'close' };

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** An error reply with a message for the user ("All error replies MAY have some data set"). */
function optError(opt: number, type: number, message: string): OptionOutcome {
  return { replies: [optReply(opt, type, utf8(message))], next: 'continue' };
}

function handleExportName(
  s: DiskSession,
  exports: DiskExport[],
  opt: NbdOption,
  opts: ServeDiskOptions,
): OptionOutcome {
  // proto.md "NBD_OPT_EXPORT_NAME": no way to report errors, so failures hang up. A client
  // that negotiated extended headers MUST NOT use it; qemu's server hangs up, and so do we.
  if ((opts.unsupported ?? []).includes(NBD_OPT_EXPORT_NAME)) throw new HardDisconnect('NBD_OPT_EXPORT_NAME refused');
  if (s.extended) throw new HardDisconnect('NBD_OPT_EXPORT_NAME after extended headers were negotiated');
  const name = decodeString(opt.data);
  const exp = name === undefined ? undefined : exports.find((e) => e.name === name);
  if (!exp) throw new HardDisconnect(`NBD_OPT_EXPORT_NAME: no export named ${JSON.stringify(name)}`);
  if (s.metaExport !== exp.name) s.contexts = [];
  s.export = exp;
  s.transmissionFlags = transmissionFlags(exp, s);
  return { replies: [exportNameReply(exp.size, s.transmissionFlags, s.noZeroes)], next: 'transmission' };
}

function decodeString(b: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    return undefined;
  }
}

function handleOption(s: DiskSession, exports: DiskExport[], opt: NbdOption): OptionOutcome {
  const o = opt.option;
  const reply = (type: number, payload?: Uint8Array): Uint8Array => optReply(o, type, payload);
  const error = (type: number, message: string): OptionOutcome => optError(o, type, message);
  const ack: OptionOutcome = { replies: [reply(NBD_REP_ACK)], next: 'continue' };

  switch (o) {
    case NBD_OPT_ABORT:
      // MUST reply with NBD_REP_ACK; SHOULD ignore any data.
      return { replies: [reply(NBD_REP_ACK)], next: 'close' };

    case NBD_OPT_LIST:
      // Zero or more NBD_REP_SERVER then NBD_REP_ACK; data SHOULD be rejected.
      if (opt.data.length) return error(NBD_REP_ERR_INVALID, 'NBD_OPT_LIST takes no data');
      return {
        replies: [
          ...exports.map((e) => reply(NBD_REP_SERVER, repServer(e.name, e.description ?? ''))),
          reply(NBD_REP_ACK),
        ],
        next: 'continue',
      };

    case NBD_OPT_STARTTLS:
      // "NOTLS mode": MUST answer NBD_REP_ERR_POLICY or NBD_REP_ERR_UNSUP.
      return error(NBD_REP_ERR_POLICY, 'TLS not configured');

    case NBD_OPT_STRUCTURED_REPLY:
      if (opt.data.length) return error(NBD_REP_ERR_INVALID, 'NBD_OPT_STRUCTURED_REPLY takes no data');
      if (s.extended) return error(NBD_REP_ERR_EXT_HEADER_REQD, 'extended headers already negotiated');
      if (s.structured) return error(NBD_REP_ERR_INVALID, 'structured replies already negotiated');
      s.structured = true;
      return ack;

    case NBD_OPT_EXTENDED_HEADERS:
      // Implies structured replies; as qemu, a repeat is NBD_REP_ERR_INVALID.
      if (opt.data.length) return error(NBD_REP_ERR_INVALID, 'NBD_OPT_EXTENDED_HEADERS takes no data');
      if (s.extended) return error(NBD_REP_ERR_INVALID, 'extended headers already negotiated');
      s.extended = true;
      s.structured = true;
      s.conn.extendedHeaders = true;
      return ack;

    case NBD_OPT_INFO:
    case NBD_OPT_GO:
      return handleInfo(s, exports, opt);

    case NBD_OPT_LIST_META_CONTEXT:
    case NBD_OPT_SET_META_CONTEXT:
      return handleMetaContext(s, exports, opt);

    default:
      return error(NBD_REP_ERR_UNSUP, `option ${o} unknown`);
  }
}

/** proto.md "NBD_OPT_INFO (6) and NBD_OPT_GO (7)". */
function handleInfo(s: DiskSession, exports: DiskExport[], opt: NbdOption): OptionOutcome {
  const o = opt.option;
  const reply = (type: number, payload?: Uint8Array): Uint8Array => optReply(o, type, payload);
  const invalid = optError(o, NBD_REP_ERR_INVALID, 'malformed request');
  let name: string;
  const infos: number[] = [];
  try {
    const r = reader(opt.data);
    const nameLen = r.u32();
    if (nameLen > opt.data.length - 6) return invalid; // MUST be no larger than length - 6
    name = r.str(nameLen);
    const n = r.u16();
    for (let i = 0; i < n; i++) infos.push(r.u16());
    if (r.remaining) return invalid;
  } catch {
    return invalid;
  }
  const exp = exports.find((e) => e.name === name);
  if (!exp) return optError(o, NBD_REP_ERR_UNKNOWN, `export ${JSON.stringify(name)} not present`);

  // Metadata contexts only survive NBD_OPT_GO to the export they were selected for.
  if (o === NBD_OPT_GO && s.metaExport !== exp.name) s.contexts = [];
  const wantsBlockSize = infos.includes(NBD_INFO_BLOCK_SIZE);
  const replies: Uint8Array[] = [];
  if (infos.includes(NBD_INFO_NAME)) replies.push(reply(NBD_REP_INFO, infoName(exp.name)));
  if (exp.description !== undefined) replies.push(reply(NBD_REP_INFO, infoDescription(exp.description)));
  if (wantsBlockSize || exp.spec.blockSize) {
    const b = exp.spec.blockSize ?? DEFAULT_BLOCK_SIZES;
    replies.push(reply(NBD_REP_INFO, infoBlockSize(b.minimum, b.preferred, b.maximum)));
  }
  const flags = transmissionFlags(exp, s, o);
  replies.push(reply(NBD_REP_INFO, infoExport(exp.size, flags)));
  if (exp.spec.requireBlockSize && !wantsBlockSize) {
    replies.push(reply(NBD_REP_ERR_BLOCK_SIZE_REQD, utf8('request NBD_INFO_BLOCK_SIZE to use this export')));
    return { replies, next: 'continue' };
  }
  replies.push(reply(NBD_REP_ACK));
  if (o === NBD_OPT_INFO) return { replies, next: 'continue' };
  s.export = exp;
  s.transmissionFlags = flags;
  s.blockSizeAgreed = wantsBlockSize;
  return { replies, next: 'transmission' };
}

/** proto.md "NBD_OPT_LIST_META_CONTEXT (9)", "NBD_OPT_SET_META_CONTEXT (10)". */
function handleMetaContext(s: DiskSession, exports: DiskExport[], opt: NbdOption): OptionOutcome {
  const o = opt.option;
  const set = o === NBD_OPT_SET_META_CONTEXT;
  const reply = (type: number, payload?: Uint8Array): Uint8Array => optReply(o, type, payload);
  const error = (type: number, message: string): OptionOutcome => optError(o, type, message);
  // SET replaces all previous contexts, even when it fails.
  if (set) {
    s.contexts = [];
    s.metaExport = undefined;
  }
  // SET "MUST NOT be requested unless structured replies have been negotiated".
  if (set && !s.structured) return error(NBD_REP_ERR_INVALID, 'structured replies not negotiated');

  let name: string;
  const queries: string[] = [];
  try {
    const r = reader(opt.data);
    name = r.str(r.u32());
    const n = r.u32();
    for (let i = 0; i < n; i++) queries.push(r.str(r.u32()));
    if (r.remaining) return error(NBD_REP_ERR_INVALID, 'trailing data');
  } catch {
    return error(NBD_REP_ERR_INVALID, 'malformed request');
  }
  const exp = exports.find((e) => e.name === name);
  if (!exp) return error(NBD_REP_ERR_UNKNOWN, `export ${JSON.stringify(name)} not present`);

  // Zero queries: LIST returns everything, SET selects nothing. A namespace-only query
  // ("base:") is a wildcard for LIST and MUST be ignored by SET. Unknown names are ignored.
  const selected = exp.contexts.filter((c) =>
    queries.length === 0
      ? !set
      : queries.some((q) => q === c.name || (!set && q.endsWith(':') && c.name.startsWith(q))),
  );
  const replies = selected.map((c) => reply(NBD_REP_META_CONTEXT, repMetaContext(set ? c.id : 0, c.name)));
  replies.push(reply(NBD_REP_ACK));
  if (set) {
    s.contexts = selected;
    s.metaExport = exp.name;
  }
  return { replies, next: 'continue' };
}

// ---------------------------------------------------------------------------------------
// Transmission (proto.md "Transmission", "Request types").

async function transmission(s: DiskSession, opts: ServeDiskOptions): Promise<void> {
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

/** A raw client socket with FakeConn's exact-read API, for hand-written clients in tests. */
export async function connectRaw(target: { port?: number; socket?: string }): Promise<FakeConn> {
  const socket =
    target.socket !== undefined ? net.connect(target.socket) : net.connect(target.port!, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return new FakeConn(socket);
}
