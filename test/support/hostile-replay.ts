// Record what a server wrote in one session, then replay any prefix of it and hang up: EOF at
// every byte of a real transcript. Each server write is replayed once the client has sent as many
// bytes as the server had read before writing it, so the client sees the same conversation.

import type { ConnHandler, FakeConn } from './fake-conn.js';

/** One server write, and how many client bytes the server had read before it. */
export interface Turn {
  after: number;
  bytes: Uint8Array;
}

/** Wrap `handler` so that every write it makes is recorded in `turns`. */
export function recording(handler: ConnHandler): { handler: ConnHandler; turns: Turn[] } {
  const turns: Turn[] = [];
  const wrapped = (conn: FakeConn): Promise<void> => {
    let read = 0;
    const r = conn.read.bind(conn);
    const w = conn.write.bind(conn);
    conn.read = async (n) => {
      const b = await r(n);
      read += n;
      return b;
    };
    conn.write = (b) => {
      turns.push({ after: read, bytes: b.slice() });
      return w(b);
    };
    return handler(conn);
  };
  return { handler: wrapped, turns };
}

/** Total bytes the server wrote. */
export const transcriptLength = (turns: Turn[]): number => turns.reduce((n, t) => n + t.bytes.length, 0);

/** A server that replays the first `limit` bytes of `turns`, then closes the connection. */
export function replay(turns: Turn[], limit: number): ConnHandler {
  return async (conn) => {
    let read = 0;
    let sent = 0;
    for (const t of turns) {
      if (sent >= limit) break;
      if (t.after > read) {
        await conn.read(t.after - read);
        read = t.after;
      }
      const piece = t.bytes.subarray(0, limit - sent);
      await conn.write(piece);
      sent += piece.length;
    }
  };
}
