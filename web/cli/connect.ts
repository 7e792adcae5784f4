// Opening and closing the NBD handle for a webnbd subcommand, and --timeout: how long to wait for
// the server at each step (the handshake, each option reply, each command reply), so that a
// server that stops answering ends the command with ETIMEDOUT instead of hanging it.

import type { CommandOptions } from '../core/types.js';
import { create, type NbdHandle } from '../node/index.js';
import { UsageError } from './args.js';

/** The --timeout option every subcommand that connects takes. */
export const TIMEOUT_OPTION = { timeout: { type: 'string' } } as const;

/** Seconds to wait for the server when --timeout is not given. */
export const DEFAULT_TIMEOUT = 30;

/** The help lines of --timeout, their text starting at column `col` as the other options' do. */
export function timeoutHelp(col = 26): string {
  const name = '  --timeout=SECONDS';
  const pad = ' '.repeat(col);
  const first = name.length < col ? name.padEnd(col) : `${name}\n${pad}`;
  return `${first}give up when the server does not answer the handshake, an\n`
    + `${pad}option or a request for SECONDS (default: ${DEFAULT_TIMEOUT}; 0: wait for ever)\n`;
}

/** --timeout's value as the { timeout } (milliseconds) of the connect, opt and command calls. */
export function parseTimeout(cmd: string, value: string | undefined): CommandOptions {
  if (value === undefined) return { timeout: DEFAULT_TIMEOUT * 1000 };
  const s = Number(value);
  if (value.trim() === '' || !Number.isFinite(s) || s < 0 || s > 2_000_000) {
    throw new UsageError(`${cmd}: --timeout must be a number of seconds: ${value} (see 'webnbd ${cmd} --help')`);
  }
  return s === 0 ? {} : { timeout: Math.max(1, Math.round(s * 1000)) };
}

/** Create a handle, let `setup` configure it, and connect it to `uri` within `limit`. */
export async function connect(uri: string, limit: CommandOptions, setup: (h: NbdHandle) => void = () => {}): Promise<NbdHandle> {
  const h = create();
  setup(h);
  try {
    await h.connectUri(uri, limit);
  } catch (e) {
    h.close();
    throw e;
  }
  return h;
}

/**
 * Run `body` on a connected handle, then end the connection: nbd_shutdown when all went well
 * (NBD_OPT_ABORT while negotiating), bounded by `limit`; after a failure, nbd_close at once, as
 * libnbd's tools exit, since a server that stalled would not answer a shutdown either.
 */
export async function session<T>(h: NbdHandle, limit: CommandOptions, body: () => Promise<T>): Promise<T> {
  let ok = false;
  try {
    const value = await body();
    ok = true;
    return value;
  } finally {
    if (ok) await disconnect(h, limit);
    else h.close();
  }
}

/** nbd_shutdown, given at most `limit`'s time, then nbd_close; errors do not matter now. */
export async function disconnect(h: NbdHandle, limit: CommandOptions = {}): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const bound = new Promise<void>((r) => { if (limit.timeout !== undefined) timer = setTimeout(r, limit.timeout); });
    await Promise.race([h.shutdown(), bound]);
  } catch {
    // The connection may be dead already.
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
  h.close();
}
