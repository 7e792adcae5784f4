// Commands from issue to retirement, with libnbd's callback contract (libnbd(3), "Completion
// callbacks"): the completion callback runs exactly once; returning 1 retires the command; -1 with
// error.value set fails it; free hooks run exactly once, when the command is retired or abandoned.
// Shared by NbdHandle's engine and the page's client of a handle in a worker.

import { NbdError, errno } from './errors.js';
import { nameOf } from './protocol.js';
import type * as T from './types.js';

export interface Command {
  cookie: number;
  type: number;
  /** READ destination or WRITE source; null once the caller gave up on it. */
  buf: Uint8Array | null;
  completion: T.WithFree<T.CompletionFn> | null;
  chunk: T.WithFree<T.ChunkFn> | null;
  extent: T.WithFree<T.ExtentFn> | null;
  extent64: T.WithFree<T.Extent64Fn> | null;
  /** First error (errno), and words about it if any ("server: …" when the server sent them). */
  error: number;
  message: string;
  done: boolean;
  freed: boolean;
  waiters: (() => void)[];
}

export const asCallback = <F>(cb: T.Callback<F> | undefined | null): T.WithFree<F> | null =>
  cb == null ? null : typeof cb === 'function' ? { callback: cb as F } : (cb as T.WithFree<F>);

export interface CommandCallbacks {
  completion?: T.Callback<T.CompletionFn> | undefined;
  chunk?: T.Callback<T.ChunkFn> | undefined;
  extent?: T.Callback<T.ExtentFn> | undefined;
  extent64?: T.Callback<T.Extent64Fn> | undefined;
}

export function newCommand(type: number, buf: Uint8Array | null, cbs: CommandCallbacks): Command {
  return {
    cookie: 0, type, buf,
    completion: asCallback(cbs.completion), chunk: asCallback(cbs.chunk),
    extent: asCallback(cbs.extent), extent64: asCallback(cbs.extent64),
    error: 0, message: '', done: false, freed: false, waiters: [],
  };
}

/** Call user code; a throw is reported through onThrow (as an errno), never into the I/O loop. */
export function callUser<R>(log: (msg: string) => void, fn: () => R, onThrow?: (err: number) => void): R | undefined {
  try {
    return fn();
  } catch (e) {
    log(`callback threw: ${e instanceof Error ? e.message : String(e)}`);
    onThrow?.(e instanceof NbdError && e.errno ? e.errno : errno.EINVAL);
    return undefined;
  }
}

export class Commands<C extends Command = Command> {
  #inFlight = new Map<number, C>();
  #done: C[] = [];
  #next = 1;
  readonly #log: (msg: string) => void;

  constructor(log: (msg: string) => void) {
    this.#log = log;
  }

  /** Give the command its cookie (≥ 1, unique per handle) and count it in flight. */
  add(cmd: C): number {
    cmd.cookie = this.#next++;
    this.#inFlight.set(cmd.cookie, cmd);
    return cmd.cookie;
  }

  /** A cookie for a message that is not a command (NBD_CMD_DISC). */
  reserve(): number {
    return this.#next++;
  }

  get(cookie: number): C | undefined {
    return this.#inFlight.get(cookie);
  }

  get inFlight(): IterableIterator<C> {
    return this.#inFlight.values();
  }

  get size(): number {
    return this.#inFlight.size;
  }

  /** Record the command's first error. */
  fail(cmd: Command, err: number, message = ''): void {
    if (!cmd.error) {
      cmd.error = err;
      cmd.message = message;
    }
  }

  /**
   * Run a mid-command callback with the error so far; returning -1 (or throwing) fails the
   * command with what it put in error.value, or EPROTO (libnbd(3), "Callbacks with int *error").
   */
  midCallback(cmd: Command, call: (ref: T.ErrorRef) => number | void, err = 0): void {
    const ref = { value: err || cmd.error };
    let failed = false;
    const r = callUser(this.#log, () => call(ref), (e) => { failed = true; ref.value = e; });
    if (r === -1 || failed) this.fail(cmd, ref.value || errno.EPROTO);
  }

  /** The command is complete: run its completion callback, then retire it or keep it for commandCompleted. */
  complete(cmd: C): void {
    if (cmd.done) return;
    cmd.done = true;
    this.#inFlight.delete(cmd.cookie);
    let retire = false;
    if (cmd.completion) {
      const ref = { value: cmd.error };
      const r = callUser(this.#log, () => cmd.completion!.callback(ref), (e) => this.fail(cmd, e));
      if (r === -1 && ref.value) this.fail(cmd, ref.value);
      if (r === 1) retire = true;
    }
    if (retire) this.free(cmd);
    else this.#done.push(cmd);
    for (const w of cmd.waiters.splice(0)) w();
  }

  /** libnbd's free hooks: each runs exactly once. */
  free(cmd: Command): void {
    if (cmd.freed) return;
    cmd.freed = true;
    for (const cb of [cmd.chunk, cmd.extent, cmd.extent64, cmd.completion]) if (cb?.free) callUser(this.#log, cb.free);
  }

  /** Resolve when the command has completed (immediately if it has). */
  wait(cookie: number): Promise<void> {
    const cmd = this.#inFlight.get(cookie);
    if (!cmd || cmd.done) return Promise.resolve();
    return new Promise((resolve) => cmd.waiters.push(resolve));
  }

  /** nbd_aio_command_completed: false while in flight; true once retired; throws its error. */
  commandCompleted(cookie: number): boolean {
    if (this.#inFlight.has(cookie)) return false;
    const i = this.#done.findIndex((c) => c.cookie === cookie);
    if (i < 0) throw new NbdError(errno.EINVAL, '', `invalid cookie: ${cookie}: no such command`);
    const [cmd] = this.#done.splice(i, 1);
    this.free(cmd!);
    if (cmd!.error) {
      const why = cmd!.message ? ` (${cmd!.message})` : '';
      throw new NbdError(cmd!.error, '', `${nameOf('cmd', cmd!.type)}: command failed${why}`);
    }
    return true;
  }

  /** nbd_aio_peek_command_completed. */
  peek(): number {
    if (this.#done.length) return this.#done[0]!.cookie;
    if (this.#inFlight.size) return 0;
    throw new NbdError(errno.EINVAL, '', 'no commands are in flight');
  }

  /** Fail every command in flight with `err` and complete it. */
  failAll(err: number, why: string): void {
    for (const cmd of [...this.#inFlight.values()]) {
      this.fail(cmd, err, why);
      this.complete(cmd);
    }
  }

  /** nbd_close: abandon everything; completion callbacks do not run, free hooks do, waiters wake. */
  abandonAll(): void {
    for (const cmd of this.#inFlight.values()) {
      cmd.done = true;
      this.fail(cmd, errno.ENOTCONN, 'handle closed');
      this.#done.push(cmd);
      for (const w of cmd.waiters.splice(0)) w();
    }
    this.#inFlight.clear();
    for (const cmd of this.#done) this.free(cmd);
  }
}
