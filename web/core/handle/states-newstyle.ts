// NEWSTYLE: the newstyle handshake (libnbd's generator/states-newstyle.c). The handshake flags,
// then the options in their fixed order, each a group of states in its own module: extended
// headers, else structured replies; then, unless the caller negotiates itself (opt mode), meta
// contexts and GO (EXPORT_NAME when GO is unknown). Also what every option shares: sending it,
// reading its reply header, NBD_REP_ERR_SHUTDOWN, and NBD_OPT_ABORT.

import * as C from '../codec.js';
import { NbdError, errno } from '../errors.js';
import * as P from '../protocol.js';
import type { Into, Next, State } from '../states.js';
import * as T from '../types.js';
import type { Engine } from './engine.js';
import { startExtendedHeaders } from './states-newstyle-opt-extended-headers.js';
import { startExportName } from './states-newstyle-opt-export-name.js';
import { startGoOrInfo } from './states-newstyle-opt-go.js';
import { startStartTls } from './states-newstyle-opt-starttls.js';
import { startStructuredReply } from './states-newstyle-opt-structured-reply.js';
import type { Steps } from './steps.js';
import { Violation } from './violation.js';

const MAX_OPT_REPLY = 4 + 2 * P.NBD_MAX_STRING; // NBD_REP_SERVER: length, name, description
const ABORT = 'NEWSTYLE.OPT_ABORT.RECV_REPLY';

// ---- The order of the options ----

type AfterReplies = 'NEGOTIATING' | 'NEWSTYLE.OPT_META_CONTEXT.RECV_REPLY' | 'NEWSTYLE.OPT_GO.RECV_REPLY';
type AfterExtendedHeaders = 'NEWSTYLE.OPT_STRUCTURED_REPLY.RECV_REPLY' | AfterReplies;

/** After the handshake flags: STARTTLS when TLS is wanted, or what would follow it. */
export function firstOption(e: Engine): 'NEWSTYLE.OPT_STARTTLS.RECV_REPLY' | AfterStartTls {
  if (e.s.settings.tls !== T.TLS_DISABLE) return startStartTls(e);
  return afterStartTls(e);
}

type AfterStartTls = 'NEWSTYLE.OPT_EXTENDED_HEADERS.RECV_REPLY' | AfterExtendedHeaders;

/** After TLS (or without it): extended headers, or what would follow them. */
export function afterStartTls(e: Engine): AfterStartTls {
  const st = e.s.settings;
  if (st.requestStructuredReplies && st.requestExtendedHeaders) return startExtendedHeaders(e);
  return afterExtendedHeaders(e);
}

/** Structured replies, unless extended headers brought them, or what would follow them. */
export function afterExtendedHeaders(e: Engine): AfterExtendedHeaders {
  if (e.s.settings.requestStructuredReplies && !e.s.conn.structuredReplies) return startStructuredReply(e);
  return afterStructuredReply(e);
}

/** Opt mode hands over to the caller; otherwise meta contexts and GO. */
export function afterStructuredReply(e: Engine): AfterReplies {
  if (e.s.settings.optMode) {
    e.log('negotiating: waiting for the caller to choose options');
    return toNegotiating(e);
  }
  return startGoOrInfo(e, P.NBD_OPT_GO);
}

/** Wait for the caller's next option. Whatever the server sends meanwhile is a violation. */
export function toNegotiating(e: Engine): 'NEGOTIATING' {
  e.option = null;
  e.rx.need(20);
  return 'NEGOTIATING';
}

// ---- What every option shares ----

/** Send an option (C: IHAVEOPT, option, length, data); returns the state that reads its replies. */
export function sendOption<S extends State>(e: Engine, option: number, data: Uint8Array, recv: S): S {
  e.option = option;
  e.rx.need(20);
  e.log(`sending ${P.nameOf('opt', option)}`);
  e.send(C.option(option, data));
  return recv;
}

/** An option reply header (20 bytes: magic, option, type, length), checked before its payload is read. */
function replyHeader(e: Engine, b: Uint8Array): C.OptReplyHeader {
  const h = C.decodeOptReplyHeader(b);
  e.s.conn.chunksReceived++;
  if (h.magic !== P.NBD_REP_MAGIC) throw new Violation('handshake: invalid option reply magic');
  if (e.option === null || h.option !== e.option) throw new Violation(`handshake: reply to option ${h.option} when none was sent`);
  if (h.length > MAX_OPT_REPLY) throw new Violation(`handshake: option reply length ${h.length} is too large`);
  return h;
}

/** RECV_REPLY of any option: the header, then its payload in `payload`. */
export function recvReply<F extends State>(e: Engine, b: Uint8Array, from: F, payload: Next<F>): void {
  const h = replyHeader(e, b);
  e.replyType = h.type;
  e.goto(from, payload);
  e.rx.need(h.length);
}

/**
 * NBD_REP_ERR_SHUTDOWN, to any option: "the client MUST initiate a soft disconnect". An opt-mode
 * call fails; a handshake still under way ends. Returns whether the reply was that.
 */
export function serverShutdown(e: Engine, from: Into<typeof ABORT>): boolean {
  if (e.replyType !== P.NBD_REP_ERR_SHUTDOWN) return false;
  e.goto(from, softDisconnect(e));
  endOption(e, new NbdError(errno.ESHUTDOWN, '', 'server is shutting down'));
  return true;
}

/** An option failed: an opt-mode call reports it; a handshake still under way dies of it. */
export function endOption(e: Engine, err: NbdError): void {
  if (e.optCall) e.settle(err);
  else e.die(err);
}

/** A reply that is the option's answer: ACK (true), an error (false, logged), or a violation. */
export function agreed(e: Engine, option: number): boolean {
  const type = e.replyType;
  if (type === P.NBD_REP_ACK) return true;
  if (!(type & P.NBD_REP_FLAG_ERROR)) throw new Violation(`handshake: unexpected reply type ${type} to ${P.nameOf('opt', option)}`);
  e.log(`${P.nameOf('opt', option)}: server replied ${P.nameOf('rep', type)}`);
  return false;
}

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

/** An error reply to an option, with the server's message if it sent one. */
export function optError(option: number, type: number, data: Uint8Array): NbdError {
  const msg = data.length ? C.decodeString(data) : '';
  return new NbdError(repErrno(type), '', `server replied with error to ${optName(option)} request${msg ? ` (server: ${msg})` : ''}`);
}

/** NBD_OPT_ABORT, then close once the server acknowledges or hangs up. */
export function softDisconnect(e: Engine): typeof ABORT {
  e.s.conn.closing = true;
  // The server may acknowledge before it hangs up ("Termination of the session").
  e.option = P.NBD_OPT_ABORT;
  e.rx.need(20);
  e.send(C.option(P.NBD_OPT_ABORT));
  e.transport?.end();
  return ABORT;
}

export const NEWSTYLE = {
  'NEWSTYLE.RECV_GFLAGS': (e: Engine, b: Uint8Array) => {
    const from = 'NEWSTYLE.RECV_GFLAGS';
    const gflags = C.u16(b, 0);
    const want = e.s.settings.handshakeFlags;
    const fixed = (gflags & P.NBD_FLAG_FIXED_NEWSTYLE) !== 0 && (want & T.HANDSHAKE_FLAG_FIXED_NEWSTYLE) !== 0;
    e.noZeroes = (gflags & P.NBD_FLAG_NO_ZEROES) !== 0 && (want & T.HANDSHAKE_FLAG_NO_ZEROES) !== 0;
    e.s.conn.protocol = fixed ? 'newstyle-fixed' : 'newstyle';
    if (!fixed && e.s.settings.tls === T.TLS_REQUIRE) {
      // STARTTLS is an option, and plain newstyle has none but NBD_OPT_EXPORT_NAME.
      return e.die(new NbdError(errno.ENOTSUP, '', "handshake: server is not using fixed newstyle, but handle TLS setting is 'require' (2)"));
    }
    e.send(C.clientFlags((fixed ? P.NBD_FLAG_C_FIXED_NEWSTYLE : 0) | (e.noZeroes ? P.NBD_FLAG_C_NO_ZEROES : 0)));
    // Plain newstyle: NBD_OPT_EXPORT_NAME is the only option there is.
    e.goto(from, fixed ? firstOption(e) : startExportName(e));
  },
  NEGOTIATING: (e: Engine, b: Uint8Array) => {
    replyHeader(e, b);
    throw new Violation('handshake: option reply while negotiating');
  },
  'NEWSTYLE.OPT_ABORT.RECV_REPLY': (e: Engine, b: Uint8Array) =>
    recvReply(e, b, 'NEWSTYLE.OPT_ABORT.RECV_REPLY', 'NEWSTYLE.OPT_ABORT.RECV_REPLY_PAYLOAD'),
  'NEWSTYLE.OPT_ABORT.RECV_REPLY_PAYLOAD': (e: Engine) => {
    // Whatever it was, it was the last reply that may come.
    e.option = null;
    e.goto('NEWSTYLE.OPT_ABORT.RECV_REPLY_PAYLOAD', ABORT);
    e.rx.need(20);
  },
} satisfies Steps;
