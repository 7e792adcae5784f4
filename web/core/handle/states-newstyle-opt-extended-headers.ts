// NEWSTYLE.OPT_EXTENDED_HEADERS: 64-bit requests and replies, which bring structured replies with
// them (proto.md "Option types", NBD_OPT_EXTENDED_HEADERS; libnbd's generator/states-newstyle-opt-extended-headers.c).

import * as P from '../protocol.js';
import type { Engine } from './engine.js';
import { afterExtendedHeaders, agreed, recvReply, sendOption, serverShutdown, toNegotiating } from './states-newstyle.js';
import type { Steps } from './steps.js';

export const startExtendedHeaders = (e: Engine) =>
  sendOption(e, P.NBD_OPT_EXTENDED_HEADERS, new Uint8Array(0), 'NEWSTYLE.OPT_EXTENDED_HEADERS.RECV_REPLY');

export const OPT_EXTENDED_HEADERS = {
  'NEWSTYLE.OPT_EXTENDED_HEADERS.RECV_REPLY': (e: Engine, b: Uint8Array) =>
    recvReply(e, b, 'NEWSTYLE.OPT_EXTENDED_HEADERS.RECV_REPLY', 'NEWSTYLE.OPT_EXTENDED_HEADERS.RECV_REPLY_PAYLOAD'),
  'NEWSTYLE.OPT_EXTENDED_HEADERS.RECV_REPLY_PAYLOAD': (e: Engine) => {
    const from = 'NEWSTYLE.OPT_EXTENDED_HEADERS.RECV_REPLY_PAYLOAD';
    if (serverShutdown(e, from)) return;
    const c = e.s.conn;
    const ok = agreed(e, P.NBD_OPT_EXTENDED_HEADERS);
    if (e.optCall) {
      // nbd_opt_extended_headers: agreed once is agreed (with structured replies) for good.
      c.extendedHeaders ||= ok;
      c.structuredReplies ||= ok;
      e.goto(from, toNegotiating(e));
      return e.settle(null, ok ? 1 : 0);
    }
    c.extendedHeaders = c.structuredReplies = ok;
    e.goto(from, afterExtendedHeaders(e));
  },
} satisfies Steps;
