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
  opts?: T.CommandOptions,
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
  e.send(C.request(e.s.conn.extendedHeaders, flags, type, cmd.cookie, cmd.offset, cmd.count), type === P.NBD_CMD_WRITE ? buf! : undefined);
  return cmd.cookie;
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
