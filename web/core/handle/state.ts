// The handle's state as plain data, as h11's ConnectionState keeps it apart from any I/O: what the
// caller set (settings) and what the connection has come to (its state, the negotiated facts, the
// export). The worker's engine changes it; the page's client holds a copy, kept from the worker's
// messages, and answers getters and checks calls from it without a second engine.

import { NbdError, errno, type NbdErrorData } from '../errors.js';
import { STATES, type Next, type PublicState, type State } from '../states.js';
import type { Target } from '../transport.js';
import * as T from '../types.js';

/** What the server told us about the export (NBD_INFO_* or the older handshakes). */
export interface ExportInfo {
  size: bigint;
  flags: number;
  minimum: number;
  preferred: number;
  maximum: number;
  name: string | null;
  description: string | null;
}

export type Protocol = 'oldstyle' | 'newstyle' | 'newstyle-fixed';

/** nbd_set_* (libnbd's lib/handle.c): set by the caller, read by the handshake and the checks. */
export interface Settings {
  handleName: string;
  exportName: string;
  requestStructuredReplies: boolean;
  requestExtendedHeaders: boolean;
  requestMetaContext: boolean;
  requestBlockSize: boolean;
  /** Meta contexts to ask for (nbd_add_meta_context). */
  metaContexts: string[];
  optMode: boolean;
  fullInfo: boolean;
  handshakeFlags: number;
  strictMode: number;
  preadInitialize: boolean;
  debug: boolean;
  /** nbd_set_tls: LIBNBD_TLS_DISABLE, _ALLOW or _REQUIRE. */
  tls: number;
  /** Whether this environment can do TLS (Node can; a browser's TLS is wss:// to the bridge). */
  tlsAvailable: boolean;
  /** nbd_set_tls_certificates: the directory of ca-cert.pem, client-cert.pem, client-key.pem. */
  tlsCertificates: string | null;
  tlsVerifyPeer: boolean;
  /** The PSK identity as set ("" until then: the local user's name is meant). */
  tlsUsername: string;
  /** The local user's name, where the environment knows it. */
  localUser: string;
  tlsPskFile: string | null;
  /** nbd_set_tls_hostname: checked against the server's certificate instead of the connect host. */
  tlsHostname: string;
  socketActivationName: string;
}

/** What the connection has come to. The worker sends this part to the page. */
export interface Connection {
  state: State;
  target: Target | null;
  protocol: Protocol | null;
  structuredReplies: boolean;
  extendedHeaders: boolean;
  tlsNegotiated: boolean;
  /** Negotiated meta contexts: [id, name] (NBD_REP_META_CONTEXT). */
  metaContexts: [number, string][];
  info: ExportInfo | null;
  /** We sent NBD_CMD_DISC or NBD_OPT_ABORT: the server closing is expected. */
  closing: boolean;
  /** The server said ESHUTDOWN: no new commands; disconnect once those in flight are done. */
  serverShutdown: boolean;
  /** Why the handle died (or was closed). */
  death: NbdErrorData | null;
  bytesSent: number;
  chunksSent: number;
  bytesReceived: number;
  chunksReceived: number;
}

export interface HandleState {
  settings: Settings;
  conn: Connection;
}

let handles = 0;

export const newConnection = (): Connection => ({
  state: 'START', target: null, protocol: null, structuredReplies: false, extendedHeaders: false, tlsNegotiated: false, metaContexts: [],
  info: null, closing: false, serverShutdown: false, death: null, bytesSent: 0, chunksSent: 0, bytesReceived: 0, chunksReceived: 0,
});

export const newHandleState = (): HandleState => ({
  settings: {
    handleName: `nbd${++handles}`, exportName: '', requestStructuredReplies: true, requestExtendedHeaders: true,
    requestMetaContext: true, requestBlockSize: true, metaContexts: [], optMode: false, fullInfo: false,
    handshakeFlags: T.HANDSHAKE_FLAG_FIXED_NEWSTYLE | T.HANDSHAKE_FLAG_NO_ZEROES, strictMode: T.STRICT_MASK,
    preadInitialize: true, debug: false, tls: T.TLS_DISABLE, tlsAvailable: false, tlsCertificates: null, tlsVerifyPeer: true,
    tlsUsername: '', localUser: '', tlsPskFile: null, tlsHostname: '', socketActivationName: '',
  },
  conn: newConnection(),
});

export const publicState = (s: HandleState): PublicState => STATES[s.conn.state].public;

/** Move along a legal edge (states.ts TRANSITIONS); the compiler rejects any other. */
export function goto<F extends State>(s: HandleState, from: F, to: Next<F>): void {
  if (s.conn.state !== from) throw new Error(`internal error: goto ${to} from ${s.conn.state}, expected ${from}`);
  s.conn.state = to;
}

/** The handle is dead (any state may die): `err` is what every later call reports. */
export function toDead(s: HandleState, err: NbdError): void {
  s.conn.death = err.toData();
  s.conn.state = 'DEAD';
}

/** nbd_close: closed, unless already dead; calls after it report `err`. */
export function toClosed(s: HandleState, err: NbdError): void {
  if (s.conn.state !== 'DEAD') s.conn.state = 'CLOSED';
  s.conn.death ??= err.toData();
}

/** The death as an error to throw, or `fallback` if the handle has not died. */
export const deathOf = (s: HandleState, fallback: string): NbdError =>
  s.conn.death ? NbdError.fromData(s.conn.death) : new NbdError(errno.ENOTCONN, '', fallback);

/** nbd_aio_is_* and nbd_connection_state (libnbd's lib/aio.c). */
export const STATE_CALLS = {
  aioIsCreated: (s: HandleState): boolean => publicState(s) === 'created',
  aioIsConnecting: (s: HandleState): boolean => publicState(s) === 'connecting',
  aioIsNegotiating: (s: HandleState): boolean => publicState(s) === 'negotiating',
  aioIsReady: (s: HandleState): boolean => publicState(s) === 'ready',
  aioIsProcessing: (s: HandleState): boolean => publicState(s) === 'processing',
  aioIsDead: (s: HandleState): boolean => publicState(s) === 'dead',
  aioIsClosed: (s: HandleState): boolean => publicState(s) === 'closed',
  connectionState: (s: HandleState): string => `${s.conn.state}: ${STATES[s.conn.state].doc}`,
};
