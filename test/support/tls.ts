// TLS material for the tests, made with openssl as an administrator would: a CA, a server
// certificate for localhost and 127.0.0.1 signed by it, a client certificate, a self-signed server
// certificate, and psktool-style PSK files. Laid out as nbdkit, qemu-nbd and libnbd want them.

import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface TlsFixture {
  /** nbdkit's and qemu-nbd's --tls-certificates / dir=: ca-cert.pem, server-cert.pem, server-key.pem. */
  server: string;
  /** The same with a self-signed server certificate (ca-cert.pem is that certificate). */
  selfSigned: string;
  /** A server certificate signed by the CA for another name (other.example) only. */
  otherName: string;
  /** The CA's certificate (for NODE_EXTRA_CA_CERTS). */
  caCert: string;
  /** libnbd's nbd_set_tls_certificates: ca-cert.pem, client-cert.pem, client-key.pem. */
  client: string;
  /** The CA alone: no client certificate. */
  caOnly: string;
  /** PSK file with the user "alice", and one with a different key for her. */
  psk: string;
  wrongPsk: string;
}

const openssl = (dir: string, args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });

export function makeTlsFixture(): TlsFixture {
  const d = mkdtempSync(join(tmpdir(), 'webnbd-tls-'));
  const f: TlsFixture = {
    server: join(d, 'server'), selfSigned: join(d, 'self'), otherName: join(d, 'other'), caCert: join(d, 'ca-cert.pem'), client: join(d, 'client'), caOnly: join(d, 'ca-only'),
    psk: join(d, 'keys.psk'), wrongPsk: join(d, 'wrong.psk'),
  };
  for (const sub of [f.server, f.selfSigned, f.otherName, f.client, f.caOnly]) mkdirSync(sub);
  const days = ['-days', '2'];
  openssl(d, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca-cert.pem', ...days, '-subj', '/CN=webnbd test CA']);
  const sign = (name: string, subj: string, ext: string, out: string, key: string) => {
    writeFileSync(join(d, `${name}.ext`), ext);
    openssl(d, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', `${name}.csr`, '-subj', subj]);
    openssl(d, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca-cert.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', out, ...days, '-extfile', `${name}.ext`]);
  };
  sign('server', '/CN=localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n',
    join(f.server, 'server-cert.pem'), join(f.server, 'server-key.pem'));
  sign('other', '/CN=other.example', 'subjectAltName=DNS:other.example\nextendedKeyUsage=serverAuth\n',
    join(f.otherName, 'server-cert.pem'), join(f.otherName, 'server-key.pem'));
  sign('client', '/CN=client', 'extendedKeyUsage=clientAuth\n', join(f.client, 'client-cert.pem'), join(f.client, 'client-key.pem'));
  for (const sub of [f.server, f.client, f.caOnly]) copyFileSync(join(d, 'ca-cert.pem'), join(sub, 'ca-cert.pem'));
  openssl(d, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(f.selfSigned, 'server-key.pem'),
    '-out', join(f.selfSigned, 'server-cert.pem'), ...days, '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
  copyFileSync(join(f.selfSigned, 'server-cert.pem'), join(f.selfSigned, 'ca-cert.pem'));
  writeFileSync(f.psk, `alice:${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  writeFileSync(f.wrongPsk, `alice:${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  return f;
}
