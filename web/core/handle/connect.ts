// nbd_connect_* and nbd_aio_connect_* (libnbd's lib/connect.c): open a transport; its first
// bytes start the handshake in MAGIC.RECV_MAGIC.

import { NbdError, errno } from '../errors.js';
import type { Target } from '../transport.js';
import { formatUri, parseUri } from '../uri.js';
import type { Engine } from './engine.js';
import { publicState } from './state.js';

export function aioConnectUri(e: Engine, uri: string): void {
  const parsed = parseUri(uri);
  e.s.settings.exportName = parsed.exportName;
  connect(e, parsed.target);
}

export function aioConnectTcp(e: Engine, host: string, port: string | number): void {
  const p = Number(port);
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new NbdError(errno.EINVAL, '', `invalid port: ${port}`);
  connect(e, { kind: 'tcp', host, port: p });
}

export function aioConnectUnix(e: Engine, path: string): void {
  connect(e, { kind: 'unix', path });
}

export function aioConnectWebsocket(e: Engine, url: string): void {
  if (!/^wss?:\/\//i.test(url)) throw new NbdError(errno.EINVAL, '', `not a ws:// or wss:// URL: ${url}`);
  connect(e, { kind: 'websocket', url });
}

function connect(e: Engine, target: Target): void {
  const open = e.transports[target.kind];
  if (!open) {
    throw new NbdError(errno.ENOTSUP, '', target.kind === 'websocket'
      ? 'WebSocket connections are not available here'
      : `${target.kind === 'tcp' ? 'TCP' : 'Unix socket'} connections are not available here: connect through a websockify bridge with an nbd+ws:// URI`);
  }
  e.s.conn.target = target;
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
  });
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
