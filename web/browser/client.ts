// The page's side of a handle in the worker: RemoteHandle has NbdHandle's API. It holds the
// handle's state (web/core/handle/state.ts), kept from the worker's messages, and answers getters,
// guards calls and checks commands from it exactly as the handle would, without an engine of its
// own; cookies and completion callbacks live here; the I/O happens in the worker. What each call
// does here comes from its row in the API table (kind, where it runs, its aio twin).

import { API, BLOCKING_FORM, isCallback, kindOf, type ApiName, type ArgKind, type Call, type Disagreeing, type Row } from '../core/api.js';
import { Commands, newCommand, type Command } from '../core/commands.js';
import { NbdError, errno } from '../core/errors.js';
import type { NbdHandle } from '../core/handle.js';
import { STATE_BODIES } from '../core/handle/calls.js';
import { checkCommand } from '../core/handle/check.js';
import { formatDuration } from '../core/handle/deadline.js';
import { NO_FD } from '../core/handle/rw.js';
import { deathOf, goto, newHandleState, toClosed, toDead, type HandleState } from '../core/handle/state.js';
import { wrapCalls, type CallContext } from '../core/handle/wrappers.js';
import type * as T from '../core/types.js';
import type { Dest, FromWorker, Marker, Told, ToWorker } from './messages.js';
import { DONE_FIELDS, InOrder, READ_FIELDS, Ring, ringSupported } from './ring.js';

/** True where SharedArrayBuffer may be used (a cross-origin isolated page or worker). */
export const canShare = (): boolean =>
  typeof SharedArrayBuffer !== 'undefined' && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;

/**
 * A buffer for reads: shared memory where the page is isolated (the worker writes into it
 * directly), a plain ArrayBuffer elsewhere (the worker's data is transferred back).
 */
export const allocBuffer = (length: number): Uint8Array =>
  new Uint8Array(canShare() ? new SharedArrayBuffer(length) : new ArrayBuffer(length));

const isShared = (b: Uint8Array): boolean => typeof SharedArrayBuffer !== 'undefined' && b.buffer instanceof SharedArrayBuffer;

type Pending = { resolve(v: unknown): void; reject(e: NbdError): void; event?: (args: string[]) => void };

export interface WorkerClientOptions {
  /**
   * How the page and the worker tell each other of commands and completions: 'ring', through
   * shared memory (ring.ts; on cross-origin isolated pages, the default there), or 'postMessage'
   * (the default elsewhere).
   */
  completions?: 'ring' | 'postMessage';
  /** Reads into buffers the worker holds: through their ring (the default with the completion ring), or posted. */
  reads?: 'ring' | 'postMessage';
}

/** One worker, many handles. */
export class WorkerClient {
  readonly #worker: Worker;
  readonly #handles = new Map<number, RemoteHandle>();
  readonly #pending = new Map<number, Pending>();
  #nextHandle = 1;
  #nextCall = 1;
  #broken: NbdError | null = null;
  /** What the worker says, in order, from its messages and the completion ring. */
  readonly #in: InOrder<FromWorker>;
  /** Where reads go through shared memory, and the number of the next thing said to the worker. */
  readonly #reads: Ring | null = null;
  #said = 0;
  /** Ids of the SharedArrayBuffers the worker has been given (a read's first use of one gives it). */
  readonly #buffers = new WeakMap<SharedArrayBuffer, number>();
  #nextBuffer = 1;
  readonly #forgotten = new FinalizationRegistry<number>((id) => this.post({ t: 'unbuffer', id }));

  constructor(worker?: Worker, opts: WorkerClientOptions = {}) {
    this.#worker = worker ?? new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    const ring = (opts.completions ?? 'ring') === 'ring' && canShare() && ringSupported();
    const done = ring ? Ring.create(DONE_FIELDS) : null;
    this.#in = new InOrder<FromWorker>(done, (r) => ({ t: 'done', s: r[0]!, h: r[1]!, cookie: r[2]!, error: r[3]!, message: '' }), (m) => this.#receive(m));
    this.#worker.addEventListener('message', (e: MessageEvent<FromWorker>) => this.#in.posted(e.data));
    if (done) {
      this.#reads = (opts.reads ?? 'ring') === 'ring' ? Ring.create(READ_FIELDS) : null;
      this.post({ t: 'ring', done: done.sab, reads: this.#reads?.sab ?? null });
      done.watch(() => this.#in.deliver());
    }
    this.#worker.addEventListener('error', (e: ErrorEvent) => {
      this.#broken = new NbdError(errno.EIO, 'webnbd', `the webnbd worker failed: ${e.message || 'could not load it'}`);
      for (const p of this.#pending.values()) p.reject(this.#broken);
      this.#pending.clear();
      for (const h of this.#handles.values()) h._broken(this.#broken);
    });
  }

  /** nbd_create: a handle hosted by this worker. */
  create(): RemoteHandle {
    const id = this.#nextHandle++;
    const h = new RemoteHandle(this, id);
    this.#handles.set(id, h);
    this.post({ t: 'create', h: id });
    return h;
  }

  post(m: Told, transfer: Transferable[] = []): void {
    (m as ToWorker).s = this.#said++;
    this.#worker.postMessage(m, transfer);
  }

  /** The id under which the worker knows `sab`, and whether this use gives it to the worker. */
  bufferId(sab: SharedArrayBuffer): [number, boolean] {
    if (!this.#reads) return [0, false]; // 0: the worker need not keep it
    const known = this.#buffers.get(sab);
    if (known !== undefined) return [known, false];
    const id = this.#nextBuffer++;
    this.#buffers.set(sab, id);
    this.#forgotten.register(sab, id);
    return [id, true];
  }

  /** Submit nbd_aio_pread through the read ring (the worker knows the buffer); false if it cannot. */
  submitRead(h: number, cookie: number, buf: Uint8Array, offset: T.U64, flags: number): boolean {
    if (!this.#reads) return false;
    const id = this.#buffers.get(buf.buffer as SharedArrayBuffer);
    if (id === undefined) return false;
    const o = BigInt(offset);
    if (!this.#reads.push(this.#said, h, cookie, id, buf.byteOffset, buf.length, Number(o & 0xffffffffn) | 0, Number(o >> 32n) | 0, flags)) return false;
    this.#said++;
    return true;
  }

  /**
   * Run a call in the worker; `event` receives list/context callback events. A signal cannot
   * cross postMessage: when it fires, the worker is told to fire the call's own.
   */
  call(h: number, name: string, args: unknown[], event?: (args: string[]) => void, signal?: T.SignalLike): Promise<unknown> {
    if (this.#broken) return Promise.reject(this.#broken);
    const id = this.#nextCall++;
    const onAbort = () => this.post({ t: 'abort', h, id, reason: reasonData(signal!.reason) });
    // Already fired: the worker's signal starts fired, and the call refuses to begin.
    const fired = signal?.aborted ? { aborted: reasonData(signal.reason) } : {};
    if (signal && !signal.aborted) signal.addEventListener('abort', onAbort, { once: true });
    const p = new Promise((resolve, reject) => {
      this.#pending.set(id, event ? { resolve, reject, event } : { resolve, reject });
      this.post({ t: 'call', h, id, name, args, ...(signal ? { signal: true } : {}), ...fired });
    });
    if (signal) void p.finally(() => signal.removeEventListener('abort', onAbort)).catch(() => {});
    return p;
  }

  forget(h: number): void {
    this.#handles.delete(h);
  }

  /** How commands and completions travel. */
  get completions(): 'ring' | 'postMessage' { return this.#in.ring ? 'ring' : 'postMessage'; }

  #receive(m: FromWorker): void {
    if (m.t === 'result') {
      const p = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      if (m.error) p?.reject(NbdError.fromData(m.error));
      else p?.resolve(m.value);
    } else if (m.t === 'event') {
      this.#pending.get(m.id)?.event?.(m.args);
    }
    this.#handles.get(m.h)?._receive(m);
  }
}

/** An abort reason as plain data (DOMExceptions keep their name: TimeoutError means ETIMEDOUT). */
const reasonData = (r: unknown): { name: string; message: string } =>
  typeof r === 'object' && r !== null && 'message' in r
    ? { name: String((r as { name?: unknown }).name ?? 'Error'), message: String((r as { message: unknown }).message) }
    : { name: 'AbortError', message: r === undefined ? 'aborted' : String(r) };

/** Split a call's { signal, timeout } into what can be posted and the signal kept here. */
function splitOptions(at: Layout, args: unknown[]): { args: unknown[]; signal: T.SignalLike | undefined } {
  const o = at.options >= 0 ? args[at.options] as T.CommandOptions | undefined : undefined;
  if (!o) return { args, signal: undefined };
  const posted = args.slice();
  posted[at.options] = o.timeout !== undefined ? { timeout: o.timeout } : undefined;
  return { args: posted, signal: o.signal };
}

let defaultClient: WorkerClient | null = null;

/** The page's shared worker client, started on first use. */
export const defaultWorker = (): WorkerClient => (defaultClient ??= new WorkerClient());

/** nbd_create(3) in a page: a handle in the shared worker. */
export const create = (): RemoteHandle => defaultWorker().create();

interface PageCommand extends Command {
  /** Mid-command events that wait for their data (pages without shared memory). */
  queued: FromWorker[];
  shared: boolean;
}

/** Where a command's arguments are, by kind (-1: absent), worked out once per row of the table. */
interface Layout {
  buf: number;
  u64: number[];
  flags: number;
  options: number;
  callbacks: [ArgKind, number][];
  kinds: ArgKind[];
}

const layout = (call: Call): Layout => {
  const kinds = call.args.map(kindOf);
  const at = (k: ArgKind) => kinds.indexOf(k);
  return {
    buf: Math.max(at('buf-out'), at('buf-in')),
    u64: kinds.flatMap((k, i) => (k === 'u64' ? [i] : [])),
    flags: at('flags'),
    options: at('options'),
    callbacks: kinds.flatMap((k, i): [ArgKind, number][] => (isCallback(k) ? [[k, i]] : [])),
    kinds,
  };
};

type Body = (this: RemoteHandle, ...args: unknown[]) => unknown;
type LocalBody = (s: HandleState, ...args: unknown[]) => unknown;

export class RemoteHandle {
  readonly #client: WorkerClient;
  readonly #id: number;
  readonly #x: CallContext;
  readonly #cmds = new Commands<PageCommand>(() => {});
  #debugFn: T.DebugFn | null = null;
  #pollers: (() => void)[] = [];

  constructor(client: WorkerClient, id: number) {
    this.#client = client;
    this.#id = id;
    this.#x = { s: newHandleState(), nest: 0, zeroed: null, log: (msg) => this.#log(msg) };
  }

  _broken(e: NbdError): void {
    toDead(this.#x.s, e);
    this.#cmds.failAll(errno.ENOTCONN, e.detail);
    this.#wake();
  }

  _receive(m: FromWorker): void {
    switch (m.t) {
      case 'state':
        this.#x.s.conn = m.conn;
        this.#x.s.settings.exportName = m.exportName;
        break;
      case 'done': {
        const cmd = this.#cmds.get(m.cookie);
        if (!cmd) break;
        if (m.data && cmd.buf) cmd.buf.set(new Uint8Array(m.data, 0, cmd.buf.length));
        for (const q of cmd.queued.splice(0)) this.#mid(cmd, q);
        if (m.error) this.#cmds.fail(cmd, m.error, m.message);
        this.#cmds.complete(cmd);
        break;
      }
      case 'chunk':
      case 'extent': {
        const cmd = this.#cmds.get(m.cookie);
        if (!cmd) break;
        if (m.t === 'chunk' && !cmd.shared) cmd.queued.push(m);
        else this.#mid(cmd, m);
        break;
      }
      case 'debug':
        this.#debugFn?.(m.context, m.msg);
        break;
    }
    this.#wake();
  }

  #mid(cmd: PageCommand, m: FromWorker): void {
    if (m.t === 'chunk' && cmd.chunk && cmd.buf) {
      const sub = cmd.buf.subarray(m.rel, m.rel + m.length);
      this.#cmds.midCallback(cmd, (ref) => cmd.chunk!.callback(sub, m.offset, m.status, ref), m.error);
    } else if (m.t === 'extent') {
      if (cmd.extent64) this.#cmds.midCallback(cmd, (ref) => cmd.extent64!.callback(m.context, m.offset, m.entries as T.Extent64[], ref));
      else if (cmd.extent) this.#cmds.midCallback(cmd, (ref) => cmd.extent!.callback(m.context, m.offset, m.entries as number[], ref));
    }
  }

  #wake(): void {
    for (const w of this.#pollers.splice(0)) w();
  }

  /** Debug messages of the calls answered here; the worker's come as 'debug' messages. */
  #log(msg: string): void {
    const st = this.#x.s.settings;
    if (this.#debugFn) this.#debugFn(st.handleName, msg);
    else console.error(`libnbd: debug: ${st.handleName}: ${msg}`);
  }

  /** Post a call the page does not wait for (settings, aio connect, aio disconnect). */
  #forward(name: ApiName, args: unknown[], at?: Layout): void {
    const o = at ? splitOptions(at, args) : { args, signal: undefined };
    void this.#client.call(this.#id, name, o.args, undefined, o.signal).catch(() => {});
  }

  /** An aio command: checked here exactly as the handle would, then sent to the worker. */
  #command(name: ApiName, call: Call, at: Layout, args: unknown[]): number {
    const type = call.cmd!;
    const buf = at.buf >= 0 ? args[at.buf] as Uint8Array : null;
    const first = (args[at.u64[0]!] ?? 0) as T.U64;
    const [count, offset] = buf ? [buf.length, first] : [first, (args[at.u64[1]!] ?? 0) as T.U64];
    const flags = (args[at.flags] as number | undefined) ?? 0;
    const cbs: Record<string, unknown> = {};
    for (const [k, i] of at.callbacks) cbs[k] = args[i];
    const cmd: PageCommand = { ...newCommand(type, buf, cbs), queued: [], shared: buf !== null && isShared(buf) };
    const opts = args[at.options] as T.CommandOptions | undefined;
    try {
      checkCommand(this.#x.s, { type, flags, offset: BigInt(offset), count: BigInt(count), chunk: cmd.chunk !== null });
      if (opts?.signal?.aborted) throw new NbdError(errno.ECANCELED, '', 'command cancelled before it was sent');
    } catch (e) {
      this.#cmds.free(cmd);
      throw e;
    }
    const cookie = this.#cmds.add(cmd);
    if (opts) this.#arm(cookie, opts);
    // A plain read into a buffer the worker knows goes through shared memory (ring.ts).
    if (name === 'aioPread' && cmd.shared && this.#client.submitRead(this.#id, cookie, buf!, first, flags)) return cookie;
    let dest: Dest = null;
    let src: Uint8Array | null = null;
    const transfer: Transferable[] = [];
    if (buf && call.args[at.buf] === 'buf-out') {
      const sab = buf.buffer as SharedArrayBuffer;
      dest = cmd.shared ? { sab, offset: buf.byteOffset, length: buf.length, id: this.#client.bufferId(sab)[0] } : { length: buf.length };
    } else if (buf) {
      src = cmd.shared ? buf : buf.slice();
      if (!cmd.shared) transfer.push(src.buffer);
    }
    // Callbacks always go as markers; the completion marker is always there so the worker reports
    // back; signals cannot cross postMessage, so they are armed here instead.
    const margs = at.kinds.map((k, i): unknown =>
      i === at.buf ? ({ $buf: true } satisfies Marker)
      : isCallback(k) ? (k === 'completion' || args[i] != null ? ({ $cb: k } satisfies Marker) : undefined)
      : k === 'options' ? undefined
      : args[i]);
    this.#client.post({ t: 'cmd', h: this.#id, cookie, name, args: margs, dest, src }, transfer);
    return cookie;
  }

  /**
   * A signal or time limit on a command: the worker cancels it there, so that nothing is written
   * into the page's buffer afterwards, and its 'done' (ECANCELED or ETIMEDOUT) completes it here.
   */
  #arm(cookie: number, { signal, timeout }: T.CommandOptions): void {
    const cancel = (error: number, why = '') => this.#client.post({ t: 'cancel', h: this.#id, cookie, error, why });
    const onAbort = () => cancel(errno.ECANCELED);
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = timeout !== undefined
      ? setTimeout(() => cancel(errno.ETIMEDOUT, `timed out after ${formatDuration(timeout)} waiting for the server's reply`), timeout)
      : undefined;
    const cmd = this.#cmds.get(cookie)!;
    cmd.waiters.push(() => {
      signal?.removeEventListener('abort', onAbort);
      if (timer !== undefined) clearTimeout(timer);
    });
  }

  /** A blocking call run in the worker; its list or context callback runs here, on events. */
  async #remote(name: ApiName, at: Layout, args: unknown[]): Promise<unknown> {
    try {
      let event: ((xs: string[]) => void) | undefined;
      const margs = args.map((a, i) => {
        const k = at.kinds[i];
        if (k === undefined || !isCallback(k) || a == null) return a;
        const cb = typeof a === 'function' ? { callback: a as (...xs: string[]) => unknown } : (a as { callback: (...xs: string[]) => unknown });
        event = (xs) => { try { cb.callback(...xs); } catch { /* ignored, as libnbd ignores its return */ } };
        return { $cb: k } satisfies Marker;
      });
      const o = splitOptions(at, margs);
      return await this.#client.call(this.#id, name, o.args, event, o.signal);
    } finally {
      // Free hooks run once, whether the call succeeded or failed (libnbd(3)).
      for (const a of args) if (a && typeof a === 'object' && 'free' in a) (a as T.WithFree<unknown>).free?.();
    }
  }

  /** nbd_aio_opt_*: the blocking call (run in the worker), its outcome handed to the completion callback here. */
  #aioOpt(sync: ApiName, at: Layout, args: unknown[]): void {
    const completion = at.callbacks.find(([k]) => k === 'completion');
    const rest = args.filter((_, i) => i !== completion?.[1]);
    const p = (this as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[sync]!(...rest);
    const cmd = newCommand(0, null, { completion: completion ? args[completion[1]] as T.Callback<T.CompletionFn> : undefined });
    p.then(() => 0, (e: NbdError) => e.errno || errno.EIO).then((err) => {
      this.#cmds.fail(cmd, err);
      if (cmd.completion) cmd.completion.callback({ value: err });
      this.#cmds.free(cmd);
    });
  }

  aioCommandCompleted(cookie: number): boolean { return this.#cmds.commandCompleted(cookie); }
  aioPeekCommandCompleted(): number { return this.#cmds.peek(); }
  aioInFlight(): number { return this.#cmds.size; }

  /** nbd_poll: resolves 1 on progress (any news from the worker), 0 on timeout. */
  async poll(timeout = -1): Promise<number> {
    if (this.#x.s.conn.state === 'DEAD') throw deathOf(this.#x.s, 'connection is dead');
    const news = new Promise<number>((resolve) => this.#pollers.push(() => resolve(1)));
    const remote = this.#client.call(this.#id, 'poll', [timeout]) as Promise<number>;
    return Promise.race([news, remote]);
  }

  /** nbd_poll2: nbd_poll; a page has no descriptors of its own to add. */
  async poll2(fd: number, timeout: number): Promise<number> {
    if (fd !== -1) throw new NbdError(errno.ENOTSUP, '', NO_FD);
    return this.poll(timeout);
  }

  /** nbd_close: the worker drops the connection; commands here are abandoned (free hooks run). */
  close(): void {
    this.#client.post({ t: 'close', h: this.#id });
    this.#client.forget(this.#id);
    this.#cmds.abandonAll();
    toClosed(this.#x.s, new NbdError(errno.ENOTCONN, '', 'handle closed'));
    this.#wake();
  }

  setDebugCallback(fn: T.DebugFn): void {
    this.#debugFn = fn;
    this.#forward('setDebugCallback', [{ $cb: 'debug' } satisfies Marker]);
  }

  clearDebugCallback(): void {
    this.#debugFn = null;
    this.#forward('clearDebugCallback', []);
  }

  static {
    // Every other call's body, by its row: its kind, then where it runs (answered from the handle
    // state here, run in the worker, or both); then libnbd's wrappers around all of them.
    const body = (name: ApiName, call: Call): Body => {
      const at = layout(call);
      const local = (STATE_BODIES as Record<string, LocalBody>)[name];
      const sync = BLOCKING_FORM[name];
      const aio = call.aio as ApiName | undefined;
      if (call.kind === 'aio-command') return function (...args) { return this.#command(name, call, at, args); };
      if (call.kind === 'sync-command' && aio) {
        // The aio twin plus a wait; its arguments are the twin's without the completion callback.
        const twin = layout(API[aio]);
        return async function (...args) {
          const aargs = twin.kinds.map((k) => (k === 'completion' ? undefined : args.shift()));
          const cookie = (this as unknown as Record<string, (...a: unknown[]) => number>)[aio]!(...aargs);
          await this.#cmds.wait(cookie);
          this.#cmds.commandCompleted(cookie);
        };
      }
      if (call.kind === 'opt' && sync) return function (...args) { this.#aioOpt(sync, at, args); };
      if (call.runs === 'worker') {
        return call.async
          ? function (...args) { return this.#remote(name, at, args); }
          : function (...args) { this.#forward(name, args); };
      }
      if (call.kind === 'connect') {
        return function (...args) {
          goto(this.#x.s, 'START', 'CONNECT');
          this.#forward(name, args, at);
        };
      }
      if (local && call.runs === 'page') return function (...args) { return local(this.#x.s, ...args); };
      if (local) {
        return function (...args) {
          local(this.#x.s, ...args);
          this.#forward(name, args);
        };
      }
      throw new Error(`internal error: the page client has no body for ${name} (${call.kind}, runs ${call.runs})`);
    };
    const proto = RemoteHandle.prototype as unknown as Record<string, Body>;
    for (const [name, call] of Object.entries(API) as [ApiName, Call][]) {
      if (!Object.prototype.hasOwnProperty.call(proto, name)) proto[name] = body(name, call);
    }
    // The page traces what the worker never sees by name: what runs here alone, the blocking
    // commands (the worker sees their aio twins) and the aio options (it sees the blocking ones).
    const traced = (call: Row) => call.runs === 'page' || call.kind === 'sync-command' || (call.kind === 'opt' && !call.async);
    wrapCalls(RemoteHandle.prototype, (h: RemoteHandle) => h.#x, traced);
  }
}

type Written = 'aioCommandCompleted' | 'aioPeekCommandCompleted' | 'aioInFlight' | 'poll' | 'poll2' | 'close' | 'setDebugCallback' | 'clearDebugCallback';
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface RemoteHandle extends Pick<NbdHandle, Exclude<ApiName, Written>> {}

/** Compile-time: the methods written out above agree with their rows, as NbdHandle's do. */
type Wrong = Disagreeing<RemoteHandle> & string;
export const ROWS_AGREE: [Wrong] extends [never] ? true : `${Wrong}` = true;
