// libnbd's generated wrappers (its lib/api.c), made from the API table at load time: around each
// hand-written body, the state guard and argument checks, the error's context and the last error,
// the debug trace, and pread_initialize. NbdHandle and the page's client both get them.

import { API, type ApiName, type Row } from '../api.js';
import { NbdError, errno, setLastError } from '../errors.js';
import { freeCallbackArgs, guardCall } from './check.js';
import type { HandleState } from './state.js';
import { asNbdError } from './violation.js';

/** What a wrapper needs of the handle it wraps. */
export interface CallContext {
  readonly s: HandleState;
  /** Depth of API calls in progress (synchronously): only the outermost is traced, as in libnbd. */
  nest: number;
  /** The read buffer an enclosing call has just zeroed (pread_initialize), while it runs. */
  zeroed: Uint8Array | null;
  log(msg: string): void;
}

type Body = (...a: unknown[]) => unknown;

/**
 * Wrap every API method of `proto` (its body must be there already). `context` reaches the
 * instance's CallContext; `traced` says which calls this side traces (a call the page only
 * forwards is traced by the worker that runs it).
 */
export function wrapCalls<H>(proto: object, context: (h: H) => CallContext, traced: (call: Row) => boolean = () => true): void {
  const methods = proto as Record<string, Body>;
  for (const [name, call] of Object.entries(API) as [ApiName, Row][]) {
    const body = methods[name];
    if (typeof body !== 'function') throw new Error(`internal error: the API table names ${name}, which has no body`);
    const tracing = traced(call);
    const trace = (x: CallContext, top: boolean, msg: string) => {
      if (tracing && top && x.s.settings.debug) x.log(`${call.c}: ${msg}`);
    };
    const fix = (x: CallContext, top: boolean, e: unknown): NbdError => {
      const err = asNbdError(e, errno.EINVAL).withContext(call.c);
      trace(x, top, `leave: error="${err.message}"`);
      return setLastError(err);
    };
    const zeroFirst = call.args[0] === 'buf-out';
    /** Run the body's synchronous part with the nesting depth raised. */
    const enter = (h: H, x: CallContext, args: unknown[]): { top: boolean; value: unknown } => {
      const top = x.nest === 0;
      // pread_initialize: libnbd zeroes the buffer "prior to checking for any other errors", so
      // that even a read refused here (dead handle, out of bounds) never shows stale bytes.
      // Once per buffer: pread's wrapper zeroes it, and the aioPread that pread calls need not.
      const buf = zeroFirst && args[0] instanceof Uint8Array ? args[0] : null;
      if (buf && x.s.settings.preadInitialize && buf !== x.zeroed) buf.fill(0);
      try {
        guardCall(call, x.s.conn.state, args);
      } catch (e) {
        freeCallbackArgs(call, args);
        throw e;
      }
      trace(x, top, 'enter');
      x.nest++;
      const outer = x.zeroed;
      if (buf) x.zeroed = buf;
      try {
        return { top, value: body.apply(h, args) };
      } finally {
        x.nest--;
        x.zeroed = outer;
      }
    };
    methods[name] = call.async
      ? async function (this: H, ...args: unknown[]) {
        const x = context(this);
        let top = x.nest === 0;
        try {
          const r = enter(this, x, args);
          top = r.top;
          const value = await r.value;
          trace(x, top, 'leave');
          return value;
        } catch (e) {
          throw fix(x, top, e);
        }
      }
      : function (this: H, ...args: unknown[]) {
        const x = context(this);
        const top = x.nest === 0;
        try {
          const r = enter(this, x, args);
          trace(x, top, 'leave');
          return r.value;
        } catch (e) {
          throw fix(x, top, e);
        }
      };
  }
}
