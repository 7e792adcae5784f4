// Shared connections for components: every element showing the same export of the same server
// uses one handle in the page's one worker, opened on first use and closed after the last.

import { parseUri, formatUri } from '../core/uri.js';
import { create, type RemoteHandle } from '../browser/client.js';

interface Entry {
  handle: Promise<RemoteHandle>;
  refs: number;
}

const open = new Map<string, Entry>();

/** The URI with its export replaced by `exportName` when that is given. */
export function resolveUri(src: string, exportName: string | null): string {
  if (exportName === null) return src;
  return formatUri(parseUri(src).target, exportName);
}

/** A connected handle for `uri`, shared with every other user of the same URI. */
export function acquire(uri: string): Promise<RemoteHandle> {
  let e = open.get(uri);
  if (!e) {
    const h = create();
    h.addMetaContext('base:allocation');
    const handle = h.connectUri(uri).then(() => h, (err: unknown) => {
      open.delete(uri);
      h.close();
      throw err;
    });
    e = { handle, refs: 0 };
    open.set(uri, e);
  }
  e.refs++;
  return e.handle;
}

/** Give back what acquire() gave; the last user closes the connection. */
export function release(uri: string): void {
  const e = open.get(uri);
  if (!e || --e.refs > 0) return;
  open.delete(uri);
  e.handle.then((h) => h.shutdown().catch(() => {}).finally(() => h.close()), () => {});
}
