// The scripted NBD server's first layer (see fake-server.ts): a TCP or Unix listener handing each
// connection to a script as a FakeConn (exact reads, parsed options and requests, writes, a log of
// the bytes), and connectRaw, the same API on the client side.

import { mkdtemp, rm } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  type RequestHeader,
  NBD_CMD_FLAG_PAYLOAD_LEN,
  NBD_CMD_WRITE,
  NBD_EXTENDED_REQUEST_MAGIC,
  NBD_OPTS_MAGIC,
  NBD_REQUEST_MAGIC,
  concat,
  parseOptionHeader,
  parseRequestHeader,
  reader,
} from './bytes.js';

/** The peer closed the connection (EOF on read, or a write after close). Not a test failure. */
export class ConnectionClosed extends Error {
  override name = 'ConnectionClosed';
}

/** The client broke a MUST of the protocol; the server hangs up (proto.md "hard disconnect"). */
export class HardDisconnect extends Error {
  override name = 'HardDisconnect';
}

/** A client option as received: header fields and the option data. */
export interface NbdOption {
  option: number;
  data: Uint8Array;
}

/** A client request as received: header fields, the payload (WRITE data etc.) and raw bytes. */
export interface NbdRequest extends RequestHeader {
  payload: Uint8Array;
  raw: Uint8Array;
}

/** Largest option data or request payload the fake server accepts before hanging up. */
const DEFAULT_MAX_OPTION = 1 << 20;
export const DEFAULT_MAX_PAYLOAD = 64 << 20;

/** One accepted connection, as seen by a script. */
export class FakeConn {
  readonly socket: net.Socket;
  /** Every chunk the client sent, in arrival order. */
  readonly received: Uint8Array[] = [];
  /** Every chunk the server wrote, in order. */
  readonly sent: Uint8Array[] = [];
  /** Client protocol violations noticed (tolerated or leading to a hard disconnect). */
  readonly violations: string[] = [];
  /** Whether readRequest() expects 32-byte extended requests (set once negotiated). */
  extendedHeaders = false;
  /** Resolves when the socket has closed, for whatever reason. */
  readonly closed: Promise<void>;

  #queue: Uint8Array[] = [];
  #queued = 0;
  #eof = false;
  #error: Error | undefined;
  #waiter: (() => void) | undefined;

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      const chunk = new Uint8Array(d); // copy: Node may pool the Buffer's memory
      this.received.push(chunk);
      this.#queue.push(chunk);
      this.#queued += chunk.length;
      this.#wake();
    });
    socket.on('end', () => {
      this.#eof = true;
      this.#wake();
    });
    socket.on('error', (e) => {
      this.#error = e;
      this.#wake();
    });
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.#eof = true;
        this.#wake();
        resolve();
      }),
    );
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  /** All bytes the client sent so far, concatenated. */
  get receivedBytes(): Uint8Array {
    return concat(...this.received);
  }

  /** Exactly `n` bytes; rejects with ConnectionClosed if the stream ends first. */
  async read(n: number): Promise<Uint8Array> {
    if (this.#waiter) throw new Error('FakeConn.read: concurrent reads');
    while (this.#queued < n) {
      if (this.#eof || this.#error) {
        throw new ConnectionClosed(
          `connection closed after ${this.#queued} of ${n} bytes` + (this.#error ? `: ${this.#error.message}` : ''),
        );
      }
      await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.#queue[0]!;
      const take = Math.min(head.length, n - filled);
      out.set(head.subarray(0, take), filled);
      filled += take;
      if (take === head.length) this.#queue.shift();
      else this.#queue[0] = head.subarray(take);
    }
    this.#queued -= n;
    return out;
  }

  /** The 32-bit client flags sent after the newstyle greeting. */
  async readClientFlags(): Promise<number> {
    return reader(await this.read(4)).u32();
  }

  /** One option: IHAVEOPT, option, length, data (proto.md "Newstyle negotiation"). */
  async readOption(maxLength = DEFAULT_MAX_OPTION): Promise<NbdOption> {
    const h = parseOptionHeader(await this.read(16));
    if (h.magic !== NBD_OPTS_MAGIC) throw new HardDisconnect(`bad option magic 0x${h.magic.toString(16)}`);
    if (h.length > maxLength) throw new HardDisconnect(`option ${h.option} data length ${h.length} too large`);
    return { option: h.option, data: await this.read(h.length) };
  }

  /**
   * One request with its payload (proto.md "Request message"). Compact requests carry a
   * payload only for NBD_CMD_WRITE; extended requests also for NBD_CMD_FLAG_PAYLOAD_LEN.
   */
  async readRequest(opts: { extended?: boolean; maxPayload?: number } = {}): Promise<NbdRequest> {
    const extended = opts.extended ?? this.extendedHeaders;
    const head = await this.read(extended ? 32 : 28);
    const h = parseRequestHeader(head, extended);
    const want = extended ? NBD_EXTENDED_REQUEST_MAGIC : NBD_REQUEST_MAGIC;
    if (h.magic !== want) {
      throw new HardDisconnect(`bad request magic 0x${h.magic.toString(16)}, expected 0x${want.toString(16)}`);
    }
    const hasPayload = h.type === NBD_CMD_WRITE || (extended && (h.flags & NBD_CMD_FLAG_PAYLOAD_LEN) !== 0);
    let payload: Uint8Array = new Uint8Array(0);
    if (hasPayload) {
      if (h.length > BigInt(opts.maxPayload ?? DEFAULT_MAX_PAYLOAD)) {
        throw new HardDisconnect(`request payload of ${h.length} bytes is too large`);
      }
      payload = await this.read(Number(h.length));
    }
    return { ...h, payload, raw: concat(head, payload) };
  }

  /** Write bytes; resolves once handed to the kernel, rejects with ConnectionClosed if gone. */
  write(b: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed || this.socket.writableEnded) {
        reject(new ConnectionClosed('write after close'));
        return;
      }
      this.sent.push(b);
      this.socket.write(b, (err) => (err ? reject(new ConnectionClosed(err.message)) : resolve()));
    });
  }

  /** Close gracefully (FIN after pending writes); resolves when the socket has closed. */
  end(): Promise<void> {
    if (!this.socket.destroyed) this.socket.end();
    return this.closed;
  }

  /** Drop the connection at once (a hard disconnect). */
  destroy(): void {
    this.socket.destroy();
  }
}

export type ConnHandler = (conn: FakeConn) => Promise<void>;

export interface FakeServerOptions {
  /** Listen on a Unix socket in a fresh temporary directory instead of 127.0.0.1. */
  unix?: boolean;
}

export interface FakeServerHandle {
  port?: number;
  socket?: string;
  /** NBD URI of the default ("") export. */
  uri: string;
  /** NBD URI of a named export. */
  uriFor(exportName: string): string;
  /** Every accepted connection, in order. */
  connections: FakeConn[];
  /** Unexpected errors thrown by handlers (not disconnects or client violations). */
  errors: unknown[];
  close(): Promise<void>;
}

export const FakeServer = {
  /**
   * Listen and run `handler` on every connection. When the handler returns, the connection
   * is closed gracefully; ConnectionClosed and HardDisconnect end it quietly (the latter is
   * logged in `conn.violations`); anything else is collected in `errors` and the socket dropped.
   */
  async start(handler: ConnHandler, opts: FakeServerOptions = {}): Promise<FakeServerHandle> {
    const connections: FakeConn[] = [];
    const errors: unknown[] = [];
    const running = new Set<Promise<void>>();
    const server = net.createServer((socket) => {
      const conn = new FakeConn(socket);
      connections.push(conn);
      const run = (async () => {
        try {
          await handler(conn);
          await conn.end();
        } catch (e) {
          if (e instanceof HardDisconnect) conn.violations.push(e.message);
          else if (!(e instanceof ConnectionClosed)) errors.push(e);
          conn.destroy();
        }
      })();
      running.add(run);
      void run.finally(() => running.delete(run));
    });

    let dir: string | undefined;
    let socketPath: string | undefined;
    if (opts.unix) {
      dir = await mkdtemp(join(tmpdir(), 'webnbd-fake-'));
      socketPath = join(dir, 'nbd.sock');
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, resolve));
    } else {
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    }
    const port = opts.unix ? undefined : (server.address() as net.AddressInfo).port;
    const uriFor = (name: string): string =>
      socketPath !== undefined
        ? `nbd+unix:///${encodeURIComponent(name)}?socket=${socketPath}`
        : `nbd://127.0.0.1:${port}/${encodeURIComponent(name)}`;

    return {
      ...(port !== undefined ? { port } : {}),
      ...(socketPath !== undefined ? { socket: socketPath } : {}),
      uri: uriFor(''),
      uriFor,
      connections,
      errors,
      async close() {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const c of connections) c.destroy();
        await Promise.allSettled([...running]);
        await closed;
        if (dir) await rm(dir, { recursive: true, force: true });
      },
    };
  },
};

/** A raw client socket with FakeConn's exact-read API, for hand-written clients in tests. */
export async function connectRaw(target: { port?: number; socket?: string }): Promise<FakeConn> {
  const socket =
    target.socket !== undefined ? net.connect(target.socket) : net.connect(target.port!, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return new FakeConn(socket);
}
