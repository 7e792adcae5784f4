// Node transports: TCP and Unix sockets (node:net), which NBD_OPT_STARTTLS continues in TLS
// (node:tls, tls.ts), and WebSockets to a websockify bridge (ws).

import net from 'node:net';
import os from 'node:os';
import type WebSocket from 'ws';
import { NbdError, errno, errnoFromName } from '../core/errors.js';
import type { Target, TlsOptions, Transport, TransportEvents, Transports } from '../core/transport.js';
import { withoutSecrets } from '../core/uri.js';
import { startTls, tlsFailure } from './tls.js';

const errnoOf = (e: NodeJS.ErrnoException): number => (e.code && errnoFromName(e.code)) || errno.EIO;

const view = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/**
 * Stream sockets read into one buffer of this size, reused for every read (node:net's `onread`),
 * instead of a fresh Buffer per read: no allocation, page faults or GC per read. The handle
 * copies what it needs before `data` returns. Read payloads mostly bypass it (into()): it holds
 * headers and the start of a payload, so small enough that little of a payload is copied.
 */
const READ_BUFFER = 64 * 1024;

/** Socket options that make `ev.data` receive every read, in a buffer of the transport's own. */
const readInto = (ev: TransportEvents): Pick<net.NetConnectOpts, 'onread'> => {
  const own = new Uint8Array(READ_BUFFER);
  return {
    onread: {
      // The next read goes straight into a read payload's destination when the handle has one.
      buffer: () => ev.into?.() ?? own,
      callback: (n: number, b: Uint8Array) => {
        ev.data(b.subarray(0, n));
        return true; // never pause
      },
    },
  };
};

/**
 * A stream socket. Writes made in one tick go out together (cork until the next tick). With
 * `tls`, reads come as 'data' events instead of into the shared buffer, so that node:tls can take
 * the socket over at NBD_OPT_STARTTLS; from then on `stream` is the TLS socket.
 */
function socketTransport(sock: net.Socket, where: string, ev: TransportEvents, tlsWanted = false): Transport {
  let stream = sock;
  let connected = false;
  let failure: NbdError | null = null;
  let corked = false;
  let gone = false;
  sock.setNoDelay(true);
  const onData = (b: Buffer) => ev.data(view(b));
  if (tlsWanted) sock.on('data', onData);
  sock.on('connect', () => {
    connected = true;
    ev.open();
  });
  const onError = (e: NodeJS.ErrnoException) => {
    failure ??= connected
      ? new NbdError(errnoOf(e), '', stream !== sock ? tlsFailure(e).detail : `recv: ${where}`)
      : new NbdError(errnoOf(e), '', `connect: ${where}: could not connect to remote host`);
  };
  sock.on('error', onError);
  const onClose = () => {
    if (!gone) ev.close(failure);
    gone = true;
  };
  sock.on('close', onClose);
  const uncork = () => {
    corked = false;
    stream.uncork();
  };
  return {
    write(data) {
      if (gone) return;
      if (!corked) {
        corked = true;
        stream.cork();
        process.nextTick(uncork);
      }
      stream.write(data);
    },
    end() {
      if (corked) uncork();
      stream.end();
    },
    destroy() {
      gone = true;
      stream.destroy();
    },
    startTls(options: TlsOptions, done: (error: NbdError | null, description?: string) => void) {
      if (!tlsWanted) return done(new NbdError(errno.EINVAL, '', 'handshake: TLS was not asked for when connecting'));
      sock.off('data', onData);
      sock.off('close', onClose);
      stream = startTls(sock, options, {
        secure: (description) => done(null, description),
        failed: (e) => {
          gone = true;
          done(e);
        },
        data: onData,
        error: (e) => { failure ??= e; },
        close: onClose,
      });
    },
  };
}

/** ws, loaded on first use: commands that never speak WebSocket do not pay for loading it. */
let wsLibrary: Promise<typeof WebSocket> | null = null;

/**
 * A WebSocket to a websockify bridge, which carries the NBD byte stream in binary messages. The
 * handle writes nothing before `open`, so the socket can wait for ws to load.
 */
function webSocketTransport(url: string, ev: TransportEvents): Transport {
  let t: Transport | null = null;
  let dropped = false;
  const shown = withoutSecrets(url);
  (wsLibrary ??= import('ws').then((m) => m.default)).then((WS) => {
    if (!dropped) t = openWebSocket(WS, url, ev);
  }, (e: Error) => {
    if (!dropped) ev.close(new NbdError(errno.ENOSYS, '', `connect: ${shown}: cannot load the WebSocket library: ${e.message}`));
  });
  return {
    write: (data) => t?.write(data),
    end: () => {
      if (t) return t.end();
      dropped = true;
      ev.close(null);
    },
    destroy: () => {
      dropped = true;
      t?.destroy();
    },
  };
}

function openWebSocket(WebSocket: typeof import('ws').default, url: string, ev: TransportEvents): Transport {
  let failure: NbdError | null = null;
  let opened = false;
  let gone = false;
  // websockify's ExpectOrigin refuses an upgrade without Origin. Send what a page served by the
  // bridge itself would (ws://h:p/ -> http://h:p), which `webnbd bridge` admits by default.
  const origin = new URL(url).origin.replace(/^ws/, 'http');
  const shown = withoutSecrets(url);
  const ws = new WebSocket(url, ['binary'], { perMessageDeflate: false, origin });
  ws.binaryType = 'nodebuffer';
  const fail = (e: NbdError) => {
    failure ??= e;
  };
  ws.on('open', () => {
    opened = true;
    ev.open();
  });
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) {
      fail(new NbdError(errno.EPROTO, '', 'websocket: the bridge sent a text message; is this a websockify bridge?'));
      ws.terminate();
      return;
    }
    ev.data(view(data));
  });
  ws.on('unexpected-response', (_req, res) => {
    // A bridge that refuses us answers the upgrade with an HTTP error (wrong token, foreign Origin).
    fail(new NbdError(errno.ECONNREFUSED, '', `connect: ${shown}: the bridge refused the WebSocket (HTTP ${res.statusCode} ${res.statusMessage ?? ''})`.trimEnd()));
    ws.terminate();
  });
  ws.on('error', (e: NodeJS.ErrnoException) => {
    const t = tlsFailure(e);
    fail(opened
      ? new NbdError(errnoOf(e), '', `recv: ${shown}: ${e.message}`)
      : t.tls ? new NbdError(t.errno, '', `connect: ${shown}: ${t.detail}`)
      : new NbdError(errnoOf(e), '', `connect: ${shown}: could not connect to the bridge`));
  });
  ws.on('close', (code: number, reason: Buffer) => {
    if (gone) return;
    gone = true;
    if (!failure && opened && code !== 1000) {
      failure = new NbdError(errno.ECONNRESET, '', `recv: the bridge closed the WebSocket (${code}${reason.length ? ` ${reason}` : ''})`);
    }
    if (!failure && !opened) failure = new NbdError(errno.ECONNREFUSED, '', `connect: ${shown}: could not connect to the bridge`);
    ev.close(failure);
  });
  return {
    write(data) {
      if (ws.readyState === WebSocket.OPEN) ws.send(data, { binary: true });
    },
    end() {
      // The server hangs up after NBD_OPT_ABORT and NBD_CMD_DISC; websockify drops data that comes
      // with a close frame, so let it: close ourselves only if it has not within a second.
      const close = () => { if (ws.readyState === WebSocket.OPEN) ws.close(1000); };
      const sent = (): unknown => (ws.bufferedAmount > 0 ? setTimeout(sent, 5) : setTimeout(close, 1000).unref());
      sent();
    },
    destroy() {
      gone = true;
      ws.terminate();
    },
  };
}

/** libnbd's default PSK identity: the local user's name. */
const localUser = (): string => {
  try {
    return os.userInfo().username;
  } catch {
    return process.env['LOGNAME'] ?? process.env['USER'] ?? '';
  }
};

export const nodeTransports: Transports = {
  tcp: (t: Target & { kind: 'tcp' }, ev, o) =>
    socketTransport(net.connect({ host: t.host, port: t.port, ...(o?.tls ? {} : readInto(ev)) }), `${t.host}:${t.port}`, ev, o?.tls),
  unix: (t: Target & { kind: 'unix' }, ev, o) => socketTransport(net.connect({ path: t.path, ...(o?.tls ? {} : readInto(ev)) }), t.path, ev, o?.tls),
  websocket: (t: Target & { kind: 'websocket' }, ev) => webSocketTransport(t.url, ev),
  tls: { localUser },
} as Transports;
