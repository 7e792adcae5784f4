// NEWSTYLE.OPT_STRUCTURED_REPLY: structured replies, when extended headers did not bring them
// (proto.md "Structured reply chunk message"; libnbd's generator/states-newstyle-opt-structured-reply.c).

import * as P from '../protocol.js';
import type { Engine } from './engine.js';
import { afterStructuredReply, agreed, recvReply, sendOption, serverShutdown, toNegotiating } from './states-newstyle.js';
import type { Steps } from './steps.js';

export const startStructuredReply = (e: Engine) =>
  sendOption(e, P.NBD_OPT_STRUCTURED_REPLY, new Uint8Array(0), 'NEWSTYLE.OPT_STRUCTURED_REPLY.RECV_REPLY');

export const OPT_STRUCTURED_REPLY = {
  'NEWSTYLE.OPT_STRUCTURED_REPLY.RECV_REPLY': (e: Engine, b: Uint8Array) =>
    recvReply(e, b, 'NEWSTYLE.OPT_STRUCTURED_REPLY.RECV_REPLY', 'NEWSTYLE.OPT_STRUCTURED_REPLY.RECV_REPLY_PAYLOAD'),
  'NEWSTYLE.OPT_STRUCTURED_REPLY.RECV_REPLY_PAYLOAD': (e: Engine) => {
    const from = 'NEWSTYLE.OPT_STRUCTURED_REPLY.RECV_REPLY_PAYLOAD';
    if (serverShutdown(e, from)) return;
    const ok = agreed(e, P.NBD_OPT_STRUCTURED_REPLY);
    if (e.optCall) {
      // nbd_opt_structured_reply: once agreed, a later refusal (redundant request) changes nothing.
      e.s.conn.structuredReplies ||= ok;
      e.goto(from, toNegotiating(e));
      return e.settle(null, ok ? 1 : 0);
    }
    e.s.conn.structuredReplies = ok;
    e.goto(from, afterStructuredReply(e));
  },
} satisfies Steps;
