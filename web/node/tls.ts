// TLS for NBD_OPT_STARTTLS in Node (node:tls), with libnbd's settings: X.509 from a certificate
// directory laid out as libnbd's (gnutls's) is, or a PSK file as psktool writes it; and TLS
// failures put in words that keep their reason ("certificate is self-signed").

import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { NbdError, errno } from '../core/errors.js';
import type { TlsOptions } from '../core/transport.js';

export interface TlsEvents {
  /** The TLS handshake is over: its version and cipher. */
  secure(description: string): void;
  /** It failed (or the settings could not be read); nothing follows. */
  failed(e: NbdError): void;
  data(b: Buffer): void;
  /** A failure after the handshake; `close` follows. */
  error(e: NbdError): void;
  close(): void;
}

/** Node's certificate errors, in words close to gnutls's that libnbd prints. */
const REASONS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'certificate chain ends in a self-signed certificate that is not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'certificate issuer is unknown',
  UNABLE_TO_GET_ISSUER_CERT: 'certificate issuer is unknown',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'certificate issuer is unknown',
  CERT_SIGNATURE_FAILURE: 'certificate signature is invalid',
  CERT_HAS_EXPIRED: 'certificate has expired',
  CERT_NOT_YET_VALID: 'certificate is not yet activated',
  CERT_REVOKED: 'certificate is revoked',
  ERR_TLS_CERT_ALTNAME_INVALID: 'name does not match',
};

/** Whether `e` is a TLS failure, and if so its errno and the words for it. */
export function tlsFailure(e: NodeJS.ErrnoException & { reason?: string }): { tls: boolean; errno: number; detail: string } {
  const code = e.code ?? '';
  const reason = REASONS[code];
  if (reason) {
    const why = code === 'ERR_TLS_CERT_ALTNAME_INVALID' && e.reason ? ` (${e.reason.replace(/:\s*$/, '')})` : '';
    return { tls: true, errno: errno.EPROTO, detail: `TLS: server certificate verification failed: ${reason}${why}` };
  }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) {
    // OpenSSL's words, e.g. "tlsv1 alert unknown ca" when the server refuses our certificate.
    const words = /:([^:]*):[^:]*$/.exec(e.message.split('\n')[0] ?? '')?.[1] ?? e.message;
    return { tls: true, errno: errno.EPROTO, detail: `TLS: handshake failed: ${words.replace(/^.*routines:/, '')}` };
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return { tls: false, errno: errno.ECONNRESET, detail: 'TLS: the server closed the connection during the TLS handshake (wrong key or certificate?)' };
  }
  return { tls: false, errno: errno.EIO, detail: e.message };
}

const read = (file: string, what: string): Buffer => {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new NbdError(code === 'EACCES' ? errno.EACCES : errno.ENOENT, '', `TLS: cannot read ${what} ${file}`);
  }
};

/**
 * libnbd's certificate directory: the one set, else $HOME/.pki/libnbd, else /etc/pki/libnbd;
 * ca-cert.pem (else the system's trusted CAs), client-cert.pem with client-key.pem, ca-crl.pem.
 */
function x509(dir: string | null): tls.ConnectionOptions {
  const d = dir ?? [join(homedir(), '.pki', 'libnbd'), '/etc/pki/libnbd'].find((p) => existsSync(p)) ?? null;
  if (d === null) return {};
  if (dir !== null && !existsSync(dir)) throw new NbdError(errno.ENOENT, '', `TLS: certificate directory ${dir} does not exist`);
  const file = (name: string) => (existsSync(join(d, name)) ? join(d, name) : null);
  const ca = file('ca-cert.pem');
  const cert = file('client-cert.pem');
  const key = file('client-key.pem');
  const crl = file('ca-crl.pem');
  return {
    ...(ca ? { ca: read(ca, 'CA certificate') } : {}),
    ...(cert && key ? { cert: read(cert, 'client certificate'), key: read(key, 'client key') } : {}),
    ...(crl ? { crl: read(crl, 'certificate revocation list') } : {}),
  };
}

/** psktool's file: one `username:hexkey` a line. */
function psk(file: string, username: string): tls.ConnectionOptions {
  const line = read(file, 'PSK file').toString('utf8').split('\n').find((l) => l.slice(0, l.indexOf(':')) === username);
  const hex = line?.slice(line.indexOf(':') + 1).trim();
  if (!hex || !/^([0-9a-f]{2})+$/i.test(hex)) throw new NbdError(errno.ENOENT, '', `TLS: PSK file ${file} has no key for user ${username}`);
  const key = Buffer.from(hex, 'hex');
  return {
    pskCallback: () => ({ psk: key, identity: username }),
    // PSK key exchange (TLS 1.3's, and TLS 1.2's suites as gnutls offers them); no certificate to check.
    ciphers: 'ECDHE-PSK-AES256-CBC-SHA384:ECDHE-PSK-AES128-CBC-SHA256:DHE-PSK-AES256-GCM-SHA384:DHE-PSK-AES128-GCM-SHA256:PSK-AES256-GCM-SHA384:PSK-AES128-GCM-SHA256',
    checkServerIdentity: () => undefined,
  };
}

/**
 * Continue `sock` in TLS as the client; returns the TLS socket, which carries the stream from now
 * on (or `sock`, destroyed, when the settings cannot be read: `failed` follows).
 */
export function startTls(sock: net.Socket, o: TlsOptions, ev: TlsEvents): net.Socket {
  let creds: tls.ConnectionOptions;
  try {
    creds = o.pskFile ? psk(o.pskFile, o.username) : x509(o.certificates);
  } catch (e) {
    const err = e instanceof NbdError ? e : new NbdError(errno.EIO, '', `TLS: ${String(e)}`);
    queueMicrotask(() => ev.failed(err));
    sock.destroy();
    return sock;
  }
  const host = o.hostname;
  const s = tls.connect({
    socket: sock,
    minVersion: 'TLSv1.2',
    rejectUnauthorized: o.verifyPeer,
    ...(host && !net.isIP(host) ? { servername: host } : {}),
    // With no name to check (a Unix socket), the chain alone is verified, as libnbd does.
    checkServerIdentity: (_name, cert) => (o.verifyPeer && host ? tls.checkServerIdentity(host, cert) : undefined),
    ...creds,
  });
  let secure = false;
  let heard = false;
  s.on('secureConnect', () => {
    secure = true;
    const c = s.getCipher();
    ev.secure(`${s.getProtocol() ?? 'TLS'}, cipher ${c.standardName ?? c.name}${o.pskFile ? ', PSK' : ''}`);
  });
  s.on('data', (b: Buffer) => {
    heard = true;
    ev.data(b);
  });
  s.on('error', (e: NodeJS.ErrnoException) => {
    const t = tlsFailure(e);
    if (secure) ev.error(new NbdError(t.errno, '', t.detail));
    else ev.failed(new NbdError(t.errno, '', `handshake: ${t.detail}`));
  });
  s.on('close', () => {
    if (!secure) return ev.failed(new NbdError(errno.ECONNRESET, '', 'handshake: TLS: the server closed the connection during the TLS handshake'));
    // In TLS 1.3 the server checks our certificate after our side of the handshake is done.
    if (!heard) ev.error(new NbdError(errno.ECONNRESET, '', 'TLS: the server closed the connection right after the TLS handshake (did it refuse our certificate?)'));
    ev.close();
  });
  return s;
}
