// `webnbd info` on nbds:// and nbds+unix:// URIs against nbdinfo --no-content, byte for byte, on
// nbdkit --tls=require with X.509 certificates and with PSK (made with openssl in the test).
import { describe, expect, it } from 'vitest';
import { startNbdkit } from '../support/servers.js';
import { run, webnbd, type Run } from '../support/cli.js';
import { makeTlsFixture } from '../support/tls.js';

const tls = makeTlsFixture();
const nbdinfo = (...args: string[]): Promise<Run> => run('nbdinfo', args);

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
});
