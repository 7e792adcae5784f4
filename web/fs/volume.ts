// A filesystem opened on a device, by path: lookup with symbolic links followed as Linux does
// (at most 40, ".." lexically after each link), directory listings cached, and file contents
// streamed in order from their extents with a few reads in flight, holes made up as zeros.

import { NbdError, errno } from '../core/errors.js';
import type { Device } from './device.js';
import { ExtFs } from './ext.js';
import { FatFs } from './fat.js';
import { IsoFs } from './iso9660.js';
import { isDir, isLink, type Dirent, type Extent, type Filesystem, type Node } from './types.js';

/** Links followed in one lookup before ELOOP (Linux's MAXSYMLINKS). */
const MAX_LINKS = 40;
/** Directories walked down at most (Linux's PATH_MAX allows 2048 one-letter levels). */
const MAX_DEPTH = 2048;
/** Bytes per read of file contents, and reads in flight. */
const CHUNK = 1 << 20;
const IN_FLIGHT = 4;

/** The filesystem on a device, or null when none this reader knows is there. */
export async function openFilesystem(dev: Device): Promise<Filesystem | null> {
  return (await ExtFs.open(dev)) ?? (await IsoFs.open(dev)) ?? (await FatFs.open(dev));
}

/** One piece of a file in order: bytes on the device, or a run of zeros (a hole). */
export interface Piece {
  logical: bigint;
  length: number;
  /** Device offset, or null for zeros. */
  physical: bigint | null;
}

/** A file's bytes as pieces of at most `chunk` bytes covering [0, size) in order. */
export function pieces(extents: readonly Extent[], size: bigint, chunk = CHUNK): Piece[] {
  const out: Piece[] = [];
  const C = BigInt(chunk);
  const add = (logical: bigint, end: bigint, physical: bigint | null) => {
    for (let at = logical; at < end; at += C) {
      const n = end - at < C ? end - at : C;
      out.push({ logical: at, length: Number(n), physical: physical === null ? null : physical + (at - logical) });
    }
  };
  let at = 0n;
  for (const e of extents) {
    if (e.logical >= size) break;
    const end = e.logical + e.length < size ? e.logical + e.length : size;
    if (e.logical > at) add(at, e.logical, null);
    add(e.logical, end, e.unwritten ? null : e.physical);
    at = end;
  }
  if (at < size) add(at, size, null);
  return out;
}

export class Volume {
  readonly #dirs = new WeakMap<Node, Promise<Dirent[]>>();
  readonly #names = new WeakMap<Node, Promise<Map<string, Dirent>>>();

  constructor(readonly fs: Filesystem, readonly dev: Device) {}

  /** The filesystem on `dev`; fails with a clear error when none is recognised. */
  static async open(dev: Device, what = 'the partition'): Promise<Volume> {
    const fs = await openFilesystem(dev);
    if (!fs) throw new NbdError(errno.ENOTSUP, 'open', `no filesystem this tool can read on ${what} (it reads ext2/3/4, FAT12/16/32 and ISO 9660)`);
    return new Volume(fs, dev);
  }

  root(): Promise<Node> { return this.fs.root(); }

  /** A directory's entries (cached). */
  readdir(dir: Node): Promise<Dirent[]> {
    let p = this.#dirs.get(dir);
    if (!p) {
      p = this.fs.readdir(dir);
      this.#dirs.set(dir, p);
      p.catch(() => this.#dirs.delete(dir));
    }
    return p;
  }

  async #find(dir: Node, name: string): Promise<Dirent | undefined> {
    let p = this.#names.get(dir);
    if (!p) {
      p = this.readdir(dir).then((all) => new Map(all.map((d) => [d.name, d])));
      this.#names.set(dir, p);
    }
    return (await p).get(name);
  }

  readlink(node: Node): Promise<string> { return this.fs.readlink(node); }

  /**
   * A subdirectory's entries while walking down a tree: a damaged filesystem whose directory holds
   * one of its own ancestors would be walked forever, so that fails with ELOOP naming the path.
   */
  async readdirBelow(dir: Node, ancestors: readonly bigint[], path: string): Promise<Dirent[]> {
    if (ancestors.includes(dir.stat.ino) || ancestors.length > MAX_DEPTH) {
      throw new NbdError(errno.ELOOP, 'walk', `${path}: the directory contains itself: the filesystem is damaged`);
    }
    return this.readdir(dir);
  }

  /**
   * The node at `path` (absolute, from the filesystem's root). Symbolic links on the way are
   * followed; the last one only when `follow`. Fails with ENOENT, ENOTDIR or ELOOP naming `path`.
   */
  async lookup(path: string, follow = true, context = 'lookup'): Promise<Node> {
    const root = await this.root();
    const stack: Node[] = [root];
    let parts = path.split('/').filter((c) => c !== '' && c !== '.');
    let links = 0;
    const fail = (e: number) => new NbdError(e, context, path);
    while (parts.length > 0) {
      const name = parts.shift()!;
      if (name === '..') {
        if (stack.length > 1) stack.pop();
        continue;
      }
      const dir = stack[stack.length - 1]!;
      if (!isDir(dir.stat.mode)) throw fail(errno.ENOTDIR);
      const entry = await this.#find(dir, name);
      if (!entry) throw fail(errno.ENOENT);
      if (isLink(entry.node.stat.mode) && (parts.length > 0 || follow)) {
        if (++links > MAX_LINKS) throw fail(errno.ELOOP);
        const target = await this.readlink(entry.node);
        if (target.startsWith('/')) stack.splice(1);
        parts = target.split('/').filter((c) => c !== '' && c !== '.').concat(parts);
        continue;
      }
      stack.push(entry.node);
    }
    return stack[stack.length - 1]!;
  }

  /** The file's bytes in order, a piece at a time (holes as zeros), reading ahead a little. */
  async *read(node: Node, signal?: { readonly aborted: boolean }): AsyncGenerator<Uint8Array> {
    const inline = await this.fs.inline?.(node);
    if (inline) {
      yield inline;
      return;
    }
    const list = pieces(await this.fs.extents(node), node.stat.size);
    const fetch = (p: Piece) => (p.physical === null ? Promise.resolve(new Uint8Array(p.length)) : this.dev.direct(p.physical, p.length));
    const ahead: Promise<Uint8Array>[] = [];
    let next = 0;
    while (ahead.length > 0 || next < list.length) {
      while (ahead.length < IN_FLIGHT && next < list.length) {
        const p = fetch(list[next++]!);
        p.catch(() => {}); // awaited below, in order
        ahead.push(p);
      }
      if (signal?.aborted) throw new NbdError(errno.ECANCELED, 'read', 'cancelled');
      yield await ahead.shift()!;
    }
  }

  /** A whole file in memory (for small files: at most `limit` bytes). */
  async readFile(node: Node, limit = 64 << 20): Promise<Uint8Array> {
    if (node.stat.size > BigInt(limit)) throw new NbdError(errno.EOVERFLOW, 'read', `the file has ${node.stat.size} bytes, more than ${limit}`);
    const out = new Uint8Array(Number(node.stat.size));
    let at = 0;
    for await (const b of this.read(node)) {
      out.set(b, at);
      at += b.length;
    }
    return out;
  }
}
