// REPLY.SIMPLE_REPLY: a simple reply ("Simple reply message"): an error, or success, with a read's
// data straight after the header, read into the caller's buffer (libnbd's
// generator/states-reply-simple.c).

import type { ReplyHeader } from '../codec.js';
import * as P from '../protocol.js';
import * as T from '../types.js';
import type { Engine, WireCommand } from './engine.js';
import { chunkCallback, wireErrno } from './states-reply-chunk.js';
import { finishReply } from './states-reply.js';
import type { Steps } from './steps.js';
import { Violation } from './violation.js';

export function simpleReply(e: Engine, h: ReplyHeader, cmd: WireCommand): void {
  if (h.error) {
    e.fail(cmd, wireErrno(h.error));
    return finishReply(e, 'REPLY.RECV_REPLY', true);
  }
  if (cmd.type === P.NBD_CMD_READ) {
    if (e.s.conn.structuredReplies) throw new Violation('server sent a simple reply with data to a read after structured replies were negotiated');
    e.goto('REPLY.RECV_REPLY', 'REPLY.SIMPLE_REPLY.RECV_READ_PAYLOAD');
    return e.rx.sink(cmd.buf, 0, Number(cmd.count));
  }
  if (cmd.type === P.NBD_CMD_BLOCK_STATUS) throw new Violation('server sent a simple reply to block status');
  return finishReply(e, 'REPLY.RECV_REPLY', true);
}

export const REPLY_SIMPLE = {
  'REPLY.SIMPLE_REPLY.RECV_READ_PAYLOAD': (e: Engine) => {
    // Like libnbd, tell a chunk callback once, with the whole buffer.
    const cmd = e.cmd!;
    if (cmd.chunk && cmd.buf) chunkCallback(e, cmd, cmd.buf, cmd.offset, T.READ_DATA);
    finishReply(e, 'REPLY.SIMPLE_REPLY.RECV_READ_PAYLOAD', true);
  },
} satisfies Steps;
