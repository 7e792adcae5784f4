// What is checked before a call does anything, from the handle state alone: the permitted state
// and the arguments (libnbd's generated wrappers, from the API table) and, for commands, strict
// mode and what the server advertised (libnbd's lib/rw.c). The page's client runs the same checks.

import { isCallback, kindOf, type Arg, type Row } from '../api.js';
import { NbdError, errno } from '../errors.js';
import * as P from '../protocol.js';
import { PERMITTED, STATES, type PublicState, type State } from '../states.js';
import * as T from '../types.js';
import { MAX_REQUEST, flag } from './flags.js';
import type { HandleState } from './state.js';

/** The generated part of every call: permitted state (libnbd's wording and errno), then arguments. */
export function guardCall(call: Row, state: State, args: readonly unknown[]): void {
  if (call.states) {
    const s = STATES[state].public;
    if (!call.states.some((p) => (PERMITTED[p].states as readonly PublicState[]).includes(s))) {
      throw new NbdError(s === 'created' ? errno.ENOTCONN : errno.EINVAL, call.c,
        `invalid state: ${state}: the handle must be ${call.states.map((p) => PERMITTED[p].text).join(', or ')}`);
    }
  }
  checkArgs(call, args);
}

/**
 * A call refused before its body ran (wrong state, bad argument) still runs its callbacks' free
 * hooks: libnbd(3), "Callback lifetimes": "including in the case where the API fails".
 */
export function freeCallbackArgs(call: Row, args: readonly unknown[]): void {
  call.args.forEach((spec, i) => {
    const cb = args[i] as { free?: unknown } | null | undefined;
    if (isCallback(kindOf(spec)) && typeof cb === 'object' && cb !== null && typeof cb.free === 'function') {
      try {
        (cb.free as () => void)();
      } catch {
        // A throwing free hook must not replace the call's own error.
      }
    }
  });
}

/** Argument checks from the API table: what libnbd's C types and non-NULL rules guarantee. */
function checkArgs(call: Row, args: readonly unknown[]): void {
  call.args.forEach((spec: Arg, i) => {
    const optional = spec.endsWith('?');
    const kind = kindOf(spec);
    const v = args[i];
    const name = `argument ${i + 1}`;
    const bad = (what: string): never => { throw new NbdError(errno.EINVAL, call.c, `${name}: ${what}`); };
    if (v === undefined || v === null) {
      if (optional) return;
      throw new NbdError(errno.EFAULT, call.c, `${kind === 'buf-out' || kind === 'buf-in' ? 'buf' : kind} cannot be NULL`);
    }
    switch (kind) {
      case 'string': if (typeof v !== 'string') bad('expected a string'); break;
      case 'strings': if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) bad('expected a list of strings'); break;
      case 'service': if (typeof v !== 'string' && typeof v !== 'number') bad('expected a port'); break;
      case 'bool': if (typeof v !== 'boolean') bad('expected a boolean'); break;
      case 'int': case 'timeout': if (!Number.isInteger(v)) bad('expected an integer'); break;
      case 'uint32': case 'flags': case 'cookie':
        if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 0xffffffff && kind !== 'cookie') bad(`expected an unsigned integer, got ${String(v)}`);
        break;
      case 'u64':
        if (typeof v === 'bigint') { if (v < 0n || v >= 1n << 64n) bad(`value out of range: ${v}`); }
        else if (!Number.isSafeInteger(v) || (v as number) < 0) bad(`expected an unsigned 64-bit integer (number or bigint), got ${String(v)}`);
        break;
      case 'buf-out': case 'buf-in': if (!(v instanceof Uint8Array)) bad('expected a Uint8Array'); break;
      case 'options': {
        const o = v as T.CommandOptions;
        if (typeof o !== 'object') bad('expected { signal, timeout }');
        if (o.timeout !== undefined && !(typeof o.timeout === 'number' && o.timeout >= 0)) bad(`timeout: expected milliseconds, got ${String(o.timeout)}`);
        if (o.signal !== undefined && typeof o.signal.addEventListener !== 'function') bad('signal: expected an AbortSignal');
        break;
      }
      default:
        // Callbacks: a function, or libnbd's { callback, free } pair.
        if (typeof v !== 'function' && !(typeof v === 'object' && typeof (v as { callback?: unknown }).callback === 'function')) {
          bad('expected a function or { callback, free }');
        }
    }
  });
}

/** A command as the checks see it. */
export interface CommandShape {
  type: number;
  flags: number;
  offset: bigint;
  count: bigint;
  /** It has a chunk callback (nbd_pread_structured), which permits the DF flag. */
  chunk: boolean;
}

/** Flags each command may carry (STRICT_FLAGS). */
const ALLOWED_FLAGS: Record<number, number> = {
  [P.NBD_CMD_WRITE]: T.CMD_FLAG_FUA,
  [P.NBD_CMD_FLUSH]: 0,
  [P.NBD_CMD_TRIM]: T.CMD_FLAG_FUA,
  [P.NBD_CMD_CACHE]: 0,
  [P.NBD_CMD_WRITE_ZEROES]: T.CMD_FLAG_FUA | T.CMD_FLAG_NO_HOLE | T.CMD_FLAG_FAST_ZERO,
  [P.NBD_CMD_BLOCK_STATUS]: T.CMD_FLAG_REQ_ONE,
};

/** Strict mode and what the server advertised: throws what libnbd's nbd_aio_* would, sending nothing. */
export function checkCommand(s: HandleState, cmd: CommandShape): void {
  const { type, flags, offset, count } = cmd;
  const c = s.conn;
  const strict = s.settings.strictMode;
  const inval = (detail: string, e: number = errno.EINVAL): never => { throw new NbdError(e, '', detail); };
  if (c.closing) inval('cannot issue a command after disconnecting', errno.ESHUTDOWN);
  if (c.serverShutdown) inval('server is shutting down', errno.ESHUTDOWN);
  if (flags > 0xffff || flags < 0) inval(`flags: invalid value for flag: 0x${flags.toString(16)}`);
  const allowed = type === P.NBD_CMD_READ ? (cmd.chunk ? T.CMD_FLAG_DF : 0) : ALLOWED_FLAGS[type]!;
  if ((strict & T.STRICT_FLAGS) && (flags & ~allowed)) inval(`flags: invalid value for flag: 0x${(flags & ~allowed).toString(16)}`);
  if (strict & T.STRICT_COMMANDS) {
    const writes = type === P.NBD_CMD_WRITE || type === P.NBD_CMD_TRIM || type === P.NBD_CMD_WRITE_ZEROES;
    const can = (bit: number) => flag(s, bit);
    if (writes && can(P.NBD_FLAG_READ_ONLY)) inval('server does not support write operations', errno.EPERM);
    if (type === P.NBD_CMD_FLUSH && !can(P.NBD_FLAG_SEND_FLUSH)) inval('server does not support flush operations');
    if (type === P.NBD_CMD_TRIM && !can(P.NBD_FLAG_SEND_TRIM)) inval('server does not support trim operations');
    if (type === P.NBD_CMD_WRITE_ZEROES && !can(P.NBD_FLAG_SEND_WRITE_ZEROES)) inval('server does not support zero operations');
    if (type === P.NBD_CMD_CACHE && !can(P.NBD_FLAG_SEND_CACHE)) inval('server does not support cache operations');
    if ((flags & T.CMD_FLAG_FUA) && !can(P.NBD_FLAG_SEND_FUA)) inval('server does not support the FUA flag');
    if ((flags & T.CMD_FLAG_DF) && !can(P.NBD_FLAG_SEND_DF)) inval('server does not support the DF flag');
    if ((flags & T.CMD_FLAG_FAST_ZERO) && !can(P.NBD_FLAG_SEND_FAST_ZERO)) inval('server does not support the fast zero flag');
  }
  if (type === P.NBD_CMD_BLOCK_STATUS) {
    if (!c.structuredReplies) inval('server does not support structured replies', errno.ENOTSUP);
    if (c.metaContexts.length === 0) {
      inval('did not negotiate any metadata contexts, either you did not call nbd_add_meta_context before connecting or the server does not support it', errno.ENOTSUP);
    }
  }
  const info = c.info!;
  if (type !== P.NBD_CMD_FLUSH) {
    if ((strict & T.STRICT_ZERO_SIZE) && count === 0n) inval('count cannot be 0');
    if ((strict & T.STRICT_BOUNDS) && (offset > info.size || offset + count > info.size)) inval('request out of bounds');
    const min = BigInt(info.minimum);
    if ((strict & T.STRICT_ALIGN) && min > 1n && (offset % min !== 0n || count % min !== 0n)) inval('request is unaligned');
  }
  if (type === P.NBD_CMD_READ || type === P.NBD_CMD_WRITE) {
    const max = info.maximum;
    const most = (strict & T.STRICT_PAYLOAD) ? (max ? Math.min(max, MAX_REQUEST) : MAX_REQUEST) : 0xffffffff;
    if (count > BigInt(most)) inval(`request too large: maximum request size is ${most}`, errno.ERANGE);
  } else if (!c.extendedHeaders && count > 0xffffffffn) {
    inval('request too large: maximum request size is 4294967295 without extended headers', errno.ERANGE);
  }
}
