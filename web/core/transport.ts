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
  /**
   * Continue the stream in TLS, as the client (after the server's NBD_REP_ACK to
   * NBD_OPT_STARTTLS), and call `done` once the TLS handshake is over or has failed; later
   * `data` is the decrypted stream; `description` names the TLS version and cipher, for debug
   * messages. Absent where the environment has no TLS.
   */
  startTls?(options: TlsOptions, done: (error: NbdError | null, description?: string) => void): void;
}

/** What the handle's TLS settings ask of the TLS handshake (nbd_set_tls_*). */
export interface TlsOptions {
  /** nbd_set_tls_certificates: ca-cert.pem, client-cert.pem, client-key.pem; null: the defaults. */
  certificates: string | null;
  verifyPeer: boolean;
  /** The name the server's certificate must carry; null: none (a Unix socket, unless set). */
  hostname: string | null;
  /** nbd_set_tls_psk_file: PSK instead of certificates, with this identity. */
  pskFile: string | null;
  username: string;
}

/** What an environment that can do TLS provides beside its transports. */
export interface TlsHost {
  /** The default PSK identity (libnbd: the local user's name). */
  localUser(): string;
}

/** `tls`: the handle may call startTls on this transport (nbd_set_tls is not disable). */
export type TransportOpener = (target: Target, events: TransportEvents, options?: { tls: boolean }) => Transport;

/** Openers by target kind; an environment registers what it can do, and `tls` if it has TLS. */
export type Transports = Partial<Record<Target['kind'], TransportOpener>> & { tls?: TlsHost };
