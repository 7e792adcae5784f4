// The runtime behind wasm/src/library.js: C programs' libnbd calls, served by the core's
// NbdHandle in the same worker. C arguments arrive as 64-bit slots and are unpacked by the kinds
// in web/core/api.ts; C callbacks cannot run while C sleeps (Asyncify), so they are queued per
// handle and run by shim.c before the call returns. Errors are libnbd's thread-local last error.

import { API, MID_COMMAND_CALLBACKS, isCallback, kindOf, type ApiName, type Call } from '../../web/core/api.js';
import { NbdError, errno } from '../../web/core/errors.js';
import { hexdumpC } from '../../web/core/format/hexdump.js';
import { NbdHandle } from '../../web/core/handle.js';
import * as P from '../../web/core/protocol.js';
import type { Transports } from '../../web/core/transport.js';
import type * as T from '../../web/core/types.js';
import { BY_NAME, type CFunction } from './capi.js';
import { Events } from './events.js';

/** What the runtime needs of an emscripten module. */
export interface EmModule {
  HEAPU8: Uint8Array;
  HEAP32: Int32Array;
  HEAPU32: Uint32Array;
  _malloc(size: number): number;
  _free(ptr: number): void;
}

export interface RuntimeHost {
  transports: Transports;
  /** The program wrote to stdout (1) or stderr (2). */
  write(fd: 1 | 2, bytes: Uint8Array): void;
  /** The program wants stdin: call `runtime.events.stdin()` with a chunk, or null at the end. */
  wantStdin(): void;
}

/** Event kinds, as wasm/src/webnbd.h numbers them. */
const EV = { completion: 1, chunk: 2, extent: 3, extent64: 4, list: 5, context: 6, debug: 7, free: 8 } as const;

/** A C callback struct: function, user_data, free. `freed` keeps libnbd's "free exactly once". */
interface Reg { fn: number; ud: number; free: number; freed: boolean }

interface Event {
  kind: number;
  fn: number;
  ud: number;
  error: () => number;
  status?: number;
  /** Pointer and count (chunk subbuf), or what to allocate for C (extents). */
  ptr?: number;
  count?: number;
  entries?: number[] | T.Extent64[];
  offset?: bigint;
  s1?: string;
  s2?: string;
  /** Before C runs it (copy staged read data into the C buffer). */
  before?: () => void;
  done?: (r: number, error: number) => void;
  allocs: number[];
}

/** An aio command as C sees it: what the core cannot know until C's callbacks have run. */
interface Cmd {
  cookie: number;
  name: string;
  /** A chunk or extent callback returned -1, or a completion callback did with *error set. */
  override: number;
  coreError: number;
  /** When memory can grow, reads land in `staged` and are copied to C's buffer at `ptr`. */
  staged?: Uint8Array;
  ptr?: number;
  commit?: () => void;
}

interface Entry {
  nbd: NbdHandle;
  queue: Event[];
  running: Map<number, Event>;
  cmds: Map<number, Cmd>;
  debug: Reg | null;
  closed: boolean;
}

/** NBD_CMD_* by number, found once: every call asks (a search of the constants per call cost more than the call). */
const CMD_NAMES = new Map<unknown, string>(Object.entries(P).filter(([k]) => k.startsWith('NBD_CMD_') && !k.startsWith('NBD_CMD_FLAG_')).map(([k, v]) => [v, k]));

/** The spec's name of the NBD command a call sends (its `cmd` in the API table), e.g. "NBD_CMD_READ". */
const cmdName = (api: ApiName): string => CMD_NAMES.get((API[api] as Call).cmd) ?? '';

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

export class Runtime {
  readonly #host: RuntimeHost;
  #m: EmModule | null = null;
  #growable = false;
  #handles = new Map<number, Entry>();
  #nextHandle = 1;
  #nextToken = 1;
  #functions = new Map<number, CFunction>();
  #interned = new Map<string, number>();
  /** libnbd's last error, per thread (C passes pthread_self; one thread without -pthread). */
  #errors = new Map<number, { error: NbdError; string: number }>();
  /** Descriptors, timeouts and signals (events.ts). */
  readonly events: Events = new Events({
    handle: (id) => { const e = this.#handles.get(id); return e && !e.closed ? e.nbd : undefined; },
    handles: () => [...this.#handles.values()].filter((e) => !e.closed).map((e) => e.nbd),
    wantStdin: () => this.#host.wantStdin(),
  });

  constructor(host: RuntimeHost) { this.#host = host; }

  get #mem(): EmModule {
    if (!this.#m) throw new Error('webnbd: the runtime has no module yet');
    return this.#m;
  }

  // ---- handles ----

  create(module: EmModule, growable: boolean): number {
    this.#m = module;
    this.#growable = growable;
    const id = this.#nextHandle++;
    const e: Entry = { nbd: new NbdHandle({ transports: this.#host.transports }), queue: [], running: new Map(), cmds: new Map(), debug: null, closed: false };
    // Debug messages go to the C callback when there is one, else to stderr as libnbd writes them.
    e.nbd.setDebugCallback((context, msg) => {
      if (e.debug) this.#queue(e, { kind: EV.debug, fn: e.debug.fn, ud: e.debug.ud, error: () => 0, s1: context, s2: msg, allocs: [] });
      else this.#host.write(2, encoder.encode(`libnbd: debug: ${context}: ${msg}\n`));
    });
    this.#handles.set(id, e);
    return id;
  }

  close(id: number): void {
    const e = this.#entry(id);
    // Callbacks C has not seen yet belong to commands it abandons: only their free hooks run.
    e.queue = e.queue.filter((ev) => ev.kind === EV.free);
    e.nbd.close();
    if (e.debug) this.#free(e, e.debug);
    e.debug = null;
    e.closed = true;
    this.events.forget(id);
  }

  #entry(id: number): Entry {
    const e = this.#handles.get(id);
    if (!e) throw new Error(`webnbd: no handle ${id}`);
    return e;
  }

  #fn(name: number): CFunction {
    let f = this.#functions.get(name);
    if (!f) {
      const c = this.#string(name);
      f = BY_NAME.get(c);
      if (!f || !('core' in f.impl)) throw new Error(`webnbd: ${c} is not a call of this runtime; recompile the program`);
      this.#functions.set(name, f);
    }
    return f;
  }

  // ---- calls ----

  call(id: number, name: number, args: number, ret: number, thread = 0): number {
    const f = this.#fn(name);
    const e = this.#entry(id);
    const regs: Reg[] = [];
    try {
      const value = this.#invoke(e, f, args, regs);
      if (value instanceof Promise) throw new Error(`${f.c} is asynchronous`);
      this.#store(f, value, ret);
      return 0;
    } catch (err) {
      return this.#failed(e, f.c, err, regs, thread);
    }
  }

  async callAsync(id: number, name: number, args: number, ret: number, thread = 0): Promise<number> {
    const f = this.#fn(name);
    const e = this.#entry(id);
    const regs: Reg[] = [];
    try {
      const api = (f.impl as { core: ApiName }).core;
      if (API[api].callbacks.some((k) => MID_COMMAND_CALLBACKS.includes(k))) {
        // Wait on the aio twin; finish() decides once C has run the chunk or extent callbacks.
        const cookie = await this.#twin(e, f, args, regs);
        this.#store(f, cookie, ret);
        return 1;
      }
      const value = await this.#invoke(e, f, args, regs);
      this.#store(f, value, ret);
      return 0;
    } catch (err) {
      return this.#failed(e, f.c, err, regs, thread);
    }
  }

  /** After a sync command with mid-command callbacks: retire it, with C's verdict applied. */
  finish(id: number, name: number, cookie: number, thread = 0): number {
    const f = this.#fn(name);
    const e = this.#entry(id);
    try {
      this.#retire(e, cookie);
      return 0;
    } catch (err) {
      return this.#failed(e, f.c, err, [], thread);
    }
  }

  #failed(e: Entry, context: string, err: unknown, regs: Reg[], thread: number): number {
    // libnbd frees the callbacks of a call that fails, also when it failed before using them.
    for (const r of regs) this.#free(e, r);
    const ne = err instanceof NbdError ? err.withContext(context)
      : new NbdError(errno.EINVAL, context, `internal error: ${err instanceof Error ? err.message : String(err)}`);
    this.#setLastError(ne, thread);
    return -1;
  }

  /** Unpack C's arguments, make the call (mapped where the browser differs from libnbd). */
  #invoke(e: Entry, f: CFunction, slots: number, regs: Reg[]): unknown {
    const api = (f.impl as { core: ApiName }).core;
    const cmd: Cmd = { cookie: 0, name: cmdName(api), override: 0, coreError: 0 };
    const args = this.#unpack(e, api, slots, regs, cmd);
    const nbd = e.nbd as unknown as Record<string, (...a: unknown[]) => unknown>;
    switch (f.c) {
      case 'nbd_connect_unix':
      case 'nbd_aio_connect_unix':
        return nbd[f.c === 'nbd_connect_unix' ? 'connectWebsocket' : 'aioConnectWebsocket']!.call(e.nbd, bridgeUrl(f.c, args[0] as string));
      case 'nbd_connect_tcp':
      case 'nbd_aio_connect_tcp':
        return nbd[f.c === 'nbd_connect_tcp' ? 'connectWebsocket' : 'aioConnectWebsocket']!.call(e.nbd, tcpUrl(f.c, args[0] as string, args[1] as string));
      case 'nbd_connect_uri':
      case 'nbd_aio_connect_uri': // a bridge's own URL, as nbd_connect_unix takes it, is an NBD URI here
        args[0] = (args[0] as string).replace(/^(wss?):\/\//i, (_, s: string) => (s.toLowerCase() === 'wss' ? 'nbds+wss://' : 'nbd+ws://'));
        break;
      case 'nbd_set_debug_callback':
        if (e.debug) this.#free(e, e.debug);
        e.debug = regs[0] ?? null;
        regs.length = 0;
        return undefined;
      case 'nbd_clear_debug_callback':
        if (e.debug) this.#free(e, e.debug);
        e.debug = null;
        return undefined;
      case 'nbd_aio_command_completed':
        return this.#retire(e, args[0] as number, true);
    }
    const value = nbd[api]!.apply(e.nbd, args);
    if (API[api].ret === 'cookie') {
      cmd.cookie = value as number;
      e.cmds.set(cmd.cookie, cmd);
    } else if (cmd.commit) {
      // A sync read into a staged buffer: copy it to C's once the read is done.
      const commit = cmd.commit;
      return (value as Promise<unknown>).then((v) => { commit(); return v; });
    }
    regs.length = 0; // the core owns them now
    return value;
  }

  /** A sync command with chunk or extent callbacks, as its aio twin: resolves to the cookie. */
  #twin(e: Entry, f: CFunction, slots: number, regs: Reg[]): Promise<number> {
    const api = (f.impl as { core: ApiName }).core;
    const aio = (API[api] as Call).aio as ApiName;
    const cmd: Cmd = { cookie: 0, name: cmdName(aio), override: 0, coreError: 0 };
    const args = this.#unpack(e, api, slots, regs, cmd);
    const at = (API[aio] as Call).args.indexOf('completion?');
    return new Promise((resolve, reject) => {
      const completion = (err: T.ErrorRef) => {
        cmd.coreError = err.value;
        cmd.commit?.();
        resolve(cmd.cookie);
        return 0;
      };
      try {
        const nbd = e.nbd as unknown as Record<string, (...a: unknown[]) => unknown>;
        cmd.cookie = nbd[aio]!.apply(e.nbd, [...args.slice(0, at), completion, ...args.slice(at)]) as number;
        e.cmds.set(cmd.cookie, cmd);
        regs.length = 0;
      } catch (err) {
        reject(err instanceof NbdError ? err.withContext(f.c) : err);
      }
    });
  }

  /** nbd_aio_command_completed, with what C's callbacks decided applied on top of the core. */
  #retire(e: Entry, cookie: number, query = false): boolean {
    const cmd = e.cmds.get(cookie);
    let done: boolean;
    try {
      done = e.nbd.aioCommandCompleted(cookie);
    } catch (err) {
      e.cmds.delete(cookie);
      throw err;
    }
    if (!done && query) return false;
    e.cmds.delete(cookie);
    if (cmd?.override) throw new NbdError(cmd.override, 'nbd_aio_command_completed', `${cmd.name}: command failed`);
    return true;
  }

  // ---- arguments and results ----

  #unpack(e: Entry, api: ApiName, slots: number, regs: Reg[], cmd: Cmd): unknown[] {
    const m = this.#mem;
    let i = slots >> 2;
    const lo = () => { const v = m.HEAP32[i]!; i += 2; return v; };
    const u64 = () => { const v = (BigInt(m.HEAP32[i + 1]! >>> 0) << 32n) | BigInt(m.HEAP32[i]! >>> 0); i += 2; return v; };
    const args: unknown[] = [];
    for (const a of (API[api] as Call).args) {
      const k = kindOf(a);
      if (k === 'options') continue;
      switch (k) {
        case 'string': case 'service': { const p = lo() >>> 0; args.push(p ? this.#string(p) : null); break; }
        case 'strings': { // char **: the pointers up to the NULL that ends the list
          const p = lo() >>> 0;
          args.push(p ? Array.from({ length: m.HEAP32.subarray(p >> 2).indexOf(0) }, (_, j) => this.#string(m.HEAP32[(p >> 2) + j]! >>> 0)) : null);
          break;
        }
        case 'bool': args.push(lo() !== 0); break;
        case 'int': case 'timeout': args.push(lo()); break;
        case 'uint32': case 'flags': args.push(lo() >>> 0); break;
        case 'u64': args.push(u64()); break;
        case 'cookie': args.push(Number(u64())); break;
        case 'buf-out': case 'buf-in': {
          const ptr = lo() >>> 0;
          const count = lo() >>> 0;
          args.push(ptr ? this.#buffer(k, ptr, count, cmd) : null);
          break;
        }
        default: {
          if (!isCallback(k)) throw new Error(`webnbd: no C form for argument kind ${k}`);
          const reg: Reg = { fn: lo() >>> 0, ud: lo() >>> 0, free: lo() >>> 0, freed: false };
          regs.push(reg);
          // A NULL completion (NBD_NULL_COMPLETION) is no callback, but its free hook runs at
          // retirement as libnbd's does, and staged reads still need copying; a NULL callback
          // where one is required fails the call in the core ("… cannot be NULL").
          args.push(reg.fn || k === 'completion' ? this.#stub(e, k, reg, cmd) : null);
        }
      }
    }
    return args;
  }

  /** The C buffer as the core sees it: a view of wasm memory, or a copy when memory can grow. */
  #buffer(kind: 'buf-out' | 'buf-in', ptr: number, count: number, cmd: Cmd): Uint8Array {
    const m = this.#mem;
    if (!this.#growable) return m.HEAPU8.subarray(ptr, ptr + count);
    // Growing memory detaches every view of it, so in-flight commands keep their own bytes.
    if (kind === 'buf-in') return m.HEAPU8.slice(ptr, ptr + count);
    const staged = new Uint8Array(count);
    cmd.staged = staged;
    cmd.ptr = ptr;
    cmd.commit = () => this.#mem.HEAPU8.set(staged, ptr);
    return staged;
  }

  /** The JS callback the core calls: it queues the event, and answers the core for now. */
  #stub(e: Entry, kind: string, reg: Reg, cmd: Cmd): T.WithFree<(...a: never[]) => number> {
    const free = () => this.#free(e, reg);
    const ev = (x: Partial<Event>) => this.#queue(e, { kind: 0, fn: reg.fn, ud: reg.ud, error: () => 0, allocs: [], ...x });
    const failWith = (r: number, error: number) => { if (r === -1 && !cmd.override) cmd.override = error || errno.EPROTO; };
    switch (kind) {
      case 'completion':
        return {
          free,
          callback: (err: T.ErrorRef) => {
            cmd.coreError = err.value;
            cmd.commit?.();
            if (reg.fn) ev({
              kind: EV.completion, error: () => cmd.coreError || cmd.override,
              done: (r, error) => {
                if (r === -1 && error) cmd.override = error;
                if (r === 1 && cmd.cookie) {
                  // Returning 1 retires the command: its error, if any, is dropped.
                  try { this.#retire(e, cmd.cookie); } catch { /* as libnbd */ }
                }
              },
            });
            return 0;
          },
        };
      case 'chunk':
        return {
          free,
          callback: (sub: Uint8Array, offset: bigint, status: number, err: T.ErrorRef) => {
            const rel = this.#rel(sub, cmd);
            ev({
              kind: EV.chunk, error: () => err.value, status, count: sub.length, offset,
              ptr: rel.ptr, before: rel.copy, done: failWith,
            });
            return 0;
          },
        };
      case 'extent':
      case 'extent64':
        return {
          free,
          callback: (context: string, offset: bigint, entries: number[] | T.Extent64[], err: T.ErrorRef) => {
            ev({ kind: kind === 'extent' ? EV.extent : EV.extent64, error: () => err.value, s1: context, offset, entries, done: failWith });
            return 0;
          },
        };
      case 'list':
        return { free, callback: (name: string, description: string) => { ev({ kind: EV.list, s1: name, s2: description }); return 0; } };
      case 'context':
        return { free, callback: (name: string) => { ev({ kind: EV.context, s1: name }); return 0; } };
      case 'debug':
        return { free, callback: () => 0 }; // the handle's own debug callback routes to C (create)
      default:
        throw new Error(`webnbd: no C callback of kind ${kind}`);
    }
  }

  /** Where a chunk's subbuf is in C's memory, and how to copy it there first when staged. */
  #rel(sub: Uint8Array, cmd: Cmd): { ptr: number; copy?: () => void } {
    if (!this.#growable) return { ptr: sub.byteOffset };
    const staged = cmd.staged!;
    const ptr = cmd.ptr! + (sub.byteOffset - staged.byteOffset);
    return { ptr, copy: () => this.#mem.HEAPU8.set(sub, ptr) };
  }

  #free(e: Entry, reg: Reg): void {
    if (reg.freed) return;
    reg.freed = true;
    if (reg.free) this.#queue(e, { kind: EV.free, fn: reg.free, ud: reg.ud, error: () => 0, allocs: [] });
  }

  #queue(e: Entry, ev: Event): void {
    e.queue.push(ev);
  }

  #store(f: CFunction, value: unknown, ret: number): void {
    const m = this.#mem;
    let v: bigint;
    if (f.ret === 'char *') v = BigInt(typeof value === 'string' ? this.#cString(value) : 0);
    else if (f.ret === 'const char *') v = BigInt(this.#intern(String(value)));
    else if (typeof value === 'bigint') v = value;
    else if (typeof value === 'boolean') v = value ? 1n : 0n;
    else if (typeof value === 'number') v = BigInt(value);
    else v = 0n;
    m.HEAP32[ret >> 2] = Number(BigInt.asIntN(32, v));
    m.HEAP32[(ret >> 2) + 1] = Number(BigInt.asIntN(32, v >> 32n));
  }

  #string(ptr: number): string {
    const heap = this.#mem.HEAPU8;
    const end = heap.indexOf(0, ptr);
    return utf8.decode(heap.slice(ptr, end < 0 ? heap.length : end)); // a copy: -pthread memory is shared
  }

  /** A malloc'd C string; the caller (C) frees it. */
  #cString(s: string | Uint8Array): number {
    const bytes = typeof s === 'string' ? encoder.encode(s) : s;
    const m = this.#mem;
    const p = m._malloc(bytes.length + 1);
    if (!p) return 0;
    m.HEAPU8.set(bytes, p);
    m.HEAPU8[p + bytes.length] = 0;
    return p;
  }

  /** libnbd's `const char *` results are static strings: keep one copy of each. */
  #intern(s: string): number {
    let p = this.#interned.get(s);
    if (p === undefined) this.#interned.set(s, (p = this.#cString(s)));
    return p;
  }

  // ---- callbacks, run by shim.c's dispatch() ----

  /** Fill C's struct webnbd_event with the handle's next callback; 0 when there is none. */
  nextEvent(id: number, p: number): number {
    const e = this.#handles.get(id);
    const ev = e?.queue.shift();
    if (!e || !ev) {
      if (e?.closed && e.running.size === 0) this.#handles.delete(id);
      return 0;
    }
    ev.before?.();
    const m = this.#mem;
    const token = this.#nextToken++;
    e.running.set(token, ev);
    const str = (s: string | undefined) => { if (s === undefined) return 0; const q = this.#cString(s); ev.allocs.push(q); return q; };
    let ptr = ev.ptr ?? 0;
    let count = ev.count ?? 0;
    if (ev.entries) {
      const flat = ev.kind === EV.extent
        ? Uint32Array.from(ev.entries as number[])
        : new Uint32Array(new BigUint64Array((ev.entries as T.Extent64[]).flatMap((x) => [x.length, x.flags])).buffer);
      ptr = this.#cString(new Uint8Array(flat.buffer));
      ev.allocs.push(ptr);
      count = ev.kind === EV.extent ? flat.length : flat.length / 4;
    }
    const i = p >> 2;
    m.HEAP32[i] = ev.kind;
    m.HEAP32[i + 1] = token;
    m.HEAP32[i + 2] = ev.fn;
    m.HEAP32[i + 3] = ev.ud;
    m.HEAP32[i + 4] = ev.error();
    m.HEAP32[i + 5] = ev.status ?? 0;
    m.HEAP32[i + 6] = ptr;
    m.HEAP32[i + 7] = count;
    const off = ev.offset ?? 0n;
    m.HEAP32[i + 8] = Number(BigInt.asIntN(32, off));
    m.HEAP32[i + 9] = Number(BigInt.asIntN(32, off >> 32n));
    m.HEAP32[i + 10] = str(ev.s1);
    m.HEAP32[i + 11] = str(ev.s2);
    return 1;
  }

  eventDone(id: number, token: number, r: number, error: number): void {
    const e = this.#handles.get(id);
    const ev = e?.running.get(token);
    if (!e || !ev) return;
    e.running.delete(token);
    for (const p of ev.allocs) this.#mem._free(p);
    ev.done?.(r, error);
  }

  // ---- errors (libnbd's per-thread last error) ----

  #setLastError(error: NbdError, thread: number): void {
    const old = this.#errors.get(thread);
    if (old?.string) this.#mem._free(old.string);
    this.#errors.set(thread, { error, string: 0 });
  }

  setError(context: number, errnum: number, detail: number, thread = 0): void {
    this.#setLastError(new NbdError(errnum, this.#string(context), this.#string(detail)), thread);
  }

  getError(thread = 0): number {
    const last = this.#errors.get(thread);
    if (!last) return 0;
    if (!last.string) last.string = this.#cString(last.error.message);
    return last.string;
  }

  getErrno(thread = 0): number {
    return this.#errors.get(thread)?.error.errno ?? 0;
  }

  // ---- what C programs expect around libnbd ----

  /** popen("hexdump -C"): webnbd's formatter; a malloc'd string for pclose to write. */
  hexdump(ptr: number, len: number): number {
    const text = hexdumpC(this.#mem.HEAPU8.slice(ptr, ptr + len));
    return this.#cString(Uint8Array.from(text, (c) => c.charCodeAt(0)));
  }

  write(fd: number, bytes: Uint8Array): void {
    this.#host.write(fd === 2 ? 2 : 1, bytes);
  }
}

/** nbd_connect_unix in a browser: the socket is the URL of a websockify bridge to it. */
function bridgeUrl(context: string, path: string): string {
  if (/^wss?:\/\//i.test(path)) return path;
  throw new NbdError(errno.ENOTSUP, context,
    `${path}: a browser has no Unix sockets: pass the ws:// or wss:// URL of a websockify bridge whose target is that socket (websockify --unix-target=SOCKET, or webnbd bridge)`);
}

/** nbd_connect_tcp in a browser: host and port are a websockify bridge's. */
function tcpUrl(context: string, host: string, port: string): string {
  const p = port === 'nbd' ? '10809' : port;
  if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) throw new NbdError(errno.EINVAL, context, `invalid port: ${port}`);
  return `ws://${host.includes(':') ? `[${host}]` : host}:${p}/`;
}
