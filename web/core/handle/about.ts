// What this libnbd is and can do (libnbd's nbd_get_version, nbd_supports_*, nbd_is_uri,
// nbd_get_handle_size): pure functions of the handle state, answered on the page as in the worker.

import { NbdError, errno } from '../errors.js';
import type { HandleState } from './state.js';

/** The libnbd API level webnbd implements: every call of libnbd 1.24 is in the API table. */
export const LIBNBD_VERSION = '1.24.0';

/** nbd_is_uri's heuristic, as libnbd's: the scheme of an NBD URI (and webnbd's bridge schemes). */
const URI_SCHEMES = /^(nbds?(\+(unix|vsock|ssh))?|nbd\+ws|nbds\+wss):/i;

export const ABOUT = {
  getPackageName: (_s: HandleState): string => 'webnbd',
  getVersion: (_s: HandleState): string => LIBNBD_VERSION,
  // "" means an upstream build with nothing to add (nbd_get_version_extra(3)).
  getVersionExtra: (_s: HandleState): string => '',
  supportsTls: (s: HandleState): boolean => s.settings.tlsAvailable,
  supportsVsock: (_s: HandleState): boolean => false,
  supportsUri: (_s: HandleState): boolean => true,
  isUri: (_s: HandleState, uri: string): boolean => URI_SCHEMES.test(uri),
  getSubprocessPid: (_s: HandleState): bigint => {
    throw new NbdError(errno.ESRCH, '', 'handle does not have a subprocess');
  },
  /** An estimate, as libnbd's: the state's strings and numbers, plus the engine's fixed part. */
  getHandleSize: (s: HandleState): number =>
    4096 + 2 * JSON.stringify(s, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)).length,
};
