// NbdHandle: libnbd's client handle. A byte-level state machine (states.ts) reads the server's
// stream into the caller's buffers; the public methods are libnbd's API in camelCase, guarded by
// the table in api.ts. It talks to the world only through a Transport (transport.ts).

import { API, type ApiName, type Arg, type Call } from './api.js';
import * as C from './codec.js';
import { Commands, asCallback, callUser, newCommand, type Command, type CommandCallbacks } from './commands.js';
import { Coverage } from './coverage.js';
import { NbdError, errno, setLastError, type NbdErrorData } from './errors.js';
import * as P from './protocol.js';
import { PERMITTED, STATES, TRANSITIONS, type Next, type PublicState, type State } from './states.js';
import type { Target, Transport, Transports } from './transport.js';
import * as T from './types.js';
import { formatUri, parseUri } from './uri.js';

/** A command on the wire: what the request said, and what the reply has covered so far. */
interface WireCommand extends Command {
  flags: number;
  offset: bigint;
  count: bigint;
  coverage: Coverage | null;
  gotExtents: boolean;
  /** Cancelled or timed out: complete for the caller, its reply still to be read and dropped. */
  cancelled: boolean;
  /** Stop watching the command's signal and timer. */
  disarm: (() => void) | null;
}

/** What the server told us about the export (NBD_INFO_* or the older handshakes). */
export interface ExportInfo {
  size: bigint;
  flags: number;
  minimum: number;
  preferred: number;
  maximum: number;
  name: string | null;
  description: string | null;
}

/** An option in flight during the handshake or in opt mode. */
interface OptionOp {
  option: number;
  /** Handle one reply; return true when it was the final one. */
  reply(type: number, data: Uint8Array): boolean;
  resolve(): void;
  reject(e: NbdError): void;
}

/** The server broke the protocol: the connection cannot be trusted any more. */
class Violation extends Error {}

type Waiter = { resolve(progressed: number): void; reject(e: NbdError): void };

const MAX_REQUEST = 64 * 1024 * 1024; // libnbd's largest read or write payload
const MAX_OPT_REPLY = 4 + 2 * P.NBD_MAX_STRING; // NBD_REP_SERVER: length, name, description
const MAX_ERROR_CHUNK = 6 + P.NBD_MAX_STRING + 8;
const MAX_BLOCK_STATUS = MAX_REQUEST + 8;
const INT64_MAX = (1n << 63n) - 1n;

let handles = 0;

/** libnbd's mapping of the protocol's error numbers; anything unknown becomes EINVAL. */
const wireErrno = (e: number): number =>
  [P.NBD_EPERM, P.NBD_EIO, P.NBD_ENOMEM, P.NBD_EINVAL, P.NBD_ENOSPC, P.NBD_EOVERFLOW, P.NBD_ENOTSUP, P.NBD_ESHUTDOWN]
    .includes(e) ? e : errno.EINVAL;

/** errno for an option error reply, as libnbd reports them. */
const repErrno = (type: number): number => {
  switch (type) {
    case P.NBD_REP_ERR_UNSUP: case P.NBD_REP_ERR_TLS_REQD: case P.NBD_REP_ERR_PLATFORM:
    case P.NBD_REP_ERR_EXT_HEADER_REQD: return errno.ENOTSUP;
    case P.NBD_REP_ERR_POLICY: return errno.EPERM;
    case P.NBD_REP_ERR_UNKNOWN: return errno.ENOENT;
    case P.NBD_REP_ERR_SHUTDOWN: return errno.ESHUTDOWN;
    case P.NBD_REP_ERR_TOO_BIG: return errno.ERANGE;
    default: return errno.EINVAL;
  }
};

const optName = (opt: number): string => P.nameOf('opt', opt).replace(/^NBD_OPT_/, 'opt_').toLowerCase();

/**
 * What a page-side mirror of a handle needs to answer getters and check commands exactly as
 * the handle would (web/browser). Plain data: it crosses the worker boundary.
 */
export interface HandleSnapshot {
  state: State;
  info: ExportInfo | null;
  protocol: 'oldstyle' | 'newstyle' | 'newstyle-fixed' | null;
  sr: boolean;
  ext: boolean;
  meta: [number, string][];
  target: Target | null;
  exportName: string;
  closing: boolean;
  serverShutdown: boolean;
  death: NbdErrorData | null;
  stats: [number, number, number, number];
}

export interface HandleOptions {
  /** How this environment reaches servers (Node: TCP, Unix, WebSocket; browser: WebSocket). */
  transports?: Transports;
}

export class NbdHandle {
  // --- settings ---
  #name = `nbd${++handles}`;
  #exportName = '';
  #requestSR = true;
  #requestExt = true;
  #requestMeta = true;
  #requestBlockSize = true;
  #metaRequests: string[] = [];
  #optMode = false;
  #fullInfo = false;
  #handshakeFlags = T.HANDSHAKE_FLAG_FIXED_NEWSTYLE | T.HANDSHAKE_FLAG_NO_ZEROES;
  #strict = T.STRICT_MASK;
  #preadInitialize = true;
  #debug = false;
  #debugFn: T.DebugFn | null = null;
  readonly #transports: Transports;

  // --- connection ---
  #state: State = 'START';
  #transport: Transport | null = null;
  /** Identifies the live connection; events from an older or dropped one are ignored. */
  #conn: object | null = null;
  #target: Target | null = null;
  #death: NbdError | null = null;
  #protocol: 'oldstyle' | 'newstyle' | 'newstyle-fixed' | null = null;
  #noZeroes = false;
  #sr = false;
  #ext = false;
  #meta = new Map<number, string>();
  #info: ExportInfo | null = null;
  #op: OptionOp | null = null;
  #connectWaiters: (() => void)[] = [];
  /** We sent NBD_CMD_DISC or NBD_OPT_ABORT: the server closing is expected. */
  #closing = false;
  /** The server said ESHUTDOWN: disconnect softly once the commands in flight are done. */
  #serverShutdown = false;

  // --- receiving (libnbd's rbuf/rlen: either a small scratch buffer or the caller's buffer) ---
  #scratch = new Uint8Array(64);
  #have = 0;
  #want = 0;
  #sinkBuf: Uint8Array | null = null;
  #sinkPos = 0;
  #sinkLeft = 0;
  #reply: C.ReplyHeader | null = null;
  #cmd: WireCommand | null = null;
  #chunkOffset = 0n;
  #chunkLength = 0;

  // --- commands ---
  #cmds = new Commands<WireCommand>((msg) => this.#log(msg));
  /** Cancelled commands whose replies have not all arrived yet. */
  #zombies = new Map<number, WireCommand>();
  #waiters = new Set<Waiter>();
  /** Depth of API calls in progress (synchronously): only the outermost is traced, as in libnbd. */
  #nest = 0;
  /** The read buffer an enclosing call has just zeroed (pread_initialize), while it runs. */
  #zeroed: Uint8Array | null = null;

  // --- statistics (nbd_stats_*) ---
  #bytesSent = 0;
  #chunksSent = 0;
  #bytesReceived = 0;
  #chunksReceived = 0;

  constructor(options: HandleOptions = {}) {
    this.#transports = options.transports ?? {};
  }

  // ============================== settings ==============================

  setDebug(debug: boolean): void { this.#debug = debug; }
  getDebug(): boolean { return this.#debug; }
  setDebugCallback(fn: T.DebugFn): void { this.#debugFn = fn; }
  clearDebugCallback(): void { this.#debugFn = null; }
  setHandleName(name: string): void { this.#name = name; }
  getHandleName(): string { return this.#name; }
  setExportName(name: string): void {
    if (C.encodeString(name).length > P.NBD_MAX_STRING) throw new NbdError(errno.ENAMETOOLONG, '', 'export name too long for NBD protocol');
    this.#exportName = name;
  }
  getExportName(): string { return this.#exportName; }
  setRequestBlockSize(b: boolean): void { this.#requestBlockSize = b; }
  getRequestBlockSize(): boolean { return this.#requestBlockSize; }
  setFullInfo(b: boolean): void { this.#fullInfo = b; }
  getFullInfo(): boolean { return this.#fullInfo; }
  setTls(level: number): void {
    if (level !== T.TLS_DISABLE) {
      throw new NbdError(errno.ENOTSUP, '', 'TLS is not supported by webnbd: on the web, TLS is wss:// to the bridge (use an nbds+wss:// URI)');
    }
  }
  getTls(): number { return T.TLS_DISABLE; }
  getTlsNegotiated(): boolean { return false; }
  setRequestStructuredReplies(b: boolean): void { this.#requestSR = b; }
  getRequestStructuredReplies(): boolean { return this.#requestSR; }
  getStructuredRepliesNegotiated(): boolean { return this.#sr; }
  setRequestExtendedHeaders(b: boolean): void { this.#requestExt = b; }
  getRequestExtendedHeaders(): boolean { return this.#requestExt; }
  getExtendedHeadersNegotiated(): boolean { return this.#ext; }
  setRequestMetaContext(b: boolean): void { this.#requestMeta = b; }
  getRequestMetaContext(): boolean { return this.#requestMeta; }
  setHandshakeFlags(flags: number): void {
    if (flags & ~T.HANDSHAKE_FLAG_MASK) throw new NbdError(errno.EINVAL, '', `flags: invalid value for flag: 0x${flags.toString(16)}`);
    this.#handshakeFlags = flags;
  }
  getHandshakeFlags(): number { return this.#handshakeFlags; }
  setPreadInitialize(b: boolean): void { this.#preadInitialize = b; }
  getPreadInitialize(): boolean { return this.#preadInitialize; }
  setStrictMode(flags: number): void {
    if (flags & ~T.STRICT_MASK) throw new NbdError(errno.EINVAL, '', `flags: invalid value for flag: 0x${flags.toString(16)}`);
    this.#strict = flags;
  }
  getStrictMode(): number { return this.#strict; }
  setOptMode(b: boolean): void { this.#optMode = b; }
  getOptMode(): boolean { return this.#optMode; }
  addMetaContext(name: string): void {
    if (C.encodeString(name).length > P.NBD_MAX_STRING) throw new NbdError(errno.ENAMETOOLONG, '', 'meta context name too long for NBD protocol');
    this.#metaRequests.push(name);
  }
  getNrMetaContexts(): number { return this.#metaRequests.length; }
  getMetaContext(i: number): string {
    const name = this.#metaRequests[i];
    if (name === undefined) throw new NbdError(errno.EINVAL, '', 'meta context request out of range');
    return name;
  }
  clearMetaContexts(): void { this.#metaRequests = []; }

  // ============================== connecting ==============================

  async connectUri(uri: string): Promise<void> { this.aioConnectUri(uri); await this.#untilConnected(); }
  aioConnectUri(uri: string): void {
    const parsed = parseUri(uri);
    this.#exportName = parsed.exportName;
    this.#connect(parsed.target);
  }
  async connectTcp(host: string, port: string | number): Promise<void> { this.aioConnectTcp(host, port); await this.#untilConnected(); }
  aioConnectTcp(host: string, port: string | number): void {
    const p = Number(port);
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new NbdError(errno.EINVAL, '', `invalid port: ${port}`);
    this.#connect({ kind: 'tcp', host, port: p });
  }
  async connectUnix(path: string): Promise<void> { this.aioConnectUnix(path); await this.#untilConnected(); }
  aioConnectUnix(path: string): void { this.#connect({ kind: 'unix', path }); }
  async connectWebsocket(url: string): Promise<void> { this.aioConnectWebsocket(url); await this.#untilConnected(); }
  aioConnectWebsocket(url: string): void {
    if (!/^wss?:\/\//i.test(url)) throw new NbdError(errno.EINVAL, '', `not a ws:// or wss:// URL: ${url}`);
    this.#connect({ kind: 'websocket', url });
  }

  #connect(target: Target): void {
    const open = this.#transports[target.kind];
    if (!open) {
      throw new NbdError(errno.ENOTSUP, '', target.kind === 'websocket'
        ? 'WebSocket connections are not available here'
        : `${target.kind === 'tcp' ? 'TCP' : 'Unix socket'} connections are not available here: connect through a websockify bridge with an nbd+ws:// URI`);
    }
    this.#target = target;
    this.#goto('START', 'CONNECT');
    this.#log(`connecting to ${formatUri(target, this.#exportName)}`);
    const conn = {};
    this.#conn = conn;
    this.#transport = open(target, {
      open: () => {
        if (this.#conn !== conn || this.#state !== 'CONNECT') return;
        this.#goto('CONNECT', 'MAGIC');
        this.#need(16);
      },
      data: (chunk: Uint8Array) => { if (this.#conn === conn) this.#receive(chunk); },
      close: (error: NbdError | null) => { if (this.#conn === conn) this.#onClose(error); },
    });
  }

  /** Wait until the handshake is over: ready, negotiating (opt mode), or failed. */
  #untilConnected(): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const s = this.#publicState();
        if (s === 'dead' || s === 'closed') reject(this.#death ?? new NbdError(errno.ENOTCONN, '', 'connection closed'));
        else if (s !== 'connecting') resolve();
        else this.#connectWaiters.push(check);
      };
      check();
    });
  }

  // ============================== mirroring ==============================

  /** The connection's state as plain data, for a mirror on the other side of a worker boundary. */
  snapshot(): HandleSnapshot {
    return {
      state: this.#state, info: this.#info, protocol: this.#protocol, sr: this.#sr, ext: this.#ext,
      meta: [...this.#meta], target: this.#target, exportName: this.#exportName,
      closing: this.#closing, serverShutdown: this.#serverShutdown, death: this.#death?.toData() ?? null,
      stats: [this.#bytesSent, this.#chunksSent, this.#bytesReceived, this.#chunksReceived],
    };
  }

  /** Make this (transport-less) handle mirror another's connection state. */
  restore(s: HandleSnapshot): void {
    if (this.#transport) throw new Error('internal error: restore() is for mirrors, which have no transport');
    this.#state = s.state;
    this.#info = s.info;
    this.#protocol = s.protocol;
    this.#sr = s.sr;
    this.#ext = s.ext;
    this.#meta = new Map(s.meta);
    this.#target = s.target;
    this.#exportName = s.exportName;
    this.#closing = s.closing;
    this.#serverShutdown = s.serverShutdown;
    this.#death = s.death ? NbdError.fromData(s.death) : null;
    [this.#bytesSent, this.#chunksSent, this.#bytesReceived, this.#chunksReceived] = s.stats;
    this.#wake();
  }

  /** Check a call's permitted state and arguments as the call itself would, without making it. */
  checkCall(name: ApiName, args: unknown[]): void {
    try {
      guardCall(API[name], this.#state, args);
    } catch (e) {
      throw setLastError(asNbdError(e, errno.EINVAL).withContext(API[name].c));
    }
  }

  /**
   * Check an aio command as `name` (e.g. "aioPread") would, without sending it: permitted state,
   * arguments, strict mode. Throws the NbdError the call would throw.
   */
  checkCommand(name: ApiName, args: unknown[], type: number, flags: number, offset: T.U64, count: T.U64, chunk: boolean): void {
    const call: Call = API[name];
    try {
      guardCall(call, this.#state, args);
      this.#check({ type, flags, offset: BigInt(offset), count: BigInt(count), chunk });
    } catch (e) {
      throw setLastError(asNbdError(e, errno.EINVAL).withContext(call.c));
    }
  }

  // ============================== state ==============================

  #publicState(): PublicState { return STATES[this.#state].public; }
  aioIsCreated(): boolean { return this.#publicState() === 'created'; }
  aioIsConnecting(): boolean { return this.#publicState() === 'connecting'; }
  aioIsNegotiating(): boolean { return this.#publicState() === 'negotiating'; }
  aioIsReady(): boolean { return this.#publicState() === 'ready'; }
  aioIsProcessing(): boolean { return this.#publicState() === 'processing'; }
  aioIsDead(): boolean { return this.#publicState() === 'dead'; }
  aioIsClosed(): boolean { return this.#publicState() === 'closed'; }
  connectionState(): string { return `${this.#state}: ${STATES[this.#state].doc}`; }

  /** Move along a legal edge (TRANSITIONS); DEAD and CLOSED go through #die and #closed. */
  #goto<F extends State>(from: F, to: Next<F>): void {
    if (this.#state !== from) throw new Error(`internal error: goto ${to} from ${this.#state}, expected ${from}`);
    this.#state = to;
    this.#wake();
  }

  /** Like #goto for moves whose origin is only known at run time; still checked against the table. */
  #gotoFrom(to: State): void {
    const from = this.#state;
    // An option's continuation runs a microtask after its last reply: the handle may have died since.
    if (from === 'DEAD' || from === 'CLOSED') throw this.#death ?? new NbdError(errno.ENOTCONN, '', 'connection closed');
    if (!(TRANSITIONS[from] as readonly State[]).includes(to)) throw new Error(`internal error: no transition ${from} -> ${to}`);
    this.#state = to;
    this.#wake();
  }

  // ============================== getters ==============================

  #need_info(what: string): ExportInfo {
    if (!this.#info) throw new NbdError(errno.EINVAL, '', `server has not returned export ${what}, you need to connect to the server first`);
    return this.#info;
  }
  #flag(bit: number): boolean { return (this.#need_info('flags').flags & bit) !== 0; }

  getSize(): bigint { return this.#need_info('size').size; }
  getBlockSize(which: number): number {
    const i = this.#need_info('flags');
    switch (which) {
      case T.SIZE_MINIMUM: return i.minimum;
      case T.SIZE_PREFERRED: return i.preferred;
      case T.SIZE_MAXIMUM: return i.maximum;
      case T.SIZE_PAYLOAD: return i.maximum ? Math.min(i.maximum, MAX_REQUEST) : MAX_REQUEST;
      default: throw new NbdError(errno.EINVAL, '', `unknown size type: ${which}`);
    }
  }
  isReadOnly(): boolean { return this.#flag(P.NBD_FLAG_READ_ONLY); }
  canFlush(): boolean { return this.#flag(P.NBD_FLAG_SEND_FLUSH); }
  canFua(): boolean { return this.#flag(P.NBD_FLAG_SEND_FUA); }
  isRotational(): boolean { return this.#flag(P.NBD_FLAG_ROTATIONAL); }
  canTrim(): boolean { return this.#flag(P.NBD_FLAG_SEND_TRIM); }
  canZero(): boolean { return this.#flag(P.NBD_FLAG_SEND_WRITE_ZEROES); }
  canFastZero(): boolean { return this.#flag(P.NBD_FLAG_SEND_FAST_ZERO); }
  canDf(): boolean { return this.#flag(P.NBD_FLAG_SEND_DF); }
  canMultiConn(): boolean { return this.#flag(P.NBD_FLAG_CAN_MULTI_CONN); }
  canCache(): boolean { return this.#flag(P.NBD_FLAG_SEND_CACHE); }
  canMetaContext(name: string): boolean {
    this.#need_info('flags');
    for (const n of this.#meta.values()) if (n === name) return true;
    return false;
  }
  getProtocol(): string {
    if (!this.#protocol) throw new NbdError(errno.EINVAL, '', 'handshake has not completed');
    return this.#protocol;
  }
  getCanonicalExportName(): string {
    const i = this.#need_info('flags');
    if (i.name === null) {
      // libnbd falls back to the requested name when the server sent NBD_INFO_EXPORT only.
      return this.#exportName;
    }
    return i.name;
  }
  getExportDescription(): string {
    const i = this.#need_info('flags');
    if (i.description === null) throw new NbdError(errno.ENOTSUP, '', 'server did not advertise a description');
    return i.description;
  }
  getUri(): string {
    if (!this.#target) throw new NbdError(errno.EINVAL, '', 'handle is not connected');
    return formatUri(this.#target, this.#exportName);
  }
  statsBytesSent(): bigint { return BigInt(this.#bytesSent); }
  statsChunksSent(): bigint { return BigInt(this.#chunksSent); }
  statsBytesReceived(): bigint { return BigInt(this.#bytesReceived); }
  statsChunksReceived(): bigint { return BigInt(this.#chunksReceived); }

  // ============================== sending ==============================

  #send(bytes: Uint8Array, payload?: Uint8Array): void {
    const t = this.#transport;
    if (!t) return;
    t.write(bytes);
    this.#bytesSent += bytes.length;
    if (payload && payload.length) {
      t.write(payload);
      this.#bytesSent += payload.length;
    }
    this.#chunksSent++;
  }

  // ============================== receiving ==============================

  /** Ask for `n` more bytes in the scratch buffer, from its start. */
  #need(n: number): void {
    if (n > this.#scratch.length) this.#scratch = new Uint8Array(Math.max(n, this.#scratch.length * 2));
    else if (this.#scratch.length > 65536 && n <= 64) this.#scratch = new Uint8Array(64);
    this.#have = 0;
    this.#want = n;
    if (n === 0) this.#step();
  }

  /** Grow the current scratch read to `total` bytes, keeping what is there. */
  #needMore(total: number): void {
    if (total > this.#scratch.length) {
      const s = new Uint8Array(Math.max(total, this.#scratch.length * 2));
      s.set(this.#scratch.subarray(0, this.#have));
      this.#scratch = s;
    }
    this.#want = total;
    if (this.#have === total) this.#step();
  }

  /** Read the next `n` bytes straight into `buf` at `pos` (or drop them when buf is null). */
  #sink(buf: Uint8Array | null, pos: number, n: number): void {
    this.#sinkBuf = buf;
    this.#sinkPos = pos;
    this.#sinkLeft = n;
    this.#want = 0;
    this.#have = 0;
    if (n === 0) this.#step();
  }

  #receive(chunk: Uint8Array): void {
    this.#bytesReceived += chunk.length;
    let pos = 0;
    try {
      while (pos < chunk.length) {
        const s = this.#state;
        if (s === 'DEAD' || s === 'CLOSED') return;
        if (this.#sinkLeft > 0) {
          const n = Math.min(this.#sinkLeft, chunk.length - pos);
          if (this.#sinkBuf) this.#sinkBuf.set(chunk.subarray(pos, pos + n), this.#sinkPos);
          pos += n;
          this.#sinkPos += n;
          this.#sinkLeft -= n;
          if (this.#sinkLeft === 0) this.#step();
          continue;
        }
        if (s === 'READY') {
          this.#goto('READY', 'REPLY_HEADER');
          this.#need(4);
        }
        const n = Math.min(this.#want - this.#have, chunk.length - pos);
        if (n <= 0) throw new Violation(`unexpected data from the server in state ${this.#state}`);
        this.#scratch.set(chunk.subarray(pos, pos + n), this.#have);
        this.#have += n;
        pos += n;
        if (this.#have === this.#want) this.#step();
      }
    } catch (e) {
      this.#violation(e);
    } finally {
      this.#wake();
    }
  }

  /** The current read is complete: act on it according to the state. */
  #step(): void {
    const b = this.#scratch.subarray(0, this.#have);
    switch (this.#state) {
      case 'MAGIC': return this.#onMagic(b);
      case 'OLDSTYLE': return this.#onOldstyle(b);
      case 'GFLAGS': return this.#onGflags(b);
      case 'OPT_REPLY': return this.#onOptReplyHeader(b);
      case 'OPT_REPLY_DATA': return this.#onOptReplyData(b);
      case 'EXPORT_NAME_REPLY': return this.#onExportNameReply(b);
      case 'REPLY_HEADER': return this.#onReplyHeader(b);
      case 'REPLY_SIMPLE_DATA': return this.#onSimpleData();
      case 'REPLY_CHUNK': return this.#onChunk(b);
      case 'REPLY_CHUNK_DATA': return this.#onChunkData();
      default: throw new Violation(`unexpected data from the server in state ${this.#state}`);
    }
  }

  // --- Handshake ---

  #onMagic(b: Uint8Array): void {
    if (C.u64(b, 0) !== P.NBD_MAGIC) throw new Violation('handshake: server did not send expected NBD magic');
    const style = C.u64(b, 8);
    if (style === P.NBD_CLISERV_MAGIC) {
      this.#protocol = 'oldstyle';
      this.#goto('MAGIC', 'OLDSTYLE');
      this.#need(8 + 4 + 124);
    } else if (style === P.NBD_OPTS_MAGIC) {
      this.#goto('MAGIC', 'GFLAGS');
      this.#need(2);
    } else {
      throw new Violation('handshake: server is not either an oldstyle or fixed newstyle NBD server');
    }
  }

  #onOldstyle(b: Uint8Array): void {
    // "S: 32 bits, flags": 16 bits of global flags, then 16 bits of transmission flags.
    this.#setExport(C.u64(b, 0), C.u32(b, 8) & 0xffff);
    this.#goto('OLDSTYLE', 'READY');
    this.#log('oldstyle handshake complete');
  }

  #onGflags(b: Uint8Array): void {
    const gflags = C.u16(b, 0);
    const fixed = (gflags & P.NBD_FLAG_FIXED_NEWSTYLE) !== 0 && (this.#handshakeFlags & T.HANDSHAKE_FLAG_FIXED_NEWSTYLE) !== 0;
    this.#noZeroes = (gflags & P.NBD_FLAG_NO_ZEROES) !== 0 && (this.#handshakeFlags & T.HANDSHAKE_FLAG_NO_ZEROES) !== 0;
    this.#protocol = fixed ? 'newstyle-fixed' : 'newstyle';
    this.#send(C.clientFlags((fixed ? P.NBD_FLAG_C_FIXED_NEWSTYLE : 0) | (this.#noZeroes ? P.NBD_FLAG_C_NO_ZEROES : 0)));
    if (!fixed) {
      // Plain newstyle: NBD_OPT_EXPORT_NAME is the only option there is.
      this.#sendExportName();
      return;
    }
    this.#goto('GFLAGS', 'OPT_REPLY');
    this.#need(20);
    this.#negotiate().catch((e: unknown) => this.#die(asNbdError(e, errno.EPROTO)));
  }

  /** The fixed newstyle sequence: extended headers or structured replies, then GO or opt mode. */
  async #negotiate(): Promise<void> {
    if (this.#requestSR && this.#requestExt) {
      this.#ext = await this.#simpleOption(P.NBD_OPT_EXTENDED_HEADERS);
      this.#sr = this.#ext;
    }
    if (this.#requestSR && !this.#sr) this.#sr = await this.#simpleOption(P.NBD_OPT_STRUCTURED_REPLY);
    if (this.#optMode) {
      this.#gotoFrom('NEGOTIATING');
      this.#log('negotiating: waiting for the caller to choose options');
      return;
    }
    await this.#goOrInfo(P.NBD_OPT_GO);
  }

  /** Send an option that takes no data and expects an ACK; resolve whether the server agreed. */
  #simpleOption(option: number): Promise<boolean> {
    let agreed = false;
    return this.#runOption(option, new Uint8Array(0), (type) => {
      if (type === P.NBD_REP_ACK) agreed = true;
      else if (!(type & P.NBD_REP_FLAG_ERROR)) throw new Violation(`handshake: unexpected reply type ${type} to ${P.nameOf('opt', option)}`);
      else this.#log(`${P.nameOf('opt', option)}: server replied ${P.nameOf('rep', type)}`);
      return true;
    }).then(() => agreed);
  }

  /** Send one option and route its replies to `reply` until it says the last one came. */
  #runOption(option: number, data: Uint8Array, reply: OptionOp['reply']): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#op) throw new Error('internal error: option already in flight');
      // The next option of a sequence (GO after SET_META_CONTEXT), on a handle that died meanwhile.
      if (this.#state === 'DEAD' || this.#state === 'CLOSED') throw this.#death ?? new NbdError(errno.ENOTCONN, '', 'connection closed');
      if (this.#state === 'NEGOTIATING') this.#goto('NEGOTIATING', 'OPT_REPLY');
      this.#op = { option, reply, resolve, reject };
      this.#need(20);
      this.#log(`sending ${P.nameOf('opt', option)}`);
      this.#send(C.option(option, data));
    });
  }

  #onOptReplyHeader(b: Uint8Array): void {
    const h = C.decodeOptReplyHeader(b);
    this.#chunksReceived++;
    const op = this.#op;
    if (h.magic !== P.NBD_REP_MAGIC) throw new Violation('handshake: invalid option reply magic');
    if (!op || h.option !== op.option) throw new Violation(`handshake: reply to option ${h.option} when none was sent`);
    if (h.length > MAX_OPT_REPLY) throw new Violation(`handshake: option reply length ${h.length} is too large`);
    this.#reply = { kind: 'simple', flags: 0, type: h.type, cookie: 0, length: BigInt(h.length), error: 0 };
    this.#goto('OPT_REPLY', 'OPT_REPLY_DATA');
    this.#need(h.length);
  }

  #onOptReplyData(b: Uint8Array): void {
    const op = this.#op!;
    const type = this.#reply!.type;
    this.#goto('OPT_REPLY_DATA', 'OPT_REPLY');
    this.#need(20);
    if (type === P.NBD_REP_ERR_SHUTDOWN) {
      // "If the client receives NBD_REP_ERR_SHUTDOWN it MUST initiate a soft disconnect."
      this.#op = null;
      const e = new NbdError(errno.ESHUTDOWN, '', 'server is shutting down');
      this.#softDisconnectOpt();
      op.reject(e);
      return;
    }
    let final: boolean;
    try {
      final = op.reply(type, b);
    } catch (e) {
      // A violation kills the handle; #die then fails the option, so it must still be in #op.
      if (e instanceof Violation) throw e;
      this.#op = null;
      op.reject(asNbdError(e, errno.EINVAL));
      return;
    }
    if (final) {
      this.#op = null;
      op.resolve();
    }
  }

  /** Replies that are errors to an option, with the server's message if it sent one. */
  #optError(option: number, type: number, data: Uint8Array): NbdError {
    const msg = data.length ? C.decodeString(data) : '';
    return new NbdError(repErrno(type), '', `server replied with error to ${optName(option)} request${msg ? ` (server: ${msg})` : ''}`);
  }

  /** NBD_OPT_SET_META_CONTEXT when it applies, then NBD_OPT_GO or NBD_OPT_INFO. */
  async #goOrInfo(option: number): Promise<void> {
    this.#meta.clear();
    if (this.#sr && this.#requestMeta && this.#metaRequests.length > 0) await this.#setMetaContext();
    const infos = [
      ...(this.#fullInfo ? [P.NBD_INFO_NAME, P.NBD_INFO_DESCRIPTION] : []),
      ...(this.#requestBlockSize ? [P.NBD_INFO_BLOCK_SIZE] : []),
    ];
    const info: ExportInfo = { size: 0n, flags: 0, minimum: 0, preferred: 0, maximum: 0, name: null, description: null };
    let gotExport = false;
    let unsupported = false;
    let overflow = false;
    let failure: NbdError | null = null;
    await this.#runOption(option, C.goData(this.#exportName, infos), (type, data) => {
      if (type === P.NBD_REP_INFO) {
        if (data.length < 2) throw new Violation('handshake: NBD_REP_INFO reply too short');
        const kind = C.u16(data, 0);
        if (kind === P.NBD_INFO_EXPORT) {
          if (data.length !== 12) throw new Violation('handshake: invalid NBD_INFO_EXPORT length');
          info.size = C.u64(data, 2);
          info.flags = C.u16(data, 10);
          overflow = info.size > INT64_MAX;
          gotExport = true;
        } else if (kind === P.NBD_INFO_NAME) {
          info.name = C.decodeString(data.subarray(2));
        } else if (kind === P.NBD_INFO_DESCRIPTION) {
          info.description = C.decodeString(data.subarray(2));
        } else if (kind === P.NBD_INFO_BLOCK_SIZE) {
          if (data.length !== 14) throw new Violation('handshake: invalid NBD_INFO_BLOCK_SIZE length');
          this.#blockSizes(info, C.u32(data, 2), C.u32(data, 6), C.u32(data, 10));
        } else {
          this.#log(`ignoring unknown NBD_INFO type ${kind}`);
        }
        return false;
      }
      if (type === P.NBD_REP_ACK) {
        if (!gotExport) throw new Violation(`handshake: server did not send NBD_INFO_EXPORT before acknowledging ${P.nameOf('opt', option)}`);
        return true;
      }
      if (!(type & P.NBD_REP_FLAG_ERROR)) throw new Violation(`handshake: unexpected reply type ${type} to ${P.nameOf('opt', option)}`);
      unsupported = type === P.NBD_REP_ERR_UNSUP;
      failure = this.#optError(option, type, data);
      return true;
    });
    if (failure) {
      if (unsupported && option === P.NBD_OPT_GO && !this.#optMode) {
        // An older server: fall back to the option every newstyle server knows.
        this.#log('server does not support NBD_OPT_GO, falling back to NBD_OPT_EXPORT_NAME');
        this.#sendExportName();
        return;
      }
      if (!this.#optMode) {
        this.#softDisconnectOpt();
      } else {
        this.#gotoFrom('NEGOTIATING');
      }
      throw failure;
    }
    if (overflow) {
      // libnbd before 1.18 reported such sizes as negative numbers (CVE-2023-5215).
      const e = new NbdError(errno.EOVERFLOW, '', `server export size ${info.size} is larger than the maximum 2^63-1`);
      if (option === P.NBD_OPT_GO) throw e; // the server is in transmission now: #negotiate's caller kills the handle
      this.#gotoFrom('NEGOTIATING');
      throw e;
    }
    info.flags = this.#cleanFlags(info.flags);
    this.#info = info;
    if (option === P.NBD_OPT_GO) {
      this.#gotoFrom('READY');
      this.#log(`negotiated: size ${info.size}, flags 0x${info.flags.toString(16)}, structured replies ${this.#sr}, extended headers ${this.#ext}`);
    } else {
      this.#gotoFrom('NEGOTIATING');
    }
  }

  #blockSizes(info: ExportInfo, min: number, pref: number, max: number): void {
    const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
    // "Block size constraints": minimum a power of 2 up to 64 KiB, preferred a power of 2 at
    // least the minimum, maximum a multiple of the minimum (or 0xffffffff).
    if (!pow2(min) || min > 65536 || !pow2(pref) || pref < min || max < min || (max !== 0xffffffff && max % min !== 0)) {
      this.#log(`ignoring invalid block sizes from the server: ${min}/${pref}/${max}`);
      return;
    }
    info.minimum = min;
    info.preferred = pref;
    info.maximum = max;
  }

  async #setMetaContext(): Promise<void> {
    await this.#runOption(P.NBD_OPT_SET_META_CONTEXT, C.metaContextData(this.#exportName, this.#metaRequests), (type, data) => {
      if (type === P.NBD_REP_META_CONTEXT) {
        if (data.length < 4) throw new Violation('handshake: NBD_REP_META_CONTEXT reply too short');
        const name = C.decodeString(data.subarray(4));
        this.#meta.set(C.u32(data, 0), name);
        this.#log(`negotiated meta context ${name} with id ${C.u32(data, 0)}`);
        return false;
      }
      if (type === P.NBD_REP_ACK) return true;
      if (!(type & P.NBD_REP_FLAG_ERROR)) throw new Violation(`handshake: unexpected reply type ${type} to NBD_OPT_SET_META_CONTEXT`);
      this.#log(`NBD_OPT_SET_META_CONTEXT: server replied ${P.nameOf('rep', type)}; continuing without meta contexts`);
      this.#meta.clear();
      return true;
    });
  }

  #sendExportName(): void {
    this.#gotoFrom('EXPORT_NAME_REPLY');
    this.#need(10 + (this.#noZeroes ? 0 : 124));
    this.#log('sending NBD_OPT_EXPORT_NAME');
    this.#send(C.option(P.NBD_OPT_EXPORT_NAME, C.encodeString(this.#exportName)));
  }

  #onExportNameReply(b: Uint8Array): void {
    this.#setExport(C.u64(b, 0), C.u16(b, 8));
    this.#goto('EXPORT_NAME_REPLY', 'READY');
  }

  #setExport(size: bigint, flags: number): void {
    if (size > INT64_MAX) throw new NbdOverflow(size);
    this.#info = { size, flags: this.#cleanFlags(flags), minimum: 0, preferred: 0, maximum: 0, name: null, description: null };
  }

  /** Transmission flags the way libnbd trusts them: meaningless combinations are dropped. */
  #cleanFlags(flags: number): number {
    if (!(flags & P.NBD_FLAG_HAS_FLAGS)) {
      if (flags) this.#log('server did not set NBD_FLAG_HAS_FLAGS, ignoring its transmission flags');
      return 0;
    }
    // DF only means something for structured reads; fast zero only with write zeroes.
    if ((flags & P.NBD_FLAG_SEND_DF) && !this.#sr) flags &= ~P.NBD_FLAG_SEND_DF;
    if ((flags & P.NBD_FLAG_SEND_FAST_ZERO) && !(flags & P.NBD_FLAG_SEND_WRITE_ZEROES)) flags &= ~P.NBD_FLAG_SEND_FAST_ZERO;
    return flags;
  }

  /** NBD_OPT_ABORT, then close once the server acknowledges or hangs up. */
  #softDisconnectOpt(): void {
    this.#closing = true;
    // The server may acknowledge before it hangs up ("Termination of the session").
    this.#op = { option: P.NBD_OPT_ABORT, reply: () => true, resolve: () => {}, reject: () => {} };
    this.#need(20);
    this.#send(C.option(P.NBD_OPT_ABORT));
    this.#transport?.end();
  }

  // --- Option mode (nbd_opt_*) ---

  async optGo(): Promise<void> { await this.#optGuard(this.#goOrInfo(P.NBD_OPT_GO)); }
  aioOptGo(completion?: T.Callback<T.CompletionFn>): void { this.#aioOpt(this.optGo(), completion); }
  async optInfo(): Promise<void> { await this.#optGuard(this.#goOrInfo(P.NBD_OPT_INFO)); }
  aioOptInfo(completion?: T.Callback<T.CompletionFn>): void { this.#aioOpt(this.optInfo(), completion); }

  async optAbort(): Promise<void> {
    this.#goto('NEGOTIATING', 'OPT_REPLY');
    this.#softDisconnectOpt();
    await new Promise<void>((resolve) => {
      const check = () => (this.#state === 'CLOSED' || this.#state === 'DEAD' ? resolve() : this.#connectWaiters.push(check));
      check();
    });
  }
  aioOptAbort(): void { void this.optAbort().catch(() => {}); }

  async optList(list: T.Callback<T.ListFn>): Promise<number> {
    const cb = asCallback(list)!;
    return this.#listOption(P.NBD_OPT_LIST, new Uint8Array(0), P.NBD_REP_SERVER, cb, (data) => {
      // NBD_REP_SERVER: 32-bit name length, name, then the description to the end.
      const n = data.length >= 4 ? C.u32(data, 0) : -1;
      if (n < 0 || n > data.length - 4) throw new Violation('handshake: invalid NBD_REP_SERVER reply');
      this.#callUser(() => cb.callback(C.decodeString(data.subarray(4, 4 + n)), C.decodeString(data.subarray(4 + n))));
    });
  }
  aioOptList(list: T.Callback<T.ListFn>, completion?: T.Callback<T.CompletionFn>): void { this.#aioOpt(this.optList(list), completion); }

  async optListMetaContext(context: T.Callback<T.ContextFn>): Promise<number> {
    const cb = asCallback(context)!;
    if (!this.#sr) {
      // libnbd asks only once structured replies are agreed (meta contexts need them).
      cb.free?.();
      throw new NbdError(errno.ENOTSUP, '', 'server does not support structured replies');
    }
    const data = C.metaContextData(this.#exportName, this.#metaRequests);
    return this.#listOption(P.NBD_OPT_LIST_META_CONTEXT, data, P.NBD_REP_META_CONTEXT, cb, (reply) => {
      // NBD_REP_META_CONTEXT: 32-bit context id, then the name.
      if (reply.length < 4) throw new Violation('handshake: NBD_REP_META_CONTEXT reply too short');
      this.#callUser(() => cb.callback(C.decodeString(reply.subarray(4))));
    });
  }
  aioOptListMetaContext(context: T.Callback<T.ContextFn>, completion?: T.Callback<T.CompletionFn>): void {
    this.#aioOpt(this.optListMetaContext(context), completion);
  }

  /**
   * An option answered by a list (NBD_OPT_LIST, NBD_OPT_LIST_META_CONTEXT): `item` handles each
   * reply of type `itemType`; returns how many came. The callback's free hook runs once.
   */
  async #listOption(option: number, data: Uint8Array, itemType: number, cb: { free?: () => void }, item: (data: Uint8Array) => void): Promise<number> {
    let count = 0;
    let failure: NbdError | null = null;
    try {
      await this.#optGuard(this.#runOption(option, data, (type, reply) => {
        if (type === itemType) {
          item(reply);
          count++;
          return false;
        }
        if (type === P.NBD_REP_ACK) return true;
        if (!(type & P.NBD_REP_FLAG_ERROR)) throw new Violation(`handshake: unexpected reply type ${type} to ${P.nameOf('opt', option)}`);
        failure = this.#optError(option, type, reply);
        return true;
      }).then(() => this.#gotoFrom('NEGOTIATING')));
    } finally {
      cb.free?.();
    }
    if (failure) throw failure;
    return count;
  }

  /** An option in opt mode: a death during it is the option's failure too. */
  async #optGuard<R>(p: Promise<R>): Promise<R> {
    try {
      return await p;
    } catch (e) {
      const err = asNbdError(e, errno.EPROTO);
      if (e instanceof Violation || err.errno === errno.EOVERFLOW && this.#state !== 'NEGOTIATING') this.#die(err);
      throw err;
    }
  }

  #aioOpt(p: Promise<unknown>, completion?: T.Callback<T.CompletionFn>): void {
    const cb = asCallback(completion);
    p.then(() => 0, (e: NbdError) => e.errno || errno.EIO).then((err) => {
      if (cb) this.#callUser(() => cb.callback({ value: err }));
      cb?.free?.();
    });
  }

  // --- Transmission: replies ("Simple reply message", "Structured reply chunk message") ---

  #onReplyHeader(b: Uint8Array): void {
    if (this.#have === 4) {
      const magic = C.u32(b, 0);
      const size = magic === P.NBD_SIMPLE_REPLY_MAGIC ? C.SIMPLE_REPLY_SIZE
        : magic === P.NBD_STRUCTURED_REPLY_MAGIC ? C.STRUCTURED_REPLY_SIZE
        : magic === P.NBD_EXTENDED_REPLY_MAGIC ? C.EXTENDED_REPLY_SIZE : 0;
      if (!size) throw new Violation(`invalid reply magic 0x${magic.toString(16)}`);
      // What was negotiated decides which headers the server may send.
      if (this.#ext && size !== C.EXTENDED_REPLY_SIZE) throw new Violation('server sent a compact reply after extended headers were negotiated');
      if (!this.#ext && size === C.EXTENDED_REPLY_SIZE) throw new Violation('server sent an extended reply header that was never negotiated');
      if (!this.#sr && size === C.STRUCTURED_REPLY_SIZE) throw new Violation('server sent a structured reply that was never negotiated');
      this.#needMore(size);
      return;
    }
    const h = C.decodeReplyHeader(b);
    this.#chunksReceived++;
    const cmd = this.#cmds.get(h.cookie) ?? this.#zombies.get(h.cookie);
    if (!cmd) throw new Violation(`no matching cookie ${h.cookie < 0 ? 'above 2^53' : h.cookie} found for server reply, this is probably a server bug`);
    this.#reply = h;
    this.#cmd = cmd;
    if (h.kind === 'simple') return this.#onSimpleReply(h, cmd);
    return this.#onChunkHeader(h, cmd);
  }

  #onSimpleReply(h: C.ReplyHeader, cmd: WireCommand): void {
    if (h.error) {
      this.#fail(cmd, wireErrno(h.error));
      return this.#finishReply(true);
    }
    if (cmd.type === P.NBD_CMD_READ) {
      if (this.#sr) throw new Violation('server sent a simple reply with data to a read after structured replies were negotiated');
      this.#goto('REPLY_HEADER', 'REPLY_SIMPLE_DATA');
      return this.#sink(cmd.buf, 0, Number(cmd.count));
    }
    if (cmd.type === P.NBD_CMD_BLOCK_STATUS) throw new Violation('server sent a simple reply to block status');
    return this.#finishReply(true);
  }

  /** A chunk header: check its type and length against the command before reading anything. */
  #onChunkHeader(h: C.ReplyHeader, cmd: WireCommand): void {
    const len = h.length;
    const type = h.type;
    const isRead = cmd.type === P.NBD_CMD_READ;
    const bad = (why: string): never => { throw new Violation(`${P.nameOf('cmd', cmd.type)}: ${why}`); };
    if (len > 0xffffffffn) bad(`chunk length ${len} is too large`);
    const n = Number(len);
    this.#chunkLength = n;
    switch (type) {
      case P.NBD_REPLY_TYPE_NONE:
        if (n !== 0) bad('NBD_REPLY_TYPE_NONE with a payload');
        if (!(h.flags & P.NBD_REPLY_FLAG_DONE)) bad('NBD_REPLY_TYPE_NONE without the done flag');
        return this.#finishReply(true);
      case P.NBD_REPLY_TYPE_OFFSET_DATA:
        if (!isRead) bad('server sent OFFSET_DATA to a command that is not a read');
        if (n <= 8 || BigInt(n - 8) > cmd.count) bad(`invalid OFFSET_DATA chunk length ${n}`);
        this.#goto('REPLY_HEADER', 'REPLY_CHUNK');
        return this.#need(8);
      case P.NBD_REPLY_TYPE_OFFSET_HOLE:
        if (!isRead) bad('server sent OFFSET_HOLE to a command that is not a read');
        if (n !== 12) bad(`invalid OFFSET_HOLE chunk length ${n}`);
        this.#goto('REPLY_HEADER', 'REPLY_CHUNK');
        return this.#need(12);
      case P.NBD_REPLY_TYPE_BLOCK_STATUS:
      case P.NBD_REPLY_TYPE_BLOCK_STATUS_EXT: {
        if (cmd.type !== P.NBD_CMD_BLOCK_STATUS) bad('server sent block status to a command that is not block status');
        const ext = type === P.NBD_REPLY_TYPE_BLOCK_STATUS_EXT;
        if (ext !== this.#ext) bad(ext ? 'BLOCK_STATUS_EXT without extended headers' : 'compact BLOCK_STATUS after extended headers were negotiated');
        const head = ext ? 8 : 4;
        const size = ext ? 16 : 8;
        const most = Math.min(MAX_BLOCK_STATUS, head + size * Number(cmd.count < 0x1000000n ? cmd.count : 0x1000000n));
        if (n < head + size || (n - head) % size !== 0 || n > most) bad(`invalid block status chunk length ${n}`);
        this.#goto('REPLY_HEADER', 'REPLY_CHUNK');
        return this.#need(n);
      }
      case P.NBD_REPLY_TYPE_ERROR:
      case P.NBD_REPLY_TYPE_ERROR_OFFSET:
        if (n < 6 || n > MAX_ERROR_CHUNK) bad(`invalid error chunk length ${n}`);
        this.#goto('REPLY_HEADER', 'REPLY_CHUNK');
        return this.#need(n);
      default:
        // "A client MUST NOT ... an unknown type without the error bit is fatal; with it, the
        // command failed" (Structured reply types).
        if (!P.isErrorReplyType(type)) bad(`unknown structured reply type ${type}`);
        if (n < 4 || n > MAX_ERROR_CHUNK) bad(`invalid error chunk length ${n}`);
        this.#goto('REPLY_HEADER', 'REPLY_CHUNK');
        return this.#need(n);
    }
  }

  /** The fixed part of a chunk has arrived. */
  #onChunk(b: Uint8Array): void {
    const h = this.#reply!;
    const cmd = this.#cmd!;
    const bad = (why: string): never => { throw new Violation(`${P.nameOf('cmd', cmd.type)}: ${why}`); };
    const end = cmd.offset + cmd.count;
    switch (h.type) {
      case P.NBD_REPLY_TYPE_OFFSET_DATA: {
        const offset = C.u64(b, 0);
        const n = this.#chunkLength - 8;
        if (offset < cmd.offset || offset + BigInt(n) > end) bad(`server reply offset ${offset} out of range of the request`);
        const rel = Number(offset - cmd.offset);
        if (!cmd.coverage!.add(rel, rel + n)) bad('server sent overlapping read chunks');
        this.#chunkOffset = offset;
        this.#goto('REPLY_CHUNK', 'REPLY_CHUNK_DATA');
        return this.#sink(cmd.buf, rel, n);
      }
      case P.NBD_REPLY_TYPE_OFFSET_HOLE: {
        const offset = C.u64(b, 0);
        const n = C.u32(b, 8);
        if (n === 0) bad('server sent a zero-length hole');
        if (offset < cmd.offset || offset + BigInt(n) > end) bad(`server hole offset ${offset} out of range of the request`);
        const rel = Number(offset - cmd.offset);
        if (!cmd.coverage!.add(rel, rel + n)) bad('server sent overlapping read chunks');
        cmd.buf?.fill(0, rel, rel + n);
        if (cmd.chunk && cmd.buf) this.#chunkCallback(cmd, cmd.buf.subarray(rel, rel + n), offset, T.READ_HOLE);
        return this.#finishReply(false);
      }
      case P.NBD_REPLY_TYPE_BLOCK_STATUS:
      case P.NBD_REPLY_TYPE_BLOCK_STATUS_EXT:
        this.#onBlockStatus(cmd, b, h.type === P.NBD_REPLY_TYPE_BLOCK_STATUS_EXT);
        return this.#finishReply(false);
      default: {
        // ERROR, ERROR_OFFSET, or an unknown error type (whose payload starts with an error too).
        const withOffset = h.type === P.NBD_REPLY_TYPE_ERROR_OFFSET;
        const known = h.type === P.NBD_REPLY_TYPE_ERROR || withOffset;
        const e = known ? C.decodeErrorChunk(b, withOffset) : { error: C.u32(b, 0), message: '', offset: null };
        if (!e) bad('invalid error chunk');
        if (e!.error === 0) bad('server sent an error chunk with error 0');
        if (e!.offset !== null) {
          if (e!.offset < cmd.offset || e!.offset >= end) bad(`server error offset ${e!.offset} out of range of the request`);
        }
        this.#fail(cmd, wireErrno(e!.error), e!.message ? `server: ${e!.message}` : '');
        if (cmd.chunk && cmd.type === P.NBD_CMD_READ) {
          const rel = e!.offset !== null ? Number(e!.offset - cmd.offset) : 0;
          this.#chunkCallback(cmd, (cmd.buf ?? new Uint8Array(0)).subarray(rel, rel), e!.offset ?? cmd.offset, T.READ_ERROR, wireErrno(e!.error));
        }
        return this.#finishReply(false);
      }
    }
  }

  /** A simple read's data is in; like libnbd, tell the chunk callback once, with the whole buffer. */
  #onSimpleData(): void {
    const cmd = this.#cmd!;
    if (cmd.chunk && cmd.buf) this.#chunkCallback(cmd, cmd.buf, cmd.offset, T.READ_DATA);
    this.#finishReply(true);
  }

  #onChunkData(): void {
    const cmd = this.#cmd!;
    if (cmd.chunk && cmd.buf) {
      const rel = Number(this.#chunkOffset - cmd.offset);
      this.#chunkCallback(cmd, cmd.buf.subarray(rel, rel + this.#chunkLength - 8), this.#chunkOffset, T.READ_DATA);
    }
    this.#finishReply(false);
  }

  #onBlockStatus(cmd: WireCommand, b: Uint8Array, ext: boolean): void {
    const bad = (why: string): never => { throw new Violation(`block-status: ${why}`); };
    const bs = C.decodeBlockStatus(b, ext);
    if (!bs) return bad('invalid block status payload');
    const name = this.#meta.get(bs.contextId);
    if (name === undefined) bad(`server sent unknown meta context id ${bs.contextId}`);
    if ((cmd.flags & P.NBD_CMD_FLAG_REQ_ONE) && bs.extents.length > 1) bad('server sent more than one extent with REQ_ONE');
    const size = this.#info!.size;
    let at = cmd.offset;
    for (let i = 0; i < bs.extents.length; i++) {
      const e = bs.extents[i]!;
      if (e.length === 0n) bad('server sent a zero-length extent');
      // Only the last extent may reach past the request; none may reach past the export.
      if (i > 0 && at >= cmd.offset + cmd.count) bad('server sent too many extents');
      at += e.length;
      if (at > size) bad(`server sent extents past the end of the export (${at} > ${size})`);
    }
    cmd.gotExtents = true;
    if (cmd.cancelled) return;
    if (cmd.extent64) {
      const entries = bs.extents.map((e) => ({ length: e.length, flags: e.flags }));
      this.#cmds.midCallback(cmd, (ref) => cmd.extent64!.callback(name!, cmd.offset, entries, ref));
    } else if (cmd.extent) {
      // The 32-bit callback of nbd_block_status(3): flags must fit; a length that does not fit
      // ends the list there, clamped (the caller asks again from where it stops).
      const entries: number[] = [];
      for (const e of bs.extents) {
        if (e.flags > 0xffffffffn) { this.#fail(cmd, errno.EOVERFLOW, `extent flags 0x${e.flags.toString(16)} do not fit in 32 bits`); return; }
        if (e.length > 0xffffffffn) { entries.push(0xffffffff - (0xffffffff % Math.max(1, this.#info!.minimum)), Number(e.flags)); break; }
        entries.push(Number(e.length), Number(e.flags));
      }
      this.#cmds.midCallback(cmd, (ref) => cmd.extent!.callback(name!, cmd.offset, entries, ref));
    }
  }

  #chunkCallback(cmd: WireCommand, sub: Uint8Array, offset: bigint, status: number, err = 0): void {
    if (!cmd.cancelled) this.#cmds.midCallback(cmd, (ref) => cmd.chunk!.callback(sub, offset, status, ref), err);
  }

  #callUser<R>(fn: () => R): R | undefined {
    return callUser((msg) => this.#log(msg), fn);
  }

  /** A chunk (or simple reply) is fully read: complete the command on DONE, then wait for the next. */
  #finishReply(done: boolean): void {
    const h = this.#reply!;
    const cmd = this.#cmd!;
    const last = done || (h.flags & P.NBD_REPLY_FLAG_DONE) !== 0;
    // Checked while the command is still the current one, so a violation names it.
    if (last && !cmd.error && cmd.type === P.NBD_CMD_READ && h.kind !== 'simple' && cmd.coverage!.total !== Number(cmd.count)) {
      throw new Violation('read: server did not send data for the whole request');
    }
    if (last && !cmd.error && cmd.type === P.NBD_CMD_BLOCK_STATUS && !cmd.gotExtents) {
      throw new Violation('block-status: server replied without any extents');
    }
    this.#reply = null;
    this.#cmd = null;
    this.#sinkBuf = null;
    this.#gotoFrom('READY');
    this.#have = 0;
    this.#want = 0;
    if (last && cmd.cancelled) this.#zombies.delete(cmd.cookie);
    else if (last) this.#complete(cmd);
  }

  // --- Commands ---

  #fail(cmd: WireCommand, err: number, message = ''): void {
    this.#cmds.fail(cmd, err, message);
    if (err === errno.ESHUTDOWN) this.#serverShutdown = true;
  }

  #complete(cmd: WireCommand): void {
    cmd.disarm?.();
    cmd.disarm = null;
    this.#cmds.complete(cmd);
    if (this.#serverShutdown && this.#cmds.size === 0 && this.#publicState() === 'ready' && !this.#closing) {
      // The server is going away ("ESHUTDOWN"): disconnect softly now that nothing is in flight.
      this.#log('server is shutting down: disconnecting');
      this.#disconnect();
    }
  }

  /** Check a command against strict mode and what the server advertised, then send it. */
  #issue(
    type: number, flags: number, offset: T.U64, count: T.U64, buf: Uint8Array | null, cbs: CommandCallbacks,
    opts?: T.CommandOptions,
  ): number {
    const cmd: WireCommand = {
      ...newCommand(type, buf, cbs), flags, offset: BigInt(offset), count: BigInt(count),
      coverage: type === P.NBD_CMD_READ ? new Coverage() : null, gotExtents: false, cancelled: false, disarm: null,
    };
    try {
      this.#check({ type, flags, offset: cmd.offset, count: cmd.count, chunk: cmd.chunk !== null });
      if (opts?.signal?.aborted) throw new NbdError(errno.ECANCELED, '', 'command cancelled before it was sent');
    } catch (e) {
      // "The free hook runs exactly once, also when the call itself fails."
      this.#cmds.free(cmd);
      throw e;
    }
    this.#cmds.add(cmd);
    if (opts) this.#arm(cmd, opts);
    this.#send(C.request(this.#ext, flags, type, cmd.cookie, cmd.offset, cmd.count), type === P.NBD_CMD_WRITE ? buf! : undefined);
    return cmd.cookie;
  }

  #check(cmd: { type: number; flags: number; offset: bigint; count: bigint; chunk: boolean }): void {
    const { type, flags, offset, count } = cmd;
    const strict = this.#strict;
    const inval = (detail: string, e: number = errno.EINVAL): never => { throw new NbdError(e, '', detail); };
    if (this.#closing) inval('cannot issue a command after disconnecting', errno.ESHUTDOWN);
    if (this.#serverShutdown) inval('server is shutting down', errno.ESHUTDOWN);
    if (flags > 0xffff || flags < 0) inval(`flags: invalid value for flag: 0x${flags.toString(16)}`);
    const allowed: Record<number, number> = {
      [P.NBD_CMD_READ]: cmd.chunk ? T.CMD_FLAG_DF : 0,
      [P.NBD_CMD_WRITE]: T.CMD_FLAG_FUA,
      [P.NBD_CMD_FLUSH]: 0,
      [P.NBD_CMD_TRIM]: T.CMD_FLAG_FUA,
      [P.NBD_CMD_CACHE]: 0,
      [P.NBD_CMD_WRITE_ZEROES]: T.CMD_FLAG_FUA | T.CMD_FLAG_NO_HOLE | T.CMD_FLAG_FAST_ZERO,
      [P.NBD_CMD_BLOCK_STATUS]: T.CMD_FLAG_REQ_ONE,
    };
    if ((strict & T.STRICT_FLAGS) && (flags & ~allowed[type]!)) inval(`flags: invalid value for flag: 0x${(flags & ~allowed[type]!).toString(16)}`);
    if (strict & T.STRICT_COMMANDS) {
      const writes = type === P.NBD_CMD_WRITE || type === P.NBD_CMD_TRIM || type === P.NBD_CMD_WRITE_ZEROES;
      const can = (bit: number) => this.#flag(bit);
      if (writes && can(P.NBD_FLAG_READ_ONLY)) inval('server does not support write operations', errno.EPERM);
      if (type === P.NBD_CMD_FLUSH && !can(P.NBD_FLAG_SEND_FLUSH)) inval('server does not support flush operations');
      if (type === P.NBD_CMD_TRIM && !can(P.NBD_FLAG_SEND_TRIM)) inval('server does not support trim operations');
      if (type === P.NBD_CMD_WRITE_ZEROES && !can(P.NBD_FLAG_SEND_WRITE_ZEROES)) inval('server does not support zero operations');
      if (type === P.NBD_CMD_CACHE && !can(P.NBD_FLAG_SEND_CACHE)) inval('server does not support cache operations');
      if ((flags & T.CMD_FLAG_FUA) && !can(P.NBD_FLAG_SEND_FUA)) inval('server does not support the FUA flag');
      if ((flags & T.CMD_FLAG_DF) && !can(P.NBD_FLAG_SEND_DF)) inval('server does not support the DF flag');
      if ((flags & T.CMD_FLAG_FAST_ZERO) && !can(P.NBD_FLAG_SEND_FAST_ZERO)) inval('server does not support the fast zero flag');
    }
    if (type === P.NBD_CMD_BLOCK_STATUS) {
      if (!this.#sr) inval('server does not support structured replies', errno.ENOTSUP);
      if (this.#meta.size === 0) {
        inval('did not negotiate any metadata contexts, either you did not call nbd_add_meta_context before connecting or the server does not support it', errno.ENOTSUP);
      }
    }
    if (type !== P.NBD_CMD_FLUSH) {
      if ((strict & T.STRICT_ZERO_SIZE) && count === 0n) inval('count cannot be 0');
      if ((strict & T.STRICT_BOUNDS) && (offset > this.#info!.size || offset + count > this.#info!.size)) inval('request out of bounds');
      const min = BigInt(this.#info!.minimum);
      if ((strict & T.STRICT_ALIGN) && min > 1n && (offset % min !== 0n || count % min !== 0n)) inval('request is unaligned');
    }
    if (type === P.NBD_CMD_READ || type === P.NBD_CMD_WRITE) {
      const max = this.#info!.maximum;
      const most = (strict & T.STRICT_PAYLOAD) ? (max ? Math.min(max, MAX_REQUEST) : MAX_REQUEST) : 0xffffffff;
      if (count > BigInt(most)) inval(`request too large: maximum request size is ${most}`, errno.ERANGE);
    } else if (!this.#ext && count > 0xffffffffn) {
      inval('request too large: maximum request size is 4294967295 without extended headers', errno.ERANGE);
    }
  }

  aioPread(buf: Uint8Array, offset: T.U64, completion?: T.Callback<T.CompletionFn>, flags = 0, opts?: T.CommandOptions): number {
    return this.#issue(P.NBD_CMD_READ, flags, offset, buf.length, buf, { completion }, opts);
  }
  aioPreadStructured(buf: Uint8Array, offset: T.U64, chunk: T.Callback<T.ChunkFn>, completion?: T.Callback<T.CompletionFn>, flags = 0, opts?: T.CommandOptions): number {
    return this.#issue(P.NBD_CMD_READ, flags, offset, buf.length, buf, { completion, chunk }, opts);
  }
  aioPwrite(buf: Uint8Array, offset: T.U64, completion?: T.Callback<T.CompletionFn>, flags = 0, opts?: T.CommandOptions): number {
    return this.#issue(P.NBD_CMD_WRITE, flags, offset, buf.length, buf, { completion }, opts);
  }
  aioFlush(completion?: T.Callback<T.CompletionFn>, flags = 0, opts?: T.CommandOptions): number {
    return this.#issue(P.NBD_CMD_FLUSH, flags, 0, 0, null, { completion }, opts);
  }
  aioTrim(count: T.U64, offset: T.U64, completion?: T.Callback<T.CompletionFn>, flags = 0, opts?: T.CommandOptions): number {
    return this.#issue(P.NBD_CMD_TRIM, flags, offset, count, null, { completion }, opts);
  }
  aioCache(count: T.U64, offset: T.U64, completion?: T.Callback<T.CompletionFn>, flags = 0, opts?: T.CommandOptions): number {
    return this.#issue(P.NBD_CMD_CACHE, flags, offset, count, null, { completion }, opts);
  }
  aioZero(count: T.U64, offset: T.U64, completion?: T.Callback<T.CompletionFn>, flags = 0, opts?: T.CommandOptions): number {
    return this.#issue(P.NBD_CMD_WRITE_ZEROES, flags, offset, count, null, { completion }, opts);
  }
  aioBlockStatus(count: T.U64, offset: T.U64, extent: T.Callback<T.ExtentFn>, completion?: T.Callback<T.CompletionFn>, flags = 0, opts?: T.CommandOptions): number {
    return this.#issue(P.NBD_CMD_BLOCK_STATUS, flags, offset, count, null, { completion, extent }, opts);
  }
  aioBlockStatus64(count: T.U64, offset: T.U64, extent: T.Callback<T.Extent64Fn>, completion?: T.Callback<T.CompletionFn>, flags = 0, opts?: T.CommandOptions): number {
    return this.#issue(P.NBD_CMD_BLOCK_STATUS, flags, offset, count, null, { completion, extent64: extent }, opts);
  }

  // Each sync call is its aio twin plus a wait (libnbd's lib/rw.c).
  async pread(buf: Uint8Array, offset: T.U64, flags = 0, opts?: T.CommandOptions): Promise<void> { await this.#wait(this.aioPread(buf, offset, undefined, flags, opts)); }
  async preadStructured(buf: Uint8Array, offset: T.U64, chunk: T.Callback<T.ChunkFn>, flags = 0, opts?: T.CommandOptions): Promise<void> {
    await this.#wait(this.aioPreadStructured(buf, offset, chunk, undefined, flags, opts));
  }
  async pwrite(buf: Uint8Array, offset: T.U64, flags = 0, opts?: T.CommandOptions): Promise<void> { await this.#wait(this.aioPwrite(buf, offset, undefined, flags, opts)); }
  async flush(flags = 0, opts?: T.CommandOptions): Promise<void> { await this.#wait(this.aioFlush(undefined, flags, opts)); }
  async trim(count: T.U64, offset: T.U64, flags = 0, opts?: T.CommandOptions): Promise<void> { await this.#wait(this.aioTrim(count, offset, undefined, flags, opts)); }
  async cache(count: T.U64, offset: T.U64, flags = 0, opts?: T.CommandOptions): Promise<void> { await this.#wait(this.aioCache(count, offset, undefined, flags, opts)); }
  async zero(count: T.U64, offset: T.U64, flags = 0, opts?: T.CommandOptions): Promise<void> { await this.#wait(this.aioZero(count, offset, undefined, flags, opts)); }
  async blockStatus(count: T.U64, offset: T.U64, extent: T.Callback<T.ExtentFn>, flags = 0, opts?: T.CommandOptions): Promise<void> {
    await this.#wait(this.aioBlockStatus(count, offset, extent, undefined, flags, opts));
  }
  async blockStatus64(count: T.U64, offset: T.U64, extent: T.Callback<T.Extent64Fn>, flags = 0, opts?: T.CommandOptions): Promise<void> {
    await this.#wait(this.aioBlockStatus64(count, offset, extent, undefined, flags, opts));
  }

  /** Watch a command's AbortSignal and time limit. */
  #arm(cmd: WireCommand, { signal, timeout }: T.CommandOptions): void {
    const onAbort = () => this.cancelCommand(cmd.cookie, errno.ECANCELED);
    const timer = timeout !== undefined && timeout >= 0 ? setTimeout(() => this.cancelCommand(cmd.cookie, errno.ETIMEDOUT), timeout) : undefined;
    signal?.addEventListener('abort', onAbort, { once: true });
    cmd.disarm = () => {
      signal?.removeEventListener('abort', onAbort);
      if (timer !== undefined) clearTimeout(timer);
    };
  }

  /**
   * End a command now with `err` (ECANCELED or ETIMEDOUT): its callbacks see the error, its buffer
   * is never written again, and the server's reply, when it comes, is read and dropped. Returns
   * false if the command is not in flight. (Not in libnbd: used for signals and timeouts.)
   */
  cancelCommand(cookie: number, err: number = errno.ECANCELED): boolean {
    const cmd = this.#cmds.get(cookie);
    if (!cmd || cmd.done) return false;
    cmd.cancelled = true;
    cmd.buf = null;
    if (this.#cmd === cmd) this.#sinkBuf = null;
    this.#zombies.set(cookie, cmd);
    this.#fail(cmd, err);
    this.#complete(cmd);
    this.#wake();
    return true;
  }

  /** Wait for one command, then retire it (throwing its error). */
  async #wait(cookie: number): Promise<void> {
    await this.#cmds.wait(cookie);
    this.#cmds.commandCompleted(cookie);
  }

  aioCommandCompleted(cookie: number): boolean { return this.#cmds.commandCompleted(cookie); }
  aioPeekCommandCompleted(): number { return this.#cmds.peek(); }
  aioInFlight(): number { return this.#cmds.size; }

  aioDisconnect(flags = 0): void {
    if (flags !== 0) throw new NbdError(errno.EINVAL, '', `flags: invalid value for flag: 0x${flags.toString(16)}`);
    if (this.#closing) return;
    this.#disconnect();
  }

  #disconnect(): void {
    this.#closing = true;
    this.#log('sending NBD_CMD_DISC');
    this.#send(C.request(this.#ext, 0, P.NBD_CMD_DISC, this.#cmds.reserve(), 0n, 0n));
    this.#transport?.end();
  }

  // ============================== waiting ==============================

  /** Wake everyone waiting for progress (nbd_poll) or for the handshake. */
  #wake(): void {
    if (this.#waiters.size) {
      const ws = [...this.#waiters];
      this.#waiters.clear();
      for (const w of ws) w.resolve(1);
    }
    if (this.#connectWaiters.length) for (const w of this.#connectWaiters.splice(0)) w();
  }

  /** nbd_poll: resolve 1 once the connection makes progress, 0 after `timeout` ms (-1: no limit). */
  poll(timeout = -1): Promise<number> {
    const s = this.#publicState();
    if (s === 'dead') return Promise.reject(this.#death ?? new NbdError(errno.ENOTCONN, '', 'connection is dead'));
    if (s === 'created' || s === 'closed') {
      return Promise.reject(new NbdError(errno.EINVAL, '', `nothing to poll for in state ${this.#state}`));
    }
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const w: Waiter = {
        resolve: (n) => { if (timer !== undefined) clearTimeout(timer); resolve(n); },
        reject: (e) => { if (timer !== undefined) clearTimeout(timer); reject(e); },
      };
      this.#waiters.add(w);
      if (timeout >= 0) timer = setTimeout(() => { this.#waiters.delete(w); resolve(0); }, timeout);
    });
  }

  // ============================== ending ==============================

  async shutdown(flags = 0): Promise<void> {
    if (flags & ~T.SHUTDOWN_MASK) throw new NbdError(errno.EINVAL, '', `flags: invalid value for flag: 0x${flags.toString(16)}`);
    if (this.#state === 'NEGOTIATING') return this.optAbort();
    if (!this.#closing) this.#disconnect();
    await new Promise<void>((resolve) => {
      const check = () => (this.#state === 'CLOSED' || this.#state === 'DEAD' ? resolve() : this.#connectWaiters.push(check));
      check();
    });
  }

  /** nbd_close: drop the connection; commands still in flight are abandoned (their free hooks run). */
  close(): void {
    const t = this.#transport;
    this.#transport = null;
    this.#conn = null;
    t?.destroy();
    const abandoned = new NbdError(errno.ENOTCONN, '', 'handle closed');
    this.#cmds.abandonAll();
    this.#op?.reject(abandoned);
    this.#op = null;
    if (this.#state !== 'DEAD') this.#state = 'CLOSED';
    this.#death ??= abandoned;
    for (const w of this.#waiters) w.reject(abandoned);
    this.#waiters.clear();
    this.#wake();
  }

  /** The transport ended. Expected after NBD_CMD_DISC or NBD_OPT_ABORT; otherwise the connection died. */
  #onClose(error: NbdError | null): void {
    if (this.#state === 'DEAD' || this.#state === 'CLOSED') return;
    if (this.#closing) {
      this.#transport = null;
      this.#conn = null;
      this.#cmds.failAll(errno.ENOTCONN, 'connection closed');
      this.#zombies.clear();
      this.#op?.resolve();
      this.#op = null;
      this.#state = 'CLOSED';
      this.#log('connection closed');
      this.#wake();
      return;
    }
    const during = this.#state === 'CONNECT' ? '' : this.#publicState() === 'connecting' ? 'handshake: ' : 'recv: ';
    this.#die(error ? new NbdError(error.errno, '', during + error.detail)
      : new NbdError(errno.ENOTCONN, '', `${during}server disconnected unexpectedly`));
  }

  #violation(e: unknown): void {
    if (e instanceof NbdOverflow) return this.#die(new NbdError(errno.EOVERFLOW, '', e.message));
    if (!(e instanceof Violation)) {
      // A bug of ours, or a user callback misbehaving in a way we did not catch: still never hang.
      return this.#die(new NbdError(errno.EPROTO, '', `internal error: ${e instanceof Error ? e.message : String(e)}`));
    }
    this.#die(new NbdError(errno.EPROTO, '', e.message), this.#cmd);
  }

  /**
   * The connection is unusable: every command in flight fails (the one whose reply broke the
   * protocol with EPROTO, the rest with ENOTCONN), waiters are released, the transport dropped.
   */
  #die(err: NbdError, culprit: WireCommand | null = null): void {
    if (this.#state === 'DEAD' || this.#state === 'CLOSED') return;
    this.#log(`connection is dead: ${err.message}`);
    this.#death = err;
    this.#state = 'DEAD';
    const t = this.#transport;
    this.#transport = null;
    this.#conn = null;
    // After NBD_OPT_ABORT, let it reach the server; otherwise drop the connection now.
    if (this.#closing) t?.end();
    else t?.destroy();
    if (culprit) this.#fail(culprit, errno.EPROTO, err.detail);
    this.#cmds.failAll(errno.ENOTCONN, err.detail);
    this.#zombies.clear();
    const op = this.#op;
    this.#op = null;
    op?.reject(err);
    for (const w of this.#waiters) w.reject(err);
    this.#waiters.clear();
    this.#wake();
  }

  // ============================== debugging ==============================

  #log(msg: string): void {
    if (!this.#debug) return;
    if (this.#debugFn) this.#callUser(() => this.#debugFn!(this.#name, msg));
    else console.error(`libnbd: debug: ${this.#name}: ${msg}`);
  }

  static {
    // libnbd's generated wrappers: state guard, argument checks, error context, debug trace,
    // then the hand-written body above.
    const proto = NbdHandle.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const [name, call] of Object.entries(API) as [string, Call][]) {
      const body = proto[name];
      if (typeof body !== 'function') throw new Error(`internal error: API table names ${name}, which NbdHandle lacks`);
      const trace = (h: NbdHandle, top: boolean, msg: string) => {
        if (top && h.#debug) h.#log(`${call.c}: ${msg}`);
      };
      const fix = (h: NbdHandle, top: boolean, e: unknown): NbdError => {
        const err = asNbdError(e, errno.EINVAL).withContext(call.c);
        trace(h, top, `leave: error="${err.message}"`);
        return setLastError(err);
      };
      const zeroFirst = call.args[0] === 'buf-out';
      /** Run the body's synchronous part with the nesting depth raised. */
      const enter = (h: NbdHandle, args: unknown[]): { top: boolean; value: unknown } => {
        const top = h.#nest === 0;
        // pread_initialize: libnbd zeroes the buffer "prior to checking for any other errors", so
        // that even a read refused here (dead handle, out of bounds) never shows stale bytes.
        // Once per buffer: pread's wrapper zeroes it, and the aioPread that pread calls need not.
        const buf = zeroFirst && args[0] instanceof Uint8Array ? args[0] : null;
        if (buf && h.#preadInitialize && buf !== h.#zeroed) buf.fill(0);
        try {
          guardCall(call, h.#state, args);
        } catch (e) {
          freeCallbackArgs(call, args);
          throw e;
        }
        trace(h, top, 'enter');
        h.#nest++;
        const outer = h.#zeroed;
        if (buf) h.#zeroed = buf;
        try {
          return { top, value: body.apply(h, args) };
        } finally {
          h.#nest--;
          h.#zeroed = outer;
        }
      };
      proto[name] = call.async
        ? async function (this: NbdHandle, ...args: unknown[]) {
          let top = this.#nest === 0;
          try {
            const r = enter(this, args);
            top = r.top;
            const value = await r.value;
            trace(this, top, 'leave');
            return value;
          } catch (e) {
            throw fix(this, top, e);
          }
        }
        : function (this: NbdHandle, ...args: unknown[]) {
          const top = this.#nest === 0;
          try {
            const r = enter(this, args);
            trace(this, top, 'leave');
            return r.value;
          } catch (e) {
            throw fix(this, top, e);
          }
        };
    }
  }
}

/** The export size does not fit libnbd's int64_t (CVE-2023-5215). */
class NbdOverflow extends Error {
  constructor(size: bigint) {
    super(`server export size ${size} is larger than the maximum 2^63-1`);
  }
}

export function asNbdError(e: unknown, dflt: number): NbdError {
  if (e instanceof NbdError) return e;
  if (e instanceof Violation) return new NbdError(errno.EPROTO, '', e.message);
  return new NbdError(dflt, '', e instanceof Error ? e.message : String(e));
}

/** The generated part of every call: permitted state (libnbd's wording and errno), then arguments. */
export function guardCall(call: Call, state: State, args: unknown[]): void {
  if (call.states) {
    const s = STATES[state].public;
    if (!call.states.some((p) => (PERMITTED[p].states as readonly PublicState[]).includes(s))) {
      throw new NbdError(s === 'created' ? errno.ENOTCONN : errno.EINVAL, call.c,
        `invalid state: ${state}: the handle must be ${call.states.map((p) => PERMITTED[p].text).join(', or ')}`);
    }
  }
  checkArgs(call, args);
}

const CALLBACK_KINDS: ReadonlySet<string> = new Set(['completion', 'chunk', 'extent', 'extent64', 'list', 'context', 'debug']);

/**
 * A call refused before its body ran (wrong state, bad argument) still runs its callbacks' free
 * hooks: libnbd(3), "Callback lifetimes": "including in the case where the API fails".
 */
function freeCallbackArgs(call: Call, args: unknown[]): void {
  call.args.forEach((spec, i) => {
    const cb = args[i] as { free?: unknown } | null | undefined;
    if (CALLBACK_KINDS.has(spec.replace('?', '')) && typeof cb === 'object' && cb !== null && typeof cb.free === 'function') {
      try {
        (cb.free as () => void)();
      } catch {
        // A throwing free hook must not replace the call's own error.
      }
    }
  });
}

/** Argument checks from the API table: what libnbd's C types and non-NULL rules guarantee. */
function checkArgs(call: Call, args: unknown[]): void {
  call.args.forEach((spec: Arg, i) => {
    const optional = spec.endsWith('?');
    const kind = spec.replace('?', '');
    const v = args[i];
    const name = `argument ${i + 1}`;
    const bad = (what: string): never => { throw new NbdError(errno.EINVAL, call.c, `${name}: ${what}`); };
    if (v === undefined || v === null) {
      if (optional) return;
      throw new NbdError(errno.EFAULT, call.c, `${kind === 'buf-out' || kind === 'buf-in' ? 'buf' : kind} cannot be NULL`);
    }
    switch (kind) {
      case 'string': if (typeof v !== 'string') bad('expected a string'); break;
      case 'service': if (typeof v !== 'string' && typeof v !== 'number') bad('expected a port'); break;
      case 'bool': if (typeof v !== 'boolean') bad('expected a boolean'); break;
      case 'int': case 'timeout': if (!Number.isInteger(v)) bad('expected an integer'); break;
      case 'uint32': case 'flags': case 'cookie':
        if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 0xffffffff && kind !== 'cookie') bad(`expected an unsigned integer, got ${String(v)}`);
        break;
      case 'u64':
        if (typeof v === 'bigint') { if (v < 0n || v >= 1n << 64n) bad(`value out of range: ${v}`); }
        else if (!Number.isSafeInteger(v) || (v as number) < 0) bad(`expected an unsigned 64-bit integer (number or bigint), got ${String(v)}`);
        break;
      case 'buf-out': case 'buf-in': if (!(v instanceof Uint8Array)) bad('expected a Uint8Array'); break;
      case 'options': {
        const o = v as T.CommandOptions;
        if (typeof o !== 'object') bad('expected { signal, timeout }');
        if (o.timeout !== undefined && !(typeof o.timeout === 'number' && o.timeout >= 0)) bad(`timeout: expected milliseconds, got ${String(o.timeout)}`);
        if (o.signal !== undefined && typeof o.signal.addEventListener !== 'function') bad('signal: expected an AbortSignal');
        break;
      }
      default:
        // Callbacks: a function, or libnbd's { callback, free } pair.
        if (typeof v !== 'function' && !(typeof v === 'object' && typeof (v as { callback?: unknown }).callback === 'function')) {
          bad('expected a function or { callback, free }');
        }
    }
  });
}
