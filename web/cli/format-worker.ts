// A formatting thread of pool.ts: formats whole lines from a given formatter state and sends the
// output back by transfer, with the input (and the spare buffer, if it did not need it).

import { parentPort } from 'node:worker_threads';
import { HexdumpC } from '../core/format/hexdump.js';
import { NbdDump } from '../core/format/nbddump.js';
import type { Job, Reply } from './pool.js';

parentPort!.on('message', (job: Job) => {
  let spare = job.spare;
  // The output goes into the spare buffer when it fits; else into memory of its own (transferable).
  const alloc = (n: number): Uint8Array => {
    if (spare && spare.byteLength >= n) {
      const out = new Uint8Array(spare, 0, n);
      spare = null;
      return out;
    }
    return Buffer.allocUnsafeSlow(n);
  };
  try {
    const f = job.spec.kind === 'hexdump'
      ? new HexdumpC({ state: job.state, alloc })
      : new NbdDump({ size: job.spec.size, colour: job.spec.colour, state: job.state, alloc });
    const out = f.push(new Uint8Array(job.input, job.byteOffset, job.length));
    const reply: Reply = { id: job.id, out, input: job.input, spare };
    const moved = [out.buffer as ArrayBuffer, job.input];
    if (spare) moved.push(spare);
    parentPort!.postMessage(reply, moved);
  } catch (e) {
    const reply: Reply = { id: job.id, error: e instanceof Error ? e.message : String(e) };
    parentPort!.postMessage(reply);
  }
});
