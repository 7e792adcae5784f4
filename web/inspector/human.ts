// Words for people: sizes ("1.5 GiB"), offsets typed by hand ("0x1000", "2048s", "1M"), the
// only URIs a page can use, and errors explained in plain words rather than errno names.

import { NbdError } from '../core/errors.js';

/** 1536 → "1.5 KiB"; exact byte counts below 1 KiB. */
export function humanSize(n: bigint): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let v = Number(n);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} byte${n === 1n ? "" : "s"}` : `${v < 10 && v !== Math.floor(v) ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

const SUFFIX: Record<string, bigint> = { '': 1n, k: 1n << 10n, m: 1n << 20n, g: 1n << 30n, t: 1n << 40n, p: 1n << 50n };

/**
 * An offset as typed: decimal or 0x hex, optionally with K/M/G/T/P (binary) or "s" (sectors of
 * `sector` bytes). Null when it is not one.
 */
export function parseOffset(text: string, sector = 512): bigint | null {
  const m = /^\s*(0x[0-9a-f]+|\d+)\s*(k|m|g|t|p|s)?i?b?\s*$/i.exec(text);
  if (!m) return null;
  const n = BigInt(m[1]!);
  const unit = (m[2] ?? '').toLowerCase();
  return unit === 's' ? n * BigInt(sector) : n * SUFFIX[unit]!;
}

/** Why a URI cannot be used from a page, or null when it can (nbd+ws:// and nbds+wss:// only). */
export function refuseUri(uri: string): string | null {
  const scheme = /^\s*([a-z][a-z0-9+.-]*):/i.exec(uri)?.[1]?.toLowerCase();
  if (!scheme) return 'That is not a URI. Try nbd+ws://HOST:PORT/EXPORT.';
  if (scheme === 'nbd+ws' || scheme === 'nbds+wss') return null;
  if (scheme === 'nbd' || scheme === 'nbds' || scheme === 'nbd+unix' || scheme === 'nbds+unix') {
    return `A web page cannot open ${scheme}:// connections itself. Put the server behind \`webnbd bridge\` and use the nbd+ws:// URI it prints.`;
  }
  return `Only nbd+ws:// and nbds+wss:// URIs can be opened here (not ${scheme}:).`;
}

/** The words for a connection that went away. */
export const lostConnection = (at: string): string => `The connection${at} was lost: the bridge or the NBD server went away. Press Connect to connect again.`;

/** What plainError needs of an error: an NbdError, or an nbd-error event. */
type Failure = Pick<NbdError, 'code' | 'message'> & Partial<Pick<NbdError, 'context' | 'detail'>>;

/** An error as a sentence for the page, with the technical detail after it. */
export function plainError(err: unknown, where = ''): string {
  if (!(err instanceof NbdError) && !(err instanceof Event && 'code' in err)) return err instanceof Error ? err.message : String(err);
  const e = err as Failure;
  const at = where ? ` ${where}` : '';
  switch (e.code) {
    // A page learns nothing about why a WebSocket failed: never claim "refused" (diagnose.ts adds what can be told).
    case 'ECONNREFUSED':
      return `Could not connect to the bridge${at}. Is \`webnbd bridge\` running there, and does it allow this page's origin (${location.origin})?`;
    case 'ECONNRESET':
    case 'ENOTCONN':
    case 'ESHUTDOWN':
      return lostConnection(at);
    case 'ENOENT':
      return `The server has no such export${at}. (${e.message})`;
    case 'ETIMEDOUT':
      return /is it a webnbd bridge\?/.test(e.message)
        ? `No webnbd bridge answered${at} in time: is that address a bridge, or a web server's own port? (${e.message})`
        : `The server${at} stopped answering. (${e.message})`;
    case 'EPERM':
    case 'EACCES':
      return `The server refused${at}. (${e.message})`;
    case 'EPROTO':
      return `Something that is not an NBD server answered${at}. (${e.message})`;
    case 'EINVAL':
      // A call on a handle whose connection died: libnbd's "invalid state: DEAD" is not for people.
      if (/invalid state: (DEAD|CLOSED)\b/.test(e.message)) return lostConnection(at);
      return e.message.startsWith('nbd_connect_uri: ') ? `That URI cannot be used: ${e.detail ?? e.message.slice(17)}.` : e.message;
    case 'ECANCELED':
      return 'Cancelled.';
    default:
      return e.message;
  }
}

/** Characters that reorder or hide text (bidirectional controls, zero-width and other format characters) and control characters. */
const HIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g;

/**
 * Text from a disk or a server, safe to show: characters that would reorder or hide what is around
 * them ("abc\u202Efdp.exe" reads "abcexe.pdf") are shown as ⟨U+202E⟩ instead. Tabs and newlines stay.
 */
export function visible(s: string): string {
  return s.replace(HIDDEN, (c) => `⟨U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}⟩`);
}
