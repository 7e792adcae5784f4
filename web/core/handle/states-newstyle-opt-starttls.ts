// NEWSTYLE.OPT_STARTTLS: NBD_OPT_STARTTLS, first of the options when TLS is wanted, then the TLS
// handshake on the same stream (proto.md "Option types", NBD_OPT_STARTTLS, and "TLS support";
// libnbd's generator/states-newstyle-opt-starttls.c). nbd_opt_starttls sends it in opt mode.

import { NbdError, errno } from '../errors.js';
import * as P from '../protocol.js';
import * as T from '../types.js';
import type { Engine } from './engine.js';
import { afterStartTls, endOption, recvReply, sendOption, serverShutdown, softDisconnect, toNegotiating } from './states-newstyle.js';
import type { Steps } from './steps.js';
import { Violation } from './violation.js';

const HANDSHAKE = 'NEWSTYLE.OPT_STARTTLS.TLS_HANDSHAKE';

export const startStartTls = (e: Engine) =>
  sendOption(e, P.NBD_OPT_STARTTLS, new Uint8Array(0), 'NEWSTYLE.OPT_STARTTLS.RECV_REPLY');

/** The TLS handshake is over: on with the options (or back to the caller in opt mode). */
function handshakeDone(e: Engine, err: NbdError | null, description = ''): void {
  if (e.state !== HANDSHAKE) return;
  if (err) return e.die(err);
  e.s.conn.tlsNegotiated = true;
  e.log(`connection is using TLS${description ? `: ${description}` : ''}`);
  if (e.optCall) {
    e.goto(HANDSHAKE, toNegotiating(e));
    e.settle(null, 1);
  } else {
    e.goto(HANDSHAKE, afterStartTls(e));
  }
}

export const OPT_STARTTLS = {
  'NEWSTYLE.OPT_STARTTLS.RECV_REPLY': (e: Engine, b: Uint8Array) =>
    recvReply(e, b, 'NEWSTYLE.OPT_STARTTLS.RECV_REPLY', 'NEWSTYLE.OPT_STARTTLS.RECV_REPLY_PAYLOAD'),
  'NEWSTYLE.OPT_STARTTLS.RECV_REPLY_PAYLOAD': (e: Engine) => {
    const from = 'NEWSTYLE.OPT_STARTTLS.RECV_REPLY_PAYLOAD';
    if (serverShutdown(e, from)) return;
    const c = e.s.conn;
    const type = e.replyType;
    if (type === P.NBD_REP_ACK) {
      if (c.tlsNegotiated) throw new Violation('handshake: unable to support server accepting TLS twice');
      const t = e.transport;
      if (!t?.startTls) throw new Violation('handshake: this transport cannot continue in TLS');
      // What was agreed in clear text does not carry over into TLS (CVE-2021-3716).
      c.info = null;
      c.structuredReplies = c.extendedHeaders = false;
      c.metaContexts = [];
      e.option = null;
      e.goto(from, HANDSHAKE);
      const st = e.s.settings;
      const target = c.target;
      const hostname = st.tlsHostname || (target?.kind === 'tcp' ? target.host : null);
      e.log(`starting TLS (${st.tlsPskFile ? 'PSK' : 'X.509'}${hostname ? `, server name ${hostname}` : ''})`);
      const link = e.link;
      t.startTls({ certificates: st.tlsCertificates, verifyPeer: st.tlsVerifyPeer, hostname, pskFile: st.tlsPskFile, username: st.tlsUsername || st.localUser },
        (err, description) => { if (e.link === link) handshakeDone(e, err, description); });
      return;
    }
    if (!(type & P.NBD_REP_FLAG_ERROR)) throw new Violation(`handshake: unexpected reply type ${type} to NBD_OPT_STARTTLS`);
    const why = type === P.NBD_REP_ERR_POLICY ? 'policy' : type === P.NBD_REP_ERR_INVALID ? 'invalid request' : 'not supported';
    if (e.optCall) {
      e.log(`server refused TLS (${why})`);
      e.goto(from, toNegotiating(e));
      e.settle(null, 0);
    } else if (e.s.settings.tls === T.TLS_REQUIRE) {
      e.goto(from, softDisconnect(e));
      endOption(e, new NbdError(errno.ENOTSUP, '', "handshake: server refused TLS, but handle TLS setting is 'require' (2)"));
    } else {
      e.log(`server refused TLS (${why}); continuing with unencrypted connection`);
      e.goto(from, afterStartTls(e));
    }
  },
} satisfies Steps;
