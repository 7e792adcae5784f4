// `webnbd info` on nbds:// and nbds+unix:// URIs against nbdinfo --no-content, byte for byte, on
// nbdkit --tls=require with X.509 certificates and with PSK (made with openssl in the test); and
// TLS failures, NBD's own and a wss:// bridge's, as one line that keeps their reason.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startNbdkit, startWebsockify } from '../support/servers.js';
import { ROOT, run, webnbd, type Run } from '../support/cli.js';
import { makeTlsFixture } from '../support/tls.js';

const tls = makeTlsFixture();
const nbdinfo = (...args: string[]): Promise<Run> => run('nbdinfo', args);

/** webnbd with more environment (Node reads NODE_EXTRA_CA_CERTS at startup only). */
const webnbdWith = (env: Record<string, string>, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    const p = spawn('node', ['bin/webnbd.js', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });

async function same(uri: string): Promise<void> {
  for (const extra of [[], ['--json']]) {
    const [a, b] = await Promise.all([webnbd('info', ...extra, uri), nbdinfo('--no-content', ...extra, uri)]);
    expect(b.status, b.stderr).toBe(0);
    expect({ uri, extra, stdout: a.stdout, status: a.status }).toEqual({ uri, extra, stdout: b.stdout, status: b.status });
  }
}

describe('cli-info-nbds-matches-nbdinfo', () => {
  it('x509-over-tcp', async () => {
    const s = await startNbdkit(['memory', '1M'], { extraArgs: ['--tls=require', `--tls-certificates=${tls.server}`] });
    try {
      await same(`nbds://localhost:${s.port}/?tls-certificates=${tls.client}`);
    } finally {
      await s.stop();
    }
  });

  it('psk-over-a-unix-socket', async () => {
    const s = await startNbdkit(['data', '1 @4096 2'], { unix: true, extraArgs: ['--tls=require', `--tls-psk=${tls.psk}`] });
    try {
      await same(`nbds+unix://alice@/?socket=${s.socket}&tls-psk-file=${tls.psk}`);
    } finally {
      await s.stop();
    }
  });

  it('a-tls-failure-is-one-line-with-its-reason', async () => {
    const s = await startNbdkit(['memory', '1M'], { extraArgs: ['--tls=require', `--tls-certificates=${tls.selfSigned}`] });
    try {
      const r = await webnbd('info', `nbds://localhost:${s.port}/?tls-certificates=${tls.caOnly}`);
      expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({
        status: 1, stdout: '',
        stderr: 'webnbd: nbd_connect_uri: handshake: TLS: server certificate verification failed: certificate is self-signed: Protocol error\n',
      });
    } finally {
      await s.stop();
    }
  });

  it('a-wss-bridge-whose-certificate-fails-says-why', async () => {
    const nbd = await startNbdkit(['memory', '1M']);
    const self = await startWebsockify({ port: nbd.port! }, { cert: `${tls.selfSigned}/server-cert.pem`, key: `${tls.selfSigned}/server-key.pem` });
    const other = await startWebsockify({ port: nbd.port! }, { cert: `${tls.otherName}/server-cert.pem`, key: `${tls.otherName}/server-key.pem` });
    try {
      const a = await webnbd('info', `nbds+wss://127.0.0.1:${self.port}/`);
      expect([a.status, a.stderr]).toEqual([1,
        `webnbd: nbd_connect_uri: connect: wss://127.0.0.1:${self.port}/: TLS: server certificate verification failed: certificate is self-signed: Protocol error\n`]);
      const b = await webnbdWith({ NODE_EXTRA_CA_CERTS: tls.caCert }, 'info', `nbds+wss://127.0.0.1:${other.port}/`);
      expect([b.status, b.stderr]).toEqual([1,
        `webnbd: nbd_connect_uri: connect: wss://127.0.0.1:${other.port}/: TLS: server certificate verification failed: name does not match (IP: 127.0.0.1 is not in the cert's list): Protocol error\n`]);
    } finally {
      await Promise.all([self.stop(), other.stop(), nbd.stop()]);
    }
  });
});
