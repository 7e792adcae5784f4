// NEWSTYLE.OPT_LIST: nbd_opt_list's exports, one NBD_REP_SERVER each (proto.md "Option types",
// NBD_OPT_LIST; libnbd's generator/states-newstyle-opt-list.c). The list replies of
// NBD_OPT_LIST_META_CONTEXT are read the same way (listReply).

import * as C from '../codec.js';
import * as P from '../protocol.js';
import type { Engine } from './engine.js';
import { optError, recvReply, sendOption, serverShutdown, toNegotiating } from './states-newstyle.js';
import type { Steps } from './steps.js';
import { Violation } from './violation.js';

/** Send a listing option; each reply of `itemType` goes to `item`. */
export function startList<S extends 'NEWSTYLE.OPT_LIST.RECV_REPLY' | 'NEWSTYLE.OPT_META_CONTEXT.RECV_REPLY'>(
  e: Engine, option: number, data: Uint8Array, itemType: number, item: (data: Uint8Array) => void, recv: S,
): S {
  e.listing = { itemType, item, count: 0, failure: null };
  return sendOption(e, option, data, recv);
}

/** One reply to a listing option; returns whether more are to come. */
export function listReply(e: Engine, b: Uint8Array): boolean {
  const l = e.listing!;
  const type = e.replyType;
  if (type === l.itemType) {
    l.item(b);
    l.count++;
    return true;
  }
  if (type !== P.NBD_REP_ACK) {
    if (!(type & P.NBD_REP_FLAG_ERROR)) throw new Violation(`handshake: unexpected reply type ${type} to ${P.nameOf('opt', e.option!)}`);
    l.failure = optError(e.option!, type, b);
  }
  return false;
}

/** The listing is over: the call gets the count, or the server's error. */
export function endListing(e: Engine): void {
  const l = e.listing!;
  e.listing = null;
  e.settle(l.failure, l.count);
}

/** nbd_opt_list: NBD_REP_SERVER is a 32-bit name length, the name, then the description. */
export function startOptList(e: Engine, found: (name: string, description: string) => void) {
  return startList(e, P.NBD_OPT_LIST, new Uint8Array(0), P.NBD_REP_SERVER, (data) => {
    const n = data.length >= 4 ? C.u32(data, 0) : -1;
    if (n < 0 || n > data.length - 4) throw new Violation('handshake: invalid NBD_REP_SERVER reply');
    found(C.decodeString(data.subarray(4, 4 + n)), C.decodeString(data.subarray(4 + n)));
  }, 'NEWSTYLE.OPT_LIST.RECV_REPLY');
}

export const OPT_LIST = {
  'NEWSTYLE.OPT_LIST.RECV_REPLY': (e: Engine, b: Uint8Array) =>
    recvReply(e, b, 'NEWSTYLE.OPT_LIST.RECV_REPLY', 'NEWSTYLE.OPT_LIST.RECV_REPLY_PAYLOAD'),
  'NEWSTYLE.OPT_LIST.RECV_REPLY_PAYLOAD': (e: Engine, b: Uint8Array) => {
    const from = 'NEWSTYLE.OPT_LIST.RECV_REPLY_PAYLOAD';
    if (serverShutdown(e, from)) return;
    if (listReply(e, b)) {
      e.goto(from, 'NEWSTYLE.OPT_LIST.RECV_REPLY');
      e.rx.need(20);
      return;
    }
    e.goto(from, toNegotiating(e));
    endListing(e);
  },
} satisfies Steps;
