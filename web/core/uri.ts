// NBD URIs: libnbd's nbd:// and nbd+unix:// (nbd_connect_uri(3)), and webnbd's nbd+ws:// and
// nbds+wss:// for a websockify bridge, whose ?token= goes to the bridge's token plugin.

import { NbdError, errno } from './errors.js';
import { NBD_DEFAULT_PORT } from './protocol.js';
import type { Target } from './transport.js';

export interface ParsedUri {
  scheme: string;
  target: Target;
  exportName: string;
  /** Query parameters, decoded. */
  query: Map<string, string>;
  /** nbds:// and nbds+unix://: TLS is required. */
  tls?: boolean;
  /** The URI's user name: the TLS (PSK) identity. */
  username?: string;
}

const RE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(?:([^@/?#]*)@)?(\[[^\]]*\]|[^:/?#]*)(?::([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#.*)?$/;

const fail = (detail: string): never => {
  throw new NbdError(errno.EINVAL, 'nbd_connect_uri', detail);
};

function decode(s: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return fail(`invalid percent-encoding in URI ${what}: ${s}`);
  }
}

function port(s: string | undefined, dflt: number, uri: string): number {
  if (s === undefined || s === '') return dflt;
  if (!/^\d{1,5}$/.test(s) || Number(s) > 65535 || Number(s) === 0) fail(`invalid port in URI: ${uri}`);
  return Number(s);
}

/** `url` with the value of its `token` parameter hidden, for error lines that end up in logs and screenshots. */
export function withoutSecrets(url: string): string {
  return url.replace(/([?&]token=)[^&#]+/g, '$1…');
}

/** Parse an NBD URI. Errors are NbdErrors with context nbd_connect_uri, as libnbd reports them. */
export function parseUri(uri: string): ParsedUri {
  const m = RE.exec(uri);
  if (!m) return fail(`unable to parse URI: ${uri}`);
  const [, rawScheme, userinfo, rawHost = '', rawPort, path = '', rawQuery] = m;
  const scheme = rawScheme!.toLowerCase();
  // The scheme is judged first: a URI that is not an NBD one is named as such, whatever follows.
  if (!/^nbds?(\+(unix|ws|wss|vsock))?$/.test(scheme)) return fail(`unknown NBD URI scheme: ${scheme}`);
  // A user name only ever selects a TLS identity in libnbd.
  const username = userinfo ? decode(userinfo, 'user name') : undefined;
  const query = new Map<string, string>();
  for (const kv of (rawQuery ?? '').split('&')) {
    if (!kv) continue;
    const eq = kv.indexOf('=');
    const k = decode(eq < 0 ? kv : kv.slice(0, eq), 'query');
    query.set(k, decode(eq < 0 ? '' : kv.slice(eq + 1).replace(/\+/g, ' '), 'query'));
  }
  // "The export name is the path with the leading slash removed" (nbd_connect_uri(3)).
  if (path !== '' && !path.startsWith('/')) fail(`unable to parse URI: ${uri}`);
  const exportName = decode(path.slice(1), 'path');
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : decode(rawHost, 'host');
  // The host is taken as written: libnbd hands its percent-decoded host to getaddrinfo, which no
  // name with "@", "/" or ":" in it resolves; spliced into a ws:// URL, "evil%40127.0.0.1" would
  // reach 127.0.0.1. So a host is a name or an address, nothing else.
  if (rawHost.startsWith('[') ? !/^[0-9A-Fa-f:.]+$/.test(host) : /[^A-Za-z0-9._~-]/.test(host)) {
    fail(`invalid host name in URI: ${uri}`);
  }

  const tls = scheme.startsWith('nbds') ? { tls: true, ...(username !== undefined ? { username } : {}) } : {};
  switch (scheme) {
    case 'nbd':
    case 'nbds':
      if (!host) fail(`missing host name in URI: ${uri}`);
      return { scheme, exportName, query, target: { kind: 'tcp', host, port: port(rawPort, NBD_DEFAULT_PORT, uri) }, ...tls };
    case 'nbd+unix':
    case 'nbds+unix': {
      if (host) fail(`a Unix socket URI has no host name: ${uri}`);
      const path = query.get('socket');
      if (!path) fail(`missing 'socket' parameter in URI: ${uri}`);
      return { scheme, exportName, query, target: { kind: 'unix', path: path! }, ...tls };
    }
    case 'nbd+ws':
    case 'nbds+wss': {
      if (!host) fail(`missing host name in URI: ${uri}`);
      const secure = scheme === 'nbds+wss';
      const p = port(rawPort, secure ? 443 : 80, uri);
      const token = query.get('token');
      const hostPart = host.includes(':') ? `[${host}]` : host;
      const url = `${secure ? 'wss' : 'ws'}://${hostPart}:${p}/${token !== undefined ? `?token=${encodeURIComponent(token)}` : ''}`;
      return { scheme, exportName, query, target: { kind: 'websocket', url } };
    }
    case 'nbd+vsock':
    case 'nbds+vsock':
      return fail(`vsock is not supported by webnbd: ${uri}`);
    default:
      return fail(`unknown NBD URI scheme: ${scheme}`);
  }
}

/**
 * Escape as libnbd's nbd_get_uri(3) does (libxml2's xmlSaveUri): letters, digits, "-_.!~*'()"
 * and "/;@&=+$," stay; everything else becomes %XX (UTF-8, upper case).
 */
const escapePath = (s: string): string =>
  Array.from(new TextEncoder().encode(s), (b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9\-_.!~*'()/;@&=+$,]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');

/** The TLS part of an nbds:// URI, as nbd_get_uri(3) writes it. */
export interface UriTls {
  /** Only when set by the caller (else the local user's name is meant). */
  username: string;
  certificates: string | null;
  pskFile: string | null;
}

/** libnbd's nbd_get_uri(3) form of a connection; `tls` makes it nbds://. */
export function formatUri(target: Target, exportName: string, tls: UriTls | null = null): string {
  const path = '/' + escapePath(exportName);
  const s = tls ? 's' : '';
  const user = tls?.username ? `${escapePath(tls.username).replace(/[/@]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}@` : '';
  const query = tls ? [
    ...(tls.certificates !== null ? [`tls-certificates=${tls.certificates}`] : []),
    ...(tls.pskFile !== null ? [`tls-psk-file=${tls.pskFile}`] : []),
  ] : [];
  switch (target.kind) {
    case 'tcp': {
      const host = target.host.includes(':') ? `[${target.host}]` : target.host;
      return `nbd${s}://${user}${host}:${target.port}${path}${query.length ? `?${query.join('&')}` : ''}`;
    }
    case 'unix':
      return `nbd${s}+unix://${user}${path}?${[`socket=${target.path}`, ...query].join('&')}`;
    case 'websocket': {
      const m = /^(wss?):\/\/([^/?#]*)\/?(?:\?token=([^#&]*))?/.exec(target.url);
      if (!m) return target.url;
      const scheme = m[1] === 'wss' ? 'nbds+wss' : 'nbd+ws';
      return `${scheme}://${m[2]}${path}${m[3] !== undefined ? `?token=${m[3]}` : ''}`;
    }
  }
}
