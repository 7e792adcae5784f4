// libnbd's public constants (LIBNBD_* without the prefix, as libnbd's Python and OCaml
// bindings name them) and the callback types of the API.

export const TLS_DISABLE = 0;
export const TLS_ALLOW = 1;
export const TLS_REQUIRE = 2;

export const SIZE_MINIMUM = 0;
export const SIZE_PREFERRED = 1;
export const SIZE_MAXIMUM = 2;
export const SIZE_PAYLOAD = 3;

export const CMD_FLAG_FUA = 0x01;
export const CMD_FLAG_NO_HOLE = 0x02;
export const CMD_FLAG_DF = 0x04;
export const CMD_FLAG_REQ_ONE = 0x08;
export const CMD_FLAG_FAST_ZERO = 0x10;
export const CMD_FLAG_MASK = 0x1f;

export const HANDSHAKE_FLAG_FIXED_NEWSTYLE = 0x01;
export const HANDSHAKE_FLAG_NO_ZEROES = 0x02;
export const HANDSHAKE_FLAG_MASK = 0x03;

export const STRICT_COMMANDS = 0x01;
export const STRICT_FLAGS = 0x02;
export const STRICT_BOUNDS = 0x04;
export const STRICT_ZERO_SIZE = 0x08;
export const STRICT_ALIGN = 0x10;
export const STRICT_PAYLOAD = 0x20;
export const STRICT_MASK = 0x3f;

export const SHUTDOWN_ABANDON_PENDING = 0x10000;
export const SHUTDOWN_MASK = 0x10000;

export const READ_DATA = 1;
export const READ_HOLE = 2;
export const READ_ERROR = 3;

/** libnbd's `int *error`: callbacks read the error so far and may assign a new one. */
export interface ErrorRef {
  value: number;
}

/** A callback with libnbd's optional free hook, which runs exactly once. */
export interface WithFree<F> {
  callback: F;
  free?: () => void;
}

/** Completion: return 1 to retire the command automatically; -1 with error.value set to fail it. */
export type CompletionFn = (error: ErrorRef) => number | void;
/** One reply chunk of a structured read; status is READ_DATA, READ_HOLE or READ_ERROR. */
export type ChunkFn = (subbuf: Uint8Array, offset: bigint, status: number, error: ErrorRef) => number | void;
/** Block status: entries are (length, flags) pairs, as in nbd_block_status(3). */
export type ExtentFn = (metacontext: string, offset: bigint, entries: number[], error: ErrorRef) => number | void;
/** One 64-bit extent, as in nbd_block_status_64(3). */
export interface Extent64 {
  length: bigint;
  flags: bigint;
}
export type Extent64Fn = (metacontext: string, offset: bigint, entries: Extent64[], error: ErrorRef) => number | void;
/** nbd_opt_list: one export; return value ignored. */
export type ListFn = (name: string, description: string) => number | void;
/** nbd_opt_list_meta_context: one context name; return value ignored. */
export type ContextFn = (name: string) => number | void;
/** Debug messages: context is the API call, as in nbd_set_debug_callback(3). */
export type DebugFn = (context: string, msg: string) => void;

export type Callback<F> = F | WithFree<F>;

/** What webnbd needs of an AbortSignal (which every host has; the core cannot name the DOM type). */
export interface SignalLike {
  readonly aborted: boolean;
  /** Why it fired (AbortController.abort(reason)); a TimeoutError from AbortSignal.timeout() means ETIMEDOUT. */
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/**
 * Beyond libnbd, whose TODO asks for both: a command may be cancelled (ECANCELED) or given a
 * time limit in milliseconds (ETIMEDOUT). NBD has no way to recall a request, so the server's
 * eventual reply is read and dropped; the caller's buffer is never written after the command ends.
 * The connect calls and the opt-mode calls take the same: there, the handle dies (DEAD), since a
 * handshake cannot go on past an option reply it stopped waiting for.
 */
export interface CommandOptions {
  signal?: SignalLike;
  timeout?: number;
}

/** Accepted wherever libnbd takes a uint64_t: exact as bigint, or a safe integer number. */
export type U64 = number | bigint;
