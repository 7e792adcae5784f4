// FAT12, FAT16 and FAT32 with VFAT long names, read-only (Microsoft's FAT specification,
// "FAT: General Overview of On-Disk Format"). Modes, sizes, link counts and times are what Linux's
// vfat driver shows with its default mount options (umask 022, uid and gid 0, times in UTC).

import { NbdError, errno } from '../core/errors.js';
import type { Device } from './device.js';
import { ascii, field, le16, le32 } from './bytes.js';
import { S_IFDIR, S_IFREG, type Dirent, type Extent, type Filesystem, type Node, type Time } from './types.js';

const ATTR_RO = 0x01;
const ATTR_VOLUME = 0x08;
const ATTR_DIR = 0x10;
const ATTR_LFN = 0x0f;
/** NT reserved byte: the short name's base or extension is shown in lower case. */
const NT_LOWER_BASE = 0x08;
const NT_LOWER_EXT = 0x10;

/** Code page 437 for short names' bytes 0x80-0xFF (Linux's default codepage=437). */
const CP437 = 'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

export interface FatNode extends Node {
  /** First cluster (0 for empty files and for FAT12/16's fixed root directory). */
  readonly cluster: number;
  readonly fixedRoot: boolean;
  readonly attr: number;
}

const fail = (what: string, e: number = errno.EIO) => new NbdError(e, 'vfat', what);

/** A FAT date and time (local time, taken as UTC as Linux does by default) in seconds. */
function fatTime(date: number, time: number): Time {
  if (date === 0) return { sec: 0, nsec: 0 };
  const ms = Date.UTC(1980 + (date >> 9), ((date >> 5) & 15) - 1, date & 31, time >> 11, (time >> 5) & 63, (time & 31) * 2);
  return { sec: ms / 1000, nsec: 0 };
}

function shortName(e: Uint8Array): string {
  const decode = (b: Uint8Array) => Array.from(b, (c) => (c < 0x80 ? String.fromCharCode(c) : CP437[c - 0x80]!)).join('').trimEnd();
  const raw = e.slice(0, 11);
  if (raw[0] === 0x05) raw[0] = 0xe5;
  let base = decode(raw.subarray(0, 8));
  let ext = decode(raw.subarray(8, 11));
  if (e[12]! & NT_LOWER_BASE) base = base.toLowerCase();
  if (e[12]! & NT_LOWER_EXT) ext = ext.toLowerCase();
  return ext ? `${base}.${ext}` : base;
}

function checksum(e: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >> 1) + e[i]!) & 0xff;
  return sum;
}

export class FatFs implements Filesystem<FatNode> {
  readonly type = 'vfat';
  /** FAT12, FAT16 or FAT32, by cluster count as the specification decides. */
  readonly version: 'FAT12' | 'FAT16' | 'FAT32';
  readonly label: string;
  readonly uuid: string;
  readonly size: bigint;
  readonly blockSize: number;
  readonly #dev: Device;
  readonly #fatStart: bigint;
  readonly #rootStart: bigint;
  readonly #rootEntries: number;
  readonly #dataStart: bigint;
  readonly #clusters: number;
  readonly #rootCluster: number;
  readonly bootSector: Uint8Array;

  private constructor(dev: Device, b: Uint8Array) {
    this.#dev = dev;
    this.bootSector = b;
    const bps = le16(b, 11);
    const spc = b[13]!;
    const reserved = le16(b, 14);
    const fats = b[16]!;
    this.#rootEntries = le16(b, 17);
    const total = le16(b, 19) || le32(b, 32);
    const fatSize = le16(b, 22) || le32(b, 36);
    const rootSectors = Math.ceil((this.#rootEntries * 32) / bps);
    const dataSector = reserved + fats * fatSize + rootSectors;
    this.#clusters = Math.floor((total - dataSector) / spc);
    this.version = this.#clusters < 4085 ? 'FAT12' : this.#clusters < 65525 ? 'FAT16' : 'FAT32';
    // FAT32 may mirror only one FAT, the active one (BPB_ExtFlags bit 7).
    const active = this.version === 'FAT32' && b[40]! & 0x80 ? b[40]! & 0x0f : 0;
    this.#fatStart = BigInt(reserved + active * fatSize) * BigInt(bps);
    this.#rootStart = BigInt(reserved + fats * fatSize) * BigInt(bps);
    this.#dataStart = BigInt(dataSector) * BigInt(bps);
    this.#rootCluster = this.version === 'FAT32' ? le32(b, 44) : 0;
    this.blockSize = bps * spc;
    this.size = BigInt(total) * BigInt(bps);
    const id = this.version === 'FAT32' ? 67 : 39;
    const serial = le32(b, id).toString(16).toUpperCase().padStart(8, '0');
    this.uuid = `${serial.slice(0, 4)}-${serial.slice(4)}`;
    const label = field(b, id + 4, 11);
    this.label = label === 'NO NAME' ? '' : label;
  }

  /** The filesystem on `dev`, or null when its first sector is not a FAT boot sector. */
  static async open(dev: Device): Promise<FatFs | null> {
    if (dev.size < 512n) return null;
    const b = await dev.read(0n, 512);
    const bps = le16(b, 11);
    const spc = b[13]!;
    const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
    if (b[510] !== 0x55 || b[511] !== 0xaa || !(b[0] === 0xeb || b[0] === 0xe9)) return null;
    if (!pow2(bps) || bps < 512 || bps > 4096 || !pow2(spc) || le16(b, 14) === 0 || b[16] === 0) return null;
    if (ascii(b, 3, 8) === 'NTFS    ' || ascii(b, 3, 8) === 'EXFAT   ') return null;
    if ((le16(b, 19) || le32(b, 32)) === 0 || (le16(b, 22) || le32(b, 36)) === 0) return null;
    const fs = new FatFs(dev, b);
    if (fs.size > dev.size) throw fail(`the filesystem says it has ${fs.size} bytes, more than its partition (${dev.size})`);
    return fs;
  }

  async root(): Promise<FatNode> {
    const fixed = this.version !== 'FAT32';
    const size = fixed ? BigInt(this.#rootEntries * 32) : BigInt((await this.#chain(this.#rootCluster)).length * this.blockSize);
    const ino = fixed ? 1n : BigInt(this.#rootCluster);
    const node = { cluster: this.#rootCluster, fixedRoot: fixed, attr: ATTR_DIR, stat: this.#stat(ino, ATTR_DIR, size, 2, { sec: 0, nsec: 0 }, { sec: 0, nsec: 0 }) };
    // Like Linux, a directory's link count is 2 plus its subdirectories.
    const entries = await this.readdir(node);
    node.stat.nlink = 2 + entries.filter((e) => e.node.attr & ATTR_DIR).length;
    return node;
  }

  #stat(ino: bigint, attr: number, size: bigint, nlink: number, mtime: Time, atime: Time) {
    const dir = (attr & ATTR_DIR) !== 0;
    const mode = (dir ? S_IFDIR : S_IFREG) | (attr & ATTR_RO && !dir ? 0o555 : 0o755);
    const c = BigInt(this.blockSize);
    return { ino, mode, nlink, uid: 0, gid: 0, size, blocks: ((size + c - 1n) / c) * (c / 512n), atime, mtime, ctime: mtime };
  }

  /** The FAT entry for cluster n. */
  async #next(n: number): Promise<number> {
    if (this.version === 'FAT12') {
      const at = n + (n >> 1);
      const v = le16(await this.#dev.read(this.#fatStart + BigInt(at), 2), 0);
      return n & 1 ? v >> 4 : v & 0xfff;
    }
    if (this.version === 'FAT16') return le16(await this.#dev.read(this.#fatStart + BigInt(n * 2), 2), 0);
    return le32(await this.#dev.read(this.#fatStart + BigInt(n * 4), 4), 0) & 0x0fffffff;
  }

  /** The clusters of a chain, in order. */
  async #chain(first: number): Promise<number[]> {
    const eoc = this.version === 'FAT12' ? 0xff8 : this.version === 'FAT16' ? 0xfff8 : 0x0ffffff8;
    const out: number[] = [];
    for (let c = first; c < eoc;) {
      if (c < 2 || c >= this.#clusters + 2) throw fail(`a cluster chain reaches cluster ${c}, which does not exist: the FAT is damaged`);
      if (out.length > this.#clusters) throw fail('a cluster chain loops: the FAT is damaged');
      out.push(c);
      c = await this.#next(c);
    }
    return out;
  }

  #cluster(c: number): bigint { return this.#dataStart + BigInt(c - 2) * BigInt(this.blockSize); }

  async extents(node: FatNode): Promise<Extent[]> {
    if (node.fixedRoot) return [{ logical: 0n, physical: this.#rootStart, length: BigInt(this.#rootEntries * 32) }];
    if (node.cluster === 0) return [];
    const out: Extent[] = [];
    const c = BigInt(this.blockSize);
    for (const cl of await this.#chain(node.cluster)) {
      const last = out[out.length - 1];
      const at = this.#cluster(cl);
      if (last && last.physical + last.length === at) last.length += c;
      else out.push({ logical: last ? last.logical + last.length : 0n, physical: at, length: c });
    }
    if (!(node.attr & ATTR_DIR)) {
      // Clip to the size; clusters past it are not the file's.
      let left = node.stat.size;
      const kept: Extent[] = [];
      for (const e of out) {
        if (left <= 0n) break;
        kept.push({ ...e, length: e.length < left ? e.length : left });
        left -= e.length;
      }
      return kept;
    }
    return out;
  }

  async readdir(dir: FatNode): Promise<Dirent<FatNode>[]> {
    if (!(dir.attr & ATTR_DIR)) throw fail('not a directory', errno.EINVAL);
    const extents = await this.extents(dir);
    if (extents.reduce((n, e) => n + e.length, 0n) > BigInt(64 << 20)) throw fail('a directory of more than 64 MiB: the FAT is damaged');
    const parts = await Promise.all(extents.map(async (e) => ({ e, b: await this.#dev.read(e.physical, Number(e.length)) })));
    const out: Dirent<FatNode>[] = [];
    let lfn: string[] = [];
    let lfnSum = -1;
    for (const { e: ext, b } of parts) {
      for (let at = 0; at + 32 <= b.length; at += 32) {
        const e = b.subarray(at, at + 32);
        if (e[0] === 0) return this.#finish(out);
        const attr = e[11]!;
        if (e[0] === 0xe5) {
          lfn = [];
          continue;
        }
        if ((attr & 0x3f) === ATTR_LFN) {
          const ord = e[0]! & 0x1f;
          if (e[0]! & 0x40) {
            lfn = [];
            lfnSum = e[13]!;
          }
          if (ord < 1 || e[13] !== lfnSum) {
            lfn = [];
            continue;
          }
          let s = '';
          for (const [o, n] of [[1, 5], [14, 6], [28, 2]] as const) {
            for (let k = 0; k < n; k++) {
              const ch = le16(e, o + 2 * k);
              if (ch === 0 || ch === 0xffff) break;
              s += String.fromCharCode(ch);
            }
          }
          lfn[ord - 1] = s;
          continue;
        }
        const long = lfn.length && checksum(e) === lfnSum && lfn.every((x) => x !== undefined) ? lfn.join('') : null;
        lfn = [];
        if (attr & ATTR_VOLUME) continue;
        const name = long ?? shortName(e);
        if (name === '.' || name === '..') continue;
        const cluster = (le16(e, 20) << 16) | le16(e, 26);
        const isDir = (attr & ATTR_DIR) !== 0;
        // Inode numbers: the first cluster (no two files share one), else the entry's place.
        const ino = cluster ? BigInt(cluster) : ext.physical + BigInt(at) + (1n << 40n);
        const size = isDir ? BigInt((cluster ? (await this.#chain(cluster)).length : 0) * this.blockSize) : BigInt(le32(e, 28));
        const stat = this.#stat(ino, attr, size, isDir ? 2 : 1, fatTime(le16(e, 24), le16(e, 22)), fatTime(le16(e, 18), 0));
        out.push({ name, bytes: new TextEncoder().encode(name), node: { cluster, fixedRoot: false, attr, stat } });
      }
    }
    return this.#finish(out);
  }

  /** Directories' link counts: 2 plus their subdirectories, which takes reading them. */
  async #finish(out: Dirent<FatNode>[]): Promise<Dirent<FatNode>[]> {
    await Promise.all(out.filter((d) => d.node.attr & ATTR_DIR && d.node.cluster).map(async (d) => {
      const sub = await this.#subdirs(d.node);
      d.node.stat.nlink = 2 + sub;
    }));
    return out;
  }

  /** Subdirectories of a directory, from its raw entries (without reading theirs). */
  async #subdirs(dir: FatNode): Promise<number> {
    let n = 0;
    for (const e of await this.extents(dir)) {
      const b = await this.#dev.read(e.physical, Number(e.length));
      for (let at = 0; at + 32 <= b.length; at += 32) {
        if (b[at] === 0) return n;
        const attr = b[at + 11]!;
        if (b[at] !== 0xe5 && (attr & 0x3f) !== ATTR_LFN && attr & ATTR_DIR && !(attr & ATTR_VOLUME) && b[at] !== 0x2e) n++;
      }
    }
    return n;
  }

  readlink(): Promise<string> {
    return Promise.reject(fail('FAT has no symbolic links', errno.EINVAL));
  }
}
