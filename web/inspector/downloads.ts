// "Download file" and "download folder as a .tar" in the inspector: contents read through the
// file's extents (holes made up), folders walked and written as a pax tar archive, with progress
// and cancel. The bytes go to a stream as they are read (a file of the origin-private file system,
// which the page then offers as a download), so a download's size is bounded by the disk, not by
// the page's memory.

import { NbdError, errno } from '../core/errors.js';
import { ACCEPTS_SHARED } from '../browser/sinks.js';
import { padding, tarEnd, tarHeader, type TarEntry } from '../fs/tar.js';
import { isDir, isLink, isReg, type Node } from '../fs/types.js';
import type { Volume } from '../fs/volume.js';

export interface Progress {
  signal?: AbortSignal;
  onProgress?: (done: bigint, total: bigint) => void;
}

const cancelled = () => new NbdError(errno.ECANCELED, 'download', 'cancelled');

/** Appends to a stream, one chunk at a time (each written before the next is read). */
class Out {
  readonly #w: WritableStreamDefaultWriter<Uint8Array>;
  readonly #shared: boolean;
  bytes = 0n;
  constructor(stream: WritableStream) {
    this.#w = stream.getWriter();
    this.#shared = (stream as { [ACCEPTS_SHARED]?: boolean })[ACCEPTS_SHARED] === true;
  }
  async put(b: Uint8Array): Promise<void> {
    if (b.length === 0) return;
    // A stream that takes no shared memory gets a copy of what came in a SharedArrayBuffer.
    await this.#w.write(this.#shared || b.buffer instanceof ArrayBuffer ? b : new Uint8Array(b));
    this.bytes += BigInt(b.length);
  }
  close(): Promise<void> {
    return this.#w.close();
  }
  /** Leave nothing half-written: the stream is aborted (an OPFS file is emptied). */
  abort(e: unknown): Promise<void> {
    return this.#w.abort(e).catch(() => {});
  }
}

async function contents(vol: Volume, node: Node, out: Out, step: (n: number) => void, signal?: AbortSignal): Promise<void> {
  for await (const b of vol.read(node, signal)) {
    if (signal?.aborted) throw cancelled();
    await out.put(b);
    step(b.length);
  }
}

/** Write to `stream` with `body`, then close it; on any failure or cancel (the walk's, a check's) abort it. Resolves to the bytes written. */
async function into(stream: WritableStream, body: (out: Out) => Promise<void>): Promise<bigint> {
  const out = new Out(stream);
  try {
    await body(out);
  } catch (e) {
    await out.abort(e);
    throw e;
  }
  await out.close();
  return out.bytes;
}

/** A file's bytes into `stream`. */
export async function downloadFile(vol: Volume, node: Node, stream: WritableStream, opts: Progress = {}): Promise<bigint> {
  const total = node.stat.size;
  let done = 0n;
  return into(stream, async (out) => {
    if (!isReg(node.stat.mode)) throw new NbdError(errno.EINVAL, 'download', 'only regular files can be downloaded');
    await contents(vol, node, out, (n) => opts.onProgress?.((done += BigInt(n)), total), opts.signal);
  });
}

interface Item {
  path: string;
  node: Node;
  link?: string;
}

/** Everything under a directory, parents before children, names in order. */
async function walk(vol: Volume, dir: Node, prefix: string, out: Item[], above: bigint[], signal?: AbortSignal): Promise<void> {
  const entries = [...(await vol.readdirBelow(dir, above, prefix))].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (signal?.aborted) throw cancelled();
    const path = `${prefix}${e.name}`;
    if (isLink(e.node.stat.mode)) out.push({ path, node: e.node, link: await vol.readlink(e.node) });
    else out.push({ path, node: e.node });
    if (isDir(e.node.stat.mode)) await walk(vol, e.node, `${path}/`, out, [...above, dir.stat.ino], signal);
  }
}

/** A folder and everything in it as a tar archive named after it (`name/…`), into `stream`. */
export async function downloadFolder(vol: Volume, dir: Node, name: string, stream: WritableStream, opts: Progress = {}): Promise<bigint> {
  return into(stream, async (out) => {
    const items: Item[] = [{ path: name, node: dir }];
    await walk(vol, dir, `${name}/`, items, [], opts.signal);
    const total = items.reduce((n, i) => n + (isReg(i.node.stat.mode) ? i.node.stat.size : 0n), 0n);
    let done = 0n;
    opts.onProgress?.(0n, total);
    for (const item of items) {
      const s = item.node.stat;
      const type = isDir(s.mode) ? 'dir' : item.link !== undefined ? 'symlink' : isReg(s.mode) ? 'file' : null;
      if (type === null) continue; // devices, fifos and sockets have no place in a download
      const entry: TarEntry = { path: type === 'dir' ? `${item.path}/` : item.path, type, mode: s.mode, uid: s.uid, gid: s.gid, size: s.size, mtime: s.mtime.sec };
      if (item.link !== undefined) entry.linkTarget = item.link;
      for (const h of tarHeader(entry)) await out.put(h);
      if (type === 'file') {
        await contents(vol, item.node, out, (n) => opts.onProgress?.((done += BigInt(n)), total), opts.signal);
        await out.put(padding(s.size));
      }
    }
    await out.put(tarEnd());
  });
}
