// The bridge's listening side: HTTP(S) with WebSocket upgrades (the `ws` library). It admits a
// connection only within the limits (connections in total and per address, time to upgrade), with
// the secret token, and from an allowed Origin; then joins it to its own NBD server connection.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { connect, type Socket } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { relay, type Log, type RelayLimits } from './relay.js';

/** Where one connection goes: a Unix socket or a TCP address. */
export type Endpoint = { unix: string } | { host: string; port: number };

export interface Limits extends RelayLimits {
  /** From the TCP connection to the WebSocket upgrade (request headers included). */
  upgradeMs: number;
  /** Connections open at once, upgraded or not, in total and from one address. */
  connections: number;
  perAddress: number;
  /** The largest WebSocket message (frame) a client may send. */
  maxPayload: number;
}

export interface ListenerOptions {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
  /** The target for a presented token, or null to refuse. Called once per upgrade. */
  admit(token: string | null): Endpoint | null;
  /** Allowed Origins, known once the port is. */
  origins(): string[];
  limits: Limits;
  web?: string;
  log: Log;
}

export interface Listener {
  /** The address actually bound ('0.0.0.0', '::', '127.0.0.1', …) and port. */
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Compares secrets in constant time, whatever their lengths. */
export function sameSecret(a: string, b: string): boolean {
  const h = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(a), h(b));
}

const refuse = (socket: Duplex, status: string, body: string) => {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  setTimeout(() => socket.destroy(), 1000).unref();
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml', '.png': 'image/png', '.txt': 'text/plain',
};

/** The files of `root`, read-only, GET and HEAD. */
function serveFile(root: string, req: IncomingMessage, res: ServerResponse): void {
  const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
  let file = join(root, path);
  try {
    if (statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!file.startsWith(root + sep) || !statSync(file).isFile() || !['GET', 'HEAD'].includes(req.method ?? '')) throw new Error();
  } catch {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not found\n');
    return;
  }
  res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'X-Content-Type-Options': 'nosniff' });
  if (req.method === 'HEAD') res.end();
  else createReadStream(file).pipe(res);
}

export async function listen(opts: ListenerOptions): Promise<Listener> {
  const { limits, log } = opts;
  const server: Server = opts.tls
    ? createHttps({ cert: opts.tls.cert, key: opts.tls.key, ...(opts.tls.ca ? { ca: opts.tls.ca, requestCert: true, rejectUnauthorized: true } : {}) })
    : createHttp();
  server.headersTimeout = limits.upgradeMs;
  server.requestTimeout = limits.upgradeMs;
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxPayload, perMessageDeflate: false });
  const perAddress = new Map<string, number>();
  const sockets = new Set<Socket>();
  const relays = new Set<Promise<void>>();
  let total = 0;

  server.on('connection', (socket: Socket) => {
    const from = socket.remoteAddress ?? '?';
    const n = perAddress.get(from) ?? 0;
    if (total >= limits.connections || n >= limits.perAddress) {
      log(`${from}: ${total >= limits.connections ? `${limits.connections} connections open` : `${n} connections from this address`}, the limit; refused`);
      socket.destroy();
      return;
    }
    total++;
    perAddress.set(from, n + 1);
    sockets.add(socket);
    // Upgraded or not, a connection must have asked for its WebSocket within the time.
    const timer = setTimeout(() => {
      log(`${from}: no WebSocket upgrade within ${limits.upgradeMs / 1000} s; closed`);
      socket.destroy();
    }, limits.upgradeMs);
    (socket as Socket & { upgradeTimer?: NodeJS.Timeout }).upgradeTimer = timer;
    socket.once('close', () => {
      clearTimeout(timer);
      total--;
      const left = (perAddress.get(from) ?? 1) - 1;
      if (left) perAddress.set(from, left);
      else perAddress.delete(from);
      sockets.delete(socket);
    });
  });
  server.on('tlsClientError', () => {}); // plain ws:// or an untrusted client certificate: just dropped
  server.on('request', (req, res) => {
    clearTimeout((req.socket as Socket & { upgradeTimer?: NodeJS.Timeout }).upgradeTimer);
    if (opts.web) serveFile(opts.web, req, res);
    else res.writeHead(426, { 'Content-Type': 'text/plain', Connection: 'close' }).end('This is an NBD bridge: open it as a WebSocket.\n');
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    clearTimeout((socket as Socket & { upgradeTimer?: NodeJS.Timeout }).upgradeTimer);
    const from = socket.remoteAddress ?? '?';
    const token = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
    const target = opts.admit(token);
    // One answer for a missing and a wrong token, so a client learns nothing from it.
    if (!target) {
      log(`${from}: ${token === null ? 'no token' : 'wrong token'}; refused (401)`);
      return refuse(socket, '401 Unauthorized', 'A valid ?token= is required.\n');
    }
    const origin = req.headers.origin;
    if (!origin || !opts.origins().includes(origin)) {
      log(`${from}: Origin ${origin === undefined ? '(none)' : JSON.stringify(origin)} not allowed; refused (403)`);
      return refuse(socket, '403 Forbidden', 'Invalid Origin\n');
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      log(`${from}: admitted`);
      ws.on('error', (e: Error & { code?: string }) => {
        if (e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') log(`${from}: a frame over ${limits.maxPayload} bytes; closed`);
      });
      const nbd = 'unix' in target ? connect(target.unix) : connect(target.port, target.host);
      nbd.once('error', (e: NodeJS.ErrnoException) => {
        if (nbd.connecting) {
          log(`cannot reach the NBD server: ${e.code ?? e.message}`);
          ws.close(1011, 'Failed to connect to downstream server');
        }
      });
      nbd.setNoDelay(true);
      const r = relay(ws, nbd, limits, (line) => log(`${from}: ${line}`));
      relays.add(r);
      void r.then(() => relays.delete(r));
    });
  });

  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(opts.port, opts.host, () => {
      server.off('error', rej);
      res();
    });
  });
  const addr = server.address() as { address: string; port: number };
  return {
    address: addr.address,
    port: addr.port,
    async close() {
      await new Promise<void>((r) => {
        server.close(() => r());
        for (const ws of wss.clients) ws.terminate();
        for (const s of sockets) s.destroy();
      });
      // Each relay now finishes with its server (replies owed are read, then NBD_CMD_DISC).
      await Promise.race([Promise.all(relays), new Promise((r) => setTimeout(r, 3000).unref())]);
    },
  };
}
