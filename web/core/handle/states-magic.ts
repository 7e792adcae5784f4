// MAGIC: the server's first words ("Handshake"): NBDMAGIC, then the magic saying which style of
// handshake follows (libnbd's generator/states-magic.c).

import * as C from '../codec.js';
import { NbdError, errno } from '../errors.js';
import * as P from '../protocol.js';
import * as T from '../types.js';
import type { Engine } from './engine.js';
import type { Steps } from './steps.js';
import { Violation } from './violation.js';

export const MAGIC = {
  'MAGIC.RECV_MAGIC': (e: Engine, b: Uint8Array) => {
    if (C.u64(b, 0) !== P.NBD_MAGIC) throw new Violation('handshake: server did not send expected NBD magic');
    const style = C.u64(b, 8);
    if (style === P.NBD_CLISERV_MAGIC) {
      e.s.conn.protocol = 'oldstyle';
      if (e.s.settings.tls === T.TLS_REQUIRE) {
        return e.die(new NbdError(errno.ENOTSUP, '', "handshake: server is oldstyle, but handle TLS setting is 'require' (2)"));
      }
      e.goto('MAGIC.RECV_MAGIC', 'OLDSTYLE.RECV_REMAINING');
      e.rx.need(8 + 4 + 124);
    } else if (style === P.NBD_OPTS_MAGIC) {
      e.goto('MAGIC.RECV_MAGIC', 'NEWSTYLE.RECV_GFLAGS');
      e.rx.need(2);
    } else {
      throw new Violation('handshake: server is not either an oldstyle or fixed newstyle NBD server');
    }
  },
} satisfies Steps;
