// Proves the real-server harness (test/support/servers.ts): each server starts as configured,
// as libnbd's nbdinfo sees it; websockify forwards its bytes; stop() and failures behave.
import { execFile } from 'node:child_process';
import { mkdtempSync, truncateSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  isAlive, startNbdkit, startNbdServer, startQemuNbd, startWebsockify, stopAll,
} from '../support/servers.js';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'webnbd-servers-test-'));
afterAll(() => exec('rm', ['-rf', dir]));

const MiB = 1024 * 1024;

/** The fields of `nbdinfo --json` these tests look at. */
interface NbdinfoJson {
  protocol: string;
  exports: {
    'export-name': string;
    'export-size': number;
    description?: string;
    is_read_only: boolean;
    can_trim: boolean;
  }[];
}

async function nbdinfo(uri: string): Promise<NbdinfoJson> {
  const { stdout } = await exec('nbdinfo', ['--json', '--no-content', uri]);
  return JSON.parse(stdout) as NbdinfoJson;
}

async function nbdinfoSize(uri: string): Promise<number> {
  const { stdout } = await exec('nbdinfo', ['--size', uri]);
  return Number(stdout.trim());
}

function rawFile(name: string, size: number): string {
  const path = join(dir, name);
  writeFileSync(path, '');
  truncateSync(path, size);
  return path;
}

/**
 * The first `length` bytes a WebSocket client gets through websockify: the NBD server's
 * greeting. Messages carry whatever each socket read returned (nbd-server writes its greeting
 * in pieces), so collect until there are enough.
 */
function greeting(url: string, length: number, options: WebSocket.ClientOptions = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['binary'], options);
    const chunks: Buffer[] = [];
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer) => {
      chunks.push(data);
      const bytes = Buffer.concat(chunks);
      if (bytes.length < length) return;
      // An explicit code: websockify 0.10 echoes a code-less close as 1005, which ws rejects.
      ws.close(1000);
      resolve(bytes.subarray(0, length));
    });
    ws.once('error', reject);
    ws.once('close', () => reject(new Error(`closed after ${Buffer.concat(chunks).length} bytes`)));
  });
}

describe('nbdkit', () => {
  it('nbdkit-tcp-serves-configured-memory-disk', async () => {
    const server = await startNbdkit(['memory', '1M']);
    expect(server.uri).toBe(`nbd://127.0.0.1:${server.port}/`);
    const info = await nbdinfo(server.uri);
    expect(info.protocol).toBe('newstyle-fixed');
    expect(info.exports[0]).toMatchObject({ 'export-size': MiB, is_read_only: false, can_trim: true });
    await server.stop();
  });

  it('nbdkit-unix-socket-read-only', async () => {
    const server = await startNbdkit(['-r', 'pattern', '64K'], { unix: true, exportName: 'pat' });
    expect(server.socket).toBeDefined();
    expect(server.port).toBeUndefined();
    expect(server.uri).toBe(`nbd+unix:///pat?socket=${encodeURIComponent(server.socket ?? '')}`);
    expect((await nbdinfo(server.uri)).exports[0]).toMatchObject({ 'export-size': 65536, is_read_only: true });
  });

  it('nbdkit-oldstyle-handshake', async () => {
    const server = await startNbdkit(['memory', '2M'], { oldstyle: true });
    const info = await nbdinfo(server.uri);
    expect(info.protocol).toBe('oldstyle');
    expect(info.exports[0]?.['export-size']).toBe(2 * MiB);
  });

  it('nbdkit-startup-failure-throws-with-log-tail', async () => {
    await expect(startNbdkit(['no-such-plugin'])).rejects.toThrow(/nbdkit did not start: it exited[^]*no-such-plugin/);
  });

  it('stop-ends-the-process-and-kill-signals-it', async () => {
    const a = await startNbdkit(['null', '1M']);
    await a.stop();
    expect(isAlive(a.pid)).toBe(false);
    await expect(nbdinfoSize(a.uri)).rejects.toThrow();

    const b = await startNbdkit(['null', '1M']);
    b.kill('SIGKILL');
    await b.exited;
    expect(isAlive(b.pid)).toBe(false);
  });

  it('stop-all-stops-every-server', async () => {
    const servers = [await startNbdkit(['null', '1M']), await startNbdServer(rawFile('all.raw', MiB))];
    await stopAll();
    expect(servers.map((s) => isAlive(s.pid))).toEqual([false, false]);
  });
});

describe('qemu-nbd', () => {
  it('qemu-nbd-raw-export-name-description-read-only', async () => {
    const server = await startQemuNbd(rawFile('q.raw', 3 * MiB), { exportName: 'disk', description: 'a test disk', readOnly: true });
    expect(server.uri).toBe(`nbd://127.0.0.1:${server.port}/disk`);
    expect((await nbdinfo(server.uri)).exports[0]).toMatchObject({
      'export-name': 'disk', 'export-size': 3 * MiB, description: 'a test disk', is_read_only: true,
    });
  });

  it('qemu-nbd-qcow2-over-unix-socket', async () => {
    const file = join(dir, 'q.qcow2');
    await exec('qemu-img', ['create', '-q', '-f', 'qcow2', file, '5M']);
    const server = await startQemuNbd(file, { format: 'qcow2', unix: true });
    expect((await nbdinfo(server.uri)).exports[0]).toMatchObject({ 'export-size': 5 * MiB, is_read_only: false });
  });

  it('qemu-nbd-not-persistent-exits-after-its-first-client', async () => {
    // Readiness must not use up the one client a non-persistent qemu-nbd serves.
    const server = await startQemuNbd(rawFile('once.raw', MiB), { persistent: false });
    expect(await nbdinfoSize(server.uri)).toBe(MiB);
    await server.exited;
  });
});

describe('nbd-server', () => {
  it('nbd-server-tcp-serves-file', async () => {
    const server = await startNbdServer(rawFile('n.raw', 4 * MiB));
    expect(server.uri).toBe(`nbd://127.0.0.1:${server.port}/export`);
    // nbd-server 3.24 answers NBD_OPT_INFO with size 0 (it opens the file only on NBD_OPT_GO),
    // and `nbdinfo --json` asks with NBD_OPT_INFO; --size connects with NBD_OPT_GO.
    expect(await nbdinfoSize(server.uri)).toBe(4 * MiB);
    expect(await nbdinfoSize(server.uri)).toBe(4 * MiB); // a daemon: more than one client
    const info = await nbdinfo(server.uri);
    expect(info.protocol).toBe('newstyle-fixed');
    expect(info.exports[0]).toMatchObject({ 'export-name': 'export', is_read_only: false });
  });

  it('nbd-server-unix-socket-read-only-named-export', async () => {
    const server = await startNbdServer(rawFile('n2.raw', MiB), { unix: true, exportName: 'disk', readOnly: true });
    expect(server.uri).toMatch(/^nbd\+unix:\/\/\/disk\?socket=/);
    expect(await nbdinfoSize(server.uri)).toBe(MiB);
    expect((await nbdinfo(server.uri)).exports[0]).toMatchObject({ 'export-name': 'disk', is_read_only: true });
  });

  it('nbd-server-stop-ends-the-daemon', async () => {
    const server = await startNbdServer(rawFile('n3.raw', MiB));
    await server.stop();
    expect(isAlive(server.pid)).toBe(false);
    const refused = await new Promise<boolean>((resolve) => {
      const s = connect(server.port ?? 0, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(false); });
      s.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  });

  it('nbd-server-bad-export-file-fails-on-connect-not-start', async () => {
    // nbd-server opens the export file only when a client asks for it.
    const server = await startNbdServer(join(dir, 'missing.raw'));
    await expect(nbdinfoSize(server.uri)).rejects.toThrow();
  });
});

describe('websockify', () => {
  const NBDMAGIC = Buffer.from('NBDMAGIC');
  const IHAVEOPT = Buffer.from('IHAVEOPT');

  async function expectNewstyleGreeting(url: string): Promise<void> {
    expect(await greeting(url, 16)).toEqual(Buffer.concat([NBDMAGIC, IHAVEOPT]));
  }

  it('websockify-forwards-nbdkit-tcp', async () => {
    const nbd = await startNbdkit(['memory', '1M']);
    const ws = await startWebsockify({ port: nbd.port ?? 0 });
    expect(ws.url).toBe(`ws://127.0.0.1:${ws.port}/`);
    await expectNewstyleGreeting(ws.url);
    await expectNewstyleGreeting(ws.url); // and a second connection
  });

  it('websockify-forwards-nbdkit-unix-socket', async () => {
    const nbd = await startNbdkit(['memory', '1M'], { unix: true });
    const ws = await startWebsockify({ socket: nbd.socket ?? '' });
    await expectNewstyleGreeting(ws.url);
  });

  it('websockify-forwards-nbdkit-oldstyle', async () => {
    const nbd = await startNbdkit(['memory', '1M'], { oldstyle: true });
    const ws = await startWebsockify({ port: nbd.port ?? 0 });
    const bytes = await greeting(ws.url, 24);
    // Oldstyle: NBDMAGIC, 0x00420281861253 (64 bits), then the 64-bit size (NBD protocol, "Oldstyle negotiation").
    expect(bytes.subarray(0, 16)).toEqual(Buffer.concat([NBDMAGIC, Buffer.from('0000420281861253', 'hex')]));
    expect(bytes.readBigUInt64BE(16)).toBe(BigInt(MiB));
  });

  it('websockify-forwards-qemu-nbd-and-nbd-server', async () => {
    const qemu = await startQemuNbd(rawFile('w1.raw', MiB), { shared: 4 });
    await expectNewstyleGreeting((await startWebsockify({ port: qemu.port ?? 0 })).url);
    const nbdServer = await startNbdServer(rawFile('w2.raw', MiB));
    await expectNewstyleGreeting((await startWebsockify({ port: nbdServer.port ?? 0 })).url);
  });

  it('websockify-token-file-selects-target', async () => {
    const nbd = await startNbdkit(['memory', '1M']);
    const tokens = join(dir, 'tokens');
    writeFileSync(tokens, `disk: 127.0.0.1:${nbd.port}\n`);
    const ws = await startWebsockify({ tokenPlugin: 'TokenFile', tokenSource: tokens });
    await expectNewstyleGreeting(`${ws.url}?token=disk`);
  });

  it('websockify-wss-with-self-signed-certificate', async () => {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    await exec('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-keyout', key, '-out', cert]);
    const nbd = await startNbdkit(['memory', '1M']);
    const ws = await startWebsockify({ port: nbd.port ?? 0 }, { cert, key });
    expect(ws.url).toBe(`wss://127.0.0.1:${ws.port}/`);
    expect(await greeting(ws.url, 8, { rejectUnauthorized: false })).toEqual(NBDMAGIC);
  });

  it('websockify-startup-failure-throws-with-log-tail', async () => {
    await expect(startWebsockify({ port: 1 }, { extraArgs: ['--no-such-option'] }))
      .rejects.toThrow(/websockify did not start: it exited[^]*no-such-option/);
  });
});
