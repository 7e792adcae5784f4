// The bridge is no open proxy: by default it listens on loopback only, admits nobody without its
// secret token, the client can never pick where it forwards (not by path, query or token-shaped
// guesses), and with a token file only the listed tokens reach anything. Checked with webnbd's Node
// client and raw WebSockets.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBridge, type Bridge } from '../../bridge/bridge.js';
import { create } from '../../web/node/index.js';
import { startNbdkit, type NbdServer } from '../support/servers.js';

const dir = mkdtempSync(join(tmpdir(), 'webnbd-security-'));
const bridges: Bridge[] = [];
let a: NbdServer; // what the bridge forwards to: 1 MiB
let b: NbdServer; // another server on this machine, which no client may reach: 2 MiB
beforeAll(async () => {
  [a, b] = await Promise.all([startNbdkit(['pattern', '1M']), startNbdkit(['pattern', '2M'])]);
});
afterAll(() => Promise.all(bridges.map((x) => x.close())));

async function bridge(opts: Parameters<typeof startBridge>[0]): Promise<Bridge> {
  const x = await startBridge(opts);
  bridges.push(x);
  return x;
}

/** Which server a WebSocket URL reaches (by export size), or the error code if none. */
async function reaches(url: string): Promise<string> {
  const h = create();
  try {
    await h.connectWebsocket(url);
    const size = h.getSize();
    await h.shutdown();
    return size === 1048576n ? 'A' : size === 2097152n ? 'B' : `size ${size}`;
  } catch (e) {
    return (e as { code: string }).code;
  } finally {
    h.close();
  }
}

/** The local addresses listening on `port`, from /proc/net/tcp and tcp6. */
function listeners(port: number): string[] {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((f) => readFileSync(f, 'utf8').split('\n').slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((c) => c[3] === '0A' && c[1]?.endsWith(`:${hex}`))
    .map((c) => c[1]!.split(':')[0]!));
}

describe('no open proxy', () => {
  it('listens-on-loopback-only-by-default', async () => {
    const x = await bridge({ target: { host: '127.0.0.1', port: a.port! } });
    expect(x.host).toBe('127.0.0.1');
    expect(listeners(x.port)).toEqual(['0100007F']); // 127.0.0.1, and nothing else
  });

  it('the-client-cannot-choose-the-target', async () => {
    const x = await bridge({ target: { host: '127.0.0.1', port: a.port! } });
    const base = `ws://127.0.0.1:${x.port}`;
    const t = `token=${x.token}`;
    const attempts = [
      `${base}/?${t}`,
      `${base}/127.0.0.1:${b.port}?${t}`,
      `${base}/?host=127.0.0.1&port=${b.port}&${t}`,
      `${base}/?target=127.0.0.1:${b.port}&${t}`,
      `${base}/websockify?target=unix_socket:/tmp/x&${t}`,
    ];
    for (const url of attempts) expect(await reaches(url), url).toBe('A');
    // Without the token, none of them reaches anything.
    for (const url of attempts) expect(await reaches(url.replace(/[?&]token=[^&]*/, '')), url).toBe('ECONNREFUSED');
    expect(await reaches(`${base}/?token=127.0.0.1:${b.port}`)).toBe('ECONNREFUSED');
  });

  it('with-a-token-file-only-listed-tokens-reach-anything', async () => {
    const tokens = join(dir, 'tokens');
    writeFileSync(tokens, `good: 127.0.0.1:${a.port}\n`);
    const x = await bridge({ target: { tokenFile: tokens } });
    const base = `ws://127.0.0.1:${x.port}/`;
    expect(await reaches(`${base}?token=good`)).toBe('A');
    for (const bad of ['bad', 'Good', `127.0.0.1:${b.port}`, `good: 127.0.0.1:${b.port}`, '']) {
      const r = await reaches(`${base}?token=${encodeURIComponent(bad)}`);
      expect(r, `token ${JSON.stringify(bad)}`).not.toMatch(/^[AB]$/);
    }
    expect(await reaches(base)).not.toMatch(/^[AB]$/);
    // Through webnbd's URI too: a wrong token is a clear connection error.
    // The error line names the bridge but not the secret tried, since it ends up in logs.
    const e = await create().connectUri(`nbd+ws://127.0.0.1:${x.port}/?token=bad-secret`).catch((e: Error) => e);
    expect((e as Error).message).toMatch(new RegExp(`^nbd_connect_uri: connect: ws://127\\.0\\.0\\.1:${x.port}/\\?token=…: the bridge refused the WebSocket \\(HTTP 401 Unauthorized\\)`));
    expect((e as Error).message).not.toContain('bad-secret');
  });

  it('a-foreign-origin-is-refused-before-any-byte-of-nbd', async () => {
    const x = await bridge({ target: { host: '127.0.0.1', port: a.port! } });
    const outcome = (origin?: string, token = x.token!) => new Promise<string>((done) => {
      const ws = new WebSocket(`${x.url}${token ? `?token=${token}` : ''}`, ['binary'], origin ? { origin } : {});
      ws.on('message', (d: Buffer) => { done(d.subarray(0, 8).toString()); ws.terminate(); });
      ws.on('unexpected-response', (_q, res) => { done(`HTTP ${res.statusCode}`); ws.terminate(); });
      ws.on('error', () => done('error'));
    });
    expect(await outcome(`http://127.0.0.1:${x.port}`)).toBe('NBDMAGIC'); // the control
    expect(await outcome('https://evil.example')).toBe('HTTP 403');
    expect(await outcome('null')).toBe('HTTP 403'); // sandboxed iframes and file: pages
    expect(await outcome()).toBe('HTTP 403');
    // A forged Origin is no key: without the token, or with a wrong one, 401 and not a byte of NBD.
    expect(await outcome(`http://127.0.0.1:${x.port}`, '')).toBe('HTTP 401');
    expect(await outcome(`http://127.0.0.1:${x.port}`, 'wrong')).toBe('HTTP 401');
  });

  it('another-local-user-gets-no-byte-of-nbd', async () => {
    // The bridge runs its own nbdkit on a socket in a private directory (0700); user nobody can
    // reach the bridge's port but does not know the token, and cannot reach the socket.
    const x = await bridge({ target: { command: ['nbdkit', 'pattern', '1M'] } });
    const cmd = readFileSync(`/proc/${x.serverPid()}/cmdline`, 'utf8').split('\0');
    const sock = JSON.stringify(cmd[cmd.indexOf('-U') + 1]); // nbdkit's socket, from its command line
    const probe = `const net = require('net');
      const up = (t) => new Promise((done) => { let out = ''; const s = net.connect(${x.port}, '127.0.0.1');
        s.write('GET /' + (t === null ? '' : '?token=' + t) + ' HTTP/1.1\\r\\nHost: 127.0.0.1:${x.port}\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\nOrigin: http://127.0.0.1:${x.port}\\r\\n\\r\\n');
        s.on('data', (d) => (out += d.toString('latin1'))); s.on('error', () => {});
        s.on('close', () => done(out.split('\\r\\n')[0] + (out.includes('NBDMAGIC') ? ' NBDMAGIC' : ''))); setTimeout(() => s.destroy(), 1500); });
      const direct = () => new Promise((done) => { const s = net.connect(${sock}); s.on('connect', () => { done('connected'); s.destroy(); }); s.on('error', (e) => done(e.code)); });
      (async () => console.log(JSON.stringify([await up(null), await up('guess'), await up('${'x'.repeat(32)}'), await direct(), process.getuid()])))();`;
    const { stdout } = await promisify(execFile)('runuser', ['-u', 'nobody', '--', process.execPath, '-e', probe], { cwd: '/' });
    expect(JSON.parse(stdout)).toEqual(['HTTP/1.1 401 Unauthorized', 'HTTP/1.1 401 Unauthorized', 'HTTP/1.1 401 Unauthorized', 'EACCES', 65534]);
    // The control: the same request with the token opens NBD.
    const { stdout: ok } = await promisify(execFile)(process.execPath, ['-e', probe.replace("await up(null)", `await up('${x.token}')`)]);
    expect(JSON.parse(ok)[0]).toBe('HTTP/1.1 101 Switching Protocols NBDMAGIC');
  });
});
