// Every call of the handle, listed once: its libnbd name, its arguments, what it returns and the
// states it is permitted in. From this table come the state guards and argument checks of
// NbdHandle (handle.ts), the worker protocol (web/browser) and the C shim (wasm/).

import type { Permitted } from './states.js';

/**
 * Argument kinds. A trailing "?" marks an optional argument.
 * buf-out: a Uint8Array the call fills; buf-in: a Uint8Array the call sends;
 * u64: number | bigint in [0, 2^64); service: a port, as a string or a number;
 * callbacks may carry libnbd's free hook.
 */
export type ArgKind =
  | 'string' | 'service' | 'bool' | 'int' | 'uint32' | 'flags' | 'u64' | 'cookie' | 'timeout'
  | 'buf-out' | 'buf-in'
  | 'completion' | 'chunk' | 'extent' | 'extent64' | 'list' | 'context' | 'debug'
  /** webnbd's per-command { signal, timeout } (types.ts CommandOptions); not in libnbd's C API. */
  | 'options';
export type Arg = ArgKind | `${ArgKind}?`;

export type RetKind = 'void' | 'bool' | 'int' | 'cookie' | 'u64' | 'string' | 'string?';

export interface Call {
  /** The libnbd C name; also the context of every error the call reports. */
  c: string;
  args: readonly Arg[];
  ret: RetKind;
  /** The call returns a Promise (libnbd's blocking calls). */
  async?: true;
  /** Permitted states; any state when omitted. */
  states?: readonly Permitted[];
}

const CREATED = ['created'] as const;
const CREATED_NEG = ['created', 'negotiating'] as const;
const NEG = ['negotiating'] as const;
const CONNECTED = ['connected'] as const;
const INFO = ['negotiating', 'connected', 'closed'] as const;
const AFTER = ['connected', 'closed', 'dead'] as const;

const get = (c: string, ret: RetKind = 'bool', states?: readonly Permitted[]): Call =>
  states ? { c, args: [], ret, states } : { c, args: [], ret };
const set = (c: string, arg: Arg, states?: readonly Permitted[]): Call =>
  states ? { c, args: [arg], ret: 'void', states } : { c, args: [arg], ret: 'void' };

export const API = {
  // Settings.
  setDebug: set('nbd_set_debug', 'bool'),
  getDebug: get('nbd_get_debug'),
  setDebugCallback: set('nbd_set_debug_callback', 'debug'),
  clearDebugCallback: get('nbd_clear_debug_callback', 'void'),
  setHandleName: set('nbd_set_handle_name', 'string'),
  getHandleName: get('nbd_get_handle_name', 'string'),
  setExportName: set('nbd_set_export_name', 'string', CREATED_NEG),
  getExportName: get('nbd_get_export_name', 'string'),
  setRequestBlockSize: set('nbd_set_request_block_size', 'bool', CREATED_NEG),
  getRequestBlockSize: get('nbd_get_request_block_size'),
  setFullInfo: set('nbd_set_full_info', 'bool', CREATED_NEG),
  getFullInfo: get('nbd_get_full_info'),
  setTls: set('nbd_set_tls', 'int', CREATED_NEG),
  getTls: get('nbd_get_tls', 'int'),
  getTlsNegotiated: get('nbd_get_tls_negotiated', 'bool', INFO),
  setRequestStructuredReplies: set('nbd_set_request_structured_replies', 'bool', CREATED),
  getRequestStructuredReplies: get('nbd_get_request_structured_replies'),
  getStructuredRepliesNegotiated: get('nbd_get_structured_replies_negotiated', 'bool', INFO),
  setRequestExtendedHeaders: set('nbd_set_request_extended_headers', 'bool', CREATED),
  getRequestExtendedHeaders: get('nbd_get_request_extended_headers'),
  getExtendedHeadersNegotiated: get('nbd_get_extended_headers_negotiated', 'bool', INFO),
  setRequestMetaContext: set('nbd_set_request_meta_context', 'bool', CREATED_NEG),
  getRequestMetaContext: get('nbd_get_request_meta_context'),
  setHandshakeFlags: set('nbd_set_handshake_flags', 'flags', CREATED),
  getHandshakeFlags: get('nbd_get_handshake_flags', 'int'),
  setPreadInitialize: set('nbd_set_pread_initialize', 'bool'),
  getPreadInitialize: get('nbd_get_pread_initialize'),
  setStrictMode: set('nbd_set_strict_mode', 'flags'),
  getStrictMode: get('nbd_get_strict_mode', 'int'),
  setOptMode: set('nbd_set_opt_mode', 'bool', CREATED),
  getOptMode: get('nbd_get_opt_mode'),
  addMetaContext: set('nbd_add_meta_context', 'string', CREATED_NEG),
  getNrMetaContexts: get('nbd_get_nr_meta_contexts', 'int'),
  getMetaContext: { c: 'nbd_get_meta_context', args: ['int'], ret: 'string' },
  clearMetaContexts: get('nbd_clear_meta_contexts', 'void', CREATED_NEG),

  // Connecting.
  connectUri: { c: 'nbd_connect_uri', args: ['string'], ret: 'void', async: true, states: CREATED },
  aioConnectUri: { c: 'nbd_aio_connect_uri', args: ['string'], ret: 'void', states: CREATED },
  connectTcp: { c: 'nbd_connect_tcp', args: ['string', 'service'], ret: 'void', async: true, states: CREATED },
  aioConnectTcp: { c: 'nbd_aio_connect_tcp', args: ['string', 'service'], ret: 'void', states: CREATED },
  connectUnix: { c: 'nbd_connect_unix', args: ['string'], ret: 'void', async: true, states: CREATED },
  aioConnectUnix: { c: 'nbd_aio_connect_unix', args: ['string'], ret: 'void', states: CREATED },
  connectWebsocket: { c: 'nbd_connect_websocket', args: ['string'], ret: 'void', async: true, states: CREATED },
  aioConnectWebsocket: { c: 'nbd_aio_connect_websocket', args: ['string'], ret: 'void', states: CREATED },

  // Option negotiation (opt mode).
  optGo: { c: 'nbd_opt_go', args: [], ret: 'void', async: true, states: NEG },
  aioOptGo: { c: 'nbd_aio_opt_go', args: ['completion?'], ret: 'void', states: NEG },
  optAbort: { c: 'nbd_opt_abort', args: [], ret: 'void', async: true, states: NEG },
  aioOptAbort: { c: 'nbd_aio_opt_abort', args: [], ret: 'void', states: NEG },
  optList: { c: 'nbd_opt_list', args: ['list'], ret: 'int', async: true, states: NEG },
  aioOptList: { c: 'nbd_aio_opt_list', args: ['list', 'completion?'], ret: 'void', states: NEG },
  optInfo: { c: 'nbd_opt_info', args: [], ret: 'void', async: true, states: NEG },
  aioOptInfo: { c: 'nbd_aio_opt_info', args: ['completion?'], ret: 'void', states: NEG },
  optListMetaContext: { c: 'nbd_opt_list_meta_context', args: ['context'], ret: 'int', async: true, states: NEG },
  aioOptListMetaContext: { c: 'nbd_aio_opt_list_meta_context', args: ['context', 'completion?'], ret: 'void', states: NEG },

  // State.
  aioIsCreated: get('nbd_aio_is_created'),
  aioIsConnecting: get('nbd_aio_is_connecting'),
  aioIsNegotiating: get('nbd_aio_is_negotiating'),
  aioIsReady: get('nbd_aio_is_ready'),
  aioIsProcessing: get('nbd_aio_is_processing'),
  aioIsDead: get('nbd_aio_is_dead'),
  aioIsClosed: get('nbd_aio_is_closed'),
  connectionState: get('nbd_connection_state', 'string'),

  // What the server said about the export.
  getSize: get('nbd_get_size', 'u64', INFO),
  getBlockSize: { c: 'nbd_get_block_size', args: ['int'], ret: 'int', states: INFO },
  isReadOnly: get('nbd_is_read_only', 'bool', INFO),
  canFlush: get('nbd_can_flush', 'bool', INFO),
  canFua: get('nbd_can_fua', 'bool', INFO),
  isRotational: get('nbd_is_rotational', 'bool', INFO),
  canTrim: get('nbd_can_trim', 'bool', INFO),
  canZero: get('nbd_can_zero', 'bool', INFO),
  canFastZero: get('nbd_can_fast_zero', 'bool', INFO),
  canDf: get('nbd_can_df', 'bool', INFO),
  canMultiConn: get('nbd_can_multi_conn', 'bool', INFO),
  canCache: get('nbd_can_cache', 'bool', INFO),
  canMetaContext: { c: 'nbd_can_meta_context', args: ['string'], ret: 'bool', states: INFO },
  getProtocol: get('nbd_get_protocol', 'string', INFO),
  getCanonicalExportName: get('nbd_get_canonical_export_name', 'string', INFO),
  getExportDescription: get('nbd_get_export_description', 'string', INFO),
  getUri: get('nbd_get_uri', 'string'),
  statsBytesSent: get('nbd_stats_bytes_sent', 'u64'),
  statsChunksSent: get('nbd_stats_chunks_sent', 'u64'),
  statsBytesReceived: get('nbd_stats_bytes_received', 'u64'),
  statsChunksReceived: get('nbd_stats_chunks_received', 'u64'),

  // Commands: each sync call is its aio twin plus a wait.
  pread: { c: 'nbd_pread', args: ['buf-out', 'u64', 'flags?', 'options?'], ret: 'void', async: true, states: CONNECTED },
  aioPread: { c: 'nbd_aio_pread', args: ['buf-out', 'u64', 'completion?', 'flags?', 'options?'], ret: 'cookie', states: CONNECTED },
  preadStructured: { c: 'nbd_pread_structured', args: ['buf-out', 'u64', 'chunk', 'flags?', 'options?'], ret: 'void', async: true, states: CONNECTED },
  aioPreadStructured: { c: 'nbd_aio_pread_structured', args: ['buf-out', 'u64', 'chunk', 'completion?', 'flags?', 'options?'], ret: 'cookie', states: CONNECTED },
  pwrite: { c: 'nbd_pwrite', args: ['buf-in', 'u64', 'flags?', 'options?'], ret: 'void', async: true, states: CONNECTED },
  aioPwrite: { c: 'nbd_aio_pwrite', args: ['buf-in', 'u64', 'completion?', 'flags?', 'options?'], ret: 'cookie', states: CONNECTED },
  flush: { c: 'nbd_flush', args: ['flags?', 'options?'], ret: 'void', async: true, states: CONNECTED },
  aioFlush: { c: 'nbd_aio_flush', args: ['completion?', 'flags?', 'options?'], ret: 'cookie', states: CONNECTED },
  trim: { c: 'nbd_trim', args: ['u64', 'u64', 'flags?', 'options?'], ret: 'void', async: true, states: CONNECTED },
  aioTrim: { c: 'nbd_aio_trim', args: ['u64', 'u64', 'completion?', 'flags?', 'options?'], ret: 'cookie', states: CONNECTED },
  cache: { c: 'nbd_cache', args: ['u64', 'u64', 'flags?', 'options?'], ret: 'void', async: true, states: CONNECTED },
  aioCache: { c: 'nbd_aio_cache', args: ['u64', 'u64', 'completion?', 'flags?', 'options?'], ret: 'cookie', states: CONNECTED },
  zero: { c: 'nbd_zero', args: ['u64', 'u64', 'flags?', 'options?'], ret: 'void', async: true, states: CONNECTED },
  aioZero: { c: 'nbd_aio_zero', args: ['u64', 'u64', 'completion?', 'flags?', 'options?'], ret: 'cookie', states: CONNECTED },
  blockStatus: { c: 'nbd_block_status', args: ['u64', 'u64', 'extent', 'flags?', 'options?'], ret: 'void', async: true, states: CONNECTED },
  aioBlockStatus: { c: 'nbd_aio_block_status', args: ['u64', 'u64', 'extent', 'completion?', 'flags?', 'options?'], ret: 'cookie', states: CONNECTED },
  blockStatus64: { c: 'nbd_block_status_64', args: ['u64', 'u64', 'extent64', 'flags?', 'options?'], ret: 'void', async: true, states: CONNECTED },
  aioBlockStatus64: { c: 'nbd_aio_block_status_64', args: ['u64', 'u64', 'extent64', 'completion?', 'flags?', 'options?'], ret: 'cookie', states: CONNECTED },
  aioDisconnect: { c: 'nbd_aio_disconnect', args: ['flags?'], ret: 'void', states: CONNECTED },

  // Completion and waiting.
  aioCommandCompleted: { c: 'nbd_aio_command_completed', args: ['cookie'], ret: 'bool', states: AFTER },
  aioPeekCommandCompleted: get('nbd_aio_peek_command_completed', 'cookie', AFTER),
  aioInFlight: get('nbd_aio_in_flight', 'int', AFTER),
  poll: { c: 'nbd_poll', args: ['timeout?'], ret: 'int', async: true },

  // Ending.
  shutdown: { c: 'nbd_shutdown', args: ['flags?'], ret: 'void', async: true, states: ['negotiating', 'connected'] },
  close: get('nbd_close', 'void'),
} as const satisfies Record<string, Call>;

export type ApiName = keyof typeof API;
