// Beyond libnbd: the connect calls and the opt-mode calls take the same { signal, timeout } as
// commands. A handshake cannot skip an option reply it stops waiting for, so when time runs out
// (or the signal fires) the handle dies, ETIMEDOUT (or ECANCELED), naming what it waited for.

import { NbdError, errno } from '../errors.js';
import * as P from '../protocol.js';
import type * as T from '../types.js';
import type { Engine } from './engine.js';

/** "10 s", "1.5 s", "250 ms". */
export const formatDuration = (ms: number): string =>
  ms >= 1000 ? `${Number((ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1))} s` : `${Math.round(ms)} ms`;

/** What the handle is waiting for in its current state, for an error message. */
export function waitingFor(e: Engine): string {
  const s = e.state;
  if (s === 'START' || s === 'CONNECT') return e.s.conn.target?.kind === 'websocket' ? 'connecting to the bridge' : 'connecting to the server';
  if (s.startsWith('MAGIC.') || s.startsWith('OLDSTYLE.') || s === 'NEWSTYLE.RECV_GFLAGS') return "waiting for the server's greeting";
  if (s === 'NEWSTYLE.OPT_EXPORT_NAME.RECV_REPLY') return "waiting for the server's reply to NBD_OPT_EXPORT_NAME";
  if (s.startsWith('NEWSTYLE.')) {
    return `waiting for the server's reply to ${e.option !== null ? P.nameOf('opt', e.option) : 'an option'}`;
  }
  if (s === 'READY' || s.startsWith('REPLY.')) return "waiting for the server's replies";
  return 'waiting for the server';
}

/** The reason an AbortSignal carries, as words. */
const reasonOf = (signal: T.SignalLike): string => {
  const r = signal.reason;
  if (r === undefined) return 'aborted';
  if (r instanceof Error || (typeof r === 'object' && r !== null && 'message' in r)) return String((r as { message: unknown }).message) || 'aborted';
  return String(r);
};

/** An AbortSignal.timeout() fired: that is a time limit, not a cancellation. */
const isTimeout = (signal: T.SignalLike): boolean =>
  typeof signal.reason === 'object' && signal.reason !== null && (signal.reason as { name?: unknown }).name === 'TimeoutError';

/** The error a deadline ends the handle with. */
export function deadlineError(e: Engine, how: { timeout: number } | { signal: T.SignalLike }): NbdError {
  // A WebSocket that is not a bridge (a page's own port, say) never upgrades or never speaks NBD.
  const early = e.state === 'START' || e.state === 'CONNECT' || e.state === 'MAGIC.RECV_MAGIC';
  const what = waitingFor(e);
  const hint = early && e.s.conn.target?.kind === 'websocket' ? ' (is it a webnbd bridge?)' : '';
  if ('timeout' in how) return new NbdError(errno.ETIMEDOUT, '', `timed out after ${formatDuration(how.timeout)} ${what}${hint}`);
  if (isTimeout(how.signal)) return new NbdError(errno.ETIMEDOUT, '', `timed out ${what} (${reasonOf(how.signal)})${hint}`);
  return new NbdError(errno.ECANCELED, '', `cancelled ${what} (${reasonOf(how.signal)})`);
}

/** Refuse to start at all when the signal has already fired. */
export function checkNotAborted(e: Engine, opts: T.CommandOptions | undefined): void {
  if (opts?.signal?.aborted) throw deadlineError(e, { signal: opts.signal });
}

/**
 * Watch `opts` until `done()` holds (checked at every change of state): if the time runs out or
 * the signal fires first, the handle dies with the deadline's error.
 */
export function armDeadline(e: Engine, opts: T.CommandOptions | undefined, done: () => boolean): void {
  if (!opts || (opts.timeout === undefined && !opts.signal)) return;
  const { signal, timeout } = opts;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const disarm = () => {
    if (timer !== undefined) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  };
  const fire = (how: { timeout: number } | { signal: T.SignalLike }) => {
    disarm();
    if (!done()) e.die(deadlineError(e, how));
  };
  const onAbort = () => fire({ signal: signal! });
  const check = () => {
    if (done()) disarm();
    else e.connectWaiters.push(check);
  };
  if (timeout !== undefined) timer = setTimeout(() => fire({ timeout }), timeout);
  signal?.addEventListener('abort', onAbort, { once: true });
  check();
}
