// nbd_aio_disconnect, nbd_shutdown and nbd_close (libnbd's lib/disconnect.c, lib/handle.c).

import { NbdError, errno } from '../errors.js';
import * as T from '../types.js';
import type { Engine } from './engine.js';
import { toClosed } from './state.js';

const badFlags = (flags: number) => new NbdError(errno.EINVAL, '', `flags: invalid value for flag: 0x${flags.toString(16)}`);

export function aioDisconnect(e: Engine, flags: number): void {
  if (flags !== 0) throw badFlags(flags);
  if (!e.s.conn.closing) e.disconnect();
}

/** nbd_shutdown: NBD_CMD_DISC (or, still negotiating, nbd_opt_abort), then wait for the end. */
export async function shutdown(e: Engine, flags: number, optAbort: () => Promise<void>): Promise<void> {
  if (flags & ~T.SHUTDOWN_MASK) throw badFlags(flags);
  if (e.state === 'NEGOTIATING') return optAbort();
  if (!e.s.conn.closing) e.disconnect();
  await e.until((s) => s === 'CLOSED' || s === 'DEAD');
}

/** nbd_close: drop the connection; commands still in flight are abandoned (their free hooks run). */
export function close(e: Engine): void {
  const t = e.transport;
  e.transport = null;
  e.link = null;
  t?.destroy();
  const abandoned = new NbdError(errno.ENOTCONN, '', 'handle closed');
  e.cmds.abandonAll();
  e.settle(abandoned);
  toClosed(e.s, abandoned);
  for (const w of e.waiters) w.reject(abandoned);
  e.waiters.clear();
  e.wake();
}
