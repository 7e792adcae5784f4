// A scripted NBD server for tests that real servers cannot serve: extended headers (no
// Debian server speaks them yet) and hostile or broken replies. Two layers:
//   1. FakeServer.start(handler) (fake-conn.ts): a TCP or Unix listener handing each connection
//      to a script as a FakeConn (exact reads, parsed options and requests, writes, a log of the bytes).
//   2. serveDisk(opts) (here): a reference server on that layer, following NetworkBlockDevice/nbd
//      doc/proto.md over an in-memory sparse disk (sparse-disk.ts), with hooks to corrupt, delay or
//      drop, or stall (stall()); its handshake is fake-handshake.ts, its transmission fake-transmission.ts.
// Every message is built with ./bytes.ts, never with the client's encoder.

import type { Extent, U64 } from './bytes.js';
import {
  ConnectionClosed,
  type ConnHandler,
  type FakeConn,
  type FakeServerHandle,
  type FakeServerOptions,
  type NbdOption,
  type NbdRequest,
  FakeServer,
} from './fake-conn.js';
import { handshake } from './fake-handshake.js';
import { transmission } from './fake-transmission.js';
import { SparseDisk } from './sparse-disk.js';

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

/**
 * A server that stops answering: never settles while the client stays, and ends the script
 * quietly when the client goes. Return it from a hook (onOption, onRequest…) to stall there, or
 * use `stallingServer` to stall before the greeting.
 */
export const stall = (conn: FakeConn): Promise<never> =>
  conn.closed.then(() => { throw new ConnectionClosed('the client left a stalled server'); });

/** A handler that accepts connections and never says a word (no greeting). */
export const stallingServer: ConnHandler = (conn) => stall(conn);

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
