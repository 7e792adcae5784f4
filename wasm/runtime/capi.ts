// libnbd's C API as webnbd's emscripten port provides it: every function of libnbd 1.14's
// <libnbd.h> in its order, then every newer call of web/core/api.ts (by the version its row gives),
// then webnbd's own. Calls backed by the core take their argument kinds from the API table; this
// table adds only what C needs on top (parameter names, a few C types). From it come
// wasm/include/libnbd.h, wasm/src/calls.c (generate.ts) and the runtime's unpacking of C
// arguments (runtime.ts).

import { API, CALLBACK_KINDS as CALLBACKS, MID_COMMAND_CALLBACKS, kindOf, type ApiName, type ArgKind, type RetKind, type Version } from '../../web/core/api.js';

/** How a C function is implemented. */
export type Impl =
  /** By the core's call of that name, arguments converted by its kinds (the usual case). */
  | { core: ApiName }
  /** By hand in wasm/src/shim.c (handles, errors, private data, settings that only C has). */
  | { shim: true }
  /** Not possible in a browser: fails with ENOTSUP and this reason. */
  | { unsupported: string };

export interface CFunction {
  c: string;
  ret: string;
  /** C parameters after `struct nbd_handle *h` (or all of them when `handle` is false). */
  params: string[];
  impl: Impl;
  /** nbd_create and the error calls take no handle. */
  handle?: false;
  /** libnbd version that added it, for the newer calls beyond the 1.14 reference. */
  since?: string;
  /** A webnbd extension, not a libnbd call. */
  webnbd?: true;
}

/** C type of each argument kind; buffers become (buf, count) and callbacks a struct by value. */
const C_TYPE: Record<ArgKind, string[]> = {
  string: ['const char *'], strings: ['char **'], service: ['const char *'], bool: ['bool'], int: ['int'], uint32: ['uint32_t'],
  flags: ['uint32_t'], u64: ['uint64_t'], cookie: ['uint64_t'], timeout: ['int'],
  'buf-out': ['void *'], 'buf-in': ['const void *'],
  completion: ['nbd_completion_callback'], chunk: ['nbd_chunk_callback'], extent: ['nbd_extent_callback'],
  extent64: ['nbd_extent64_callback'], list: ['nbd_list_callback'], context: ['nbd_context_callback'],
  debug: ['nbd_debug_callback'], options: [],
};

const C_RET: Record<RetKind, string> = {
  void: 'int', bool: 'int', int: 'int', cookie: 'int64_t', u64: 'int64_t', string: 'char *', 'string?': 'char *',
};

/** Kinds whose C parameter names are fixed; the rest are named by the `names` list, in order. */
const FIXED: Partial<Record<ArgKind, string>> = { flags: 'flags', cookie: 'cookie', timeout: 'timeout' };

export { kindOf };

/** The header's reference: calls up to this libnbd version are declared in its order. */
const REFERENCE = 14;
const minor = (v: Version): number => (v === 'webnbd' ? 1e6 : Number(v.split('.')[1]));

const param = (type: string, name: string) => (type.endsWith('*') ? `${type}${name}` : `${type} ${name}`);

/** C parameter names and types beyond what the argument kinds give. */
interface CForm {
  names?: string[];
  ret?: string;
  params?: string[];
}

/** A call backed by the core: C parameters derived from its argument kinds, its version from its row. */
function core(api: ApiName, names: string[] = [], o: Omit<CForm, 'names'> = {}): CFunction {
  const call = API[api];
  const since = call.since === 'webnbd' || minor(call.since) <= REFERENCE ? {} : { since: call.since };
  const left = [...names];
  const params = o.params ?? call.args.flatMap((a): string[] => {
    const k = kindOf(a);
    if (k === 'options') return [];
    if (k === 'buf-out' || k === 'buf-in') return [param(C_TYPE[k][0]!, 'buf'), 'size_t count'];
    if (C_TYPE[k][0]!.endsWith('_callback')) return [`${C_TYPE[k][0]} ${k}_callback`];
    const name = FIXED[k] ?? left.shift();
    if (name === undefined) throw new Error(`capi: ${call.c} needs a name for its ${k} argument`);
    return [param(C_TYPE[k][0]!, name)];
  });
  if (left.length) throw new Error(`capi: ${call.c}: unused names ${left.join(', ')}`);
  return { c: call.c, ret: o.ret ?? C_RET[call.ret], params, impl: { core: api }, ...since, ...(call.since === 'webnbd' ? { webnbd: true } : {}) };
}

const shim = (c: string, ret: string, params: string[] = [], handle = true): CFunction =>
  handle ? { c, ret, params, impl: { shim: true } } : { c, ret, params, impl: { shim: true }, handle: false };
const unsupported = (c: string, ret: string, params: string[], why: string): CFunction => ({ c, ret, params, impl: { unsupported: why } });

const NO_SOCKETS = 'a browser has no sockets: connect through a websockify bridge (nbd_connect_uri with nbd+ws://, or nbd_connect_unix with the ws:// URL of a bridge)';
const NO_PROCESSES = 'a browser cannot run a server as a subprocess: run it elsewhere and connect through a websockify bridge';

/** Every C function of libnbd 1.14's <libnbd.h>, in its order. */
const LIBNBD_1_14: readonly CFunction[] = [
  shim('nbd_close', 'void', ['struct nbd_handle *h'], false),
  shim('nbd_create', 'struct nbd_handle *', ['void'], false),
  shim('nbd_get_error', 'const char *', ['void'], false),
  shim('nbd_get_errno', 'int', ['void'], false),
  core('setDebug', ['debug']),
  core('getDebug'),
  core('setDebugCallback'),
  core('clearDebugCallback'),
  core('setHandleName', ['handle_name']),
  core('getHandleName'),
  shim('nbd_set_private_data', 'uintptr_t', ['uintptr_t private_data']),
  shim('nbd_get_private_data', 'uintptr_t'),
  core('setExportName', ['export_name']),
  core('getExportName'),
  core('setRequestBlockSize', ['request']),
  core('getRequestBlockSize'),
  core('setFullInfo', ['request']),
  core('getFullInfo'),
  core('getCanonicalExportName'),
  core('getExportDescription'),
  core('setTls', ['tls']),
  core('getTls'),
  core('getTlsNegotiated'),
  core('setTlsCertificates', ['dir']),
  core('setTlsVerifyPeer', ['verify']),
  core('getTlsVerifyPeer'),
  core('setTlsUsername', ['username']),
  core('getTlsUsername'),
  core('setTlsPskFile', ['filename']),
  core('setRequestStructuredReplies', ['request']),
  core('getRequestStructuredReplies'),
  core('getStructuredRepliesNegotiated'),
  core('setHandshakeFlags'),
  core('getHandshakeFlags', [], { ret: 'uint32_t' }),
  core('setPreadInitialize', ['request']),
  core('getPreadInitialize'),
  core('setStrictMode'),
  core('getStrictMode', [], { ret: 'uint32_t' }),
  core('setOptMode', ['enable']),
  core('getOptMode'),
  core('optGo'),
  core('optAbort'),
  core('optList'),
  core('optInfo'),
  core('optListMetaContext'),
  core('addMetaContext', ['name']),
  core('getNrMetaContexts', [], { ret: 'ssize_t' }),
  core('getMetaContext', [], { params: ['size_t i'] }),
  core('clearMetaContexts'),
  shim('nbd_set_uri_allow_transports', 'int', ['uint32_t mask']),
  shim('nbd_set_uri_allow_tls', 'int', ['int tls']),
  shim('nbd_set_uri_allow_local_file', 'int', ['bool allow']),
  core('connectUri', ['uri']),
  core('connectUnix', ['unixsocket']),
  unsupported('nbd_connect_vsock', 'int', ['uint32_t cid', 'uint32_t port'], NO_SOCKETS),
  core('connectTcp', ['hostname', 'port']),
  unsupported('nbd_connect_socket', 'int', ['int sock'], NO_SOCKETS),
  unsupported('nbd_connect_command', 'int', ['char **argv'], NO_PROCESSES),
  unsupported('nbd_connect_systemd_socket_activation', 'int', ['char **argv'], NO_PROCESSES),
  core('isReadOnly'),
  core('canFlush'),
  core('canFua'),
  core('isRotational'),
  core('canTrim'),
  core('canZero'),
  core('canFastZero'),
  core('canDf'),
  core('canMultiConn'),
  core('canCache'),
  core('canMetaContext', ['metacontext']),
  core('getProtocol', [], { ret: 'const char *' }),
  core('getSize'),
  core('getBlockSize', ['size_type'], { ret: 'int64_t' }),
  core('pread', ['offset']),
  core('preadStructured', ['offset']),
  core('pwrite', ['offset']),
  core('shutdown'),
  core('flush'),
  core('trim', ['count', 'offset']),
  core('cache', ['count', 'offset']),
  core('zero', ['count', 'offset']),
  core('blockStatus', ['count', 'offset']),
  core('poll'),
  unsupported('nbd_aio_connect', 'int', ['const struct sockaddr *addr', 'socklen_t addrlen'], NO_SOCKETS),
  core('aioConnectUri', ['uri']),
  core('aioConnectUnix', ['unixsocket']),
  unsupported('nbd_aio_connect_vsock', 'int', ['uint32_t cid', 'uint32_t port'], NO_SOCKETS),
  core('aioConnectTcp', ['hostname', 'port']),
  unsupported('nbd_aio_connect_socket', 'int', ['int sock'], NO_SOCKETS),
  unsupported('nbd_aio_connect_command', 'int', ['char **argv'], NO_PROCESSES),
  unsupported('nbd_aio_connect_systemd_socket_activation', 'int', ['char **argv'], NO_PROCESSES),
  core('aioOptGo'),
  core('aioOptAbort'),
  core('aioOptList'),
  core('aioOptInfo'),
  core('aioOptListMetaContext'),
  core('aioPread', ['offset']),
  core('aioPreadStructured', ['offset']),
  core('aioPwrite', ['offset']),
  core('aioDisconnect'),
  core('aioFlush'),
  core('aioTrim', ['count', 'offset']),
  core('aioCache', ['count', 'offset']),
  core('aioZero', ['count', 'offset']),
  core('aioBlockStatus', ['count', 'offset']),
  shim('nbd_aio_get_fd', 'int'),
  shim('nbd_aio_get_direction', 'unsigned'),
  shim('nbd_aio_notify_read', 'int'),
  shim('nbd_aio_notify_write', 'int'),
  core('aioIsCreated'),
  core('aioIsConnecting'),
  core('aioIsNegotiating'),
  core('aioIsReady'),
  core('aioIsProcessing'),
  core('aioIsDead'),
  core('aioIsClosed'),
  core('aioCommandCompleted'),
  core('aioPeekCommandCompleted'),
  core('aioInFlight'),
  core('connectionState', [], { ret: 'const char *' }),
  core('getPackageName', [], { ret: 'const char *' }),
  core('getVersion', [], { ret: 'const char *' }),
  shim('nbd_kill_subprocess', 'int', ['int signum']),
  core('supportsTls'),
  core('supportsUri'),
  core('getUri'),
];

/** C names and types of calls after 1.14 and of webnbd's own, where their kinds do not say enough. */
const NEWER: Partial<Record<ApiName, CForm>> = {
  setRequestMetaContext: { names: ['request'] },
  statsBytesSent: { ret: 'uint64_t' },
  statsChunksSent: { ret: 'uint64_t' },
  statsBytesReceived: { ret: 'uint64_t' },
  statsChunksReceived: { ret: 'uint64_t' },
  setRequestExtendedHeaders: { names: ['request'] },
  blockStatus64: { names: ['count', 'offset'] },
  aioBlockStatus64: { names: ['count', 'offset'], ret: 'int64_t' },
  setTlsHostname: { names: ['hostname'] },
  setSocketActivationName: { names: ['socket_name'] },
  getVersionExtra: { ret: 'const char *' },
  isUri: { names: ['uri'] },
  getSubprocessPid: { ret: 'int64_t' },
  getHandleSize: { ret: 'ssize_t' },
  poll2: { names: ['fd'] },
  blockStatusFilter: { names: ['count', 'offset', 'contexts'] },
  aioBlockStatusFilter: { names: ['count', 'offset', 'contexts'], ret: 'int64_t' },
  optListMetaContextQueries: { names: ['queries'] },
  aioOptListMetaContextQueries: { names: ['queries'] },
  optSetMetaContextQueries: { names: ['queries'] },
  aioOptSetMetaContextQueries: { names: ['queries'] },
  // A websockify bridge's URL, as nbd_connect_unix takes it in the browser.
  connectWebsocket: { names: ['url'] },
  aioConnectWebsocket: { names: ['url'] },
};

/** The rest of the API table, newer calls by version (then in the table's order), webnbd's own last. */
const LATER = (Object.keys(API) as ApiName[])
  .filter((k) => k !== 'close' && minor(API[k].since) > REFERENCE)
  .sort((a, b) => minor(API[a].since) - minor(API[b].since))
  .map((k) => core(k, NEWER[k]?.names, NEWER[k]));

/** Every C function: libnbd 1.14's, then the newer ones, then webnbd's own. */
export const C_API: readonly CFunction[] = [...LIBNBD_1_14, ...LATER];

export const BY_NAME: ReadonlyMap<string, CFunction> = new Map(C_API.map((f) => [f.c, f]));
if (BY_NAME.size !== C_API.length) throw new Error('capi: a C function is listed twice (a newer call in the 1.14 list?)');

/**
 * The sync commands with callbacks whose return value decides the command's fate (chunk,
 * extent): C runs callbacks after the wait (Asyncify cannot enter C while it sleeps), so these
 * wait on their aio twin and are finished, as libnbd's lib/rw.c does, once C has run them.
 */
export const MID_CALLBACK_KINDS: readonly ArgKind[] = MID_COMMAND_CALLBACKS;

/** Callback kinds (the API table's): each is passed from C as three slots (callback, user_data, free). */
export const CALLBACK_KINDS: readonly ArgKind[] = CALLBACKS;
