// OLDSTYLE: the oldstyle handshake's size and flags ("Oldstyle negotiation"); after them the
// connection is ready (libnbd's generator/states-oldstyle.c).

import * as C from '../codec.js';
import type { Engine } from './engine.js';
import { setExport } from './flags.js';
import type { Steps } from './steps.js';

export const OLDSTYLE = {
  'OLDSTYLE.RECV_REMAINING': (e: Engine, b: Uint8Array) => {
    // "S: 32 bits, flags": 16 bits of global flags, then 16 bits of transmission flags.
    setExport(e.s, C.u64(b, 0), C.u32(b, 8) & 0xffff, e.log.bind(e));
    e.goto('OLDSTYLE.RECV_REMAINING', 'READY');
    e.log('oldstyle handshake complete');
  },
} satisfies Steps;
