// Why a page could not reach a bridge, as far as a page can tell. A browser reports every failed
// WebSocket the same way, whether nothing listens, the bridge refuses the page's origin, the port
// is an NBD server with no bridge, or the bridge speaks TLS and the URI does not (or the reverse).
// Only the last can be checked: open a WebSocket with the other scheme and see whether it opens.

import { parseUri } from '../core/uri.js';

const PROBE_MS = 3000;

/** The URI with the other scheme when a bridge answers that way, else null. */
export async function otherScheme(uri: string): Promise<string | null> {
  let url: string;
  try {
    const t = parseUri(uri.trim()).target;
    if (t.kind !== 'websocket') return null;
    url = t.url;
  } catch {
    return null;
  }
  const tls = url.startsWith('wss:');
  const probe = tls ? url.replace(/^wss:/, 'ws:') : url.replace(/^ws:/, 'wss:');
  const answer = uri.trim().replace(/^[a-z+]+:/i, tls ? 'nbd+ws:' : 'nbds+wss:');
  return new Promise((resolve) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(probe, ['binary']);
    } catch {
      resolve(null); // e.g. ws:// from an https:// page
      return;
    }
    const done = (v: string | null) => {
      clearTimeout(timer);
      ws.onopen = ws.onerror = ws.onclose = null;
      ws.close();
      resolve(v);
    };
    const timer = setTimeout(() => done(null), PROBE_MS);
    ws.onopen = () => done(answer);
    ws.onerror = ws.onclose = () => done(null);
  });
}

/** What to add to "could not connect" once the probe is back. */
export function connectHint(uri: string, other: string | null): string {
  if (other) return ` A bridge answers there ${other.startsWith('nbds+wss:') ? 'with TLS' : 'without TLS'}: use ${other}`;
  return ' If that address is an NBD server itself rather than a bridge, put `webnbd bridge` in front of it.';
}
