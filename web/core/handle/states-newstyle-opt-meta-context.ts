// NEWSTYLE.OPT_META_CONTEXT: NBD_OPT_SET_META_CONTEXT before GO or INFO, and nbd_opt_list_meta_context's
// NBD_OPT_LIST_META_CONTEXT (proto.md "Metadata querying"; libnbd's generator/states-newstyle-opt-meta-context.c).

import * as C from '../codec.js';
import * as P from '../protocol.js';
import type { Engine } from './engine.js';
import { recvReply, sendOption, serverShutdown, toNegotiating } from './states-newstyle.js';
import { startGo } from './states-newstyle-opt-go.js';
import { endListing, listReply, startList } from './states-newstyle-opt-list.js';
import type { Steps } from './steps.js';
import { Violation } from './violation.js';

const RECV_REPLY = 'NEWSTYLE.OPT_META_CONTEXT.RECV_REPLY';

/** Ask for the contexts of nbd_add_meta_context for the export about to be chosen. */
export function startSetMetaContext(e: Engine): typeof RECV_REPLY {
  const st = e.s.settings;
  return sendOption(e, P.NBD_OPT_SET_META_CONTEXT, C.metaContextData(st.exportName, st.metaContexts), RECV_REPLY);
}

/**
 * nbd_opt_list_meta_context(_queries) and nbd_opt_set_meta_context(_queries): NBD_REP_META_CONTEXT
 * is a 32-bit context id, then the name. SET keeps what the server chose (nbd_can_meta_context).
 */
export function startListMetaContext(e: Engine, option: number, queries: readonly string[] | null, found: (name: string) => void): typeof RECV_REPLY {
  const st = e.s.settings;
  const c = e.s.conn;
  const set = option === P.NBD_OPT_SET_META_CONTEXT;
  if (set) c.metaContexts = [];
  return startList(e, option, C.metaContextData(st.exportName, queries ?? st.metaContexts), P.NBD_REP_META_CONTEXT, (data) => {
    if (data.length < 4) throw new Violation('handshake: NBD_REP_META_CONTEXT reply too short');
    const name = C.decodeString(data.subarray(4));
    if (set) {
      const id = C.u32(data, 0);
      c.metaContexts = [...c.metaContexts.filter(([i]) => i !== id), [id, name]];
      e.log(`negotiated meta context ${name} with id ${id}`);
    }
    found(name);
  }, RECV_REPLY);
}

/** One reply to NBD_OPT_SET_META_CONTEXT; returns whether more are to come. */
function setReply(e: Engine, b: Uint8Array): boolean {
  const type = e.replyType;
  const c = e.s.conn;
  if (type === P.NBD_REP_META_CONTEXT) {
    if (b.length < 4) throw new Violation('handshake: NBD_REP_META_CONTEXT reply too short');
    const id = C.u32(b, 0);
    const name = C.decodeString(b.subarray(4));
    c.metaContexts = [...c.metaContexts.filter(([i]) => i !== id), [id, name]];
    e.log(`negotiated meta context ${name} with id ${id}`);
    return true;
  }
  if (type === P.NBD_REP_ACK) return false;
  if (!(type & P.NBD_REP_FLAG_ERROR)) throw new Violation(`handshake: unexpected reply type ${type} to NBD_OPT_SET_META_CONTEXT`);
  e.log(`NBD_OPT_SET_META_CONTEXT: server replied ${P.nameOf('rep', type)}; continuing without meta contexts`);
  c.metaContexts = [];
  return false;
}

export const OPT_META_CONTEXT = {
  [RECV_REPLY]: (e: Engine, b: Uint8Array) => recvReply(e, b, RECV_REPLY, 'NEWSTYLE.OPT_META_CONTEXT.RECV_REPLY_PAYLOAD'),
  'NEWSTYLE.OPT_META_CONTEXT.RECV_REPLY_PAYLOAD': (e: Engine, b: Uint8Array) => {
    const from = 'NEWSTYLE.OPT_META_CONTEXT.RECV_REPLY_PAYLOAD';
    if (serverShutdown(e, from)) return;
    // The caller's LIST or SET (a listing), or GO's and INFO's own SET.
    const listing = e.listing !== null;
    if (listing ? listReply(e, b) : setReply(e, b)) {
      e.goto(from, RECV_REPLY);
      e.rx.need(20);
    } else if (listing) {
      e.goto(from, toNegotiating(e));
      endListing(e);
    } else {
      e.goto(from, startGo(e));
    }
  },
} satisfies Steps;
