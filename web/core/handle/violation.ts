// The two ways a connection fails, as h11 tells them apart: the server broke the protocol (the
// handle dies, every command in flight fails) or the caller misused the API (that call fails).

import { NbdError, errno } from '../errors.js';

/** The server broke the protocol: the connection cannot be trusted any more. */
export class Violation extends Error {}

/** The export size does not fit libnbd's int64_t (CVE-2023-5215). */
export class NbdOverflow extends Error {
  constructor(size: bigint) {
    super(`server export size ${size} is larger than the maximum 2^63-1`);
  }
}

/** Any failure as an NbdError; `dflt` is the errno of a plain Error. */
export function asNbdError(e: unknown, dflt: number): NbdError {
  if (e instanceof NbdError) return e;
  if (e instanceof Violation) return new NbdError(errno.EPROTO, '', e.message);
  return new NbdError(dflt, '', e instanceof Error ? e.message : String(e));
}
