// REPLY: a reply header of any of the three kinds (proto.md "Simple reply message", "Structured
// reply chunk message", extended headers), matched to its command by cookie; the simple and
// chunk replies continue in states-reply-simple.ts and states-reply-chunk.ts, and every reply
// ends in finishReply (libnbd's generator/states-reply.c).

import * as C from '../codec.js';
import * as P from '../protocol.js';
import type { Into } from '../states.js';
import type { Engine } from './engine.js';
import { chunkHeader } from './states-reply-chunk.js';
import { simpleReply } from './states-reply-simple.js';
import type { Steps } from './steps.js';
import { Violation } from './violation.js';

/** A chunk (or simple reply) is fully read: complete the command on DONE, then wait for the next. */
export function finishReply(e: Engine, from: Extract<Into<'READY'>, `REPLY.${string}`>, done: boolean): void {
  const h = e.reply!;
  const cmd = e.cmd!;
  const last = done || (h.flags & P.NBD_REPLY_FLAG_DONE) !== 0;
  // Checked while the command is still the current one, so a violation names it.
  if (last && !cmd.error && cmd.type === P.NBD_CMD_READ && h.kind !== 'simple' && cmd.coverage!.total !== Number(cmd.count)) {
    throw new Violation('read: server did not send data for the whole request');
  }
  if (last && !cmd.error && cmd.type === P.NBD_CMD_BLOCK_STATUS && !cmd.gotExtents) {
    throw new Violation('block-status: server replied without any extents');
  }
  e.reply = null;
  e.cmd = null;
  e.rx.sinkBuf = null;
  e.goto(from, 'READY');
  e.rx.have = 0;
  e.rx.want = 0;
  if (last && cmd.cancelled) e.zombies.delete(cmd.cookie);
  else if (last) e.complete(cmd);
}

export const REPLY = {
  'REPLY.RECV_REPLY': (e: Engine, b: Uint8Array) => {
    if (e.rx.have === 4) {
      const magic = C.u32(b, 0);
      const size = magic === P.NBD_SIMPLE_REPLY_MAGIC ? C.SIMPLE_REPLY_SIZE
        : magic === P.NBD_STRUCTURED_REPLY_MAGIC ? C.STRUCTURED_REPLY_SIZE
        : magic === P.NBD_EXTENDED_REPLY_MAGIC ? C.EXTENDED_REPLY_SIZE : 0;
      if (!size) throw new Violation(`invalid reply magic 0x${magic.toString(16)}`);
      // What was negotiated decides which headers the server may send.
      const c = e.s.conn;
      if (c.extendedHeaders && size !== C.EXTENDED_REPLY_SIZE) throw new Violation('server sent a compact reply after extended headers were negotiated');
      if (!c.extendedHeaders && size === C.EXTENDED_REPLY_SIZE) throw new Violation('server sent an extended reply header that was never negotiated');
      if (!c.structuredReplies && size === C.STRUCTURED_REPLY_SIZE) throw new Violation('server sent a structured reply that was never negotiated');
      e.rx.needMore(size);
      return;
    }
    const h = C.decodeReplyHeader(b);
    e.s.conn.chunksReceived++;
    const cmd = e.cmds.get(h.cookie) ?? e.zombies.get(h.cookie);
    if (!cmd) throw new Violation(`no matching cookie ${h.cookie < 0 ? 'above 2^53' : h.cookie} found for server reply, this is probably a server bug`);
    e.reply = h;
    e.cmd = cmd;
    if (h.kind === 'simple') simpleReply(e, h, cmd);
    else chunkHeader(e, h, cmd);
  },
} satisfies Steps;
