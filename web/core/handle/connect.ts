// nbd_connect_* and nbd_aio_connect_* (libnbd's lib/connect.c): open a transport; its first
// bytes start the handshake in MAGIC.RECV_MAGIC.

import { NbdError, errno } from '../errors.js';
import type { Target, TransportOpener } from '../transport.js';
import * as T from '../types.js';
import { formatUri, parseUri } from '../uri.js';
import { armDeadline, checkNotAborted } from './deadline.js';
import type { Engine } from './engine.js';
import { SETTINGS } from './settings.js';
import { publicState } from './state.js';

export function aioConnectUri(e: Engine, uri: string, opts?: T.CommandOptions): void {
  const parsed = parseUri(uri);
  const st = e.s.settings;
  if (parsed.tls) {
    // nbds://: TLS is required (nbd_connect_uri(3)), with the URI's TLS parameters.
    SETTINGS.setTls(e.s, T.TLS_REQUIRE);
    if (parsed.username) st.tlsUsername = parsed.username;
    const host = parsed.query.get('tls-hostname');
    if (host !== undefined) st.tlsHostname = host;
    // Files named by the URI are read where the TLS handshake runs (Node), as nbdinfo reads them.
    const certificates = parsed.query.get('tls-certificates');
    if (certificates !== undefined) SETTINGS.setTlsCertificates(e.s, certificates);
    const pskFile = parsed.query.get('tls-psk-file');
    if (pskFile !== undefined) SETTINGS.setTlsPskFile(e.s, pskFile);
    const verify = parsed.query.get('tls-verify-peer');
    if (verify !== undefined) st.tlsVerifyPeer = !/^(false|no|off|0)$/i.test(verify);
  }
  // The URI's export name obeys nbd_set_export_name's limit (ENAMETOOLONG) before anything is sent.
  SETTINGS.setExportName(e.s, parsed.exportName);
  connect(e, parsed.target, opts);
}

export function aioConnectTcp(e: Engine, host: string, port: string | number, opts?: T.CommandOptions): void {
  const p = Number(port);
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new NbdError(errno.EINVAL, '', `invalid port: ${port}`);
  connect(e, { kind: 'tcp', host, port: p }, opts);
}

export function aioConnectUnix(e: Engine, path: string, opts?: T.CommandOptions): void {
  connect(e, { kind: 'unix', path }, opts);
}

export function aioConnectWebsocket(e: Engine, url: string, opts?: T.CommandOptions): void {
  if (!/^wss?:\/\//i.test(url)) throw new NbdError(errno.EINVAL, '', `not a ws:// or wss:// URL: ${url}`);
  connect(e, { kind: 'websocket', url }, opts);
}

/** Open the transport; `opts` bounds the whole handshake, up to READY (or NEGOTIATING in opt mode). */
function connect(e: Engine, target: Target, opts?: T.CommandOptions): void {
  const open = e.transports[target.kind] as TransportOpener | undefined;
  if (!open) {
    throw new NbdError(errno.ENOTSUP, '', target.kind === 'websocket'
      ? 'WebSocket connections are not available here'
      : `${target.kind === 'tcp' ? 'TCP' : 'Unix socket'} connections are not available here: connect through a websockify bridge with an nbd+ws:// URI`);
  }
  const st = e.s.settings;
  e.s.conn.target = target;
  checkNotAborted(e, opts);
  e.goto('START', 'CONNECT');
  e.log(`connecting to ${formatUri(target, e.s.settings.exportName)}`);
  const link = {};
  e.link = link;
  e.transport = open(target, {
    open: () => {
      if (e.link !== link || e.state !== 'CONNECT') return;
      e.goto('CONNECT', 'MAGIC.RECV_MAGIC');
      e.rx.need(16);
    },
    data: (chunk: Uint8Array) => { if (e.link === link) e.receive(chunk); },
    // Not for commands that may be cancelled: their buffer must not be written afterwards, and a
    // read into it may already be under way.
    into: () => (e.link === link && e.cmd !== null && e.cmd.disarm === null && !e.cmd.cancelled ? e.rx.into() : null),
    close: (error: NbdError | null) => { if (e.link === link) e.onClose(error); },
  }, { tls: st.tls !== T.TLS_DISABLE || (st.optMode && st.tlsAvailable) }); // opt mode may call nbd_opt_starttls
  armDeadline(e, opts, () => publicState(e.s) !== 'connecting');
}

/** Wait until the handshake is over: ready, negotiating (opt mode), or failed. */
export function untilConnected(e: Engine): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const s = publicState(e.s);
      if (s === 'dead' || s === 'closed') reject(e.death('connection closed'));
      else if (s !== 'connecting') resolve();
      else e.connectWaiters.push(check);
    };
    check();
  });
}
