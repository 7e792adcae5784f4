// NEWSTYLE.OPT_EXPORT_NAME: the only option of plain newstyle, and the fallback when a server does
// not know NBD_OPT_GO; the server answers with the size and flags, then transmission begins
// (proto.md "Option types", NBD_OPT_EXPORT_NAME; libnbd's generator/states-newstyle-opt-export-name.c).

import * as C from '../codec.js';
import * as P from '../protocol.js';
import type { Engine } from './engine.js';
import { setExport } from './flags.js';
import type { Steps } from './steps.js';

const RECV_REPLY = 'NEWSTYLE.OPT_EXPORT_NAME.RECV_REPLY';

export function startExportName(e: Engine): typeof RECV_REPLY {
  e.option = null;
  // Size, flags, and 124 bytes of zeroes unless both sides agreed to NO_ZEROES.
  e.rx.need(10 + (e.noZeroes ? 0 : 124));
  e.log('sending NBD_OPT_EXPORT_NAME');
  e.send(C.option(P.NBD_OPT_EXPORT_NAME, C.encodeString(e.s.settings.exportName)));
  return RECV_REPLY;
}

export const OPT_EXPORT_NAME = {
  [RECV_REPLY]: (e: Engine, b: Uint8Array) => {
    setExport(e.s, C.u64(b, 0), C.u16(b, 8), e.log.bind(e));
    e.goto(RECV_REPLY, 'READY');
  },
} satisfies Steps;
