// The browser's WebSocket as a Transport, for a websockify bridge. websockify frames by TCP read
// (≤ 64 KiB), so a message is only "more bytes": the handle reassembles NBD messages itself.

import { NbdError, errno } from '../core/errors.js';
import type { Target, Transport, TransportEvents, Transports } from '../core/transport.js';
import { withoutSecrets } from '../core/uri.js';

/** Above this many unsent bytes, writes wait in our queue (the browser has no 'drain' event). */
const HIGH_WATER = 8 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;
/**
 * After NBD_OPT_ABORT or NBD_CMD_DISC the server hangs up by itself. websockify drops client data
 * that arrives together with a close frame, so the last message would be lost if we closed at
 * once: wait for the server, closing ourselves only if it has not hung up within this time.
 */
export const END_GRACE_MS = 1000;

export function webSocketTransport(url: string, ev: TransportEvents): Transport {
  let opened = false;
  let gone = false;
  let queue: Uint8Array<ArrayBuffer>[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  const ws = new WebSocket(url, ['binary']);
  ws.binaryType = 'arraybuffer';

  const flush = () => {
    timer = null;
    while (queue.length && ws.readyState === WebSocket.OPEN && ws.bufferedAmount < LOW_WATER) ws.send(queue.shift()!);
    if (queue.length && ws.readyState === WebSocket.OPEN) timer = setTimeout(flush, 2);
  };

  ws.onopen = () => {
    opened = true;
    ev.open();
  };
  ws.onmessage = (m: MessageEvent) => {
    if (typeof m.data === 'string') {
      finish(new NbdError(errno.EPROTO, '', 'websocket: the bridge sent a text message; is this a websockify bridge?'));
      ws.close();
      return;
    }
    const data = m.data as ArrayBuffer & { transfer?(length: number): ArrayBuffer };
    ev.data(new Uint8Array(data));
    // The handle has copied what it needs (a chunk is valid only during the call): hand the
    // message's memory back now. Left to the collector, received messages pile up to V8's
    // external-memory limit (64 MiB) before it runs.
    data.transfer?.(0);
  };
  // Browsers hide why a WebSocket failed; the close event that follows says what little is known.
  ws.onerror = () => {};
  ws.onclose = (e: CloseEvent) => {
    if (!opened) {
      finish(new NbdError(errno.ECONNREFUSED, '', `connect: ${withoutSecrets(url)}: could not connect to the bridge (refused, wrong token or origin not allowed)`));
    } else if (e.code !== 1000) {
      finish(new NbdError(errno.ECONNRESET, '', `recv: the bridge closed the WebSocket (${e.code}${e.reason ? ` ${e.reason}` : ''})`));
    } else {
      // websockify closes with 1000 "Target closed" when the NBD server hangs up.
      finish(null);
    }
  };
  const finish = (e: NbdError | null) => {
    if (gone) return;
    gone = true;
    if (timer !== null) clearTimeout(timer);
    queue = [];
    ev.close(e);
  };

  return {
    write(data) {
      if (gone || ws.readyState !== WebSocket.OPEN) return;
      // send() refuses views of a SharedArrayBuffer; copy those (writes are the rare direction).
      const bytes = (data.buffer instanceof ArrayBuffer ? data : data.slice()) as Uint8Array<ArrayBuffer>;
      if (queue.length || ws.bufferedAmount > HIGH_WATER) {
        // The caller's buffer stays valid until its command completes, so no copy is needed.
        queue.push(bytes);
        if (timer === null) timer = setTimeout(flush, 2);
      } else {
        ws.send(bytes);
      }
    },
    end() {
      if (queue.length) flush();
      const close = () => { if (ws.readyState === WebSocket.OPEN) ws.close(1000); };
      const sent = () => (queue.length || ws.bufferedAmount > 0 ? setTimeout(sent, 5) : setTimeout(close, END_GRACE_MS));
      sent();
    },
    destroy() {
      gone = true;
      if (timer !== null) clearTimeout(timer);
      queue = [];
      ws.onclose = ws.onmessage = ws.onopen = null;
      ws.close();
    },
  };
}

export const browserTransports: Transports = {
  websocket: (t: Target, ev: TransportEvents) => webSocketTransport((t as Target & { kind: 'websocket' }).url, ev),
};
