// "Download file" and "download folder as a .tar" in the inspector: contents read through the
// file's extents (holes made up), folders walked and written as a pax tar archive, with progress
// and cancel. The result is a Blob the page offers as a download.

import { NbdError, errno } from '../core/errors.js';
import { padding, tarEnd, tarHeader, type TarEntry } from '../fs/tar.js';
import { isDir, isLink, isReg, type Node } from '../fs/types.js';
import type { Volume } from '../fs/volume.js';

/** Blobs live in the browser's memory (or its blob store): keep downloads within reason. */
export const DOWNLOAD_LIMIT = 4n << 30n;

export interface Progress {
  signal?: AbortSignal;
  onProgress?: (done: bigint, total: bigint) => void;
}

const cancelled = () => new NbdError(errno.ECANCELED, 'download', 'cancelled');
/** Blobs take plain memory, not shared: copy what came in a SharedArrayBuffer. */
const plain = (b: Uint8Array): Uint8Array<ArrayBuffer> => (b.buffer instanceof ArrayBuffer ? (b as Uint8Array<ArrayBuffer>) : new Uint8Array(b));

async function contents(vol: Volume, node: Node, parts: BlobPart[], step: (n: number) => void, signal?: AbortSignal): Promise<void> {
  for await (const b of vol.read(node, signal)) {
    if (signal?.aborted) throw cancelled();
    parts.push(plain(b));
    step(b.length);
  }
}

/** A file's bytes as a Blob. */
export async function downloadFile(vol: Volume, node: Node, opts: Progress = {}): Promise<Blob> {
  if (!isReg(node.stat.mode)) throw new NbdError(errno.EINVAL, 'download', 'only regular files can be downloaded');
  const total = node.stat.size;
  if (total > DOWNLOAD_LIMIT) throw new NbdError(errno.ERANGE, 'download', `a file of more than ${DOWNLOAD_LIMIT} bytes is too large to download from a page`);
  const parts: BlobPart[] = [];
  let done = 0n;
  await contents(vol, node, parts, (n) => opts.onProgress?.((done += BigInt(n)), total), opts.signal);
  return new Blob(parts, { type: 'application/octet-stream' });
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

/** A folder and everything in it as a tar archive named after it (`name/…`). */
export async function downloadFolder(vol: Volume, dir: Node, name: string, opts: Progress = {}): Promise<Blob> {
  const items: Item[] = [{ path: name, node: dir }];
  await walk(vol, dir, `${name}/`, items, [], opts.signal);
  const total = items.reduce((n, i) => n + (isReg(i.node.stat.mode) ? i.node.stat.size : 0n), 0n);
  if (total > DOWNLOAD_LIMIT) throw new NbdError(errno.ERANGE, 'download', `a folder of more than ${DOWNLOAD_LIMIT} bytes is too large to download from a page`);
  const parts: BlobPart[] = [];
  let done = 0n;
  opts.onProgress?.(0n, total);
  for (const item of items) {
    const s = item.node.stat;
    const type = isDir(s.mode) ? 'dir' : item.link !== undefined ? 'symlink' : isReg(s.mode) ? 'file' : null;
    if (type === null) continue; // devices, fifos and sockets have no place in a download
    const entry: TarEntry = { path: type === 'dir' ? `${item.path}/` : item.path, type, mode: s.mode, uid: s.uid, gid: s.gid, size: s.size, mtime: s.mtime.sec };
    if (item.link !== undefined) entry.linkTarget = item.link;
    parts.push(...tarHeader(entry).map(plain));
    if (type === 'file') {
      await contents(vol, item.node, parts, (n) => opts.onProgress?.((done += BigInt(n)), total), opts.signal);
      parts.push(plain(padding(s.size)));
    }
  }
  parts.push(plain(tarEnd()));
  return new Blob(parts, { type: 'application/x-tar' });
}
