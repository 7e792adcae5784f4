// webnbd in a page (`webnbd/browser`): create() gives a handle that lives in the page's Web Worker,
// with NbdHandle's API; allocBuffer() gives buffers the worker can read into; download() and
// upload() copy whole disks out and in; openPool() and spreadRead() read large ranges over several
// connections; the core's constants, errors and URIs come along.
export * from '../core/index.js';
export { create, allocBuffer, canShare, WorkerClient, type RemoteHandle, type WorkerClientOptions } from './client.js';
export { download, upload, type DownloadOptions, type UploadOptions, type TransferOptions, type TransferProgress, type TransferResult } from './transfer.js';
export { canPickSaveFile, pickSaveFile, privateFile, removePrivateFile, type FileSink } from './sinks.js';
export { openPool, spreadRead, MAX_CONNECTIONS, type PoolOpenOptions } from './multi.js';
