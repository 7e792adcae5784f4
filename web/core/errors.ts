// Errors as libnbd reports them: an errno plus a message that starts with the API call's name
// ("nbd_pread: request out of bounds: Invalid argument"). They cross the worker boundary as
// plain data and are rebuilt on the other side.

/** Linux errno numbers and strerror(3) texts, for the errors webnbd can report. */
const ERRNO = {
  EPERM: [1, 'Operation not permitted'],
  ENOENT: [2, 'No such file or directory'],
  ESRCH: [3, 'No such process'],
  EINTR: [4, 'Interrupted system call'],
  EIO: [5, 'Input/output error'],
  EBADF: [9, 'Bad file descriptor'],
  EAGAIN: [11, 'Resource temporarily unavailable'],
  ENOMEM: [12, 'Cannot allocate memory'],
  EACCES: [13, 'Permission denied'],
  EFAULT: [14, 'Bad address'],
  EBUSY: [16, 'Device or resource busy'],
  ENOTDIR: [20, 'Not a directory'],
  EISDIR: [21, 'Is a directory'],
  EINVAL: [22, 'Invalid argument'],
  ENOSPC: [28, 'No space left on device'],
  EPIPE: [32, 'Broken pipe'],
  ERANGE: [34, 'Numerical result out of range'],
  ENAMETOOLONG: [36, 'File name too long'],
  ENOSYS: [38, 'Function not implemented'],
  ELOOP: [40, 'Too many levels of symbolic links'],
  EPROTO: [71, 'Protocol error'],
  EOVERFLOW: [75, 'Value too large for defined data type'],
  ENOTSUP: [95, 'Operation not supported'],
  EADDRINUSE: [98, 'Address already in use'],
  ENETUNREACH: [101, 'Network is unreachable'],
  ECONNABORTED: [103, 'Software caused connection abort'],
  ECONNRESET: [104, 'Connection reset by peer'],
  ENOTCONN: [107, 'Transport endpoint is not connected'],
  ESHUTDOWN: [108, 'Cannot send after transport endpoint shutdown'],
  ETIMEDOUT: [110, 'Connection timed out'],
  ECONNREFUSED: [111, 'Connection refused'],
  EHOSTUNREACH: [113, 'No route to host'],
  ECANCELED: [125, 'Operation canceled'],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrnoName = keyof typeof ERRNO;

/** errno numbers by name, e.g. `errno.EIO === 5`. */
export const errno = Object.fromEntries(
  Object.entries(ERRNO).map(([k, [n]]) => [k, n]),
) as { readonly [K in ErrnoName]: (typeof ERRNO)[K][0] };

const BY_NUMBER = new Map<number, ErrnoName>(
  Object.entries(ERRNO).map(([k, [n]]) => [n, k as ErrnoName]),
);

/** The symbolic name of an errno number ("EIO"), or "E<n>" when unknown. */
export const errnoName = (n: number): string => BY_NUMBER.get(n) ?? `E${n}`;

/** strerror(3) of an errno number. */
export const strerror = (n: number): string => {
  const name = BY_NUMBER.get(n);
  return name ? ERRNO[name][1] : `Unknown error ${n}`;
};

/** The number of an errno name, for callers that carry names (Node's `err.code`). */
export const errnoFromName = (name: string): number | undefined =>
  name in ERRNO ? ERRNO[name as ErrnoName][0] : undefined;

/**
 * Control characters (C0, DEL, C1) as \xHH, so that a URI or a server's message cannot move a
 * terminal's cursor, recolour it or forge another line. Idempotent: the result has none left.
 * Every error line webnbd shows (CLI, component, inspector) passes here, in NbdError's message.
 */
export const escapeControls = (s: string): string =>
  s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

/** Plain-data form of an NbdError, safe to postMessage. */
export interface NbdErrorData {
  readonly errno: number;
  readonly context: string;
  readonly detail: string;
}

/**
 * An error from a webnbd call. `message` reads like libnbd's nbd_get_error():
 * "CONTEXT: DETAIL: strerror(errno)" (the strerror part only when errno is non-zero).
 */
export class NbdError extends Error {
  override readonly name = 'NbdError';
  /** errno number, as nbd_get_errno() would return; 0 when there is none. */
  readonly errno: number;
  /** errno name ("EIO"), like Node's `err.code`. */
  readonly code: string;
  /** The API call that failed, e.g. "nbd_pread". */
  readonly context: string;
  /** The message without context and strerror, control characters escaped (escapeControls). */
  readonly detail: string;

  constructor(errnum: number, context: string, detail: string) {
    detail = escapeControls(detail);
    super(errnum ? `${context}: ${detail}: ${strerror(errnum)}` : `${context}: ${detail}`);
    this.errno = errnum;
    this.code = errnum ? errnoName(errnum) : 'EUNKNOWN';
    this.context = context;
    this.detail = detail;
  }

  /** The same failure seen from another API call (libnbd names the outermost call). */
  withContext(context: string): NbdError {
    return context === this.context ? this : new NbdError(this.errno, context, this.detail);
  }

  toData(): NbdErrorData {
    return { errno: this.errno, context: this.context, detail: this.detail };
  }

  static fromData(d: NbdErrorData): NbdError {
    return new NbdError(d.errno, d.context, d.detail);
  }
}

// libnbd keeps the last error per thread (nbd_get_error, nbd_get_errno). A JS realm has one
// thread, so one slot per realm is the same thing.
let lastError: NbdError | null = null;

/** Record an error as the realm's last error and return it (to throw). */
export const setLastError = (e: NbdError): NbdError => (lastError = e);

/** The message of the most recent failure, like nbd_get_error(); null if none. */
export const getError = (): string | null => lastError?.message ?? null;

/** The errno of the most recent failure, like nbd_get_errno(); 0 if none. */
export const getErrno = (): number => lastError?.errno ?? 0;
