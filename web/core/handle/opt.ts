// nbd_opt_* in opt mode (libnbd's lib/opt.c): each starts an option group from NEGOTIATING and
// settles when the group is done: back to NEGOTIATING, on to READY (GO), or dead.

import { asCallback } from '../commands.js';
import { NbdError, errno } from '../errors.js';
import * as P from '../protocol.js';
import type * as T from '../types.js';
import { armDeadline, checkNotAborted } from './deadline.js';
import type { Engine } from './engine.js';
import { NO_TLS } from './settings.js';
import { publicState } from './state.js';
import { softDisconnect } from './states-newstyle.js';
import { startExtendedHeaders } from './states-newstyle-opt-extended-headers.js';
import { startGoOrInfo } from './states-newstyle-opt-go.js';
import { startOptList } from './states-newstyle-opt-list.js';
import { startListMetaContext } from './states-newstyle-opt-meta-context.js';
import { startStartTls } from './states-newstyle-opt-starttls.js';
import { startStructuredReply } from './states-newstyle-opt-structured-reply.js';

/**
 * Run `start` as the opt-mode call in flight; settled by the option's states (Engine.settle).
 * `opts` bounds the wait for the option's replies.
 */
function optCall<R extends number | undefined>(e: Engine, opts: T.CommandOptions | undefined, start: () => void, free?: () => void): Promise<R> {
  try {
    checkNotAborted(e, opts);
  } catch (err) {
    free?.();
    return Promise.reject(err);
  }
  const p = new Promise<R>((resolve, reject) => {
    e.optCall = { resolve: resolve as (v: number | undefined) => void, reject, free };
    try {
      start();
    } catch (err) {
      e.settle(err instanceof NbdError ? err : new NbdError(errno.EINVAL, '', String(err)));
    }
  });
  armDeadline(e, opts, () => publicState(e.s) !== 'connecting');
  return p;
}

export const optGo = (e: Engine, opts?: T.CommandOptions): Promise<undefined> =>
  optCall(e, opts, () => e.goto('NEGOTIATING', startGoOrInfo(e, P.NBD_OPT_GO)));

export const optInfo = (e: Engine, opts?: T.CommandOptions): Promise<undefined> =>
  optCall(e, opts, () => e.goto('NEGOTIATING', startGoOrInfo(e, P.NBD_OPT_INFO)));

export function optList(e: Engine, list: T.Callback<T.ListFn>, opts?: T.CommandOptions): Promise<number> {
  const cb = asCallback(list)!;
  return optCall(e, opts, () => e.goto('NEGOTIATING', startOptList(e, (name, description) => {
    e.callUser(() => cb.callback(name, description));
  })), cb.free);
}

/**
 * NBD_OPT_LIST_META_CONTEXT or NBD_OPT_SET_META_CONTEXT with the queries given, or those of
 * nbd_add_meta_context (null). Listing needs structured replies; setting is sent regardless, as
 * libnbd does, to see how a server behaves.
 */
export function optMetaContext(e: Engine, option: number, queries: readonly string[] | null, context: T.Callback<T.ContextFn>, opts?: T.CommandOptions): Promise<number> {
  const cb = asCallback(context)!;
  if (option === P.NBD_OPT_LIST_META_CONTEXT && !e.s.conn.structuredReplies) {
    cb.free?.();
    return Promise.reject(new NbdError(errno.ENOTSUP, '', 'server does not support structured replies'));
  }
  return optCall(e, opts, () => e.goto('NEGOTIATING', startListMetaContext(e, option, queries, (name) => {
    e.callUser(() => cb.callback(name));
  })), cb.free);
}

export const optListMetaContext = (e: Engine, context: T.Callback<T.ContextFn>, queries: readonly string[] | null = null, opts?: T.CommandOptions) =>
  optMetaContext(e, P.NBD_OPT_LIST_META_CONTEXT, queries, context, opts);

export const optSetMetaContext = (e: Engine, context: T.Callback<T.ContextFn>, queries: readonly string[] | null = null, opts?: T.CommandOptions) =>
  optMetaContext(e, P.NBD_OPT_SET_META_CONTEXT, queries, context, opts);

/** nbd_opt_structured_reply: true if the server agreed, false if it refused. */
export const optStructuredReply = async (e: Engine, opts?: T.CommandOptions): Promise<boolean> =>
  (await optCall<number>(e, opts, () => e.goto('NEGOTIATING', startStructuredReply(e)))) === 1;

/** nbd_opt_extended_headers: true if the server agreed (structured replies come with them). */
export const optExtendedHeaders = async (e: Engine, opts?: T.CommandOptions): Promise<boolean> =>
  (await optCall<number>(e, opts, () => e.goto('NEGOTIATING', startExtendedHeaders(e)))) === 1;

/** nbd_opt_starttls: true once TLS is up, false if the server refused; a failed TLS handshake kills the handle. */
export async function optStarttls(e: Engine, opts?: T.CommandOptions): Promise<boolean> {
  if (!e.s.settings.tlsAvailable) throw new NbdError(errno.ENOTSUP, '', NO_TLS);
  return (await optCall<number>(e, opts, () => e.goto('NEGOTIATING', startStartTls(e)))) === 1;
}

/** nbd_opt_abort: NBD_OPT_ABORT, then wait for the server to hang up. */
export async function optAbort(e: Engine): Promise<void> {
  e.goto('NEGOTIATING', softDisconnect(e));
  await e.until((s) => s === 'CLOSED' || s === 'DEAD');
}

/** nbd_aio_opt_*: the blocking call, its outcome handed to the completion callback. */
export function aioOpt(e: Engine, p: Promise<unknown>, completion?: T.Callback<T.CompletionFn>): void {
  const cb = asCallback(completion);
  p.then(() => 0, (err: NbdError) => err.errno || errno.EIO).then((err) => {
    if (cb) e.callUser(() => cb.callback({ value: err }));
    cb?.free?.();
  });
}
