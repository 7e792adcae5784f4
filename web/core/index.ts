// The NBD core's public surface: the handle, its constants, errors and URIs. No DOM, no Node.
export { NbdHandle, handleState, type HandleOptions } from './handle.js';
export type { HandleState, Settings, Connection, ExportInfo } from './handle/state.js';
export { guardCall } from './handle/check.js';
export { asNbdError } from './handle/violation.js';
export * from './types.js';
export { NbdError, errno, errnoName, strerror, getError, getErrno, type NbdErrorData } from './errors.js';
export { parseUri, formatUri, type ParsedUri } from './uri.js';
export type { Transport, TransportEvents, TransportOpener, Transports, Target, TlsOptions, TlsHost } from './transport.js';
export { API, type ApiName, type Call, type Row, type Arg, type ArgKind, type Kind, type Runs } from './api.js';
export { NbdPool, multiConnAllowed, type PoolHandle, type PoolOptions } from './pool.js';
