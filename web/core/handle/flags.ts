// What the handshake learned, read back (libnbd's lib/flags.c and the negotiated-facts getters of
// lib/handle.c): pure functions of the handle state, for the worker's handle and the page alike.

import { NbdError, errno } from '../errors.js';
import * as P from '../protocol.js';
import * as T from '../types.js';
import { formatUri } from '../uri.js';
import type { ExportInfo, HandleState } from './state.js';
import { NbdOverflow } from './violation.js';

/** libnbd's largest read or write payload. */
export const MAX_REQUEST = 64 * 1024 * 1024;

export function needInfo(s: HandleState, what: string): ExportInfo {
  const info = s.conn.info;
  if (!info) throw new NbdError(errno.EINVAL, '', `server has not returned export ${what}, you need to connect to the server first`);
  return info;
}

/** A transmission flag the server advertised (NBD_FLAG_*). */
export const flag = (s: HandleState, bit: number): boolean => (needInfo(s, 'flags').flags & bit) !== 0;

const INT64_MAX = (1n << 63n) - 1n;

/** Transmission flags the way libnbd trusts them: meaningless combinations are dropped. */
export function cleanFlags(s: HandleState, flags: number, log: (msg: string) => void): number {
  if (!(flags & P.NBD_FLAG_HAS_FLAGS)) {
    if (flags) log('server did not set NBD_FLAG_HAS_FLAGS, ignoring its transmission flags');
    return 0;
  }
  // DF only means something for structured reads; fast zero only with write zeroes.
  if ((flags & P.NBD_FLAG_SEND_DF) && !s.conn.structuredReplies) flags &= ~P.NBD_FLAG_SEND_DF;
  if ((flags & P.NBD_FLAG_SEND_FAST_ZERO) && !(flags & P.NBD_FLAG_SEND_WRITE_ZEROES)) flags &= ~P.NBD_FLAG_SEND_FAST_ZERO;
  return flags;
}

/** The size and flags of the oldstyle and NBD_OPT_EXPORT_NAME handshakes (libnbd's nbd_internal_set_size_and_flags). */
export function setExport(s: HandleState, size: bigint, flags: number, log: (msg: string) => void): void {
  if (size > INT64_MAX) throw new NbdOverflow(size);
  s.conn.info = { size, flags: cleanFlags(s, flags, log), minimum: 0, preferred: 0, maximum: 0, name: null, description: null };
}

export const FLAGS = {
  getSize: (s: HandleState): bigint => needInfo(s, 'size').size,
  getBlockSize: (s: HandleState, which: number): number => {
    const i = needInfo(s, 'flags');
    switch (which) {
      case T.SIZE_MINIMUM: return i.minimum;
      case T.SIZE_PREFERRED: return i.preferred;
      case T.SIZE_MAXIMUM: return i.maximum;
      case T.SIZE_PAYLOAD: return i.maximum ? Math.min(i.maximum, MAX_REQUEST) : MAX_REQUEST;
      default: throw new NbdError(errno.EINVAL, '', `unknown size type: ${which}`);
    }
  },
  isReadOnly: (s: HandleState): boolean => flag(s, P.NBD_FLAG_READ_ONLY),
  canFlush: (s: HandleState): boolean => flag(s, P.NBD_FLAG_SEND_FLUSH),
  canFua: (s: HandleState): boolean => flag(s, P.NBD_FLAG_SEND_FUA),
  isRotational: (s: HandleState): boolean => flag(s, P.NBD_FLAG_ROTATIONAL),
  canTrim: (s: HandleState): boolean => flag(s, P.NBD_FLAG_SEND_TRIM),
  canZero: (s: HandleState): boolean => flag(s, P.NBD_FLAG_SEND_WRITE_ZEROES),
  canFastZero: (s: HandleState): boolean => flag(s, P.NBD_FLAG_SEND_FAST_ZERO),
  canDf: (s: HandleState): boolean => flag(s, P.NBD_FLAG_SEND_DF),
  canMultiConn: (s: HandleState): boolean => flag(s, P.NBD_FLAG_CAN_MULTI_CONN),
  canCache: (s: HandleState): boolean => flag(s, P.NBD_FLAG_SEND_CACHE),
  // Filtering block status needs the 64-bit request's payload: never without extended headers.
  canBlockStatusPayload: (s: HandleState): boolean => flag(s, P.NBD_FLAG_BLOCK_STAT_PAYLOAD) && s.conn.extendedHeaders,
  canMetaContext: (s: HandleState, name: string): boolean => {
    needInfo(s, 'flags');
    return s.conn.metaContexts.some(([, n]) => n === name);
  },
  getProtocol: (s: HandleState): string => {
    if (!s.conn.protocol) throw new NbdError(errno.EINVAL, '', 'handshake has not completed');
    return s.conn.protocol;
  },
  getTlsNegotiated: (s: HandleState): boolean => s.conn.tlsNegotiated,
  getStructuredRepliesNegotiated: (s: HandleState): boolean => s.conn.structuredReplies,
  getExtendedHeadersNegotiated: (s: HandleState): boolean => s.conn.extendedHeaders,
  getCanonicalExportName: (s: HandleState): string => {
    // libnbd falls back to the requested name when the server sent NBD_INFO_EXPORT only.
    return needInfo(s, 'flags').name ?? s.settings.exportName;
  },
  getExportDescription: (s: HandleState): string => {
    const i = needInfo(s, 'flags');
    if (i.description === null) throw new NbdError(errno.ENOTSUP, '', 'server did not advertise a description');
    return i.description;
  },
  getUri: (s: HandleState): string => {
    if (!s.conn.target) throw new NbdError(errno.EINVAL, '', 'handle is not connected');
    const st = s.settings;
    const tls = st.tls === T.TLS_REQUIRE || (st.tls === T.TLS_ALLOW && s.conn.tlsNegotiated)
      ? { username: st.tlsUsername, certificates: st.tlsCertificates, pskFile: st.tlsPskFile } : null;
    return formatUri(s.conn.target, st.exportName, tls);
  },
  statsBytesSent: (s: HandleState): bigint => BigInt(s.conn.bytesSent),
  statsChunksSent: (s: HandleState): bigint => BigInt(s.conn.chunksSent),
  statsBytesReceived: (s: HandleState): bigint => BigInt(s.conn.bytesReceived),
  statsChunksReceived: (s: HandleState): bigint => BigInt(s.conn.chunksReceived),
};
