// The one small interface between the protocol core and the outside world. Node (TCP, Unix,
// WebSocket) and the browser (WebSocket) each implement it; tests use an in-memory pair.

import type { NbdError } from './errors.js';

/** Where to connect. A handle only asks for kinds its environment has registered. */
export type Target =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string }
  | { kind: 'websocket'; url: string };

/** What a transport tells the handle. It calls these from its own event callbacks. */
export interface TransportEvents {
  /** The byte stream is open; the server may speak first. */
  open(): void;
  /**
   * Bytes arrived. `chunk` is valid only during the call: the handle copies what it needs (into
   * the caller's buffer or its own), so a transport may reuse the memory for its next read.
   */
  data(chunk: Uint8Array): void;
  /**
   * Optional, for transports that can read into memory of the handle's choosing: where the next
   * bytes may go, straight from the socket (the rest of a read payload's destination), or null.
   * A chunk handed to `data` in exactly that place is not copied again.
   */
  into?(): Uint8Array | null;
  /** The stream ended. `error` is set when it ended abnormally (refused, reset, bridge failure). */
  close(error: NbdError | null): void;
}

export interface Transport {
  /**
   * Queue bytes for the server, in order. The transport must not hold on to `data` after the
   * call returns unless the caller's buffer stays valid until the command completes, which is
   * the contract of every aio write (libnbd's, too).
   */
  write(data: Uint8Array): void;
  /** Finish sending, then close (after NBD_CMD_DISC or NBD_OPT_ABORT). */
  end(): void;
  /** Tear the connection down now. No events follow. */
  destroy(): void;
}

export type TransportOpener = (target: Target, events: TransportEvents) => Transport;

/** Openers by target kind; an environment registers what it can do. */
export type Transports = Partial<Record<Target['kind'], TransportOpener>>;
