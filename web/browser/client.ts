// The page's side of a handle in the worker: RemoteHandle has NbdHandle's API. A mirror handle
// (restored from the worker's snapshots) answers getters and checks commands synchronously, as
// libnbd would; cookies and completion callbacks live here; the I/O happens in the worker.

import { API, type ApiName, type ArgKind, type Call } from '../core/api.js';
import { Commands, newCommand, type Command } from '../core/commands.js';
import { NbdError, errno, setLastError } from '../core/errors.js';
import { NbdHandle, asNbdError, type HandleSnapshot } from '../core/handle.js';
import * as P from '../core/protocol.js';
import type * as T from '../core/types.js';
import type { Dest, FromWorker, Marker, ToWorker } from './messages.js';

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

/** One worker, many handles. */
export class WorkerClient {
  readonly #worker: Worker;
  readonly #handles = new Map<number, RemoteHandle>();
  readonly #pending = new Map<number, Pending>();
  #nextHandle = 1;
  #nextCall = 1;
  #broken: NbdError | null = null;

  constructor(worker?: Worker) {
    this.#worker = worker ?? new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.#worker.addEventListener('message', (e: MessageEvent<FromWorker>) => this.#receive(e.data));
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

  post(m: ToWorker, transfer: Transferable[] = []): void {
    this.#worker.postMessage(m, transfer);
  }

  /** Run a call in the worker; `event` receives list/context callback events. */
  call(h: number, name: string, args: unknown[], event?: (args: string[]) => void): Promise<unknown> {
    if (this.#broken) return Promise.reject(this.#broken);
    const id = this.#nextCall++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, event ? { resolve, reject, event } : { resolve, reject });
      this.post({ t: 'call', h, id, name, args });
    });
  }

  /** A fresh id for events that outlive a call (the debug callback). */
  listen(event: (args: string[]) => void): number {
    const id = this.#nextCall++;
    this.#pending.set(id, { resolve: () => {}, reject: () => {}, event });
    return id;
  }

  forget(h: number): void {
    this.#handles.delete(h);
  }

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

const CMD_TYPES: Partial<Record<ApiName, number>> = {
  aioPread: P.NBD_CMD_READ, aioPreadStructured: P.NBD_CMD_READ, aioPwrite: P.NBD_CMD_WRITE,
  aioFlush: P.NBD_CMD_FLUSH, aioTrim: P.NBD_CMD_TRIM, aioCache: P.NBD_CMD_CACHE, aioZero: P.NBD_CMD_WRITE_ZEROES,
  aioBlockStatus: P.NBD_CMD_BLOCK_STATUS, aioBlockStatus64: P.NBD_CMD_BLOCK_STATUS,
};

const kind = (a: string): ArgKind => a.replace('?', '') as ArgKind;
const CALLBACK_KINDS = new Set<ArgKind>(['completion', 'chunk', 'extent', 'extent64', 'list', 'context', 'debug']);

/** Calls the mirror answers by itself. */
const LOCAL = (name: string): boolean =>
  /^(get|is|can|aioIs|stats)/.test(name) || name === 'connectionState';

export class RemoteHandle {
  readonly #client: WorkerClient;
  readonly #id: number;
  readonly #mirror = new NbdHandle();
  readonly #cmds = new Commands<PageCommand>(() => {});
  #debugFn: T.DebugFn | null = null;
  #pollers: (() => void)[] = [];

  constructor(client: WorkerClient, id: number) {
    this.#client = client;
    this.#id = id;
  }

  /** The mirror, for reading state and settings. */
  get mirror(): NbdHandle {
    return this.#mirror;
  }

  _broken(e: NbdError): void {
    this.#mirror.restore({ ...this.#mirror.snapshot(), state: 'DEAD', death: e.toData() });
    this.#cmds.failAll(errno.ENOTCONN, e.detail);
    this.#wake();
  }

  _receive(m: FromWorker): void {
    switch (m.t) {
      case 'snap':
        this.#mirror.restore(m.snap);
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

  /** Issue an aio command: checked here exactly as the handle would, then sent to the worker. */
  #command(name: ApiName, args: unknown[]): number {
    const call: Call = API[name];
    const type = CMD_TYPES[name]!;
    const at = (k: ArgKind) => call.args.findIndex((a) => kind(a) === k);
    const buf = (args[at('buf-out')] ?? args[at('buf-in')] ?? null) as Uint8Array | null;
    const u64 = call.args.flatMap((a, i) => (kind(a) === 'u64' ? [args[i] as T.U64] : []));
    const [count, offset] = buf ? [buf?.length ?? 0, u64[0] ?? 0] : type === P.NBD_CMD_FLUSH ? [0, 0] : [u64[0] ?? 0, u64[1] ?? 0];
    const flags = (args[at('flags')] as number | undefined) ?? 0;
    const cbs = {
      completion: args[at('completion')] as T.Callback<T.CompletionFn> | undefined,
      chunk: args[at('chunk')] as T.Callback<T.ChunkFn> | undefined,
      extent: args[at('extent')] as T.Callback<T.ExtentFn> | undefined,
      extent64: args[at('extent64')] as T.Callback<T.Extent64Fn> | undefined,
    };
    const cmd: PageCommand = { ...newCommand(type, buf, cbs), queued: [], shared: buf !== null && isShared(buf) };
    const opts = args[at('options')] as T.CommandOptions | undefined;
    // pread_initialize zeroes before any check, as libnbd does: a refused read shows no stale bytes.
    if (type === P.NBD_CMD_READ && buf instanceof Uint8Array && this.#mirror.getPreadInitialize()) buf.fill(0);
    try {
      this.#mirror.checkCommand(name, args, type, flags, offset, count, cmd.chunk !== null);
      if (opts?.signal?.aborted) throw setLastError(new NbdError(errno.ECANCELED, call.c, 'command cancelled before it was sent'));
    } catch (e) {
      this.#cmds.free(cmd);
      throw e;
    }
    const cookie = this.#cmds.add(cmd);
    if (opts) this.#arm(cookie, opts);
    let dest: Dest = null;
    let src: Uint8Array | null = null;
    const transfer: Transferable[] = [];
    if (buf && type === P.NBD_CMD_READ) {
      dest = cmd.shared ? { sab: buf.buffer as SharedArrayBuffer, offset: buf.byteOffset, length: buf.length } : { length: buf.length };
    } else if (buf) {
      src = cmd.shared ? buf : buf.slice();
      if (!cmd.shared) transfer.push(src.buffer);
    }
    // Callbacks always go as markers; the completion marker is always there so the worker reports back.
    const margs = call.args.map((a, i): unknown =>
      kind(a) === 'buf-out' || kind(a) === 'buf-in' ? ({ $buf: true } satisfies Marker)
      : CALLBACK_KINDS.has(kind(a)) ? (kind(a) === 'completion' || args[i] != null ? ({ $cb: kind(a) } satisfies Marker) : undefined)
      : kind(a) === 'options' ? undefined // signals cannot cross postMessage: armed here instead
      : args[i]);
    this.#client.post({ t: 'cmd', h: this.#id, cookie, name, args: margs, dest, src }, transfer);
    return cookie;
  }

  /**
   * A signal or time limit on a command: the worker cancels it there, so that nothing is written
   * into the page's buffer afterwards, and its 'done' (ECANCELED or ETIMEDOUT) completes it here.
   */
  #arm(cookie: number, { signal, timeout }: T.CommandOptions): void {
    const cancel = (error: number) => this.#client.post({ t: 'cancel', h: this.#id, cookie, error });
    const onAbort = () => cancel(errno.ECANCELED);
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = timeout !== undefined ? setTimeout(() => cancel(errno.ETIMEDOUT), timeout) : undefined;
    const cmd = this.#cmds.get(cookie)!;
    cmd.waiters.push(() => {
      signal?.removeEventListener('abort', onAbort);
      if (timer !== undefined) clearTimeout(timer);
    });
  }

  /** Run a call in the worker, then update the mirror from the snapshot that precedes the result. */
  async #remote(name: string, args: unknown[], event?: (args: string[]) => void): Promise<unknown> {
    return this.#client.call(this.#id, name, args, event);
  }

  aioCommandCompleted(cookie: number): boolean { return this.#guarded('aioCommandCompleted', [cookie], () => this.#cmds.commandCompleted(cookie)); }
  aioPeekCommandCompleted(): number { return this.#guarded('aioPeekCommandCompleted', [], () => this.#cmds.peek()); }
  aioInFlight(): number { return this.#guarded('aioInFlight', [], () => this.#cmds.size); }

  /** nbd_poll: resolves 1 on progress (any news from the worker), 0 on timeout. */
  async poll(timeout = -1): Promise<number> {
    const s = this.#mirror.snapshot();
    if (s.state === 'DEAD') throw setLastError((s.death ? NbdError.fromData(s.death) : new NbdError(errno.ENOTCONN, '', 'connection is dead')).withContext('nbd_poll'));
    const news = new Promise<number>((resolve) => this.#pollers.push(() => resolve(1)));
    const remote = this.#remote('poll', [timeout]) as Promise<number>;
    return Promise.race([news, remote]);
  }

  /** nbd_close: the worker drops the connection; commands here are abandoned (free hooks run). */
  close(): void {
    this.#client.post({ t: 'close', h: this.#id });
    this.#client.forget(this.#id);
    this.#cmds.abandonAll();
    this.#mirror.close();
    this.#wake();
  }

  setDebugCallback(fn: T.DebugFn): void {
    this.#guarded('setDebugCallback', [fn], () => {
      this.#debugFn = fn;
      void this.#remote('setDebugCallback', [{ $cb: 'debug' } satisfies Marker]).catch(() => {});
    });
  }

  clearDebugCallback(): void {
    this.#debugFn = null;
    void this.#remote('clearDebugCallback', []).catch(() => {});
  }

  #guarded<R>(name: ApiName, args: unknown[], fn: () => R): R {
    try {
      // The mirror's own method runs the table's guard (state, arguments) for this call.
      this.#mirror.checkCall(name, args);
      return fn();
    } catch (e) {
      throw setLastError(asNbdError(e, errno.EINVAL).withContext(API[name].c));
    }
  }

  static {
    const proto = RemoteHandle.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const [name, call] of Object.entries(API) as [ApiName, Call][]) {
      if (Object.prototype.hasOwnProperty.call(proto, name)) continue;
      if (name in CMD_TYPES) {
        proto[name] = function (this: RemoteHandle, ...args: unknown[]) { return this.#command(name, args); };
      } else if (LOCAL(name)) {
        proto[name] = function (this: RemoteHandle, ...args: unknown[]) {
          return (this.#mirror as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!(...args);
        };
      } else if (!call.async && !name.startsWith('aio')) {
        // Settings: the mirror validates and keeps them (its getters answer); the worker applies them.
        proto[name] = function (this: RemoteHandle, ...args: unknown[]) {
          (this.#mirror as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!(...args);
          void this.#remote(name, args).catch(() => {});
        };
      } else if (name.startsWith('aioConnect')) {
        proto[name] = function (this: RemoteHandle, ...args: unknown[]) {
          return this.#guarded(name, args, () => {
            this.#mirror.restore({ ...this.#mirror.snapshot(), state: 'CONNECT' });
            void this.#remote(name, args).catch(() => {});
          });
        };
      } else if (name.startsWith('aioOpt')) {
        // aio_opt_*: the sync call in the worker, with the completion callback run here.
        const sync = (name.slice(3, 4).toLowerCase() + name.slice(4)) as ApiName;
        proto[name] = function (this: RemoteHandle, ...args: unknown[]) {
          return this.#guarded(name, args, () => {
            const completion = args.find((a, i) => kind(call.args[i] ?? '') === 'completion') as T.Callback<T.CompletionFn> | undefined;
            const rest = args.filter((_, i) => kind(call.args[i] ?? '') !== 'completion');
            const p = (proto[sync] as (...a: unknown[]) => Promise<unknown>).apply(this, rest);
            const cmd = newCommand(0, null, { completion });
            p.then(() => 0, (e: NbdError) => e.errno || errno.EIO).then((err) => {
              this.#cmds.fail(cmd, err);
              const ref = { value: err };
              if (cmd.completion) cmd.completion.callback(ref);
              this.#cmds.free(cmd);
            });
          });
        };
      } else if (name === 'aioDisconnect') {
        proto[name] = function (this: RemoteHandle, ...args: unknown[]) {
          return this.#guarded(name, args, () => void this.#remote(name, args).catch(() => {}));
        };
      } else if (call.async && /^(pread|preadStructured|pwrite|flush|trim|cache|zero|blockStatus|blockStatus64)$/.test(name)) {
        // Each sync call is its aio twin plus a wait.
        const aio = `aio${name[0]!.toUpperCase()}${name.slice(1)}` as ApiName;
        const aioCall: Call = API[aio];
        proto[name] = async function (this: RemoteHandle, ...args: unknown[]) {
          try {
            // Put the sync call's arguments where the aio twin has them (it adds a completion slot).
            const aargs = aioCall.args.map((a) => (kind(a) === 'completion' ? undefined : args.shift()));
            const cookie = this.#command(aio, aargs);
            await this.#cmds.wait(cookie);
            this.#cmds.commandCompleted(cookie);
          } catch (e) {
            throw setLastError(asNbdError(e, errno.EINVAL).withContext(call.c));
          }
        };
      } else {
        // Blocking calls (connect, opt_*, shutdown): run in the worker; callbacks become events.
        proto[name] = async function (this: RemoteHandle, ...args: unknown[]) {
          try {
            this.#mirror.checkCall(name, args);
            let event: ((xs: string[]) => void) | undefined;
            const margs = args.map((a, i) => {
              const k = kind(call.args[i] ?? '');
              if (!CALLBACK_KINDS.has(k) || a == null) return a;
              const cb = typeof a === 'function' ? { callback: a as (...xs: string[]) => unknown } : (a as { callback: (...xs: string[]) => unknown });
              event = (xs) => { try { cb.callback(...xs); } catch { /* ignored, as libnbd ignores its return */ } };
              return { $cb: k } satisfies Marker;
            });
            return await this.#remote(name, margs, event);
          } catch (e) {
            throw setLastError(asNbdError(e, errno.EINVAL).withContext(call.c));
          } finally {
            // Free hooks run once, whether the call succeeded or failed (libnbd(3)).
            for (const a of args) if (a && typeof a === 'object' && 'free' in a) (a as T.WithFree<unknown>).free?.();
          }
        };
      }
    }
  }
}

type Generated = Exclude<ApiName, 'aioCommandCompleted' | 'aioPeekCommandCompleted' | 'aioInFlight' | 'poll' | 'close' | 'setDebugCallback' | 'clearDebugCallback'>;
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface RemoteHandle extends Pick<NbdHandle, Generated> {}

export type { HandleSnapshot };
