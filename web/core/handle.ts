// NbdHandle: libnbd's client handle, its API in camelCase. This file is the index: each method
// hands over to where libnbd keeps the same code (handle/settings.ts ~ lib/handle.c,
// handle/flags.ts ~ lib/flags.c, connect.ts, opt.ts, rw.ts, disconnect.ts, and the states in
// handle/states-*.ts ~ generator/states-*.c). The state guards, argument checks, error contexts
// and debug traces around every method come from the table in api.ts (handle/wrappers.ts).

import { API, type Disagreeing } from './api.js';
import { errno } from './errors.js';
import { STATE_BODIES as S } from './handle/calls.js';
import * as connect from './handle/connect.js';
import * as disconnect from './handle/disconnect.js';
import { Engine } from './handle/engine.js';
import * as opt from './handle/opt.js';
import { cancelCommand, issue, issueFilter, poll2, wait } from './handle/rw.js';
import type { HandleState } from './handle/state.js';
import { wrapCalls } from './handle/wrappers.js';
import type { Transports } from './transport.js';
import * as T from './types.js';

export interface HandleOptions {
  /** How this environment reaches servers (Node: TCP, Unix, WebSocket; browser: WebSocket). */
  transports?: Transports;
}

type Cb<F> = T.Callback<F>;
type Opts = T.CommandOptions;
let stateOf: (h: NbdHandle) => HandleState;

export class NbdHandle {
  readonly #e: Engine;

  constructor(options: HandleOptions = {}) {
    this.#e = new Engine(options.transports ?? {});
  }

  // ---- Settings (lib/handle.c, lib/debug.c) ----
  setDebug(debug: boolean): void { S.setDebug(this.#e.s, debug); }
  getDebug(): boolean { return S.getDebug(this.#e.s); }
  setDebugCallback(fn: T.DebugFn): void { this.#e.debugFn = fn; }
  clearDebugCallback(): void { this.#e.debugFn = null; }
  setHandleName(name: string): void { S.setHandleName(this.#e.s, name); }
  getHandleName(): string { return S.getHandleName(this.#e.s); }
  setExportName(name: string): void { S.setExportName(this.#e.s, name); }
  getExportName(): string { return S.getExportName(this.#e.s); }
  setRequestBlockSize(request: boolean): void { S.setRequestBlockSize(this.#e.s, request); }
  getRequestBlockSize(): boolean { return S.getRequestBlockSize(this.#e.s); }
  setFullInfo(request: boolean): void { S.setFullInfo(this.#e.s, request); }
  getFullInfo(): boolean { return S.getFullInfo(this.#e.s); }
  setTls(tls: number): void { S.setTls(this.#e.s, tls); }
  getTls(): number { return S.getTls(this.#e.s); }
  getTlsNegotiated(): boolean { return S.getTlsNegotiated(this.#e.s); }
  setRequestStructuredReplies(request: boolean): void { S.setRequestStructuredReplies(this.#e.s, request); }
  getRequestStructuredReplies(): boolean { return S.getRequestStructuredReplies(this.#e.s); }
  getStructuredRepliesNegotiated(): boolean { return S.getStructuredRepliesNegotiated(this.#e.s); }
  setRequestExtendedHeaders(request: boolean): void { S.setRequestExtendedHeaders(this.#e.s, request); }
  getRequestExtendedHeaders(): boolean { return S.getRequestExtendedHeaders(this.#e.s); }
  getExtendedHeadersNegotiated(): boolean { return S.getExtendedHeadersNegotiated(this.#e.s); }
  setRequestMetaContext(request: boolean): void { S.setRequestMetaContext(this.#e.s, request); }
  getRequestMetaContext(): boolean { return S.getRequestMetaContext(this.#e.s); }
  setHandshakeFlags(flags: number): void { S.setHandshakeFlags(this.#e.s, flags); }
  getHandshakeFlags(): number { return S.getHandshakeFlags(this.#e.s); }
  setPreadInitialize(request: boolean): void { S.setPreadInitialize(this.#e.s, request); }
  getPreadInitialize(): boolean { return S.getPreadInitialize(this.#e.s); }
  setStrictMode(flags: number): void { S.setStrictMode(this.#e.s, flags); }
  getStrictMode(): number { return S.getStrictMode(this.#e.s); }
  setOptMode(enable: boolean): void { S.setOptMode(this.#e.s, enable); }
  getOptMode(): boolean { return S.getOptMode(this.#e.s); }
  addMetaContext(name: string): void { S.addMetaContext(this.#e.s, name); }
  getNrMetaContexts(): number { return S.getNrMetaContexts(this.#e.s); }
  getMetaContext(i: number): string { return S.getMetaContext(this.#e.s, i); }
  clearMetaContexts(): void { S.clearMetaContexts(this.#e.s); }
  setTlsCertificates(dir: string): void { S.setTlsCertificates(this.#e.s, dir); }
  setTlsVerifyPeer(verify: boolean): void { S.setTlsVerifyPeer(this.#e.s, verify); }
  getTlsVerifyPeer(): boolean { return S.getTlsVerifyPeer(this.#e.s); }
  setTlsUsername(username: string): void { S.setTlsUsername(this.#e.s, username); }
  getTlsUsername(): string { return S.getTlsUsername(this.#e.s); }
  setTlsPskFile(filename: string): void { S.setTlsPskFile(this.#e.s, filename); }
  setTlsHostname(hostname: string): void { S.setTlsHostname(this.#e.s, hostname); }
  getTlsHostname(): string { return S.getTlsHostname(this.#e.s); }
  setSocketActivationName(name: string): void { S.setSocketActivationName(this.#e.s, name); }
  getSocketActivationName(): string { return S.getSocketActivationName(this.#e.s); }

  // ---- What this libnbd is and can do (lib/handle.c, lib/uri.c) ----
  getPackageName(): string { return S.getPackageName(this.#e.s); }
  getVersion(): string { return S.getVersion(this.#e.s); }
  getVersionExtra(): string { return S.getVersionExtra(this.#e.s); }
  supportsTls(): boolean { return S.supportsTls(this.#e.s); }
  supportsVsock(): boolean { return S.supportsVsock(this.#e.s); }
  supportsUri(): boolean { return S.supportsUri(this.#e.s); }
  isUri(uri: string): boolean { return S.isUri(this.#e.s, uri); }
  getSubprocessPid(): bigint { return S.getSubprocessPid(this.#e.s); }
  getHandleSize(): number { return S.getHandleSize(this.#e.s); }

  // ---- Connecting (lib/connect.c): each blocking call is its aio twin plus a wait ----
  async connectUri(uri: string, opts?: Opts): Promise<void> { this.aioConnectUri(uri, opts); await connect.untilConnected(this.#e); }
  aioConnectUri(uri: string, opts?: Opts): void { connect.aioConnectUri(this.#e, uri, opts); }
  async connectTcp(host: string, port: string | number, opts?: Opts): Promise<void> { this.aioConnectTcp(host, port, opts); await connect.untilConnected(this.#e); }
  aioConnectTcp(host: string, port: string | number, opts?: Opts): void { connect.aioConnectTcp(this.#e, host, port, opts); }
  async connectUnix(path: string, opts?: Opts): Promise<void> { this.aioConnectUnix(path, opts); await connect.untilConnected(this.#e); }
  aioConnectUnix(path: string, opts?: Opts): void { connect.aioConnectUnix(this.#e, path, opts); }
  async connectWebsocket(url: string, opts?: Opts): Promise<void> { this.aioConnectWebsocket(url, opts); await connect.untilConnected(this.#e); }
  aioConnectWebsocket(url: string, opts?: Opts): void { connect.aioConnectWebsocket(this.#e, url, opts); }

  // ---- Option negotiation in opt mode (lib/opt.c); { signal, timeout } as for connecting ----
  async optGo(opts?: Opts): Promise<void> { await opt.optGo(this.#e, opts); }
  aioOptGo(completion?: Cb<T.CompletionFn>, opts?: Opts): void { opt.aioOpt(this.#e, this.optGo(opts), completion); }
  async optAbort(): Promise<void> { await opt.optAbort(this.#e); }
  aioOptAbort(): void { void this.optAbort().catch(() => {}); }
  optList(list: Cb<T.ListFn>, opts?: Opts): Promise<number> { return opt.optList(this.#e, list, opts); }
  aioOptList(list: Cb<T.ListFn>, completion?: Cb<T.CompletionFn>, opts?: Opts): void { opt.aioOpt(this.#e, this.optList(list, opts), completion); }
  async optInfo(opts?: Opts): Promise<void> { await opt.optInfo(this.#e, opts); }
  aioOptInfo(completion?: Cb<T.CompletionFn>, opts?: Opts): void { opt.aioOpt(this.#e, this.optInfo(opts), completion); }
  optListMetaContext(context: Cb<T.ContextFn>, opts?: Opts): Promise<number> { return opt.optListMetaContext(this.#e, context, null, opts); }
  aioOptListMetaContext(context: Cb<T.ContextFn>, completion?: Cb<T.CompletionFn>, opts?: Opts): void {
    opt.aioOpt(this.#e, this.optListMetaContext(context, opts), completion);
  }
  optListMetaContextQueries(queries: readonly string[], context: Cb<T.ContextFn>, opts?: Opts): Promise<number> {
    return opt.optListMetaContext(this.#e, context, queries, opts);
  }
  aioOptListMetaContextQueries(queries: readonly string[], context: Cb<T.ContextFn>, completion?: Cb<T.CompletionFn>, opts?: Opts): void {
    opt.aioOpt(this.#e, this.optListMetaContextQueries(queries, context, opts), completion);
  }
  optSetMetaContext(context: Cb<T.ContextFn>, opts?: Opts): Promise<number> { return opt.optSetMetaContext(this.#e, context, null, opts); }
  aioOptSetMetaContext(context: Cb<T.ContextFn>, completion?: Cb<T.CompletionFn>, opts?: Opts): void {
    opt.aioOpt(this.#e, this.optSetMetaContext(context, opts), completion);
  }
  optSetMetaContextQueries(queries: readonly string[], context: Cb<T.ContextFn>, opts?: Opts): Promise<number> {
    return opt.optSetMetaContext(this.#e, context, queries, opts);
  }
  aioOptSetMetaContextQueries(queries: readonly string[], context: Cb<T.ContextFn>, completion?: Cb<T.CompletionFn>, opts?: Opts): void {
    opt.aioOpt(this.#e, this.optSetMetaContextQueries(queries, context, opts), completion);
  }
  optStructuredReply(opts?: Opts): Promise<boolean> { return opt.optStructuredReply(this.#e, opts); }
  aioOptStructuredReply(completion?: Cb<T.CompletionFn>, opts?: Opts): void { opt.aioOpt(this.#e, this.optStructuredReply(opts), completion); }
  optExtendedHeaders(opts?: Opts): Promise<boolean> { return opt.optExtendedHeaders(this.#e, opts); }
  aioOptExtendedHeaders(completion?: Cb<T.CompletionFn>, opts?: Opts): void { opt.aioOpt(this.#e, this.optExtendedHeaders(opts), completion); }
  optStarttls(opts?: Opts): Promise<boolean> { return opt.optStarttls(this.#e, opts); }
  aioOptStarttls(completion?: Cb<T.CompletionFn>, opts?: Opts): void { opt.aioOpt(this.#e, this.optStarttls(opts), completion); }

  // ---- State (lib/aio.c) ----
  aioIsCreated(): boolean { return S.aioIsCreated(this.#e.s); }
  aioIsConnecting(): boolean { return S.aioIsConnecting(this.#e.s); }
  aioIsNegotiating(): boolean { return S.aioIsNegotiating(this.#e.s); }
  aioIsReady(): boolean { return S.aioIsReady(this.#e.s); }
  aioIsProcessing(): boolean { return S.aioIsProcessing(this.#e.s); }
  aioIsDead(): boolean { return S.aioIsDead(this.#e.s); }
  aioIsClosed(): boolean { return S.aioIsClosed(this.#e.s); }
  connectionState(): string { return S.connectionState(this.#e.s); }

  // ---- What the server said (lib/flags.c) ----
  getSize(): bigint { return S.getSize(this.#e.s); }
  getBlockSize(sizeType: number): number { return S.getBlockSize(this.#e.s, sizeType); }
  isReadOnly(): boolean { return S.isReadOnly(this.#e.s); }
  canFlush(): boolean { return S.canFlush(this.#e.s); }
  canFua(): boolean { return S.canFua(this.#e.s); }
  isRotational(): boolean { return S.isRotational(this.#e.s); }
  canTrim(): boolean { return S.canTrim(this.#e.s); }
  canZero(): boolean { return S.canZero(this.#e.s); }
  canFastZero(): boolean { return S.canFastZero(this.#e.s); }
  canDf(): boolean { return S.canDf(this.#e.s); }
  canMultiConn(): boolean { return S.canMultiConn(this.#e.s); }
  canCache(): boolean { return S.canCache(this.#e.s); }
  canBlockStatusPayload(): boolean { return S.canBlockStatusPayload(this.#e.s); }
  canMetaContext(metacontext: string): boolean { return S.canMetaContext(this.#e.s, metacontext); }
  getProtocol(): string { return S.getProtocol(this.#e.s); }
  getCanonicalExportName(): string { return S.getCanonicalExportName(this.#e.s); }
  getExportDescription(): string { return S.getExportDescription(this.#e.s); }
  getUri(): string { return S.getUri(this.#e.s); }
  statsBytesSent(): bigint { return S.statsBytesSent(this.#e.s); }
  statsChunksSent(): bigint { return S.statsChunksSent(this.#e.s); }
  statsBytesReceived(): bigint { return S.statsBytesReceived(this.#e.s); }
  statsChunksReceived(): bigint { return S.statsChunksReceived(this.#e.s); }

  // ---- Commands (lib/rw.c): each blocking call is its aio twin plus a wait ----
  async pread(buf: Uint8Array, offset: T.U64, flags = 0, opts?: Opts): Promise<void> { await wait(this.#e, this.aioPread(buf, offset, undefined, flags, opts)); }
  aioPread(buf: Uint8Array, offset: T.U64, completion?: Cb<T.CompletionFn>, flags = 0, opts?: Opts): number {
    return issue(this.#e, API.aioPread.cmd, flags, offset, buf.length, buf, { completion }, opts);
  }
  async preadStructured(buf: Uint8Array, offset: T.U64, chunk: Cb<T.ChunkFn>, flags = 0, opts?: Opts): Promise<void> {
    await wait(this.#e, this.aioPreadStructured(buf, offset, chunk, undefined, flags, opts));
  }
  aioPreadStructured(buf: Uint8Array, offset: T.U64, chunk: Cb<T.ChunkFn>, completion?: Cb<T.CompletionFn>, flags = 0, opts?: Opts): number {
    return issue(this.#e, API.aioPreadStructured.cmd, flags, offset, buf.length, buf, { completion, chunk }, opts);
  }
  async pwrite(buf: Uint8Array, offset: T.U64, flags = 0, opts?: Opts): Promise<void> { await wait(this.#e, this.aioPwrite(buf, offset, undefined, flags, opts)); }
  aioPwrite(buf: Uint8Array, offset: T.U64, completion?: Cb<T.CompletionFn>, flags = 0, opts?: Opts): number {
    return issue(this.#e, API.aioPwrite.cmd, flags, offset, buf.length, buf, { completion }, opts);
  }
  async flush(flags = 0, opts?: Opts): Promise<void> { await wait(this.#e, this.aioFlush(undefined, flags, opts)); }
  aioFlush(completion?: Cb<T.CompletionFn>, flags = 0, opts?: Opts): number {
    return issue(this.#e, API.aioFlush.cmd, flags, 0, 0, null, { completion }, opts);
  }
  async trim(count: T.U64, offset: T.U64, flags = 0, opts?: Opts): Promise<void> { await wait(this.#e, this.aioTrim(count, offset, undefined, flags, opts)); }
  aioTrim(count: T.U64, offset: T.U64, completion?: Cb<T.CompletionFn>, flags = 0, opts?: Opts): number {
    return issue(this.#e, API.aioTrim.cmd, flags, offset, count, null, { completion }, opts);
  }
  async cache(count: T.U64, offset: T.U64, flags = 0, opts?: Opts): Promise<void> { await wait(this.#e, this.aioCache(count, offset, undefined, flags, opts)); }
  aioCache(count: T.U64, offset: T.U64, completion?: Cb<T.CompletionFn>, flags = 0, opts?: Opts): number {
    return issue(this.#e, API.aioCache.cmd, flags, offset, count, null, { completion }, opts);
  }
  async zero(count: T.U64, offset: T.U64, flags = 0, opts?: Opts): Promise<void> { await wait(this.#e, this.aioZero(count, offset, undefined, flags, opts)); }
  aioZero(count: T.U64, offset: T.U64, completion?: Cb<T.CompletionFn>, flags = 0, opts?: Opts): number {
    return issue(this.#e, API.aioZero.cmd, flags, offset, count, null, { completion }, opts);
  }
  async blockStatus(count: T.U64, offset: T.U64, extent: Cb<T.ExtentFn>, flags = 0, opts?: Opts): Promise<void> {
    await wait(this.#e, this.aioBlockStatus(count, offset, extent, undefined, flags, opts));
  }
  aioBlockStatus(count: T.U64, offset: T.U64, extent: Cb<T.ExtentFn>, completion?: Cb<T.CompletionFn>, flags = 0, opts?: Opts): number {
    return issue(this.#e, API.aioBlockStatus.cmd, flags, offset, count, null, { completion, extent }, opts);
  }
  async blockStatus64(count: T.U64, offset: T.U64, extent: Cb<T.Extent64Fn>, flags = 0, opts?: Opts): Promise<void> {
    await wait(this.#e, this.aioBlockStatus64(count, offset, extent, undefined, flags, opts));
  }
  aioBlockStatus64(count: T.U64, offset: T.U64, extent: Cb<T.Extent64Fn>, completion?: Cb<T.CompletionFn>, flags = 0, opts?: Opts): number {
    return issue(this.#e, API.aioBlockStatus64.cmd, flags, offset, count, null, { completion, extent64: extent }, opts);
  }

  async blockStatusFilter(count: T.U64, offset: T.U64, contexts: readonly string[], extent: Cb<T.Extent64Fn>, flags = 0, opts?: Opts): Promise<void> {
    await wait(this.#e, this.aioBlockStatusFilter(count, offset, contexts, extent, undefined, flags, opts));
  }
  aioBlockStatusFilter(
    count: T.U64, offset: T.U64, contexts: readonly string[], extent: Cb<T.Extent64Fn>, completion?: Cb<T.CompletionFn>, flags = 0, opts?: Opts,
  ): number {
    return issueFilter(this.#e, count, offset, contexts, { completion, extent64: extent }, flags, opts);
  }

  // ---- Completion and waiting (lib/aio.c, lib/poll.c) ----
  aioCommandCompleted(cookie: number): boolean { return this.#e.cmds.commandCompleted(cookie); }
  aioPeekCommandCompleted(): number { return this.#e.cmds.peek(); }
  aioInFlight(): number { return this.#e.cmds.size; }
  poll(timeout = -1): Promise<number> { return this.#e.poll(timeout); }
  poll2(fd: number, timeout: number): Promise<number> { return poll2(this.#e, fd, timeout); }

  // ---- Ending (lib/disconnect.c) ----
  aioDisconnect(flags = 0): void { disconnect.aioDisconnect(this.#e, flags); }
  async shutdown(flags = 0): Promise<void> { await disconnect.shutdown(this.#e, flags, () => this.optAbort()); }
  close(): void { disconnect.close(this.#e); }

  /**
   * Not in libnbd (webnbd's signals and timeouts use it): end a command now with `err`
   * (ECANCELED or ETIMEDOUT), `why` saying so; the server's reply is read and dropped. False if not in flight.
   */
  cancelCommand(cookie: number, err: number = errno.ECANCELED, why = ''): boolean { return cancelCommand(this.#e, cookie, err, why); }

  static {
    stateOf = (h) => h.#e.s;
    wrapCalls(NbdHandle.prototype, (h: NbdHandle) => h.#e);
  }
}

/**
 * The handle's state (handle/state.ts), read-only: what a worker sends the page so that the
 * page's client can answer getters and check calls without a second engine.
 */
export const handleState = (h: NbdHandle): Readonly<HandleState> => stateOf(h);

/** Compile-time: every row of the API table agrees with NbdHandle's method of that name (or names the calls that do not). */
type Wrong = Disagreeing<NbdHandle> & string;
export const ROWS_AGREE: [Wrong] extends [never] ? true : `${Wrong}` = true;
