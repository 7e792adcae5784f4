// Opening and closing the NBD handle for a webnbd subcommand.

import { create, type NbdHandle } from '../node/index.js';

/** Create a handle, let `setup` configure it, and connect it to `uri`. */
export async function connect(uri: string, setup: (h: NbdHandle) => void = () => {}): Promise<NbdHandle> {
  const h = create();
  setup(h);
  try {
    await h.connectUri(uri);
  } catch (e) {
    h.close();
    throw e;
  }
  return h;
}

/** nbd_shutdown (NBD_OPT_ABORT while negotiating), then nbd_close; errors do not matter now. */
export async function disconnect(h: NbdHandle): Promise<void> {
  try {
    await h.shutdown();
  } catch {
    // The connection may be dead already.
  }
  h.close();
}
