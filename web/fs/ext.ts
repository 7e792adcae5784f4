// ext2, ext3 and ext4, read-only: superblock, group descriptors (also with meta_bg and 64bit),
// inodes with their nanosecond and post-2038 times, directories (linear blocks, htree nodes
// skipped as the empty entries they look like), extent trees and ext2's indirect block maps.
// The layout is linux/fs/ext4/ext4.h's (e2fsprogs: lib/ext2fs/ext2_fs.h).

import { NbdError, errno } from '../core/errors.js';
import type { Device } from './device.js';
import { decodeUtf8, field, le16, le32, uuid } from './bytes.js';
import { S_IFDIR, S_IFLNK, S_IFMT, type Dirent, type Extent, type Filesystem, type Node, type Stat, type Time } from './types.js';

const MAGIC = 0xef53;
const ROOT_INO = 2;
/** Inode flags (i_flags). */
const HUGE_FILE_FL = 0x40000;
const EXTENTS_FL = 0x80000;
const INLINE_DATA_FL = 0x10000000;
/** Superblock features this reader depends on. */
const COMPAT_HAS_JOURNAL = 0x4;
const INCOMPAT_FILETYPE = 0x2;
const INCOMPAT_META_BG = 0x10;
const INCOMPAT_64BIT = 0x80;
const INCOMPAT_COMPRESSION = 0x1;
const INCOMPAT_ENCRYPT = 0x10000;
const RO_COMPAT_SPARSE_SUPER = 0x1;
const RO_COMPAT_HUGE_FILE = 0x8;
const EXTENT_MAGIC = 0xf30a;
/** An extent longer than this is unwritten (allocated, reads as zeros). */
const EXT_INIT_MAX_LEN = 32768;
const INODE_CACHE = 4096;
/** Largest directory (or symlink target) read whole: beyond this the filesystem is damaged. */
export const DIR_LIMIT = 64 << 20;

export interface ExtNode extends Node {
  readonly inode: number;
  /** The on-disk inode. */
  readonly raw: Uint8Array;
}

const fail = (what: string, e: number = errno.EIO) => new NbdError(e, 'ext', what);

/** 32-bit seconds (signed) plus the extra field's epoch bits and nanoseconds. */
function time(raw: Uint8Array, at: number, extraAt: number | null): Time {
  let sec = le32(raw, at) | 0;
  let nsec = 0;
  if (extraAt !== null) {
    const extra = le32(raw, extraAt);
    sec += (extra & 3) * 2 ** 32;
    nsec = extra >>> 2;
  }
  return { sec, nsec };
}

export class ExtFs implements Filesystem<ExtNode> {
  readonly type: 'ext2' | 'ext3' | 'ext4';
  readonly label: string;
  readonly uuid: string;
  readonly size: bigint;
  readonly blockSize: number;
  readonly #dev: Device;
  readonly #sb: Uint8Array;
  readonly #inodeSize: number;
  readonly #inodesPerGroup: number;
  readonly #blocksPerGroup: number;
  readonly #firstDataBlock: number;
  readonly #descSize: number;
  readonly #incompat: number;
  readonly #roCompat: number;
  readonly #inodes = new Map<number, Promise<ExtNode>>();
  readonly #tables = new Map<number, Promise<bigint>>();

  private constructor(dev: Device, sb: Uint8Array) {
    this.#dev = dev;
    this.#sb = sb;
    this.blockSize = 1024 << le32(sb, 24);
    const blocks = BigInt(le32(sb, 4)) | (le32(sb, 96) & INCOMPAT_64BIT ? BigInt(le32(sb, 0x150)) << 32n : 0n);
    this.size = blocks * BigInt(this.blockSize);
    this.#inodeSize = le32(sb, 76) === 0 ? 128 : le16(sb, 88);
    this.#inodesPerGroup = le32(sb, 40);
    this.#blocksPerGroup = le32(sb, 32);
    this.#firstDataBlock = le32(sb, 20);
    this.#incompat = le32(sb, 96);
    this.#roCompat = le32(sb, 100);
    this.#descSize = this.#incompat & INCOMPAT_64BIT ? Math.max(32, le16(sb, 254)) : 32;
    // blkid's rule: ext4 when it uses anything ext3 cannot read.
    const ext4 = (this.#incompat & ~0x0016) !== 0 || (this.#roCompat & ~0x0007) !== 0;
    this.type = ext4 ? 'ext4' : le32(sb, 92) & COMPAT_HAS_JOURNAL ? 'ext3' : 'ext2';
    this.label = field(sb, 120, 16);
    this.uuid = uuid(sb, 104);
  }

  /** The filesystem on `dev`, or null when there is no ext superblock. */
  static async open(dev: Device): Promise<ExtFs | null> {
    if (dev.size < 2048n) return null;
    const sb = await dev.read(1024n, 1024);
    if (le16(sb, 56) !== MAGIC) return null;
    const incompat = le32(sb, 96);
    if (incompat & (INCOMPAT_COMPRESSION | INCOMPAT_ENCRYPT)) throw fail('compressed or encrypted ext filesystems cannot be read here', errno.ENOTSUP);
    if (le32(sb, 24) > 6 || le32(sb, 40) === 0 || le32(sb, 32) === 0) throw fail('the superblock is damaged (block size or group sizes)');
    return new ExtFs(dev, sb);
  }

  /** Bytes of the superblock, for the inspector's structure view. */
  get superblock(): Uint8Array { return this.#sb; }

  root(): Promise<ExtNode> { return this.inode(ROOT_INO); }

  #block(n: bigint): bigint { return n * BigInt(this.blockSize); }

  /** Whether group g holds a superblock backup (sparse_super: 0, 1 and powers of 3, 5, 7). */
  #hasSuper(g: number): boolean {
    if (!(this.#roCompat & RO_COMPAT_SPARSE_SUPER) || g <= 1) return true;
    for (const base of [3, 5, 7]) {
      let p = base;
      while (p < g) p *= base;
      if (p === g) return true;
    }
    return false;
  }

  /** The first block of group g's inode table. */
  #inodeTable(g: number): Promise<bigint> {
    let p = this.#tables.get(g);
    if (!p) {
      p = (async () => {
        const perBlock = this.blockSize / this.#descSize;
        const firstMetaBg = le32(this.#sb, 260);
        let at: bigint;
        if (this.#incompat & INCOMPAT_META_BG && Math.floor(g / perBlock) >= firstMetaBg) {
          // meta_bg: each group of groups keeps its descriptors in its own first group.
          const first = Math.floor(g / perBlock) * perBlock;
          const start = BigInt(first) * BigInt(this.#blocksPerGroup) + BigInt(this.#firstDataBlock);
          at = this.#block(start + (this.#hasSuper(first) ? 1n : 0n)) + BigInt((g % perBlock) * this.#descSize);
        } else {
          at = this.#block(BigInt(this.#firstDataBlock) + 1n) + BigInt(g * this.#descSize);
        }
        const d = await this.#dev.read(at, this.#descSize);
        return BigInt(le32(d, 8)) | (this.#descSize >= 64 ? BigInt(le32(d, 0x28)) << 32n : 0n);
      })();
      this.#tables.set(g, p);
      p.catch(() => this.#tables.delete(g));
    }
    return p;
  }

  /** Inode number n. */
  inode(n: number): Promise<ExtNode> {
    let p = this.#inodes.get(n);
    if (p) return p;
    p = (async () => {
      if (n < 1 || n > le32(this.#sb, 0)) throw fail(`inode ${n} does not exist: the filesystem is damaged`);
      const g = Math.floor((n - 1) / this.#inodesPerGroup);
      const table = await this.#inodeTable(g);
      const raw = await this.#dev.read(this.#block(table) + BigInt(((n - 1) % this.#inodesPerGroup) * this.#inodeSize), this.#inodeSize);
      return { inode: n, raw, stat: this.#stat(n, raw) };
    })();
    if (this.#inodes.size >= INODE_CACHE) this.#inodes.delete(this.#inodes.keys().next().value!);
    this.#inodes.set(n, p);
    p.catch(() => this.#inodes.delete(n));
    return p;
  }

  #stat(n: number, raw: Uint8Array): Stat {
    const mode = le16(raw, 0);
    const extra = raw.length > 128 ? le16(raw, 128) : 0;
    // Extra time fields exist when the inode's extra part reaches them.
    const has = (end: number) => (raw.length > 128 && 128 + extra >= end ? end - 4 : null);
    const flags = le32(raw, 32);
    let blocks = BigInt(le32(raw, 28)) | (BigInt(le16(raw, 116)) << 32n);
    if (this.#roCompat & RO_COMPAT_HUGE_FILE && flags & HUGE_FILE_FL) blocks *= BigInt(this.blockSize / 512);
    const stat: Stat = {
      ino: BigInt(n),
      mode,
      nlink: le16(raw, 26),
      uid: le16(raw, 2) | (le16(raw, 120) << 16),
      gid: le16(raw, 24) | (le16(raw, 122) << 16),
      size: BigInt(le32(raw, 4)) | (BigInt(le32(raw, 108)) << 32n),
      blocks,
      atime: time(raw, 8, has(144)),
      mtime: time(raw, 16, has(140)),
      ctime: time(raw, 12, has(136)),
    };
    const type = mode & S_IFMT;
    if (type === 0o020000 || type === 0o060000) {
      // Old encoding in i_block[0], new in i_block[1] (linux/fs/ext4/inode.c).
      const old = le32(raw, 40);
      const dev = old ? old : le32(raw, 44);
      stat.rdev = old ? { major: (old >> 8) & 0xff, minor: old & 0xff } : { major: (dev & 0xfff00) >> 8, minor: (dev & 0xff) | ((dev >> 12) & 0xfff00) };
    }
    return stat;
  }

  async readdir(dir: ExtNode): Promise<Dirent<ExtNode>[]> {
    if ((dir.stat.mode & S_IFMT) !== S_IFDIR) throw fail(`inode ${dir.inode} is not a directory`, errno.EINVAL);
    const data = await this.#contents(dir);
    const out: Dirent<ExtNode>[] = [];
    const withType = (this.#incompat & INCOMPAT_FILETYPE) !== 0;
    // Inline directories: the parent's inode number, entries to the end of i_block, then more
    // entries in the "system.data" attribute; others: entries block by block.
    const regions: [number, number][] = [];
    if (le32(dir.raw, 32) & INLINE_DATA_FL) regions.push([4, Math.min(60, data.length)], [60, data.length]);
    else for (let b = 0; b < data.length; b += this.blockSize) regions.push([b, Math.min(data.length, b + this.blockSize)]);
    const found: { name: Uint8Array; inode: number }[] = [];
    for (const [start, end] of regions) {
      for (let at = start; at + 8 <= end;) {
        const inode = le32(data, at);
        let recLen = le16(data, at + 4);
        if (recLen === 0 || recLen === 65535) recLen = 65536; // 64 KiB blocks (ext4_rec_len_from_disk)
        const nameLen = withType ? data[at + 6]! : le16(data, at + 6);
        if (recLen < 8 || at + recLen > end || 8 + nameLen > recLen) throw fail(`directory inode ${dir.inode} has a damaged entry at byte ${at}`);
        const name = data.subarray(at + 8, at + 8 + nameLen);
        const dot = (nameLen === 1 && name[0] === 0x2e) || (nameLen === 2 && name[0] === 0x2e && name[1] === 0x2e);
        if (inode !== 0 && nameLen > 0 && !dot) found.push({ name: name.slice(), inode });
        at += recLen;
      }
    }
    const nodes = await Promise.all(found.map((f) => this.inode(f.inode)));
    for (let i = 0; i < found.length; i++) out.push({ name: decodeUtf8(found[i]!.name), bytes: found[i]!.name, node: nodes[i]! });
    return out;
  }

  async readlink(link: ExtNode): Promise<string> {
    if ((link.stat.mode & S_IFMT) !== S_IFLNK) throw fail(`inode ${link.inode} is not a symbolic link`, errno.EINVAL);
    const size = Number(link.stat.size);
    const flags = le32(link.raw, 32);
    const eaBlocks = le32(link.raw, 104) || le16(link.raw, 118) ? this.blockSize / 512 : 0;
    // A fast symlink keeps its target in i_block (ext4_inode_is_fast_symlink).
    if (!(flags & (EXTENTS_FL | INLINE_DATA_FL)) && Number(link.stat.blocks) - eaBlocks <= 0 && size < 60) {
      return decodeUtf8(link.raw.subarray(40, 40 + size));
    }
    return decodeUtf8((await this.#contents(link)).subarray(0, size));
  }

  /** A small file's whole content (directories, symlink targets), through the cache. */
  async #contents(node: ExtNode): Promise<Uint8Array> {
    const inline = await this.inline(node);
    if (inline) return inline;
    const size = Number(node.stat.size);
    if (size > DIR_LIMIT) throw fail(`inode ${node.inode} is too large to be a directory (${size} bytes): the filesystem is damaged`);
    const out = new Uint8Array(size);
    await Promise.all((await this.extents(node)).map(async (e) => {
      if (!e.unwritten) out.set(await this.#dev.read(e.physical, Number(e.length)), Number(e.logical));
    }));
    return out;
  }

  async inline(node: ExtNode): Promise<Uint8Array | null> {
    if (!(le32(node.raw, 32) & INLINE_DATA_FL)) return null;
    const size = Number(node.stat.size);
    const out = new Uint8Array(size);
    out.set(node.raw.subarray(40, 40 + Math.min(60, size)));
    if (size > 60) {
      const more = this.#inlineXattr(node.raw);
      if (!more || 60 + more.length < size) throw fail(`inode ${node.inode}: its inline data is incomplete`);
      out.set(more.subarray(0, size - 60), 60);
    }
    return out;
  }

  /** The "system.data" extended attribute in the inode's extra space (the rest of inline data). */
  #inlineXattr(raw: Uint8Array): Uint8Array | null {
    const base = 128 + le16(raw, 128);
    if (base + 4 > raw.length || le32(raw, base) !== 0xea020000) return null;
    const first = base + 4;
    for (let at = first; at + 16 <= raw.length && le32(raw, at) !== 0;) {
      const nameLen = raw[at]!;
      const index = raw[at + 1]!;
      const valueOffs = le16(raw, at + 2);
      const valueSize = le32(raw, at + 8);
      const name = decodeUtf8(raw.subarray(at + 16, at + 16 + nameLen));
      if (index === 7 && name === 'data') return raw.subarray(first + valueOffs, first + valueOffs + valueSize);
      at += (16 + nameLen + 3) & ~3;
    }
    return null;
  }

  async extents(node: ExtNode): Promise<Extent[]> {
    const flags = le32(node.raw, 32);
    if (flags & INLINE_DATA_FL) return [];
    const type = node.stat.mode & S_IFMT;
    if (type !== 0o100000 && type !== S_IFDIR && type !== S_IFLNK) return [];
    const bs = BigInt(this.blockSize);
    const blocks = (node.stat.size + bs - 1n) / bs;
    const out: Extent[] = [];
    const total = this.size / bs;
    const push = (logical: bigint, physical: bigint, count: bigint, unwritten: boolean) => {
      if (logical >= blocks) return;
      if (physical + count > total) throw fail(`inode ${node.inode} points at block ${physical}, past the end of the filesystem: it is damaged`);
      if (logical + count > blocks) count = blocks - logical;
      const last = out[out.length - 1];
      const e: Extent = { logical: logical * bs, physical: physical * bs, length: count * bs };
      if (unwritten) e.unwritten = true;
      if (last && !last.unwritten === !unwritten && last.logical + last.length === e.logical && last.physical + last.length === e.physical) last.length += e.length;
      else out.push(e);
    };
    if (flags & EXTENTS_FL) await this.#extentTree(node, node.raw.subarray(40, 100), 0, push);
    else await this.#blockMap(node, blocks, push);
    // The last block holds the end of the file: trim the extent to the size.
    const last = out[out.length - 1];
    if (last && last.logical + last.length > node.stat.size) last.length = node.stat.size - last.logical;
    return out;
  }

  async #extentTree(node: ExtNode, b: Uint8Array, level: number, push: (l: bigint, p: bigint, n: bigint, u: boolean) => void): Promise<void> {
    if (le16(b, 0) !== EXTENT_MAGIC || level > 5) throw fail(`inode ${node.inode} has a damaged extent tree`);
    const entries = le16(b, 2);
    const depth = le16(b, 6);
    if (12 + entries * 12 > b.length) throw fail(`inode ${node.inode} has a damaged extent tree`);
    for (let i = 0; i < entries; i++) {
      const e = 12 + i * 12;
      if (depth === 0) {
        let len = le16(b, e + 4);
        const unwritten = len > EXT_INIT_MAX_LEN;
        if (unwritten) len -= EXT_INIT_MAX_LEN;
        push(BigInt(le32(b, e)), (BigInt(le16(b, e + 6)) << 32n) | BigInt(le32(b, e + 8)), BigInt(len), unwritten);
      } else {
        const child = (BigInt(le16(b, e + 8)) << 32n) | BigInt(le32(b, e + 4));
        await this.#extentTree(node, await this.#dev.read(this.#block(child), this.blockSize), level + 1, push);
      }
    }
  }

  /** ext2/3: 12 direct blocks, then single, double and triple indirect blocks; 0 is a hole. */
  async #blockMap(node: ExtNode, blocks: bigint, push: (l: bigint, p: bigint, n: bigint, u: boolean) => void): Promise<void> {
    const per = BigInt(this.blockSize / 4);
    let logical = 0n;
    const walk = async (block: number, depth: number): Promise<void> => {
      const span = per ** BigInt(depth);
      if (block === 0) {
        logical += span;
        return;
      }
      if (depth === 0) {
        push(logical++, BigInt(block), 1n, false);
        return;
      }
      if (BigInt(block) * BigInt(this.blockSize) >= this.size) throw fail(`inode ${node.inode} has an indirect block ${block} past the end of the filesystem: it is damaged`);
      const b = await this.#dev.read(this.#block(BigInt(block)), this.blockSize);
      for (let i = 0; i < Number(per) && logical < blocks; i++) await walk(le32(b, i * 4), depth - 1);
    };
    for (let i = 0; i < 15 && logical < blocks; i++) await walk(le32(node.raw, 40 + i * 4), i < 12 ? 0 : i - 11);
  }
}
