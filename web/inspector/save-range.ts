// "Save range": bytes [start, end) of the export as a file, read 1 MiB at a time with a few reads
// in flight, known zero runs made up without reading; progress as it goes and cancel at any time
// (cancelling also cancels the reads in flight).
// The result is a Blob the page offers as a download.

import { allocBuffer } from '../browser/client.js';
import { NbdError, errno } from '../core/errors.js';
import type { Disk } from '../browser/disk.js';

const CHUNK = 1 << 20;
const IN_FLIGHT = 4;
/** Blobs live in the browser's memory (or its blob store): keep files within reason. */
export const SAVE_LIMIT = 4n << 30n;

export interface SaveOptions {
  signal?: AbortSignal;
  onProgress?: (done: bigint, total: bigint) => void;
}

export async function saveRange(disk: Disk, start: bigint, end: bigint, opts: SaveOptions = {}): Promise<Blob> {
  if (start < 0n || end > disk.size || end < start) {
    throw new NbdError(errno.EINVAL, 'save range', `the range ${start}–${end} is not within the export (${disk.size} bytes)`);
  }
  if (end - start > SAVE_LIMIT) throw new NbdError(errno.ERANGE, 'save range', `a range of more than ${SAVE_LIMIT} bytes is too large to save from a page`);
  const total = end - start;
  const parts: Uint8Array<ArrayBuffer>[] = [];
  const count = Number((total + BigInt(CHUNK) - 1n) / BigInt(CHUNK));
  let next = 0;
  let done = 0n;
  const cancelled = () => new NbdError(errno.ECANCELED, 'save range', 'cancelled');
  await disk.status(start, end, opts.signal);
  const worker = async () => {
    while (next < count) {
      if (opts.signal?.aborted) throw cancelled();
      const i = next++;
      const at = start + BigInt(i) * BigInt(CHUNK);
      const n = Number(end - at < BigInt(CHUNK) ? end - at : BigInt(CHUNK));
      if (disk.extents.isZero(at, at + BigInt(n))) {
        parts[i] = new Uint8Array(n);
      } else {
        const buf = allocBuffer(n);
        await disk.handle.pread(buf, at, 0, { signal: opts.signal });
        // Blobs cannot hold shared memory: copy into a plain buffer (a no-op copy elsewhere is cheap).
        parts[i] = buf.buffer instanceof ArrayBuffer ? (buf as Uint8Array<ArrayBuffer>) : new Uint8Array(buf);
      }
      done += BigInt(n);
      opts.onProgress?.(done, total);
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, count) }, worker));
  if (opts.signal?.aborted) throw cancelled();
  return new Blob(parts, { type: 'application/octet-stream' });
}
