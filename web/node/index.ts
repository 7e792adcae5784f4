// webnbd for Node: the core, with TCP, Unix-socket and WebSocket transports registered.
import { NbdHandle } from '../core/handle.js';
import { nodeTransports } from './transports.js';

export * from '../core/index.js';
export { nodeTransports };

/** nbd_create(3): a new handle that can reach servers over TCP, Unix sockets and websockify. */
export function create(): NbdHandle {
  return new NbdHandle({ transports: nodeTransports });
}
