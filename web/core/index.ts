// The NBD core's public surface: the handle, its constants, errors and URIs. No DOM, no Node.
export { NbdHandle, guardCall, asNbdError, type HandleOptions, type HandleSnapshot, type ExportInfo } from './handle.js';
export * from './types.js';
export { NbdError, errno, errnoName, strerror, getError, getErrno, type NbdErrorData } from './errors.js';
export { parseUri, formatUri, type ParsedUri } from './uri.js';
export type { Transport, TransportEvents, TransportOpener, Transports, Target } from './transport.js';
export { API, type ApiName, type Call, type Arg, type ArgKind } from './api.js';
