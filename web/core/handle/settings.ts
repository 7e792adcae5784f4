// nbd_set_* and nbd_get_* of the caller's settings (libnbd's lib/handle.c): pure functions of the
// handle state, so the worker's handle and the page's client run the same code.

import { encodeString } from '../codec.js';
import { NbdError, errno } from '../errors.js';
import { NBD_MAX_STRING } from '../protocol.js';
import * as T from '../types.js';
import type { HandleState } from './state.js';

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
  setTls: (_s: HandleState, level: number): void => {
    if (level !== T.TLS_DISABLE) {
      throw new NbdError(errno.ENOTSUP, '', 'TLS is not supported by webnbd: on the web, TLS is wss:// to the bridge (use an nbds+wss:// URI)');
    }
  },
  getTls: (_s: HandleState): number => T.TLS_DISABLE,
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
