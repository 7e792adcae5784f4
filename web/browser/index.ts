// webnbd in a page (`webnbd/browser`): create() gives a handle that lives in the page's Web Worker,
// with NbdHandle's API; allocBuffer() gives buffers the worker can read into; the core's
// constants, errors and URIs come along.
export * from '../core/index.js';
export { create, allocBuffer, canShare, type RemoteHandle } from './client.js';
