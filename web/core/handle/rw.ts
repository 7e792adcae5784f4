// Issuing commands (libnbd's lib/rw.c): strict mode and what the server advertised are checked
// (check.ts), then the request goes out with a cookie; the reply states complete it. Beyond
// libnbd: a command may carry an AbortSignal or a time limit (cancelCommand).

import * as C from '../codec.js';
import { newCommand, type CommandCallbacks } from '../commands.js';
import { Coverage } from '../coverage.js';
import { NbdError, errno } from '../errors.js';
import * as P from '../protocol.js';
import type * as T from '../types.js';
import { checkCommand } from './check.js';
import { formatDuration } from './deadline.js';
import type { Engine, WireCommand } from './engine.js';

/** Check a command, then send it; returns its cookie. */
export function issue(
  e: Engine, type: number, flags: number, offset: T.U64, count: T.U64, buf: Uint8Array | null, cbs: CommandCallbacks,
  opts?: T.CommandOptions, payload?: Uint8Array,
): number {
  const cmd: WireCommand = {
    ...newCommand(type, buf, cbs), flags, offset: BigInt(offset), count: BigInt(count),
    coverage: type === P.NBD_CMD_READ ? new Coverage() : null, gotExtents: false, cancelled: false, disarm: null,
  };
  try {
    checkCommand(e.s, { type, flags, offset: cmd.offset, count: cmd.count, chunk: cmd.chunk !== null });
    if (opts?.signal?.aborted) throw new NbdError(errno.ECANCELED, '', 'command cancelled before it was sent');
  } catch (err) {
    // "The free hook runs exactly once, also when the call itself fails."
    e.cmds.free(cmd);
    throw err;
  }
  e.cmds.add(cmd);
  if (opts) arm(e, cmd, opts);
  const ext = e.s.conn.extendedHeaders;
  if (payload) e.send(C.request(ext, flags | P.NBD_CMD_FLAG_PAYLOAD_LEN, type, cmd.cookie, cmd.offset, BigInt(payload.length)), payload);
  else e.send(C.request(ext, flags, type, cmd.cookie, cmd.offset, cmd.count), type === P.NBD_CMD_WRITE ? buf! : undefined);
  return cmd.cookie;
}

/**
 * nbd_aio_block_status_filter: NBD_CMD_BLOCK_STATUS with NBD_CMD_FLAG_PAYLOAD_LEN, whose payload
 * is the effect length, then the ids of the contexts wanted (proto.md "Request message",
 * NBD_CMD_BLOCK_STATUS). The flag is the library's to set, as libnbd's strict auto flag does.
 */
export function issueFilter(
  e: Engine, count: T.U64, offset: T.U64, contexts: readonly string[], cbs: CommandCallbacks, flags: number, opts?: T.CommandOptions,
): number {
  const c = e.s.conn;
  if (c.info && !c.extendedHeaders) throw new NbdError(errno.ENOTSUP, '', 'server did not negotiate extended headers');
  if (c.info && !(c.info.flags & P.NBD_FLAG_BLOCK_STAT_PAYLOAD)) throw new NbdError(errno.ENOTSUP, '', 'server does not support the block status payload flag');
  if (contexts.length === 0) throw new NbdError(errno.EINVAL, '', 'the filter must name at least one meta context');
  const ids = contexts.map((name) => {
    const found = c.metaContexts.find(([, n]) => n === name);
    if (!found) throw new NbdError(errno.EINVAL, '', `server did not negotiate meta context ${name}`);
    return found[0];
  });
  const payload = new Uint8Array(8 + 4 * ids.length);
  const v = new DataView(payload.buffer);
  v.setBigUint64(0, BigInt(count));
  ids.forEach((id, i) => v.setUint32(8 + 4 * i, id));
  return issue(e, P.NBD_CMD_BLOCK_STATUS, flags & ~P.NBD_CMD_FLAG_PAYLOAD_LEN, offset, count, null, cbs, opts, payload);
}

/** Watch a command's AbortSignal and time limit. */
function arm(e: Engine, cmd: WireCommand, { signal, timeout }: T.CommandOptions): void {
  const onAbort = () => cancelCommand(e, cmd.cookie, errno.ECANCELED);
  const timer = timeout !== undefined && timeout >= 0
    ? setTimeout(() => cancelCommand(e, cmd.cookie, errno.ETIMEDOUT, `timed out after ${formatDuration(timeout)} waiting for the server's reply`), timeout)
    : undefined;
  signal?.addEventListener('abort', onAbort, { once: true });
  cmd.disarm = () => {
    signal?.removeEventListener('abort', onAbort);
    if (timer !== undefined) clearTimeout(timer);
  };
}

/**
 * End a command now with `err` (ECANCELED or ETIMEDOUT): its callbacks see the error, its buffer
 * is never written again, and the server's reply, when it comes, is read and dropped. Returns
 * false if the command is not in flight.
 */
export function cancelCommand(e: Engine, cookie: number, err: number, why = ''): boolean {
  const cmd = e.cmds.get(cookie);
  if (!cmd || cmd.done) return false;
  cmd.cancelled = true;
  cmd.buf = null;
  if (e.cmd === cmd) e.rx.sinkBuf = null;
  e.zombies.set(cookie, cmd);
  e.fail(cmd, err, why);
  e.complete(cmd);
  e.wake();
  return true;
}

/** A blocking command: wait for its aio twin, then retire it (throwing its error). */
export async function wait(e: Engine, cookie: number): Promise<void> {
  await e.cmds.wait(cookie);
  e.cmds.commandCompleted(cookie);
}

/** Why nbd_poll2 takes no descriptor of the caller's: the core sees streams, never descriptors. */
export const NO_FD = 'webnbd has no file descriptors to poll: pass -1 (then nbd_poll2 is nbd_poll)';

/** nbd_poll2: nbd_poll, plus a descriptor of the caller's, which can only be -1 here. */
export function poll2(e: Engine, fd: number, timeout: number): Promise<number> {
  if (fd !== -1) return Promise.reject(new NbdError(errno.ENOTSUP, '', NO_FD));
  return e.poll(timeout);
}
