// The Web Worker that hosts handles. Pages talk to it through client.ts; each handle here owns a
// WebSocket to a websockify bridge, and read data goes from the socket message straight into the
// page's SharedArrayBuffer (or into a buffer transferred back on pages that are not isolated).

import { API, kindOf, type ApiName, type ArgKind } from '../core/api.js';
import { NbdError, errno } from '../core/errors.js';
import { NbdHandle, handleState } from '../core/handle.js';
import type { Transports } from '../core/transport.js';
import type { ErrorRef, Extent64 } from '../core/types.js';
import type { Dest, FromWorker, Marker, Said, ToWorker } from './messages.js';
import { DONE_FIELDS, InOrder, READ_FIELDS, Ring } from './ring.js';
import { browserTransports } from './ws-transport.js';

interface Scope {
  postMessage(message: FromWorker, transfer: Transferable[]): void;
  addEventListener(type: 'message', listener: (e: MessageEvent<ToWorker>) => void): void;
}
const scope = self as unknown as Scope;
/** The number of the next thing said to the page (messages.ts), posted or put in the ring. */
let said = 0;
/** The page's completion ring, on isolated pages that asked for it. */
let ring: Ring | null = null;
/** The page's SharedArrayBuffers that reads through the ring may name, by id. */
const buffers = new Map<number, SharedArrayBuffer>();
/** An nbd_aio_pread's arguments as the page marks them (client.ts #command), for reads from the ring. */
const PREAD_ARGS = API.aioPread.args.map(kindOf);
const post = (m: Said, transfer: Transferable[] = []) => {
  (m as FromWorker).s = said++;
  scope.postMessage(m as FromWorker, transfer);
};

/**
 * The connection's first moments as User Timing marks (`webnbd:…`, read by the first-sector
 * benchmark): the worker's start, the socket's, its opening, and the first bytes each way with
 * their head (which option or command), a few per connection, never more.
 */
const MARKS_PER_CONNECTION = 16;
const mark = (name: string, detail?: unknown) => performance.mark(`webnbd:${name}`, { detail });
mark('worker');

/** Each handle, with its page cookies mapped to its own (commands are numbered on both sides). */
const handles = new Map<number, { nbd: NbdHandle; lastState: string; lastInfo: unknown; cookies: Map<number, number> }>();

/** Tell the page about state changes it cannot see (it holds a copy of the handle's state). */
function sync(id: number): void {
  const e = handles.get(id);
  if (!e) return;
  const s = handleState(e.nbd);
  const conn = s.conn;
  if (conn.state === e.lastState && conn.info === e.lastInfo) return;
  e.lastState = conn.state;
  e.lastInfo = conn.info;
  post({ t: 'state', h: id, conn, exportName: s.settings.exportName });
}

function destBuffer(dest: Dest): Uint8Array | null {
  if (!dest) return null;
  if (!('sab' in dest)) return new Uint8Array(dest.length);
  if (dest.id) buffers.set(dest.id, dest.sab);
  return new Uint8Array(dest.sab, dest.offset, dest.length);
}

/** A read record of the ring (ring.ts READ_FIELDS) as the 'cmd' message it stands for. */
function readFromRing(r: Int32Array): ToWorker {
  const [s, h, cookie, id, at, length, lo, hi, flags] = r as unknown as number[];
  const sab = buffers.get(id!);
  const offset = (BigInt(hi! >>> 0) << 32n) | BigInt(lo! >>> 0);
  const args = PREAD_ARGS.map((k) => (k === 'buf-out' ? { $buf: true } : k === 'u64' ? offset : k === 'completion' ? { $cb: k } : k === 'flags' ? flags : undefined));
  // A buffer the page never gave (it cannot happen) fails the read as a lagging state would.
  return { t: 'cmd', s: s!, h: h!, cookie: cookie!, name: 'aioPread', args, dest: sab ? { sab, offset: at!, length: length!, id: 0 } : null, src: null };
}

/** Replace the page's markers with the real buffer and with callbacks that post events back. */
function unmarshal(h: number, id: number, args: unknown[], buf: Uint8Array | null, fresh: Uint8Array | null): unknown[] {
  return args.map((a) => {
    if (!a || typeof a !== 'object') return a;
    if ('$buf' in (a as Marker)) return buf;
    if (!('$cb' in (a as Marker))) return a;
    const kind = (a as { $cb: ArgKind }).$cb;
    switch (kind) {
      case 'completion':
        // Retire here at once; the page runs the caller's callback and keeps libnbd's contract there.
        return (err: ErrorRef) => {
          handles.get(h)?.cookies.delete(id);
          sync(h);
          if (!fresh && ring?.push(said, h, id, err.value)) said++;
          else post({ t: 'done', h, cookie: id, error: err.value, message: '', ...(fresh ? { data: fresh.buffer as ArrayBuffer } : {}) }, fresh ? [fresh.buffer] : []);
          return 1;
        };
      case 'chunk':
        return (sub: Uint8Array, offset: bigint, status: number, err: ErrorRef) => {
          post({ t: 'chunk', h, cookie: id, rel: sub.byteOffset - (buf?.byteOffset ?? 0), length: sub.length, offset, status, error: err.value });
        };
      case 'extent':
      case 'extent64':
        return (context: string, offset: bigint, entries: number[] | Extent64[]) => {
          post({ t: 'extent', h, cookie: id, context, offset, entries });
        };
      case 'debug':
        return (context: string, msg: string) => post({ t: 'debug', h, context, msg });
      default:
        // list and context callbacks of opt_list and opt_list_meta_context.
        return (...xs: string[]) => post({ t: 'event', h, id, args: xs });
    }
  });
}

/** A call the page may post: one the table says runs in the worker; `kind` for commands. */
function callable(name: string, kind?: 'aio-command'): ApiName {
  const call = Object.prototype.hasOwnProperty.call(API, name) ? API[name as ApiName] : undefined;
  if (!call || call.runs === 'page' || (kind && call.kind !== kind)) throw new NbdError(errno.ENOTSUP, 'webnbd worker', `no such call: ${name}`);
  return name as ApiName;
}

/** The signals of calls in progress whose page-side signal may fire (by call id). */
const signals = new Map<number, AbortController>();

/** Give the call's options the worker's own signal, which the page's 'abort' fires. */
function withSignal(m: ToWorker & { t: 'call' }, name: ApiName, args: unknown[]): unknown[] {
  if (!m.signal) return args;
  const at = (API[name].args as readonly string[]).indexOf('options?');
  if (at < 0) return args;
  const controller = new AbortController();
  signals.set(m.id, controller);
  if (m.aborted) controller.abort(new DOMException(m.aborted.message, m.aborted.name));
  const out = args.slice();
  out[at] = { ...(args[at] as object | undefined), signal: controller.signal };
  return out;
}

async function call(m: ToWorker & { t: 'call' }): Promise<void> {
  const e = handles.get(m.h);
  try {
    if (!e) throw new NbdError(errno.EINVAL, 'webnbd worker', `no handle ${m.h}`);
    const name = callable(m.name);
    const fn = (e.nbd as unknown as Record<ApiName, (...a: unknown[]) => unknown>)[name];
    const value = await fn.apply(e.nbd, withSignal(m, name, unmarshal(m.h, m.id, m.args, null, null)));
    sync(m.h);
    if (API[name].kind === 'connect' && !('async' in API[name])) void followHandshake(m.h, e.nbd);
    post({ t: 'result', h: m.h, id: m.id, value });
  } catch (err) {
    sync(m.h);
    const ne = err instanceof NbdError ? err : new NbdError(errno.EINVAL, m.name, String(err));
    post({ t: 'result', h: m.h, id: m.id, error: ne.toData() });
  } finally {
    signals.delete(m.id);
  }
}

/**
 * An aio connect returns at once; tell the page how its handshake ends, also when it ends by
 * itself (a timeout or an abort kills the handle without a transport event).
 */
async function followHandshake(id: number, nbd: NbdHandle): Promise<void> {
  while (nbd.aioIsConnecting()) {
    try {
      await nbd.poll(-1);
    } catch {
      break;
    }
  }
  sync(id);
}

function command(m: ToWorker & { t: 'cmd' }): void {
  const e = handles.get(m.h);
  const fresh = m.dest && !('sab' in m.dest) ? destBuffer(m.dest) : null;
  const buf = fresh ?? destBuffer(m.dest) ?? m.src;
  try {
    if (!e) throw new NbdError(errno.ENOTCONN, m.name, 'handle closed');
    const fn = (e.nbd as unknown as Record<ApiName, (...a: unknown[]) => number>)[callable(m.name, 'aio-command')];
    const cookie = fn.apply(e.nbd, unmarshal(m.h, m.cookie, m.args, buf, fresh));
    e.cookies.set(m.cookie, cookie);
  } catch (err) {
    // The page checked the command against its copy of the state; this only happens if that lagged.
    const ne = err instanceof NbdError ? err : new NbdError(errno.EINVAL, m.name, String(err));
    sync(m.h);
    post({ t: 'done', h: m.h, cookie: m.cookie, error: ne.errno || errno.EINVAL, message: ne.detail });
  }
}

/** What the page says, in order, from its messages and (once it sends the rings) its read ring. */
const told = new InOrder<ToWorker>(null, readFromRing, (m) => take(m));
scope.addEventListener('message', (ev) => told.posted(ev.data));

function take(m: ToWorker): void {
  switch (m.t) {
    case 'create': {
      // A connection can also end on its own (the server or bridge went away): tell the page then
      // too, not only when a call or a command completes.
      const id = m.h;
      let marks = MARKS_PER_CONNECTION;
      const traced = (what: string, b: Uint8Array) => {
        if (marks-- > 0) mark(what, { h: id, length: b.length, head: Array.from(b.subarray(0, 32)) });
      };
      const transports: Transports = {
        websocket: (t, ev) => {
          mark('connect', { h: id });
          const tr = browserTransports.websocket!(t, {
            open: () => { mark('open', { h: id }); ev.open(); },
            data: (b) => { traced('rx', b); ev.data(b); },
            close: (e) => { ev.close(e); sync(id); },
          });
          return { ...tr, write: (b) => { traced('tx', b); tr.write(b); } };
        },
      };
      const nbd = new NbdHandle({ transports });
      // The page zeroes read buffers itself before a read leaves it (setPreadInitialize runs on
      // the page alone, says the API table); zeroing the same memory here again would only cost.
      nbd.setPreadInitialize(false);
      handles.set(id, { nbd, lastState: '', lastInfo: null, cookies: new Map() });
      sync(id);
      return;
    }
    case 'call':
      void call(m);
      return;
    case 'cmd':
      command(m);
      return;
    case 'cancel': {
      const e = handles.get(m.h);
      const c = e?.cookies.get(m.cookie);
      if (e && c !== undefined) e.nbd.cancelCommand(c, m.error, m.why);
      return;
    }
    case 'abort': {
      const { name, message } = m.reason;
      signals.get(m.id)?.abort(new DOMException(message, name));
      return;
    }
    case 'close':
      handles.get(m.h)?.nbd.close();
      handles.delete(m.h);
      return;
    case 'ring': {
      ring = new Ring(m.done, DONE_FIELDS);
      if (m.reads) {
        const reads = new Ring(m.reads, READ_FIELDS);
        told.ring = reads;
        reads.watch(() => told.deliver());
      }
      return;
    }
    case 'unbuffer':
      buffers.delete(m.id);
      return;
  }
}
