// Clients that misbehave against `webnbd bridge`, and the well-behaved readers that must not
// notice them. Shared by test/servers/bridge-*.test.ts (short runs) and bridge-attack.ts (the
// long run whose figures are in docs/reliability.md).
import { connect as tcpConnect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { create } from '../../web/node/index.js';

const MiB = 1 << 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The Origin webnbd's Node client sends for a bridge URL (its own origin). */
export const originOf = (url: string) => new URL(url).origin.replace(/^ws/, 'http');

/** `nbd+ws://h:p/?token=T` → `ws://h:p/?token=T` */
export const wsUrl = (uri: string) => uri.replace(/^nbds?\+/, '');

/** NBD bytes a raw client needs: newstyle handshake with NBD_OPT_EXPORT_NAME, simple replies. */
const clientFlags = () => Buffer.from([0, 0, 0, 3]); // FIXED_NEWSTYLE | NO_ZEROES
function exportName(): Buffer {
  const b = Buffer.alloc(16);
  b.write('IHAVEOPT', 0, 'latin1');
  b.writeUInt32BE(1, 8); // NBD_OPT_EXPORT_NAME, name ""
  return b;
}
export function readRequest(cookie: number, offset: number, length: number, type = 0): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt32BE(0x25609513, 0);
  b.writeUInt16BE(type, 6);
  b.writeBigUInt64BE(BigInt(cookie), 8);
  b.writeBigUInt64BE(BigInt(offset), 16);
  b.writeUInt32BE(length, 24);
  return b;
}

/** A raw WebSocket NBD client: handshake done, then `reads` reads of `size`; resolves once replies flow. */
export async function rawClient(uri: string, opts: { reads: number; size: number; waitFor?: number; partialWrite?: boolean; localAddress?: string }): Promise<WebSocket> {
  const url = wsUrl(uri);
  const ws = new WebSocket(url, ['binary'], { origin: originOf(url), perMessageDeflate: false, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
  let got = 0;
  let wake = () => {};
  ws.on('message', (d: Buffer) => {
    got += d.length;
    wake();
  });
  const until = async (n: number) => {
    const deadline = Date.now() + 10_000;
    while (got < n) {
      if (ws.readyState > WebSocket.OPEN || Date.now() > deadline) throw new Error(`raw client: ${got} bytes, expected ${n}`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
  };
  await new Promise<void>((res, rej) => ws.once('open', () => res()).once('error', rej).once('unexpected-response', (_q, r) => rej(new Error(`HTTP ${r.statusCode}`))));
  await until(18); // greeting
  ws.send(Buffer.concat([clientFlags(), exportName()]));
  await until(28); // export size and flags
  const span = 1 << 30;
  ws.send(Buffer.concat(Array.from({ length: opts.reads }, (_, i) => readRequest(i + 1, (i * opts.size) % (span - opts.size), opts.size))));
  // Then the start of a write: its header and 1 MiB of its 32 MiB, the rest never sent.
  if (opts.partialWrite) ws.send(Buffer.concat([readRequest(999, 0, 32 * MiB, 1), Buffer.alloc(MiB)]));
  await until(28 + (opts.waitFor ?? 16 + MiB)); // replies under way
  return ws;
}

/**
 * Sends `reads` reads of `size` (and, with `partialWrite`, part of a write), takes the first 40 MiB
 * of replies and vanishes (no close frame: the TCP connection just ends). By then the server has
 * more replies ready and waiting to be sent.
 */
export async function dropper(uri: string, reads = 20, size = 32 * MiB, partialWrite = false): Promise<void> {
  const ws = await rawClient(uri, { reads, size, waitFor: 40 * MiB, partialWrite });
  ws.terminate();
}

/** The same straight to an NBD server on TCP, without a bridge (the control). */
export async function tcpDropper(port: number, reads = 20, size = 32 * MiB): Promise<void> {
  const s = tcpConnect(port, '127.0.0.1');
  let got = 0;
  await new Promise<void>((res, rej) => {
    s.on('error', rej);
    s.on('data', (d) => {
      got += d.length;
      if (got >= 18 && got - d.length < 18) s.write(Buffer.concat([clientFlags(), exportName()]));
      if (got >= 28 && got - d.length < 28) s.write(Buffer.concat(Array.from({ length: reads }, (_, i) => readRequest(i + 1, i * size, size))));
      if (got >= 28 + 40 * MiB) res();
    });
  });
  s.destroy();
}

/** nbdkit's pattern plugin: each 8-byte big-endian word holds its own offset. */
export function patternMismatch(buf: Uint8Array, offset: number): number {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = 0; i < buf.length; i += 8) if (view.getBigUint64(i) !== BigInt(offset + i)) return offset + i;
  return -1;
}

export interface ReaderResult {
  reads: number;
  bytes: number;
  errors: string[];
}

/** A well-behaved reader of `nbdkit pattern`: reads of `size` at random offsets until `stop`, every byte checked. */
export async function goodReader(uri: string, stop: Promise<unknown>, size = MiB, diskSize = 1 << 30): Promise<ReaderResult> {
  const r: ReaderResult = { reads: 0, bytes: 0, errors: [] };
  let stopped = false;
  void stop.then(() => (stopped = true));
  const h = create();
  try {
    await h.connectUri(uri);
    const buf = new Uint8Array(size);
    do {
      const offset = Math.floor(Math.random() * ((diskSize - size) / 8)) * 8;
      await h.pread(buf, offset);
      const bad = patternMismatch(buf, offset);
      if (bad >= 0) r.errors.push(`wrong byte at ${bad}`);
      r.reads++;
      r.bytes += size;
    } while (!stopped);
    await h.shutdown();
  } catch (e) {
    r.errors.push((e as Error).message);
  } finally {
    h.close();
  }
  return r;
}

/** Opens a TCP connection and sends part of an HTTP request, then nothing (slowloris). */
export function slowHeader(port: number, localAddress?: string): Socket {
  const s = tcpConnect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
  s.on('error', () => {});
  s.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
  return s;
}

/** A WebSocket admitted (token, Origin) that then says nothing at all. */
export function idleClient(uri: string, localAddress?: string): WebSocket {
  const url = wsUrl(uri);
  const ws = new WebSocket(url, ['binary'], { origin: originOf(url), ...(localAddress ? { localAddress } : {}) });
  ws.on('error', () => {});
  return ws;
}

/** After the upgrade, a frame header claiming 1 GiB, then a trickle of bytes. Resolves with how it ended. */
export function oversizedFrame(uri: string, localAddress?: string): Promise<string> {
  const url = wsUrl(uri);
  const ws = new WebSocket(url, ['binary'], { origin: originOf(url), ...(localAddress ? { localAddress } : {}) });
  return new Promise((done) => {
    ws.on('error', () => {});
    ws.on('close', (code) => done(`closed ${code}`));
    ws.on('open', () => {
      const sock = (ws as unknown as { _socket: Socket })._socket;
      // FIN, binary; masked, 127 = 64-bit length; 1 GiB; mask key.
      const h = Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4]);
      sock.write(h);
      const trickle = setInterval(() => (sock.writable ? sock.write(Buffer.alloc(4096)) : clearInterval(trickle)), 10);
      ws.on('close', () => clearInterval(trickle));
    });
  });
}

/** A client that asks for `reads` reads of `size` and never reads a byte of the replies (raw TCP). */
export async function neverReads(uri: string, reads = 40, size = 32 * MiB): Promise<Socket> {
  const url = new URL(wsUrl(uri));
  const s = tcpConnect(Number(url.port), url.hostname);
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  s.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: ${originOf(url.href)}\r\n\r\n`);
  const frame = (payload: Buffer) => {
    const head = payload.length < 126 ? Buffer.from([0x82, 0x80 | payload.length]) : Buffer.from([0x82, 0x80 | 126, payload.length >> 8, payload.length & 255]);
    return Buffer.concat([head, Buffer.alloc(4), payload]); // mask key 0: the payload as is
  };
  await sleep(200); // the 101, greeting arrive; we never read them
  s.write(frame(Buffer.concat([clientFlags(), exportName()])));
  await sleep(200);
  s.write(frame(Buffer.concat(Array.from({ length: reads }, (_, i) => readRequest(i + 1, i * size % (1 << 30), size)))));
  s.pause(); // and never read again
  return s;
}

/** Resident memory of a process, from /proc (bytes). */
export async function rss(pid: number): Promise<number> {
  const { readFileSync } = await import('node:fs');
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}
