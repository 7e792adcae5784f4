// NEWSTYLE.OPT_GO: NBD_OPT_GO ends the handshake, NBD_OPT_INFO (opt mode) only asks; both learn
// the export from NBD_REP_INFO replies (proto.md "Option types", NBD_OPT_INFO and NBD_OPT_GO;
// libnbd's generator/states-newstyle-opt-go.c). A server without GO gets NBD_OPT_EXPORT_NAME.

import * as C from '../codec.js';
import { NbdError, errno } from '../errors.js';
import * as P from '../protocol.js';
import type { Engine, GoReplies } from './engine.js';
import { cleanFlags } from './flags.js';
import type { ExportInfo } from './state.js';
import { optError, recvReply, sendOption, serverShutdown, softDisconnect, toNegotiating } from './states-newstyle.js';
import { startExportName } from './states-newstyle-opt-export-name.js';
import { startSetMetaContext } from './states-newstyle-opt-meta-context.js';
import type { Steps } from './steps.js';
import { Violation } from './violation.js';

const INT64_MAX = (1n << 63n) - 1n;
const RECV_REPLY = 'NEWSTYLE.OPT_GO.RECV_REPLY';

/** NBD_OPT_SET_META_CONTEXT first when there are contexts to ask for, then `option` (GO or INFO). */
export function startGoOrInfo(e: Engine, option: number): typeof RECV_REPLY | 'NEWSTYLE.OPT_META_CONTEXT.RECV_REPLY' {
  const c = e.s.conn;
  const st = e.s.settings;
  // Without an automatic request, what nbd_opt_set_meta_context chose stays (libnbd's meta_valid).
  if (st.requestMetaContext) c.metaContexts = [];
  e.goOption = option;
  if (c.structuredReplies && st.requestMetaContext && st.metaContexts.length > 0) return startSetMetaContext(e);
  return startGo(e);
}

/** Send the GO or INFO chosen by startGoOrInfo, with the NBD_INFO_* we want. */
export function startGo(e: Engine): typeof RECV_REPLY {
  const st = e.s.settings;
  const option = e.goOption;
  const infos = [
    ...(st.fullInfo ? [P.NBD_INFO_NAME, P.NBD_INFO_DESCRIPTION] : []),
    ...(st.requestBlockSize ? [P.NBD_INFO_BLOCK_SIZE] : []),
  ];
  const info: ExportInfo = { size: 0n, flags: 0, minimum: 0, preferred: 0, maximum: 0, name: null, description: null };
  e.go = { option, info, gotExport: false, unsupported: false, overflow: false, failure: null };
  return sendOption(e, option, C.goData(st.exportName, infos), RECV_REPLY);
}

function blockSizes(e: Engine, info: ExportInfo, min: number, pref: number, max: number): void {
  const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
  // "Block size constraints": minimum a power of 2 up to 64 KiB, preferred a power of 2 at
  // least the minimum, maximum a multiple of the minimum (or 0xffffffff).
  if (!pow2(min) || min > 65536 || !pow2(pref) || pref < min || max < min || (max !== 0xffffffff && max % min !== 0)) {
    e.log(`ignoring invalid block sizes from the server: ${min}/${pref}/${max}`);
    return;
  }
  info.minimum = min;
  info.preferred = pref;
  info.maximum = max;
}

/** One reply to GO or INFO; returns whether more are to come. */
function goReply(e: Engine, g: GoReplies, data: Uint8Array): boolean {
  const type = e.replyType;
  const info = g.info;
  if (type === P.NBD_REP_INFO) {
    if (data.length < 2) throw new Violation('handshake: NBD_REP_INFO reply too short');
    const kind = C.u16(data, 0);
    if (kind === P.NBD_INFO_EXPORT) {
      if (data.length !== 12) throw new Violation('handshake: invalid NBD_INFO_EXPORT length');
      info.size = C.u64(data, 2);
      info.flags = C.u16(data, 10);
      g.overflow = info.size > INT64_MAX;
      g.gotExport = true;
    } else if (kind === P.NBD_INFO_NAME) {
      info.name = C.decodeString(data.subarray(2));
    } else if (kind === P.NBD_INFO_DESCRIPTION) {
      info.description = C.decodeString(data.subarray(2));
    } else if (kind === P.NBD_INFO_BLOCK_SIZE) {
      if (data.length !== 14) throw new Violation('handshake: invalid NBD_INFO_BLOCK_SIZE length');
      blockSizes(e, info, C.u32(data, 2), C.u32(data, 6), C.u32(data, 10));
    } else {
      e.log(`ignoring unknown NBD_INFO type ${kind}`);
    }
    return true;
  }
  if (type === P.NBD_REP_ACK) {
    if (!g.gotExport) throw new Violation(`handshake: server did not send NBD_INFO_EXPORT before acknowledging ${P.nameOf('opt', g.option)}`);
    return false;
  }
  if (!(type & P.NBD_REP_FLAG_ERROR)) throw new Violation(`handshake: unexpected reply type ${type} to ${P.nameOf('opt', g.option)}`);
  g.unsupported = type === P.NBD_REP_ERR_UNSUP;
  g.failure = optError(g.option, type, data);
  return false;
}

export const OPT_GO = {
  [RECV_REPLY]: (e: Engine, b: Uint8Array) => recvReply(e, b, RECV_REPLY, 'NEWSTYLE.OPT_GO.RECV_REPLY_PAYLOAD'),
  'NEWSTYLE.OPT_GO.RECV_REPLY_PAYLOAD': (e: Engine, b: Uint8Array) => {
    const from = 'NEWSTYLE.OPT_GO.RECV_REPLY_PAYLOAD';
    if (serverShutdown(e, from)) return;
    const g = e.go!;
    if (goReply(e, g, b)) {
      e.goto(from, RECV_REPLY);
      e.rx.need(20);
      return;
    }
    e.go = null;
    const go = g.option === P.NBD_OPT_GO;
    const optMode = e.s.settings.optMode;
    if (g.failure) {
      if (g.unsupported && go && !optMode) {
        // An older server: fall back to the option every newstyle server knows.
        e.log('server does not support NBD_OPT_GO, falling back to NBD_OPT_EXPORT_NAME');
        return e.goto(from, startExportName(e));
      }
      // Not in opt mode, a refused GO ends the handle, after a polite NBD_OPT_ABORT.
      if (!optMode) {
        e.goto(from, softDisconnect(e));
        return e.die(g.failure);
      }
      e.goto(from, toNegotiating(e));
      return e.settle(g.failure);
    }
    if (g.overflow) {
      // libnbd before 1.18 reported such sizes as negative numbers (CVE-2023-5215). After GO the
      // server is in transmission: the handle cannot go on; after INFO it can still negotiate.
      const err = new NbdError(errno.EOVERFLOW, '', `server export size ${g.info.size} is larger than the maximum 2^63-1`);
      if (go) return e.die(err);
      e.goto(from, toNegotiating(e));
      return e.settle(err);
    }
    const c = e.s.conn;
    g.info.flags = cleanFlags(e.s, g.info.flags, e.log.bind(e));
    c.info = g.info;
    if (go) {
      e.option = null;
      e.goto(from, 'READY');
      e.log(`negotiated: size ${g.info.size}, flags 0x${g.info.flags.toString(16)}, structured replies ${c.structuredReplies}, extended headers ${c.extendedHeaders}`);
    } else {
      e.goto(from, toNegotiating(e));
    }
    e.settle(null);
  },
} satisfies Steps;
