// What the inspector asks the server before showing an export, as nbdinfo --list does: a handle
// in opt mode lists the exports (NBD_OPT_LIST), then NBD_OPT_INFO (or NBD_OPT_GO) on the chosen
// one fills the info panel; the connection is then given up (the views use the shared one).

import { create } from '../browser/client.js';
import { CONNECT_TIMEOUT_MS } from '../browser/disk.js';
import { connectionInfo, describeExport, exportInfo } from '../core/facts.js';
import { formatInfo } from '../core/format/nbdinfo.js';
import { NbdError } from '../core/errors.js';

export interface ListedExport {
  name: string;
  description: string;
}

export interface ServerView {
  /** The exports the server listed, or null when it would not list them. */
  exports: ListedExport[] | null;
  /** Why listing failed. */
  listError?: NbdError;
  /** nbdinfo's text for the export, or null when the server refused it. */
  info: string | null;
  infoError?: NbdError;
  size?: bigint;
}

/**
 * List the exports of the server at `uri`, then describe `exportName` (the URI's own export when
 * null). Connection failures throw; a server that will not list or describe says so in the result.
 */
export async function inspectServer(uri: string, exportName: string | null): Promise<ServerView> {
  const h = create();
  // Each step has its time: a server that stops answering ends it (ETIMEDOUT), never "Listing…" for ever.
  const limit = { timeout: CONNECT_TIMEOUT_MS };
  try {
    h.setOptMode(true);
    h.setFullInfo(true);
    await h.connectUri(uri, limit);
    const view: ServerView = { exports: null, info: null };
    if (h.aioIsNegotiating()) {
      const listed: ListedExport[] = [];
      try {
        await h.optList((name: string, description: string) => { listed.push({ name, description }); }, limit);
        view.exports = listed;
      } catch (e) {
        view.listError = e as NbdError;
      }
      if (exportName !== null) h.setExportName(exportName);
      try {
        await describeExport(h, limit);
      } catch (e) {
        view.infoError = e as NbdError;
        return view;
      }
    }
    const name = exportName ?? h.getExportName();
    const exp = await exportInfo(h, view.exports?.find((e) => e.name === name) ?? null, limit);
    view.size = exp.size;
    view.info = formatInfo(connectionInfo(h), exp);
    return view;
  } finally {
    // A polite goodbye, but not waited for longer than a second.
    const bye = h.aioIsNegotiating() ? h.optAbort() : h.aioIsReady() ? h.shutdown() : Promise.resolve();
    await Promise.race([bye.catch(() => {}), new Promise((r) => setTimeout(r, 1000))]);
    h.close();
  }
}
