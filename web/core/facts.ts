// What nbdinfo reports about a connection and an export, read from a handle: the Node handle for
// `webnbd info` and `list`, the page's client of one for the inspector. Fields a handle cannot
// tell are left out, as nbdinfo leaves them out.

import type { ConnectionInfo, ExportInfo } from './format/nbdinfo.js';
import type { NbdHandle } from './handle.js';
import { SIZE_MAXIMUM, SIZE_MINIMUM, SIZE_PREFERRED, type CommandOptions } from './types.js';

/** The calls this module needs; NbdHandle and the browser's RemoteHandle both have them. */
export type FactsHandle = Pick<NbdHandle,
  | 'getProtocol' | 'getTlsNegotiated' | 'getStructuredRepliesNegotiated' | 'getCanonicalExportName'
  | 'getExportName' | 'getSize' | 'getUri' | 'getExportDescription' | 'isRotational' | 'isReadOnly'
  | 'canCache' | 'canDf' | 'canFastZero' | 'canFlush' | 'canFua' | 'canMultiConn' | 'canTrim'
  | 'canZero' | 'getBlockSize' | 'optListMetaContext'>;

/** What describeExport needs besides: the option calls of opt mode. */
export type DescribeHandle = FactsHandle & Pick<NbdHandle, 'aioIsNegotiating' | 'setRequestMetaContext' | 'optInfo' | 'optGo'>;

/** The value of a getter, or undefined when it fails (as nbdinfo skips fields it cannot get). */
export function attempt<T>(get: () => T): T | undefined {
  try {
    return get();
  } catch {
    return undefined;
  }
}

/**
 * nbdinfo's show_one_export: have the server describe the current export (NBD_OPT_INFO, or
 * NBD_OPT_GO where the server does not know NBD_OPT_INFO) while negotiating, without meta contexts.
 * Throws NBD_OPT_GO's error when the server describes it neither way.
 */
export async function describeExport(h: DescribeHandle, opts?: CommandOptions): Promise<void> {
  attempt(() => h.setRequestMetaContext(false));
  if (!h.aioIsNegotiating()) return;
  try {
    await h.optInfo(opts);
  } catch (e) {
    // A handle that died waiting (a timeout) has nothing left to try.
    if (!h.aioIsNegotiating()) throw e;
    await h.optGo(opts);
  }
}

export function connectionInfo(h: FactsHandle): ConnectionInfo {
  return {
    protocol: attempt(() => h.getProtocol()),
    tlsNegotiated: attempt(() => h.getTlsNegotiated()),
    structuredReplies: attempt(() => h.getStructuredRepliesNegotiated()),
  };
}

/**
 * The export's facts, once NBD_OPT_INFO or NBD_OPT_GO has answered. `listed` is what NBD_OPT_LIST
 * said of it: nbdinfo shows that description rather than NBD_INFO_DESCRIPTION's. The contexts
 * come from NBD_OPT_LIST_META_CONTEXT while the handle is still negotiating.
 */
export async function exportInfo(h: FactsHandle, listed: { description: string } | null = null, opts?: CommandOptions): Promise<ExportInfo> {
  const info: ExportInfo = {
    exportName: attempt(() => h.getCanonicalExportName()) ?? h.getExportName(),
    size: h.getSize(),
    uri: attempt(() => h.getUri()),
    description: listed ? listed.description : attempt(() => h.getExportDescription()),
    isRotational: attempt(() => h.isRotational()),
    isReadOnly: attempt(() => h.isReadOnly()),
    canCache: attempt(() => h.canCache()),
    canDf: attempt(() => h.canDf()),
    canFastZero: attempt(() => h.canFastZero()),
    canFlush: attempt(() => h.canFlush()),
    canFua: attempt(() => h.canFua()),
    canMultiConn: attempt(() => h.canMultiConn()),
    canTrim: attempt(() => h.canTrim()),
    canZero: attempt(() => h.canZero()),
    blockSizeMinimum: attempt(() => h.getBlockSize(SIZE_MINIMUM)),
    blockSizePreferred: attempt(() => h.getBlockSize(SIZE_PREFERRED)),
    blockSizeMaximum: attempt(() => h.getBlockSize(SIZE_MAXIMUM)),
  };
  try {
    const contexts: string[] = [];
    await h.optListMetaContext((name) => { contexts.push(name); }, opts);
    info.contexts = contexts;
  } catch {
    // Not negotiating any more (oldstyle, or after NBD_OPT_GO), or no structured replies.
  }
  return info;
}
