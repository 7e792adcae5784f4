// What every benchmark runs against: one random export served by nbdkit (over TCP, and through
// websockify), and two bare TCP services behind their own websockify for the browser's baselines:
// a byte flood (the ceiling) and an echo (the latency floor).

import { randomFillSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNbdkit, startWebsockify, type NbdServer, type WebsockifyServer } from '../support/servers.js';

export interface Fixtures {
  /** The export's file (random bytes: no line repeats, no zeroes to skip). */
  file: string;
  /** Its first `hexBytes` bytes as a file, for hexdump -C and xxd. */
  hexFile: string;
  size: number;
  nbd: NbdServer;
  /** nbd://127.0.0.1:PORT/ */
  tcpUri: string;
  /** nbd+ws://127.0.0.1:PORT/ through websockify to the same nbdkit. */
  wsUri: string;
  /** The same websockify's ws:// URL (what a C program passes to nbd_connect_unix in the browser). */
  wsUrl: string;
  /** ws:// URL of websockify in front of the flood server (send a float64 count, get that many bytes). */
  floodUrl: string;
  /** ws:// URL of websockify in front of the echo server. */
  echoUrl: string;
  close(): Promise<void>;
}

/** A file of `size` random bytes (written in 16 MiB pieces; it stays in the page cache). */
function randomFile(path: string, size: number): void {
  const fd = openSync(path, 'w');
  const piece = Buffer.allocUnsafe(Math.min(size, 16 << 20));
  try {
    for (let at = 0; at < size; at += piece.length) {
      const n = Math.min(piece.length, size - at);
      randomFillSync(piece, 0, n);
      writeSync(fd, piece, 0, n);
    }
  } finally {
    closeSync(fd);
  }
}

/** The first `n` bytes of `from` as the file `to`, so the tools read a file of exactly that length. */
function copyHead(from: string, to: string, n: number): void {
  const src = openSync(from, 'r');
  const dst = openSync(to, 'w');
  const piece = Buffer.allocUnsafe(Math.min(n, 16 << 20));
  try {
    for (let at = 0; at < n;) {
      const got = readSync(src, piece, 0, Math.min(piece.length, n - at), at);
      writeSync(dst, piece, 0, got);
      at += got;
    }
  } finally {
    closeSync(src);
    closeSync(dst);
  }
}

/** A TCP server on 127.0.0.1 with a free port. */
async function listen(onSocket: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onSocket);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

/**
 * Reads an 8-byte float64 (little-endian) count, then sends that many bytes as fast as the
 * socket takes them: the same 1 MiB buffer again and again, so the server costs next to nothing.
 */
function flood(s: Socket): void {
  const block = Buffer.alloc(1 << 20, 0x5a);
  let head = Buffer.alloc(0);
  s.on('error', () => {});
  s.on('data', (d: Buffer) => {
    if (head.length >= 8) return;
    head = Buffer.concat([head, d]);
    if (head.length < 8) return;
    let left = head.readDoubleLE(0);
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, block.length);
        left -= n;
        if (!s.write(n === block.length ? block : block.subarray(0, n))) return void s.once('drain', pump);
      }
    };
    pump();
  });
}

function echo(s: Socket): void {
  s.setNoDelay(true);
  s.on('error', () => {});
  s.on('data', (d: Buffer) => s.write(d));
}

export async function startFixtures(size: number, hexBytes: number): Promise<Fixtures> {
  const dir = mkdtempSync(join(tmpdir(), 'webnbd-bench-'));
  const file = join(dir, 'disk.img');
  const hexFile = join(dir, 'head.img');
  randomFile(file, size);
  copyHead(file, hexFile, hexBytes);

  const nbd = await startNbdkit(['file', file]);
  const nbdWs: WebsockifyServer = await startWebsockify({ port: nbd.port! });
  const floodTcp = await listen(flood);
  const floodWs = await startWebsockify({ port: floodTcp.port });
  const echoTcp = await listen(echo);
  const echoWs = await startWebsockify({ port: echoTcp.port });
  return {
    file, hexFile, size, nbd,
    tcpUri: nbd.uri,
    wsUri: `nbd+ws://127.0.0.1:${nbdWs.port}/`,
    wsUrl: nbdWs.url,
    floodUrl: floodWs.url,
    echoUrl: echoWs.url,
    async close() {
      await Promise.all([nbdWs.stop(), floodWs.stop(), echoWs.stop(), nbd.stop()]);
      floodTcp.server.close();
      echoTcp.server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
