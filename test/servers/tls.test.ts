// TLS in Node against real servers: nbdkit --tls=require with X.509 certificates (made here with
// openssl) and with PSK, and qemu-nbd with --object tls-creds-x509. The handshake as libnbd does
// it (NBD_OPT_STARTTLS first, then the options in TLS), libnbd's allow/require semantics, and
// TLS failures that keep their reason. Also the newer opt-mode calls against nbdkit and qemu-nbd.

import { describe, expect, it } from 'vitest';
import { create, type NbdHandle } from '../../web/node/index.js';
import * as T from '../../web/core/types.js';
import { startNbdkit, startQemuNbd, type NbdServer } from '../support/servers.js';
import { makeTlsFixture } from '../support/tls.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const tls = makeTlsFixture();

/** nbdkit's pattern plugin: each 8-byte word is its own offset, big-endian. */
function pattern(offset: number, length: number): Uint8Array {
  const b = new Uint8Array(length);
  const v = new DataView(b.buffer);
  for (let i = 0; i < length; i += 8) v.setBigUint64(i, BigInt(offset + i));
  return b;
}

const x509 = (dir = tls.server, more: string[] = []) => ['--tls=require', `--tls-certificates=${dir}`, ...more];
const nbds = (s: NbdServer, query: string) =>
  'socket' in s && s.socket ? `nbds+unix:///?socket=${s.socket}&${query}` : `nbds://127.0.0.1:${s.port}/?${query}`;

async function readsPattern(h: NbdHandle): Promise<void> {
  const b = new Uint8Array(4096);
  await h.pread(b, 65536);
  expect(b).toEqual(pattern(65536, 4096));
}

/** The handle's debug messages, without the calls' enter/leave lines. */
function traced(h: NbdHandle): string[] {
  const got: string[] = [];
  h.setDebugCallback((_name, msg) => { if (!/^nbd_\w+: (enter|leave)/.test(msg)) got.push(msg); });
  h.setDebug(true);
  return got;
}

/** A server refusing our (missing) certificate: gnutls hangs up during the handshake, or after ours in TLS 1.3. */
const REFUSED = (call: string) => new RegExp(`^NbdError: nbd_connect_${call}: handshake: TLS: the server closed the connection `
  + '(during the TLS handshake \\(wrong key or certificate\\?\\)|right after the TLS handshake \\(did it refuse our certificate\\?\\)): Connection reset by peer$');

/** The error a connect ends with. */
const failure = (p: Promise<unknown>): Promise<string> => p.then(() => 'connected', (e: unknown) => String(e));

describe('X.509 against nbdkit --tls=require', () => {
  it('nbds-uri-with-certificates-reads-in-tls', async () => {
    const s = await startNbdkit(['pattern', '1M'], { extraArgs: x509() });
    try {
      const h = create();
      const debug = traced(h);
      await h.connectUri(nbds(s, `tls-certificates=${tls.client}`));
      expect([h.getTlsNegotiated(), h.getTls(), h.getProtocol(), h.getStructuredRepliesNegotiated()]).toEqual([true, T.TLS_REQUIRE, 'newstyle-fixed', true]);
      // STARTTLS first, then the other options inside TLS (TLS 1.3 with nbdkit's gnutls).
      expect(debug.filter((m) => /^(sending NBD_OPT|connection is using TLS)/.test(m))).toEqual([
        'sending NBD_OPT_STARTTLS', 'connection is using TLS: TLSv1.3, cipher TLS_AES_256_GCM_SHA384',
        'sending NBD_OPT_EXTENDED_HEADERS', 'sending NBD_OPT_STRUCTURED_REPLY', 'sending NBD_OPT_GO',
      ]);
      expect(h.getUri()).toBe(`nbds://127.0.0.1:${s.port}/?tls-certificates=${tls.client}`);
      await readsPattern(h);
      await h.shutdown();
    } finally {
      await s.stop();
    }
  });

  it('set-tls-and-certificates-then-connect-tcp, and the reasons verification fails', async () => {
    const s = await startNbdkit(['pattern', '1M'], { extraArgs: x509() });
    try {
      const h = create();
      h.setTls(T.TLS_REQUIRE);
      h.setTlsCertificates(tls.client);
      await h.connectTcp('127.0.0.1', s.port!);
      await readsPattern(h);
      await h.shutdown();
      // The server's name is checked against the certificate's (DNS:localhost, IP:127.0.0.1).
      const other = create();
      other.setTls(T.TLS_REQUIRE);
      other.setTlsCertificates(tls.client);
      other.setTlsHostname('wrong.example');
      expect(other.getTlsHostname()).toBe('wrong.example');
      expect(await failure(other.connectTcp('localhost', s.port!))).toMatch(
        /^NbdError: nbd_connect_tcp: handshake: TLS: server certificate verification failed: name does not match \(Host: wrong\.example\. is not in the cert's altnames: DNS:localhost, IP Address:127\.0\.0\.1\): Protocol error$/);
      expect(other.aioIsDead()).toBe(true);
      const nowhere = create();
      nowhere.setTls(T.TLS_REQUIRE);
      nowhere.setTlsCertificates('/nonexistent/pki');
      expect(await failure(nowhere.connectTcp('127.0.0.1', s.port!))).toBe(
        'NbdError: nbd_connect_tcp: TLS: certificate directory /nonexistent/pki does not exist: No such file or directory');
      // No CA of ours: the system's CAs do not know this one.
      const unknown = create();
      expect(await failure(unknown.connectUri(nbds(s, `tls-certificates=${tls.selfSigned}`)))).toMatch(/TLS: server certificate verification failed: certificate issuer is unknown: Protocol error$/);
    } finally {
      await s.stop();
    }
  });

  it('a-self-signed-server-certificate-is-named-as-such; verify peer off connects', async () => {
    const s = await startNbdkit(['pattern', '1M'], { extraArgs: x509(tls.selfSigned) });
    try {
      const h = create();
      h.setTls(T.TLS_REQUIRE);
      h.setTlsCertificates(tls.caOnly);
      expect(await failure(h.connectTcp('localhost', s.port!))).toBe(
        'NbdError: nbd_connect_tcp: handshake: TLS: server certificate verification failed: certificate is self-signed: Protocol error');
      const trusting = create();
      trusting.setTls(T.TLS_REQUIRE);
      trusting.setTlsCertificates(tls.caOnly);
      trusting.setTlsVerifyPeer(false);
      expect(trusting.getTlsVerifyPeer()).toBe(false);
      await trusting.connectTcp('localhost', s.port!);
      await readsPattern(trusting);
      await trusting.shutdown();
    } finally {
      await s.stop();
    }
  });

  it('a-server-that-verifies-clients-wants-our-certificate', async () => {
    const s = await startNbdkit(['pattern', '1M'], { extraArgs: x509(tls.server, ['--tls-verify-peer']) });
    try {
      const h = create();
      await h.connectUri(nbds(s, `tls-certificates=${tls.client}`));
      await readsPattern(h);
      await h.shutdown();
      const anonymous = create();
      const err = await failure(anonymous.connectUri(nbds(s, `tls-certificates=${tls.caOnly}`)));
      expect(err).toMatch(REFUSED('uri'));
      expect(anonymous.aioIsDead()).toBe(true);
    } finally {
      await s.stop();
    }
  });

  it('opt-starttls-in-opt-mode-then-go', async () => {
    const s = await startNbdkit(['pattern', '1M'], { extraArgs: x509() });
    try {
      const h = create();
      h.setOptMode(true);
      h.setTlsCertificates(tls.client);
      await h.connectUri(`nbd://127.0.0.1:${s.port}/`);
      expect(h.getTlsNegotiated()).toBe(false);
      // Before TLS the server refuses everything else (NBD_REP_ERR_TLS_REQD).
      await expect(h.optInfo()).rejects.toThrow(/^nbd_opt_info: server replied with error to opt_info request.*: Operation not supported$/);
      expect(await h.optStarttls()).toBe(true);
      expect(h.getTlsNegotiated()).toBe(true);
      const errs: number[] = [];
      await new Promise<void>((resolve) => h.aioOptStructuredReply((e) => { errs.push(e.value); resolve(); }));
      expect([errs, h.getStructuredRepliesNegotiated()]).toEqual([[0], true]);
      await h.optGo();
      await readsPattern(h);
      await h.shutdown();
    } finally {
      await s.stop();
    }
  });

  it('tls-allow-and-require-against-a-server-without-tls; disable against one that requires it', async () => {
    const plain = await startNbdkit(['pattern', '1M']);
    const secure = await startNbdkit(['pattern', '1M'], { extraArgs: x509() });
    try {
      const allow = create();
      allow.setTls(T.TLS_ALLOW);
      await allow.connectUri(plain.uri);
      expect(allow.getTlsNegotiated()).toBe(false);
      await readsPattern(allow);
      await allow.shutdown();
      const require = create();
      require.setTls(T.TLS_REQUIRE);
      expect(await failure(require.connectUri(plain.uri))).toBe(
        "NbdError: nbd_connect_uri: handshake: server refused TLS, but handle TLS setting is 'require' (2): Operation not supported");
      const none = create();
      expect(await failure(none.connectUri(secure.uri))).toMatch(/^NbdError: nbd_connect_uri: server replied with error to opt_go request.*: Operation not supported$/);
      // An opt-mode handle asks, and hears no.
      const asking = create();
      asking.setOptMode(true);
      await asking.connectUri(plain.uri);
      expect(await asking.optStarttls()).toBe(false);
      await asking.optGo();
      await readsPattern(asking);
      await asking.shutdown();
    } finally {
      await Promise.all([plain.stop(), secure.stop()]);
    }
  });
});

describe('PSK against nbdkit --tls-psk', () => {
  it('psk-over-tcp-and-unix-sockets', async () => {
    for (const unix of [false, true]) {
      const s = await startNbdkit(['pattern', '1M'], { unix, extraArgs: ['--tls=require', `--tls-psk=${tls.psk}`] });
      try {
        const h = create();
        const debug = traced(h);
        h.setTls(T.TLS_REQUIRE);
        h.setTlsPskFile(tls.psk);
        h.setTlsUsername('alice');
        expect(h.getTlsUsername()).toBe('alice');
        if (unix) await h.connectUnix(s.socket!);
        else await h.connectTcp('127.0.0.1', s.port!);
        expect(h.getTlsNegotiated()).toBe(true);
        expect(debug).toContainEqual(expect.stringMatching(/^connection is using TLS: TLSv1\.3, cipher TLS_\w+, PSK$/));
        await readsPattern(h);
        await h.shutdown();
        // The same through a URI: the user name is the PSK identity.
        const u = create();
        await u.connectUri(unix ? `nbds+unix://alice@/?socket=${s.socket}&tls-psk-file=${tls.psk}` : `nbds://alice@127.0.0.1:${s.port}/?tls-psk-file=${tls.psk}`);
        await readsPattern(u);
        expect(u.getUri()).toBe(unix ? `nbds+unix://alice@/?socket=${s.socket}&tls-psk-file=${tls.psk}` : `nbds://alice@127.0.0.1:${s.port}/?tls-psk-file=${tls.psk}`);
        await u.shutdown();
      } finally {
        await s.stop();
      }
    }
  });

  it('a-psk-user-without-a-key-or-with-the-wrong-key', async () => {
    const s = await startNbdkit(['pattern', '1M'], { extraArgs: ['--tls=require', `--tls-psk=${tls.psk}`] });
    try {
      const bob = create();
      expect(await failure(bob.connectUri(`nbds://bob@127.0.0.1:${s.port}/?tls-psk-file=${tls.psk}`))).toBe(
        `NbdError: nbd_connect_uri: TLS: PSK file ${tls.psk} has no key for user bob: No such file or directory`);
      const wrong = create();
      const err = await failure(wrong.connectUri(`nbds://alice@127.0.0.1:${s.port}/?tls-psk-file=${tls.wrongPsk}`));
      expect(err).toBe('NbdError: nbd_connect_uri: handshake: TLS: the server closed the connection during the TLS handshake (wrong key or certificate?): Connection reset by peer');
      expect(wrong.aioIsDead()).toBe(true);
    } finally {
      await s.stop();
    }
  });
});

describe('qemu-nbd with tls-creds-x509', () => {
  it('qemu-nbd-x509-with-a-client-certificate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'webnbd-qemu-tls-'));
    const file = join(dir, 'disk.img');
    const data = pattern(0, 1 << 20);
    writeFileSync(file, data);
    // qemu's server endpoint verifies its clients by default (verify-peer=on).
    const s = await startQemuNbd(file, { extraArgs: ['--object', `tls-creds-x509,id=tls0,endpoint=server,dir=${tls.server}`, '--tls-creds', 'tls0'] });
    try {
      const h = create();
      h.setTls(T.TLS_REQUIRE);
      h.setTlsCertificates(tls.client);
      await h.connectTcp('127.0.0.1', s.port!);
      expect(h.getTlsNegotiated()).toBe(true);
      await readsPattern(h);
      await h.shutdown();
      const anonymous = create();
      anonymous.setTls(T.TLS_REQUIRE);
      anonymous.setTlsCertificates(tls.caOnly);
      expect(await failure(anonymous.connectTcp('127.0.0.1', s.port!))).toMatch(REFUSED('tcp'));
    } finally {
      await s.stop();
    }
  });
});

describe('the newer opt-mode calls against nbdkit', () => {
  it('opt-structured-reply-extended-headers-and-meta-contexts-on-nbdkit', async () => {
    const s = await startNbdkit(['pattern', '1M']);
    try {
      const h = create();
      h.setOptMode(true);
      h.setRequestStructuredReplies(false);
      await h.connectUri(s.uri);
      expect(await h.optStructuredReply()).toBe(true);
      // nbdkit 1.32 predates extended headers: it says no, and nothing changes.
      expect(await h.optExtendedHeaders()).toBe(false);
      expect(h.getExtendedHeadersNegotiated()).toBe(false);
      const listed: string[] = [];
      expect(await h.optListMetaContextQueries(['base:'], (n) => void listed.push(n))).toBe(1);
      expect(listed).toEqual(['base:allocation']);
      const set: string[] = [];
      expect(await h.optSetMetaContextQueries(['base:allocation', 'qemu:nosuch'], (n) => void set.push(n))).toBe(1);
      expect(set).toEqual(['base:allocation']);
      // The implicit list (nbd_add_meta_context's), through the aio form.
      h.addMetaContext('base:allocation');
      const implicit: string[] = [];
      const errs: number[] = [];
      await new Promise<void>((resolve) => h.aioOptSetMetaContext((n) => void implicit.push(n), (e) => { errs.push(e.value); resolve(); }));
      expect([implicit, errs]).toEqual([['base:allocation'], [0]]);
      h.setRequestMetaContext(false);
      await h.optGo();
      expect(h.canMetaContext('base:allocation')).toBe(true);
      expect(h.canBlockStatusPayload()).toBe(false);
      await expect(h.blockStatusFilter(4096, 0, ['base:allocation'], () => 0)).rejects.toThrow(
        /^nbd_block_status_filter: server did not negotiate extended headers: Operation not supported$/);
      await h.shutdown();
    } finally {
      await s.stop();
    }
  });

  it('opt-meta-context-queries-on-qemu-nbd', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'webnbd-qemu-opt-'));
    const file = join(dir, 'disk.img');
    writeFileSync(file, pattern(0, 1 << 20));
    const s = await startQemuNbd(file, { extraArgs: ['-A'] });
    try {
      const h = create();
      h.setOptMode(true);
      await h.connectUri(s.uri);
      const listed: string[] = [];
      expect(await h.optListMetaContextQueries(['qemu:'], (n) => void listed.push(n))).toBe(listed.length);
      expect(listed).toContain('qemu:allocation-depth');
      expect(listed.every((n) => n.startsWith('qemu:'))).toBe(true);
      const set: string[] = [];
      expect(await h.optSetMetaContextQueries(['qemu:allocation-depth'], (n) => void set.push(n))).toBe(1);
      expect(set).toEqual(['qemu:allocation-depth']);
      expect(await h.optExtendedHeaders()).toBe(false);
      h.setRequestMetaContext(false);
      await h.optGo();
      expect([h.canMetaContext('qemu:allocation-depth'), h.canMetaContext('base:allocation')]).toEqual([true, false]);
      await h.shutdown();
    } finally {
      await s.stop();
    }
  });
});
