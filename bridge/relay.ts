// One client's WebSocket joined to its own connection to the NBD server. Whatever the client does,
// the server sees a well-behaved NBD client: only whole, valid request headers; every reply read
// to its end, even after the client has gone; then NBD_CMD_DISC. (nbdkit 1.32 aborts when a client
// goes away while more than one reply is on its way: the first failed send closes the socket under
// the threads still sending, `raw_send_socket: Assertion 'sock >= 0'`, fixed in nbdkit 1.34.)
// The server is read only as fast as the client reads, so nothing piles up here.
import type { Socket } from 'node:net';
import type WebSocket from 'ws';
import { NbdStream } from './nbd-stream.js';

export interface RelayLimits {
  /** From the WebSocket's opening to the end of the NBD handshake. */
  handshakeMs: number;
  /** With nothing in flight, the longest a client may stay silent. */
  idleMs: number;
  /** Bytes sent to the client and not yet taken by it before the server is no longer read. */
  unreadBytes: number;
  /** After the client has gone, how long replies still owed may take before the server connection is cut. */
  drainMs: number;
}

export type Log = (line: string) => void;

/** Joins `ws` to `server` (connecting or connected). Resolves when both are closed. */
export function relay(ws: WebSocket, server: Socket, limits: RelayLimits, log: Log): Promise<void> {
  const nbd = new NbdStream();
  let clientGone = false;
  let ending = false;
  let paused = false;
  let unread = 0; // bytes handed to ws.send and not yet written to the client's socket
  let lastActive = Date.now();
  const timers: NodeJS.Timeout[] = [];

  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  let wsClosed = false;
  let serverClosed = false;
  const settle = () => {
    if (!wsClosed || !serverClosed) return;
    for (const t of timers) clearTimeout(t), clearInterval(t);
    done();
  };

  const toServer = (chunks: Buffer[]) => {
    for (const c of chunks) if (!server.destroyed) server.write(c);
    // A server slow to read holds the client back, not this process's memory.
    if (server.writableLength > limits.unreadBytes && !clientGone) ws.pause();
  };
  server.on('drain', () => {
    if (!clientGone) ws.resume();
  });

  /** The client is gone or refused: finish with the server as a good client would. */
  const endClient = (why: string | null, code = 1000) => {
    if (why) log(why);
    nbd.stop();
    if (!clientGone) {
      clientGone = true;
      if (ws.readyState === ws.OPEN) ws.close(code, why?.slice(0, 100) ?? '');
      else if (ws.readyState !== ws.CLOSED) ws.terminate();
    }
    if (paused) {
      paused = false;
      server.resume();
    }
    finishServer();
  };

  const finishServer = () => {
    if (ending || serverClosed) return;
    if (nbd.phase === 'transmission' && nbd.inFlight > 0) return; // more replies owed: keep reading
    ending = true;
    if (nbd.phase === 'transmission' && !nbd.partial && !nbd.discSent) server.write(nbd.disc());
    server.end();
    // A server that does not hang up after DISC is cut off.
    timers.push(setTimeout(() => server.destroy(), 2000).unref());
  };

  ws.on('message', (data: Buffer, isBinary: boolean) => {
    lastActive = Date.now();
    if (clientGone) return;
    if (!isBinary) return endClient('client sent a text message; closed', 1003);
    toServer(nbd.fromClient(data));
    if (nbd.refused) endClient(`client sent a ${nbd.refused}; closed`, 1002);
    else if (nbd.held > 1 << 20) endClient('client sent over 1 MiB before the server answered; closed', 1008);
  });
  ws.on('close', () => {
    wsClosed = true;
    endClient(null);
    settle();
  });
  ws.on('error', () => {}); // 'close' follows

  server.on('data', (data: Buffer) => {
    lastActive = Date.now();
    toServer(nbd.fromServer(data));
    if (!clientGone && ws.readyState === ws.OPEN) {
      unread += data.length;
      ws.send(data, { binary: true }, () => {
        unread -= data.length;
        if (paused && unread <= limits.unreadBytes / 2) {
          paused = false;
          server.resume();
        }
      });
      if (unread > limits.unreadBytes && !paused) {
        paused = true; // the client is not reading: stop reading the server until it does
        server.pause();
      }
    }
    if (clientGone) finishServer();
  });
  server.on('close', () => {
    serverClosed = true;
    if (!clientGone && ws.readyState === ws.OPEN) {
      // As websockify: 1000 "Target closed" once everything the server sent is on its way.
      const close = () => (unread > 0 && ws.readyState === ws.OPEN ? setTimeout(close, 10) : ws.close(1000, 'Target closed'));
      close();
    }
    clientGone = true;
    settle();
  });
  server.on('error', (e: NodeJS.ErrnoException) => {
    if (!clientGone && !ending) log(`server connection: ${e.code ?? e.message}`);
  });

  timers.push(setTimeout(() => {
    if (nbd.phase === 'handshake' && !clientGone) endClient(`NBD handshake not finished within ${limits.handshakeMs / 1000} s; closed`, 1008);
  }, limits.handshakeMs));
  const check = setInterval(() => {
    const quiet = Date.now() - lastActive;
    if (!clientGone && (nbd.inFlight === 0 || paused) && quiet > limits.idleMs) endClient(`idle for ${Math.round(quiet / 1000)} s; closed`, 1001);
    if (clientGone && !ending && quiet > limits.drainMs) {
      log(`server owes ${nbd.inFlight} replies and sent nothing for ${limits.drainMs / 1000} s; connection cut`);
      ending = true;
      server.destroy();
    }
  }, Math.min(1000, limits.idleMs, limits.drainMs));
  timers.push(check);
  return finished;
}
