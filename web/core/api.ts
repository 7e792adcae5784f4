// Every call of the handle, listed once, as libnbd's generator/API.ml lists them: its libnbd name,
// arguments, result, permitted states, what kind of call it is, the NBD command it sends, its aio
// twin, where it runs when the handle lives in a worker, and the libnbd version that added it.
// From this table come NbdHandle's state guards and argument checks (handle/wrappers.ts), the
// page client's and the worker's dispatch (web/browser), and the C API (wasm/runtime).

import * as P from './protocol.js';
import type { Permitted } from './states.js';
import type * as T from './types.js';

/**
 * Argument kinds. A trailing "?" marks an optional argument.
 * strings: a list of strings (C: a NULL-terminated char **);
 * buf-out: a Uint8Array the call fills; buf-in: a Uint8Array the call sends;
 * u64: number | bigint in [0, 2^64); service: a port, as a string or a number;
 * callbacks may carry libnbd's free hook.
 */
export type ArgKind =
  | 'string' | 'strings' | 'service' | 'bool' | 'int' | 'uint32' | 'flags' | 'u64' | 'cookie' | 'timeout'
  | 'buf-out' | 'buf-in'
  | 'completion' | 'chunk' | 'extent' | 'extent64' | 'list' | 'context' | 'debug'
  /** webnbd's { signal, timeout } of commands, connect and opt calls (types.ts CommandOptions); not in libnbd's C API. */
  | 'options';
export type Arg = ArgKind | `${ArgKind}?`;

export type RetKind = 'void' | 'bool' | 'int' | 'cookie' | 'u64' | 'string' | 'string?';

/** The callback kinds (libnbd's closures), in one place. */
export const CALLBACK_KINDS = ['completion', 'chunk', 'extent', 'extent64', 'list', 'context', 'debug'] as const;
export type CallbackKind = (typeof CALLBACK_KINDS)[number];
/** Callbacks that run while their command is in flight and whose result can fail it. */
export const MID_COMMAND_CALLBACKS: readonly CallbackKind[] = ['chunk', 'extent', 'extent64'];

export const kindOf = (a: Arg): ArgKind => (a.endsWith('?') ? a.slice(0, -1) : a) as ArgKind;
export const isCallback = (k: ArgKind): k is CallbackKind => (CALLBACK_KINDS as readonly string[]).includes(k);

/** What a call is; the page client, the worker and the C runtime dispatch on it. */
export type Kind =
  /** nbd_set_*, nbd_add_*, nbd_clear_*: kept in the handle state (handle/settings.ts). */
  | 'setting'
  /** nbd_get_*, nbd_is_*, nbd_can_*, nbd_stats_*: read from the handle state (handle/flags.ts). */
  | 'getter'
  /** nbd_aio_is_*, nbd_connection_state (handle/state.ts). */
  | 'state'
  /** nbd_set_debug_callback, nbd_clear_debug_callback: a function, so never part of the handle state. */
  | 'debug'
  | 'connect'
  | 'opt'
  /** nbd_aio_pread and friends: one NBD_CMD_* with a cookie (handle/rw.ts). */
  | 'aio-command'
  /** nbd_pread and friends: the aio twin plus a wait (libnbd's lib/rw.c). */
  | 'sync-command'
  /** nbd_aio_command_completed, nbd_aio_peek_command_completed, nbd_aio_in_flight: the cookies. */
  | 'completion'
  | 'poll'
  /** nbd_aio_disconnect, nbd_shutdown, nbd_close. */
  | 'lifecycle';

/**
 * Where a call runs when the handle lives in a worker (web/browser): on the page alone, from its
 * copy of the handle state or its cookies (nothing is posted); in the worker, the page only
 * guarding it; or both: checked and kept on the page, carried out in the worker.
 */
export type Runs = 'page' | 'worker' | 'both';

/** The libnbd version that added a call; 'webnbd' for webnbd's own. */
export type Version = `1.${number}` | 'webnbd';

export interface Row {
  /** The libnbd C name; also the context of every error the call reports. */
  c: string;
  kind: Kind;
  args: readonly Arg[];
  ret: RetKind;
  /** The call returns a Promise (libnbd's blocking calls). */
  async?: true;
  /** Permitted states; any state when omitted. */
  states?: readonly Permitted[] | undefined;
  /** The NBD_CMD_* a command sends. */
  cmd?: number;
  /** A blocking call's aio twin: its arguments are the twin's without the completion callback. */
  aio?: string;
  runs: Runs;
  since: Version;
}

export interface Call extends Row {
  /** The callback kinds among the arguments, in order (derived from `args`). */
  callbacks: readonly CallbackKind[];
}

const CREATED = ['created'] as const;
const CREATED_NEG = ['created', 'negotiating'] as const;
const NEG = ['negotiating'] as const;
const CONNECTED = ['connected'] as const;
const INFO = ['negotiating', 'connected', 'closed'] as const;
const AFTER = ['connected', 'closed', 'dead'] as const;
type States = readonly Permitted[] | undefined;

const set = <const A extends Arg>(c: string, arg: A, since: Version, states?: States, runs: Runs = 'both') =>
  ({ c, kind: 'setting', args: [arg], ret: 'void', states, runs, since }) as const;
const get = <const R extends RetKind>(c: string, ret: R, since: Version, states?: States) =>
  ({ c, kind: 'getter', args: [], ret, states, runs: 'page', since }) as const;
const is = (c: string, since: Version) => ({ c, kind: 'state', args: [], ret: 'bool', runs: 'page', since }) as const;
const connect = <const W extends string, const A extends readonly Arg[]>(c: string, aio: W, args: A, since: Version) =>
  ({ c, kind: 'connect', aio, args, ret: 'void', async: true, states: CREATED, runs: 'worker', since }) as const;
const aioConnect = <const A extends readonly Arg[]>(c: string, args: A, since: Version) =>
  ({ c, kind: 'connect', args, ret: 'void', states: CREATED, runs: 'both', since }) as const;
const opt = <const W extends string, const A extends readonly Arg[], const R extends RetKind>(c: string, aio: W, args: A, ret: R, since: Version) =>
  ({ c, kind: 'opt', aio, args, ret, async: true, states: NEG, runs: 'worker', since }) as const;
const aioOpt = <const A extends readonly Arg[]>(c: string, args: A, since: Version) =>
  ({ c, kind: 'opt', args, ret: 'void', states: NEG, runs: 'both', since }) as const;
const aioCommand = <const A extends readonly Arg[]>(c: string, cmd: number, args: A, since: Version = '1.0') =>
  ({ c, kind: 'aio-command', cmd, args, ret: 'cookie', states: CONNECTED, runs: 'both', since }) as const;
const command = <const W extends string, const A extends readonly Arg[]>(c: string, aio: W, cmd: number, args: A, since: Version = '1.0') =>
  ({ c, kind: 'sync-command', aio, cmd, args, ret: 'void', async: true, states: CONNECTED, runs: 'both', since }) as const;

const ROWS = {
  // Settings (libnbd's lib/handle.c, debug.c).
  setDebug: set('nbd_set_debug', 'bool', '1.0'),
  getDebug: get('nbd_get_debug', 'bool', '1.0'),
  setDebugCallback: { c: 'nbd_set_debug_callback', kind: 'debug', args: ['debug'], ret: 'void', runs: 'both', since: '1.0' },
  clearDebugCallback: { c: 'nbd_clear_debug_callback', kind: 'debug', args: [], ret: 'void', runs: 'both', since: '1.0' },
  setHandleName: set('nbd_set_handle_name', 'string', '1.0'),
  getHandleName: get('nbd_get_handle_name', 'string', '1.0'),
  setExportName: set('nbd_set_export_name', 'string', '1.0', CREATED_NEG),
  getExportName: get('nbd_get_export_name', 'string', '1.0'),
  setRequestBlockSize: set('nbd_set_request_block_size', 'bool', '1.12', CREATED_NEG),
  getRequestBlockSize: get('nbd_get_request_block_size', 'bool', '1.12'),
  setFullInfo: set('nbd_set_full_info', 'bool', '1.4', CREATED_NEG),
  getFullInfo: get('nbd_get_full_info', 'bool', '1.4'),
  setTls: set('nbd_set_tls', 'int', '1.0', CREATED_NEG),
  getTls: get('nbd_get_tls', 'int', '1.0'),
  getTlsNegotiated: get('nbd_get_tls_negotiated', 'bool', '1.2', INFO),
  setRequestStructuredReplies: set('nbd_set_request_structured_replies', 'bool', '1.2', CREATED),
  getRequestStructuredReplies: get('nbd_get_request_structured_replies', 'bool', '1.2'),
  getStructuredRepliesNegotiated: get('nbd_get_structured_replies_negotiated', 'bool', '1.2', INFO),
  setRequestExtendedHeaders: set('nbd_set_request_extended_headers', 'bool', '1.18', CREATED),
  getRequestExtendedHeaders: get('nbd_get_request_extended_headers', 'bool', '1.18'),
  getExtendedHeadersNegotiated: get('nbd_get_extended_headers_negotiated', 'bool', '1.18', INFO),
  setRequestMetaContext: set('nbd_set_request_meta_context', 'bool', '1.16', CREATED_NEG),
  getRequestMetaContext: get('nbd_get_request_meta_context', 'bool', '1.16'),
  setHandshakeFlags: set('nbd_set_handshake_flags', 'flags', '1.2', CREATED),
  getHandshakeFlags: get('nbd_get_handshake_flags', 'int', '1.2'),
  // The page zeroes read buffers before they leave it; the worker's handle never needs to.
  setPreadInitialize: set('nbd_set_pread_initialize', 'bool', '1.12', undefined, 'page'),
  getPreadInitialize: get('nbd_get_pread_initialize', 'bool', '1.12'),
  setStrictMode: set('nbd_set_strict_mode', 'flags', '1.6'),
  getStrictMode: get('nbd_get_strict_mode', 'int', '1.6'),
  setOptMode: set('nbd_set_opt_mode', 'bool', '1.4', CREATED),
  getOptMode: get('nbd_get_opt_mode', 'bool', '1.4'),
  addMetaContext: set('nbd_add_meta_context', 'string', '1.0', CREATED_NEG),
  getNrMetaContexts: get('nbd_get_nr_meta_contexts', 'int', '1.6'),
  getMetaContext: { c: 'nbd_get_meta_context', kind: 'getter', args: ['int'], ret: 'string', runs: 'page', since: '1.6' },
  clearMetaContexts: { c: 'nbd_clear_meta_contexts', kind: 'setting', args: [], ret: 'void', states: CREATED_NEG, runs: 'both', since: '1.6' },
  // TLS (lib/crypto.c): where the handle's environment has no TLS (a browser), setting a
  // certificate directory or PSK file fails with ENOTSUP; names and flags are kept regardless.
  setTlsCertificates: set('nbd_set_tls_certificates', 'string', '1.0', CREATED),
  setTlsVerifyPeer: set('nbd_set_tls_verify_peer', 'bool', '1.0', CREATED),
  getTlsVerifyPeer: get('nbd_get_tls_verify_peer', 'bool', '1.0'),
  setTlsUsername: set('nbd_set_tls_username', 'string', '1.0', CREATED),
  getTlsUsername: get('nbd_get_tls_username', 'string', '1.0'),
  setTlsPskFile: set('nbd_set_tls_psk_file', 'string', '1.0', CREATED),
  setTlsHostname: set('nbd_set_tls_hostname', 'string', '1.22', CREATED),
  getTlsHostname: get('nbd_get_tls_hostname', 'string', '1.22'),
  setSocketActivationName: set('nbd_set_socket_activation_name', 'string', '1.16', CREATED),
  getSocketActivationName: get('nbd_get_socket_activation_name', 'string', '1.16'),
  // What this libnbd is and can do (lib/handle.c, lib/uri.c).
  getPackageName: get('nbd_get_package_name', 'string', '1.0'),
  getVersion: get('nbd_get_version', 'string', '1.0'),
  getVersionExtra: get('nbd_get_version_extra', 'string', '1.24'),
  supportsTls: get('nbd_supports_tls', 'bool', '1.0'),
  supportsVsock: get('nbd_supports_vsock', 'bool', '1.16'),
  supportsUri: get('nbd_supports_uri', 'bool', '1.0'),
  isUri: { c: 'nbd_is_uri', kind: 'getter', args: ['string'], ret: 'bool', runs: 'page', since: '1.22' },
  getSubprocessPid: get('nbd_get_subprocess_pid', 'u64', '1.22'),
  getHandleSize: get('nbd_get_handle_size', 'int', '1.24'),

  // Connecting (lib/connect.c).
  connectUri: connect('nbd_connect_uri', 'aioConnectUri', ['string', 'options?'], '1.0'),
  aioConnectUri: aioConnect('nbd_aio_connect_uri', ['string', 'options?'], '1.0'),
  connectTcp: connect('nbd_connect_tcp', 'aioConnectTcp', ['string', 'service', 'options?'], '1.0'),
  aioConnectTcp: aioConnect('nbd_aio_connect_tcp', ['string', 'service', 'options?'], '1.0'),
  connectUnix: connect('nbd_connect_unix', 'aioConnectUnix', ['string', 'options?'], '1.0'),
  aioConnectUnix: aioConnect('nbd_aio_connect_unix', ['string', 'options?'], '1.0'),
  connectWebsocket: connect('nbd_connect_websocket', 'aioConnectWebsocket', ['string', 'options?'], 'webnbd'),
  aioConnectWebsocket: aioConnect('nbd_aio_connect_websocket', ['string', 'options?'], 'webnbd'),

  // Option negotiation in opt mode (lib/opt.c).
  optGo: opt('nbd_opt_go', 'aioOptGo', ['options?'], 'void', '1.4'),
  aioOptGo: aioOpt('nbd_aio_opt_go', ['completion?', 'options?'], '1.4'),
  optAbort: opt('nbd_opt_abort', 'aioOptAbort', [], 'void', '1.4'),
  aioOptAbort: aioOpt('nbd_aio_opt_abort', [], '1.4'),
  optList: opt('nbd_opt_list', 'aioOptList', ['list', 'options?'], 'int', '1.4'),
  aioOptList: aioOpt('nbd_aio_opt_list', ['list', 'completion?', 'options?'], '1.4'),
  optInfo: opt('nbd_opt_info', 'aioOptInfo', ['options?'], 'void', '1.4'),
  aioOptInfo: aioOpt('nbd_aio_opt_info', ['completion?', 'options?'], '1.4'),
  optListMetaContext: opt('nbd_opt_list_meta_context', 'aioOptListMetaContext', ['context', 'options?'], 'int', '1.6'),
  aioOptListMetaContext: aioOpt('nbd_aio_opt_list_meta_context', ['context', 'completion?', 'options?'], '1.6'),
  optListMetaContextQueries: opt('nbd_opt_list_meta_context_queries', 'aioOptListMetaContextQueries', ['strings', 'context', 'options?'], 'int', '1.16'),
  aioOptListMetaContextQueries: aioOpt('nbd_aio_opt_list_meta_context_queries', ['strings', 'context', 'completion?', 'options?'], '1.16'),
  optSetMetaContext: opt('nbd_opt_set_meta_context', 'aioOptSetMetaContext', ['context', 'options?'], 'int', '1.16'),
  aioOptSetMetaContext: aioOpt('nbd_aio_opt_set_meta_context', ['context', 'completion?', 'options?'], '1.16'),
  optSetMetaContextQueries: opt('nbd_opt_set_meta_context_queries', 'aioOptSetMetaContextQueries', ['strings', 'context', 'options?'], 'int', '1.16'),
  aioOptSetMetaContextQueries: aioOpt('nbd_aio_opt_set_meta_context_queries', ['strings', 'context', 'completion?', 'options?'], '1.16'),
  optStructuredReply: opt('nbd_opt_structured_reply', 'aioOptStructuredReply', ['options?'], 'bool', '1.16'),
  aioOptStructuredReply: aioOpt('nbd_aio_opt_structured_reply', ['completion?', 'options?'], '1.16'),
  optStarttls: opt('nbd_opt_starttls', 'aioOptStarttls', ['options?'], 'bool', '1.16'),
  aioOptStarttls: aioOpt('nbd_aio_opt_starttls', ['completion?', 'options?'], '1.16'),
  optExtendedHeaders: opt('nbd_opt_extended_headers', 'aioOptExtendedHeaders', ['options?'], 'bool', '1.18'),
  aioOptExtendedHeaders: aioOpt('nbd_aio_opt_extended_headers', ['completion?', 'options?'], '1.18'),

  // State (lib/aio.c).
  aioIsCreated: is('nbd_aio_is_created', '1.0'),
  aioIsConnecting: is('nbd_aio_is_connecting', '1.0'),
  aioIsNegotiating: is('nbd_aio_is_negotiating', '1.4'),
  aioIsReady: is('nbd_aio_is_ready', '1.0'),
  aioIsProcessing: is('nbd_aio_is_processing', '1.0'),
  aioIsDead: is('nbd_aio_is_dead', '1.0'),
  aioIsClosed: is('nbd_aio_is_closed', '1.0'),
  connectionState: { c: 'nbd_connection_state', kind: 'state', args: [], ret: 'string', runs: 'page', since: '1.0' },

  // What the server said about the export (lib/flags.c).
  getSize: get('nbd_get_size', 'u64', '1.0', INFO),
  getBlockSize: { c: 'nbd_get_block_size', kind: 'getter', args: ['int'], ret: 'int', states: INFO, runs: 'page', since: '1.4' },
  isReadOnly: get('nbd_is_read_only', 'bool', '1.0', INFO),
  canFlush: get('nbd_can_flush', 'bool', '1.0', INFO),
  canFua: get('nbd_can_fua', 'bool', '1.0', INFO),
  isRotational: get('nbd_is_rotational', 'bool', '1.0', INFO),
  canTrim: get('nbd_can_trim', 'bool', '1.0', INFO),
  canZero: get('nbd_can_zero', 'bool', '1.0', INFO),
  canFastZero: get('nbd_can_fast_zero', 'bool', '1.2', INFO),
  canDf: get('nbd_can_df', 'bool', '1.0', INFO),
  canMultiConn: get('nbd_can_multi_conn', 'bool', '1.0', INFO),
  canCache: get('nbd_can_cache', 'bool', '1.0', INFO),
  canBlockStatusPayload: get('nbd_can_block_status_payload', 'bool', '1.18', INFO),
  canMetaContext: { c: 'nbd_can_meta_context', kind: 'getter', args: ['string'], ret: 'bool', states: INFO, runs: 'page', since: '1.0' },
  getProtocol: get('nbd_get_protocol', 'string', '1.2', INFO),
  getCanonicalExportName: get('nbd_get_canonical_export_name', 'string', '1.4', INFO),
  getExportDescription: get('nbd_get_export_description', 'string', '1.4', INFO),
  getUri: get('nbd_get_uri', 'string', '1.8'),
  statsBytesSent: get('nbd_stats_bytes_sent', 'u64', '1.16'),
  statsChunksSent: get('nbd_stats_chunks_sent', 'u64', '1.16'),
  statsBytesReceived: get('nbd_stats_bytes_received', 'u64', '1.16'),
  statsChunksReceived: get('nbd_stats_chunks_received', 'u64', '1.16'),

  // Commands (lib/rw.c): each sync call is its aio twin plus a wait.
  pread: command('nbd_pread', 'aioPread', P.NBD_CMD_READ, ['buf-out', 'u64', 'flags?', 'options?']),
  aioPread: aioCommand('nbd_aio_pread', P.NBD_CMD_READ, ['buf-out', 'u64', 'completion?', 'flags?', 'options?']),
  preadStructured: command('nbd_pread_structured', 'aioPreadStructured', P.NBD_CMD_READ, ['buf-out', 'u64', 'chunk', 'flags?', 'options?']),
  aioPreadStructured: aioCommand('nbd_aio_pread_structured', P.NBD_CMD_READ, ['buf-out', 'u64', 'chunk', 'completion?', 'flags?', 'options?']),
  pwrite: command('nbd_pwrite', 'aioPwrite', P.NBD_CMD_WRITE, ['buf-in', 'u64', 'flags?', 'options?']),
  aioPwrite: aioCommand('nbd_aio_pwrite', P.NBD_CMD_WRITE, ['buf-in', 'u64', 'completion?', 'flags?', 'options?']),
  flush: command('nbd_flush', 'aioFlush', P.NBD_CMD_FLUSH, ['flags?', 'options?']),
  aioFlush: aioCommand('nbd_aio_flush', P.NBD_CMD_FLUSH, ['completion?', 'flags?', 'options?']),
  trim: command('nbd_trim', 'aioTrim', P.NBD_CMD_TRIM, ['u64', 'u64', 'flags?', 'options?']),
  aioTrim: aioCommand('nbd_aio_trim', P.NBD_CMD_TRIM, ['u64', 'u64', 'completion?', 'flags?', 'options?']),
  cache: command('nbd_cache', 'aioCache', P.NBD_CMD_CACHE, ['u64', 'u64', 'flags?', 'options?']),
  aioCache: aioCommand('nbd_aio_cache', P.NBD_CMD_CACHE, ['u64', 'u64', 'completion?', 'flags?', 'options?']),
  zero: command('nbd_zero', 'aioZero', P.NBD_CMD_WRITE_ZEROES, ['u64', 'u64', 'flags?', 'options?']),
  aioZero: aioCommand('nbd_aio_zero', P.NBD_CMD_WRITE_ZEROES, ['u64', 'u64', 'completion?', 'flags?', 'options?']),
  blockStatus: command('nbd_block_status', 'aioBlockStatus', P.NBD_CMD_BLOCK_STATUS, ['u64', 'u64', 'extent', 'flags?', 'options?']),
  aioBlockStatus: aioCommand('nbd_aio_block_status', P.NBD_CMD_BLOCK_STATUS, ['u64', 'u64', 'extent', 'completion?', 'flags?', 'options?']),
  blockStatus64: command('nbd_block_status_64', 'aioBlockStatus64', P.NBD_CMD_BLOCK_STATUS, ['u64', 'u64', 'extent64', 'flags?', 'options?'], '1.18'),
  aioBlockStatus64: aioCommand('nbd_aio_block_status_64', P.NBD_CMD_BLOCK_STATUS, ['u64', 'u64', 'extent64', 'completion?', 'flags?', 'options?'], '1.18'),
  blockStatusFilter: command('nbd_block_status_filter', 'aioBlockStatusFilter', P.NBD_CMD_BLOCK_STATUS, ['u64', 'u64', 'strings', 'extent64', 'flags?', 'options?'], '1.18'),
  aioBlockStatusFilter: aioCommand('nbd_aio_block_status_filter', P.NBD_CMD_BLOCK_STATUS, ['u64', 'u64', 'strings', 'extent64', 'completion?', 'flags?', 'options?'], '1.18'),

  // Completion and waiting (lib/aio.c, lib/poll.c).
  aioCommandCompleted: { c: 'nbd_aio_command_completed', kind: 'completion', args: ['cookie'], ret: 'bool', states: AFTER, runs: 'page', since: '1.0' },
  aioPeekCommandCompleted: { c: 'nbd_aio_peek_command_completed', kind: 'completion', args: [], ret: 'cookie', states: AFTER, runs: 'page', since: '1.0' },
  aioInFlight: { c: 'nbd_aio_in_flight', kind: 'completion', args: [], ret: 'int', states: AFTER, runs: 'page', since: '1.0' },
  poll: { c: 'nbd_poll', kind: 'poll', args: ['timeout?'], ret: 'int', async: true, runs: 'both', since: '1.0' },
  // A descriptor of the caller's own can only be -1 here (nbd_poll2(3) then is nbd_poll).
  poll2: { c: 'nbd_poll2', kind: 'poll', args: ['int', 'timeout'], ret: 'int', async: true, runs: 'both', since: '1.16' },

  // Ending (lib/disconnect.c, lib/handle.c).
  aioDisconnect: { c: 'nbd_aio_disconnect', kind: 'lifecycle', args: ['flags?'], ret: 'void', states: CONNECTED, runs: 'worker', since: '1.0' },
  shutdown: { c: 'nbd_shutdown', kind: 'lifecycle', args: ['flags?'], ret: 'void', async: true, states: ['negotiating', 'connected'], runs: 'worker', since: '1.0' },
  close: { c: 'nbd_close', kind: 'lifecycle', args: [], ret: 'void', runs: 'both', since: '1.0' },
} as const satisfies Record<string, Row>;

type Rows = typeof ROWS;

export const API = Object.fromEntries(
  Object.entries(ROWS).map(([name, row]) => [name, { ...row, callbacks: row.args.map(kindOf).filter(isCallback) }]),
) as unknown as { readonly [K in keyof Rows]: Rows[K] & { readonly callbacks: readonly CallbackKind[] } };

export type ApiName = keyof typeof API;

/** Each blocking call's aio twin, and back: the aio form of `optGo` is `aioOptGo`, the blocking form of `aioOptGo` is `optGo`. */
export const BLOCKING_FORM: Readonly<Partial<Record<ApiName, ApiName>>> = Object.fromEntries(
  Object.entries(API).flatMap(([name, row]) => ('aio' in row ? [[row.aio, name]] : [])),
);

// ---- The TypeScript signature each row promises (checked against NbdHandle in handle.ts) ----

/** The TypeScript type of each argument kind. */
export interface ArgTypes {
  string: string; strings: readonly string[]; service: string | number; bool: boolean; int: number; uint32: number; flags: number;
  u64: T.U64; cookie: number; timeout: number; 'buf-out': Uint8Array; 'buf-in': Uint8Array;
  completion: T.Callback<T.CompletionFn>; chunk: T.Callback<T.ChunkFn>; extent: T.Callback<T.ExtentFn>;
  extent64: T.Callback<T.Extent64Fn>; list: T.Callback<T.ListFn>; context: T.Callback<T.ContextFn>;
  debug: T.DebugFn; options: T.CommandOptions;
}

export interface RetTypes {
  void: void; bool: boolean; int: number; cookie: number; u64: bigint; string: string; 'string?': string | null;
}

/** The parameter list of a row's arguments; optional kinds become optional parameters. */
export type Params<A extends readonly Arg[]> = A extends readonly [infer H, ...infer R extends readonly Arg[]]
  ? H extends `${infer K extends ArgKind}?` ? [arg?: ArgTypes[K], ...Params<R>]
  : H extends ArgKind ? [arg: ArgTypes[H], ...Params<R>] : never
  : [];

type Result<R extends Row> = R extends { async: true } ? Promise<RetTypes[R['ret']]> : RetTypes[R['ret']];

/** The method a row describes, e.g. Method<'pread'> = (buf, offset, flags?, opts?) => Promise<void>. */
export type Method<K extends ApiName> = (...args: Params<(typeof API)[K]['args']>) => Result<(typeof API)[K]>;

/** True when two types are identical (not merely assignable). */
export type Same<A, B> = (<G>() => G extends A ? 1 : 2) extends (<G>() => G extends B ? 1 : 2) ? true : false;

/** The names of `K`'s members whose type in `O` is not the method their row describes. */
export type Disagreeing<O, K extends ApiName = ApiName> =
  { [N in K]: N extends keyof O ? (Same<O[N], Method<N>> extends true ? never : N) : N }[K];

type WithoutCompletion<A extends readonly Arg[]> = A extends readonly [infer H, ...infer R extends readonly Arg[]]
  ? H extends 'completion?' ? WithoutCompletion<R> : [H, ...WithoutCompletion<R>]
  : [];
type Twins = {
  [K in ApiName]: (typeof API)[K] extends { aio: infer W }
    ? W extends ApiName ? (Same<WithoutCompletion<(typeof API)[W]['args']>, [...(typeof API)[K]['args']]> extends true ? never : K) : K
    : never
}[ApiName];
/** Compile-time: every `aio` names a row whose arguments are the blocking call's plus a completion. */
export const TWINS_AGREE: [Twins] extends [never] ? true : Twins = true;
