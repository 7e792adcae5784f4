// Shared connections for components: every element (and inspector panel) showing the same export
// of the same server uses one Disk, i.e. one handle in the page's one worker, opened on first use
// (within CONNECT_TIMEOUT_MS) and closed a moment after the last user lets go (so moving an element
// does not reconnect). A Disk whose connection is lost connects again by itself (disk.ts).

import { parseUri, formatUri } from '../core/uri.js';
import { NbdError, errno } from '../core/errors.js';
import { Disk, openHandle } from './disk.js';

interface Entry {
  disk: Promise<Disk>;
  refs: number;
  timer: ReturnType<typeof setTimeout> | null;
}

/** How long an unused connection stays open. */
const LINGER_MS = 1000;

const open = new Map<string, Entry>();

/**
 * The URI to connect to: `src` with its export replaced by `exportName` when that is given.
 * Only nbd+ws:// and nbds+wss:// reach anything from a page; others fail here in plain words.
 */
export function resolveUri(src: string, exportName: string | null): string {
  const p = parseUri(src.trim());
  if (p.target.kind !== 'websocket') {
    throw new NbdError(errno.EINVAL, 'nbd_connect_uri', `a web page can only reach NBD through a bridge: use nbd+ws:// or nbds+wss://, not ${p.scheme}://`);
  }
  return exportName === null ? src.trim() : formatUri(p.target, exportName);
}

/** The shared Disk for `uri`, connecting if needed. Give it back with release(uri). */
export function acquire(uri: string): Promise<Disk> {
  let e = open.get(uri);
  if (!e) {
    const entry: Entry = { refs: 0, timer: null, disk: Promise.resolve(null as unknown as Disk) };
    entry.disk = openHandle(uri).then((h) => new Disk(uri, h), (err: unknown) => {
      if (open.get(uri) === entry) open.delete(uri);
      throw err;
    });
    e = entry;
    open.set(uri, e);
  }
  if (e.timer !== null) clearTimeout(e.timer);
  e.timer = null;
  e.refs++;
  const entry = e;
  // A Disk that gave up reconnecting is not handed out again: the next acquire() starts afresh.
  return entry.disk.then((d) => {
    if (d.failed) {
      if (open.get(uri) === entry) open.delete(uri);
      entry.refs = 0;
      return acquire(uri);
    }
    return d;
  });
}

/** Give back what acquire() gave; the last user's release closes the connection soon after. */
export function release(uri: string): void {
  const e = open.get(uri);
  if (!e || e.refs === 0 || --e.refs > 0) return;
  e.timer = setTimeout(() => {
    if (open.get(uri) !== e || e.refs > 0) return;
    open.delete(uri);
    e.disk.then((d) => d.close(), () => {});
  }, LINGER_MS);
}
