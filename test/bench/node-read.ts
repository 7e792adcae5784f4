// webnbd in Node reading a whole export in order, as nbdcopy does: fixed-size requests, several
// in flight, each into one of a few reused buffers. Timed from connect to the end of shutdown.

import { create } from '../../web/node/index.js';

export interface ReadPlan {
  /** Bytes per request. */
  request: number;
  /** Requests in flight. */
  depth: number;
}

/** The default plan: what nbdcopy does (256 KiB requests, 64 in flight per connection) did worse. */
export const NODE_PLAN: ReadPlan = { request: 1 << 20, depth: 16 };

/** Read all of `uri` once; resolves to the milliseconds it took and the bytes read. */
export async function nodeRead(uri: string, plan: ReadPlan = NODE_PLAN): Promise<{ ms: number; bytes: number }> {
  const h = create();
  const t0 = performance.now();
  await h.connectUri(uri);
  const size = Number(h.getSize());
  const free = Array.from({ length: plan.depth }, () => new Uint8Array(plan.request));
  let next = 0;
  await new Promise<void>((resolve, reject) => {
    let inFlight = 0;
    const issue = () => {
      while (free.length && next < size) {
        const buf = free.pop()!;
        const n = Math.min(plan.request, size - next);
        const dest = n === buf.length ? buf : buf.subarray(0, n);
        h.pread(dest, next).then(() => {
          inFlight--;
          free.push(buf);
          if (next >= size && inFlight === 0) resolve();
          else issue();
        }, reject);
        inFlight++;
        next += n;
      }
    };
    issue();
    if (size === 0) resolve();
  });
  await h.shutdown();
  const ms = performance.now() - t0;
  h.close();
  return { ms, bytes: size };
}
