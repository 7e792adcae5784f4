// nbd_set_* and nbd_get_* of the caller's settings (libnbd's lib/handle.c): pure functions of the
// handle state, so the worker's handle and the page's client run the same code.

import { encodeString } from '../codec.js';
import { NbdError, errno } from '../errors.js';
import { NBD_MAX_STRING } from '../protocol.js';
import * as T from '../types.js';
import type { HandleState } from './state.js';

/** Why TLS calls fail where the handle cannot do TLS: in a page, TLS is the bridge's wss://. */
export const NO_TLS = 'TLS is not supported here: in a browser, TLS is wss:// to the bridge (use an nbds+wss:// URI)';

const needTls = (s: HandleState): void => {
  if (!s.settings.tlsAvailable) throw new NbdError(errno.ENOTSUP, '', NO_TLS);
};

const badFlags = (flags: number) => new NbdError(errno.EINVAL, '', `flags: invalid value for flag: 0x${flags.toString(16)}`);

export const SETTINGS = {
  setDebug: (s: HandleState, debug: boolean): void => { s.settings.debug = debug; },
  getDebug: (s: HandleState): boolean => s.settings.debug,
  setHandleName: (s: HandleState, name: string): void => { s.settings.handleName = name; },
  getHandleName: (s: HandleState): string => s.settings.handleName,
  setExportName: (s: HandleState, name: string): void => {
    if (encodeString(name).length > NBD_MAX_STRING) throw new NbdError(errno.ENAMETOOLONG, '', 'export name too long for NBD protocol');
    s.settings.exportName = name;
  },
  getExportName: (s: HandleState): string => s.settings.exportName,
  setRequestBlockSize: (s: HandleState, b: boolean): void => { s.settings.requestBlockSize = b; },
  getRequestBlockSize: (s: HandleState): boolean => s.settings.requestBlockSize,
  setFullInfo: (s: HandleState, b: boolean): void => { s.settings.fullInfo = b; },
  getFullInfo: (s: HandleState): boolean => s.settings.fullInfo,
  setTls: (s: HandleState, level: number): void => {
    if (level !== T.TLS_DISABLE && level !== T.TLS_ALLOW && level !== T.TLS_REQUIRE) throw new NbdError(errno.EINVAL, '', `tls: invalid value for parameter: ${level}`);
    if (level !== T.TLS_DISABLE) needTls(s);
    s.settings.tls = level;
  },
  getTls: (s: HandleState): number => s.settings.tls,
  setTlsCertificates: (s: HandleState, dir: string): void => { needTls(s); s.settings.tlsCertificates = dir; },
  setTlsVerifyPeer: (s: HandleState, verify: boolean): void => { s.settings.tlsVerifyPeer = verify; },
  getTlsVerifyPeer: (s: HandleState): boolean => s.settings.tlsVerifyPeer,
  setTlsUsername: (s: HandleState, name: string): void => { s.settings.tlsUsername = name; },
  getTlsUsername: (s: HandleState): string => s.settings.tlsUsername || s.settings.localUser,
  setTlsPskFile: (s: HandleState, file: string): void => { needTls(s); s.settings.tlsPskFile = file; },
  setTlsHostname: (s: HandleState, name: string): void => { s.settings.tlsHostname = name; },
  getTlsHostname: (s: HandleState): string => s.settings.tlsHostname,
  setSocketActivationName: (s: HandleState, name: string): void => {
    // libnbd's lib/handle.c: LISTEN_FDNAMES wants a short alphanumeric name ("" means "unknown").
    if (name.length > 32) throw new NbdError(errno.ENAMETOOLONG, '', 'socket activation name should be <= 32 characters');
    if (!/^[A-Za-z0-9]*$/.test(name)) throw new NbdError(errno.EINVAL, '', 'socket activation name should contain only alphanumeric ASCII characters');
    s.settings.socketActivationName = name;
  },
  getSocketActivationName: (s: HandleState): string => s.settings.socketActivationName,
  setRequestStructuredReplies: (s: HandleState, b: boolean): void => { s.settings.requestStructuredReplies = b; },
  getRequestStructuredReplies: (s: HandleState): boolean => s.settings.requestStructuredReplies,
  setRequestExtendedHeaders: (s: HandleState, b: boolean): void => { s.settings.requestExtendedHeaders = b; },
  getRequestExtendedHeaders: (s: HandleState): boolean => s.settings.requestExtendedHeaders,
  setRequestMetaContext: (s: HandleState, b: boolean): void => { s.settings.requestMetaContext = b; },
  getRequestMetaContext: (s: HandleState): boolean => s.settings.requestMetaContext,
  setHandshakeFlags: (s: HandleState, flags: number): void => {
    if (flags & ~T.HANDSHAKE_FLAG_MASK) throw badFlags(flags);
    s.settings.handshakeFlags = flags;
  },
  getHandshakeFlags: (s: HandleState): number => s.settings.handshakeFlags,
  setPreadInitialize: (s: HandleState, b: boolean): void => { s.settings.preadInitialize = b; },
  getPreadInitialize: (s: HandleState): boolean => s.settings.preadInitialize,
  setStrictMode: (s: HandleState, flags: number): void => {
    if (flags & ~T.STRICT_MASK) throw badFlags(flags);
    s.settings.strictMode = flags;
  },
  getStrictMode: (s: HandleState): number => s.settings.strictMode,
  setOptMode: (s: HandleState, b: boolean): void => { s.settings.optMode = b; },
  getOptMode: (s: HandleState): boolean => s.settings.optMode,
  addMetaContext: (s: HandleState, name: string): void => {
    if (encodeString(name).length > NBD_MAX_STRING) throw new NbdError(errno.ENAMETOOLONG, '', 'meta context name too long for NBD protocol');
    s.settings.metaContexts.push(name);
  },
  getNrMetaContexts: (s: HandleState): number => s.settings.metaContexts.length,
  getMetaContext: (s: HandleState, i: number): string => {
    const name = s.settings.metaContexts[i];
    if (name === undefined) throw new NbdError(errno.EINVAL, '', 'meta context request out of range');
    return name;
  },
  clearMetaContexts: (s: HandleState): void => { s.settings.metaContexts = []; },
};
