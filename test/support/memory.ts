// An in-memory connection between an NbdHandle and a scripted server (FakeConn), where the test
// decides how the server's bytes are cut before the handle sees them: whole, one byte at a time,
// or every write split at byte k. Like noVNC's fake WebSocket, it exposes code that assumes neat
// framing; unlike TCP, it is deterministic.

import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { NbdHandle } from '../../web/core/handle.js';
import type { Transport, TransportEvents, Transports } from '../../web/core/transport.js';
import { FakeConn, type ConnHandler } from './fake-conn.js';

export type Split = 'whole' | 'bytes' | number;

/** Cut one server write the way `split` says. */
function cut(b: Uint8Array, split: Split): Uint8Array[] {
  if (split === 'whole' || b.length === 0) return [b];
  if (split === 'bytes') return Array.from(b, (_, i) => b.subarray(i, i + 1));
  return split > 0 && split < b.length ? [b.subarray(0, split), b.subarray(split)] : [b];
}

/** The server's end: just enough of net.Socket for FakeConn. */
class MemorySocket extends EventEmitter {
  destroyed = false;
  writableEnded = false;
  constructor(readonly toClient: (b: Uint8Array) => void, readonly onEnd: (hard: boolean) => void) {
    super();
  }
  write(b: Uint8Array, cb?: (err?: Error) => void): boolean {
    this.toClient(b.slice());
    queueMicrotask(() => cb?.());
    return true;
  }
  end(): void {
    if (this.writableEnded) return;
    this.writableEnded = true;
    this.onEnd(false);
    queueMicrotask(() => this.#closed());
  }
  destroy(): void {
    if (this.destroyed) return;
    this.onEnd(true);
    this.#closed();
  }
  #closed(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
}

export interface MemoryLink {
  transports: Transports;
  /** The server script's outcome (it may throw when the client hangs up; that is fine). */
  served: Promise<void>;
  conn: () => FakeConn | undefined;
}

/** A handle's transports whose every connection is served in memory by `handler`. */
export function memoryLink(handler: ConnHandler, split: Split): MemoryLink {
  let conn: FakeConn | undefined;
  let served: Promise<void> = Promise.resolve();
  const open = (_t: unknown, ev: TransportEvents): Transport => {
    let clientGone = false;
    // Deliver in order, each piece in its own task, as separate WebSocket messages would arrive.
    let chain = Promise.resolve();
    const deliver = (b: Uint8Array) => {
      for (const piece of cut(b, split)) {
        chain = chain.then(() => new Promise<void>((r) => setImmediate(() => { if (!clientGone) ev.data(piece); r(); })));
      }
    };
    const sock = new MemorySocket(deliver, () => {
      chain = chain.then(() => { if (!clientGone) { clientGone = true; ev.close(null); } });
    });
    conn = new FakeConn(sock as unknown as net.Socket);
    // As FakeServer.start does: a finished script closes politely, a failed one hangs up.
    const c = conn;
    served = handler(c).then(() => c.end(), () => c.destroy());
    queueMicrotask(() => ev.open());
    return {
      write(data) {
        const copy = data.slice();
        queueMicrotask(() => { if (!sock.destroyed) sock.emit('data', Buffer.from(copy)); });
      },
      end() {
        queueMicrotask(() => { sock.emit('end'); });
      },
      destroy() {
        clientGone = true;
        queueMicrotask(() => { sock.emit('end'); sock.destroy(); });
      },
    };
  };
  return {
    transports: { tcp: open, unix: open, websocket: open },
    get served() { return served; },
    conn: () => conn,
  };
}

/** A handle connected in memory to `handler` with the given split. */
export function memoryHandle(handler: ConnHandler, split: Split): { h: NbdHandle; link: MemoryLink } {
  const link = memoryLink(handler, split);
  return { h: new NbdHandle({ transports: link.transports }), link };
}
