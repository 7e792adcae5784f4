// ISO 9660 (ECMA-119) with Rock Ridge (RRIP 1.12 over SUSP 1.12: modes, links, names, symlinks,
// times, relocated deep directories) and Joliet (UCS-2 names), read-only. Rock Ridge is preferred
// when present, then Joliet, then plain names, as Linux's isofs does; multi-extent files are joined.

import { NbdError, errno } from '../core/errors.js';
import type { Device } from './device.js';
import { ascii, be16, decodeUtf8, field, le32 } from './bytes.js';
import { S_IFDIR, S_IFMT, S_IFREG, type Dirent, type Extent, type Filesystem, type Node, type Stat, type Time } from './types.js';

const SECTOR = 2048;
const FLAG_DIR = 0x02;
const FLAG_MULTI = 0x80;

export interface IsoNode extends Node {
  /** Where each extent of the file is (several for multi-extent files). */
  readonly parts: { lba: number; length: number }[];
  readonly symlink?: string;
}

const fail = (what: string) => new NbdError(errno.EIO, 'iso9660', what);

/** A directory record's 7-byte date: years since 1900 … seconds, then the offset from GMT in 15 minutes. */
function shortDate(b: Uint8Array, o: number): Time {
  if (b[o] === 0 && b[o + 1] === 0) return { sec: 0, nsec: 0 };
  const tz = ((b[o + 6]! << 24) >> 24) * 15 * 60;
  return { sec: Date.UTC(1900 + b[o]!, b[o + 1]! - 1, b[o + 2]!, b[o + 3]!, b[o + 4]!, b[o + 5]!) / 1000 - tz, nsec: 0 };
}

/** A 17-byte date ("YYYYMMDDHHMMSScc" and the offset), as volume descriptors and long TF use. */
function longDate(b: Uint8Array, o: number): Time {
  const d = ascii(b, o, 16);
  if (!/^\d{16}$/.test(d) || d.startsWith('0000')) return { sec: 0, nsec: 0 };
  const n = (i: number, k: number) => Number(d.slice(i, i + k));
  const tz = ((b[o + 16]! << 24) >> 24) * 15 * 60;
  return { sec: Date.UTC(n(0, 4), n(4, 2) - 1, n(6, 2), n(8, 2), n(10, 2), n(12, 2)) / 1000 - tz, nsec: n(14, 2) * 10_000_000 };
}

interface Record {
  length: number;
  lba: number;
  size: number;
  flags: number;
  name: Uint8Array;
  date: Time;
  /** The System Use area, where Rock Ridge lives. */
  su: Uint8Array;
  /** Byte position of the record on the device, a stable inode number. */
  at: bigint;
}

/** What Rock Ridge says of one record. */
interface RockRidge {
  mode?: number;
  nlink?: number;
  uid?: number;
  gid?: number;
  ino?: bigint;
  name?: string;
  link?: string;
  times: Partial<Record3>;
  rdev?: { major: number; minor: number };
  /** CL: the directory really is at this block (a relocated deep directory). */
  childLink?: number;
  /** RE: this is the relocated directory itself; hidden where it was moved to. */
  relocated?: boolean;
}
interface Record3 { ctime: Time; mtime: Time; atime: Time }

export class IsoFs implements Filesystem<IsoNode> {
  readonly type = 'iso9660';
  readonly label: string;
  readonly uuid: string;
  readonly size: bigint;
  readonly blockSize = SECTOR;
  readonly #dev: Device;
  readonly #root: Uint8Array;
  readonly #joliet: boolean;
  /** Bytes to skip at the start of each System Use area (SUSP "SP"), or -1 without Rock Ridge. */
  #skip = -1;
  readonly descriptor: Uint8Array;

  private constructor(dev: Device, pvd: Uint8Array, root: Uint8Array, joliet: boolean) {
    this.#dev = dev;
    this.descriptor = pvd;
    this.#root = root;
    this.#joliet = joliet;
    this.label = field(pvd, 40, 32);
    this.size = BigInt(le32(pvd, 80)) * BigInt(SECTOR);
    // blkid's UUID for ISO 9660: the volume's creation time, digits with dashes.
    const c = ascii(pvd, 813, 16);
    this.uuid = /^\d{16}$/.test(c) && !c.startsWith('0000') ? `${c.slice(0, 4)}-${c.slice(4, 6)}-${c.slice(6, 8)}-${c.slice(8, 10)}-${c.slice(10, 12)}-${c.slice(12, 14)}-${c.slice(14)}` : '';
  }

  static async open(dev: Device): Promise<IsoFs | null> {
    if (dev.size < 34816n) return null;
    let pvd: Uint8Array | null = null;
    let svd: Uint8Array | null = null;
    for (let s = 16; s < 64 && BigInt((s + 1) * SECTOR) <= dev.size; s++) {
      const d = await dev.read(BigInt(s * SECTOR), SECTOR);
      if (ascii(d, 1, 5) !== 'CD001') break;
      if (d[0] === 1 && !pvd) pvd = d;
      // Joliet: a supplementary descriptor with UCS-2 escape sequences %/@, %/C or %/E.
      if (d[0] === 2 && d[88] === 0x25 && d[89] === 0x2f && [0x40, 0x43, 0x45].includes(d[90]!)) svd = d;
      if (d[0] === 255) break;
    }
    if (!pvd) return null;
    const fs = new IsoFs(dev, pvd, pvd.subarray(156, 190), false);
    const root = await fs.#records(fs.#parse(pvd.subarray(156, 190), 156n + 16n * 2048n)!);
    // SUSP "SP" in the root's "." record marks Rock Ridge (SUSP 1.12, 5.3).
    const dot = root[0];
    if (dot && ascii(dot.su, 0, 2) === 'SP' && dot.su[4] === 0xbe && dot.su[5] === 0xef) {
      fs.#skip = dot.su[6]!;
      return fs;
    }
    return svd ? new IsoFs(dev, pvd, svd.subarray(156, 190), true) : fs;
  }

  #parse(b: Uint8Array, at: bigint): Record | null {
    const length = b[0]!;
    if (length < 34 || length > b.length) return null;
    const nameLen = b[32]!;
    if (33 + nameLen > length) throw fail(`a directory record at byte ${at} is damaged`);
    const suStart = 33 + nameLen + ((nameLen & 1) ? 0 : 1);
    return {
      length, lba: le32(b, 2), size: le32(b, 10), flags: b[25]!, name: b.slice(33, 33 + nameLen),
      date: shortDate(b, 18), su: b.slice(Math.min(suStart, length), length), at,
    };
  }

  /** Every record of a directory extent, "." and ".." included. */
  async #records(dir: Record): Promise<Record[]> {
    if (BigInt(dir.lba) * 2048n + BigInt(dir.size) > this.#dev.size) throw fail(`a directory lies past the end of the image (block ${dir.lba})`);
    if (dir.size > 64 << 20) throw fail(`a directory of ${dir.size} bytes at block ${dir.lba}: the image is damaged`);
    const data = await this.#dev.read(BigInt(dir.lba) * 2048n, dir.size);
    const out: Record[] = [];
    for (let at = 0; at < data.length;) {
      if (data[at] === 0) {
        // Records never cross sectors: a zero length means the rest of the sector is padding.
        at = (Math.floor(at / SECTOR) + 1) * SECTOR;
        continue;
      }
      const r = this.#parse(data.subarray(at, Math.min(data.length, at + data[at]!)), BigInt(dir.lba) * 2048n + BigInt(at));
      if (!r) throw fail(`a directory record at block ${dir.lba} byte ${at} is damaged`);
      out.push(r);
      at += r.length;
    }
    return out;
  }

  /** Rock Ridge entries of a record, following continuation areas (CE). */
  async #rockRidge(r: Record): Promise<RockRidge> {
    const rr: RockRidge = { times: {} };
    let area: Uint8Array | null = r.su.subarray(Math.max(0, this.#skip));
    let name = '';
    let link: string[] | null = null;
    let linkPart = '';
    for (let hops = 0; area && hops < 16; hops++) {
      let next: Uint8Array | null = null;
      for (let at = 0; at + 4 <= area.length;) {
        const sig = ascii(area, at, 2);
        const len = area[at + 2]!;
        if (len < 4 || at + len > area.length) break;
        const e = area.subarray(at, at + len);
        switch (sig) {
          case 'PX':
            rr.mode = le32(e, 4);
            rr.nlink = le32(e, 12);
            rr.uid = le32(e, 20);
            rr.gid = le32(e, 28);
            if (len >= 44) rr.ino = BigInt(le32(e, 36));
            break;
          case 'PN': {
            const high = le32(e, 4);
            const low = le32(e, 12);
            rr.rdev = high ? { major: high, minor: low } : { major: (low >> 8) & 0xfff, minor: (low & 0xff) | ((low >> 12) & 0xfff00) };
            break;
          }
          case 'NM':
            if (!(e[4]! & 6)) name += decodeUtf8(e.subarray(5));
            break;
          case 'SL': {
            link ??= [];
            // Components: flags (continue, current, parent, root), length, bytes.
            for (let c = 5; c + 2 <= e.length;) {
              const f = e[c]!;
              const n = e[c + 1]!;
              const text = f & 2 ? '.' : f & 4 ? '..' : f & 8 ? '' : decodeUtf8(e.subarray(c + 2, c + 2 + n));
              linkPart += text;
              if (!(f & 1)) {
                link.push(linkPart);
                linkPart = '';
              }
              c += 2 + n;
            }
            break;
          }
          case 'TF': {
            const flags = e[4]!;
            const size = flags & 0x80 ? 17 : 7;
            let o = 5;
            for (const [bit, key] of [[1, 'create'], [2, 'mtime'], [4, 'atime'], [8, 'ctime']] as const) {
              if (!(flags & bit)) continue;
              const t = size === 17 ? longDate(e, o) : shortDate(e, o);
              if (key !== 'create') rr.times[key] = t;
              o += size;
            }
            break;
          }
          case 'CL':
            rr.childLink = le32(e, 4);
            break;
          case 'RE':
            rr.relocated = true;
            break;
          case 'CE': {
            const block = le32(e, 4);
            const off = le32(e, 12);
            const n = le32(e, 20);
            next = await this.#dev.read(BigInt(block) * 2048n + BigInt(off), n);
            break;
          }
          case 'ST':
            at = area.length;
            continue;
        }
        at += len;
      }
      area = next;
    }
    if (name) rr.name = name;
    if (link) rr.link = (link[0] === '' ? '/' : '') + link.filter((p, i) => i > 0 || p !== '').join('/');
    return rr;
  }

  #name(r: Record): string {
    if (this.#joliet) {
      let s = '';
      for (let k = 0; k + 1 < r.name.length; k += 2) s += String.fromCharCode(be16(r.name, k));
      return s.replace(/;\d+$/, '');
    }
    // Plain ISO 9660 as Linux shows it (map=normal): lower case, without ";1" and a lone dot.
    return ascii(r.name, 0, r.name.length).replace(/;\d+$/, '').replace(/\.$/, '').toLowerCase();
  }

  async #node(r: Record, rr: RockRidge | null, parts: { lba: number; length: number }[]): Promise<IsoNode> {
    const dir = (r.flags & FLAG_DIR) !== 0;
    const size = parts.reduce((n, p) => n + BigInt(p.length), 0n);
    const stat: Stat = {
      // Directories are known by their extent (as Linux's isofs does), files by their record.
      ino: rr?.ino ?? (dir ? BigInt(parts[0]!.lba) * 2048n : r.at),
      mode: rr?.mode ?? (dir ? S_IFDIR | 0o555 : S_IFREG | 0o444),
      nlink: rr?.nlink ?? (dir ? 2 : 1),
      uid: rr?.uid ?? 0,
      gid: rr?.gid ?? 0,
      size: rr?.link !== undefined ? BigInt(new TextEncoder().encode(rr.link).length) : size,
      blocks: ((size + 2047n) / 2048n) * 4n,
      mtime: rr?.times.mtime ?? r.date,
      atime: rr?.times.atime ?? r.date,
      ctime: rr?.times.ctime ?? r.date,
    };
    if (rr?.rdev) stat.rdev = rr.rdev;
    const node: IsoNode = rr?.link !== undefined ? { stat, parts, symlink: rr.link } : { stat, parts };
    return node;
  }

  async root(): Promise<IsoNode> {
    const r = this.#parse(this.#root, 0n)!;
    const [dot] = await this.#records(r);
    const rr = this.#skip >= 0 && dot ? await this.#rockRidge(dot) : null;
    return this.#node(dot ?? r, rr, [{ lba: r.lba, length: r.size }]);
  }

  async readdir(dir: IsoNode): Promise<Dirent<IsoNode>[]> {
    if ((dir.stat.mode & S_IFMT) !== S_IFDIR) throw fail('not a directory');
    const part = dir.parts[0]!;
    const records = (await this.#records({ lba: part.lba, size: part.length } as Record)).slice(2);
    const out: Dirent<IsoNode>[] = [];
    for (let i = 0; i < records.length; i++) {
      const first = records[i]!;
      let r = first;
      const parts = [{ lba: r.lba, length: r.size }];
      // A multi-extent file continues in the records that follow, up to one without the flag.
      while (r.flags & FLAG_MULTI && i + 1 < records.length) {
        r = records[++i]!;
        parts.push({ lba: r.lba, length: r.size });
      }
      const rr = this.#skip >= 0 ? await this.#rockRidge(first) : null;
      if (rr?.relocated) continue;
      let node: IsoNode;
      if (rr?.childLink !== undefined) {
        // The directory was moved (genisoimage's rr_moved): its own "." record has its attributes.
        const [dot] = await this.#records({ lba: rr.childLink, size: SECTOR } as Record);
        const whole = await this.#records({ lba: rr.childLink, size: dot!.size } as Record);
        node = await this.#node(whole[0]!, await this.#rockRidge(whole[0]!), [{ lba: rr.childLink, length: dot!.size }]);
      } else {
        node = await this.#node(first, rr, parts);
      }
      const name = rr?.name ?? this.#name(first);
      out.push({ name, bytes: new TextEncoder().encode(name), node });
    }
    return out;
  }

  async readlink(link: IsoNode): Promise<string> {
    if (link.symlink === undefined) throw new NbdError(errno.EINVAL, 'iso9660', 'not a symbolic link');
    return link.symlink;
  }

  async extents(file: IsoNode): Promise<Extent[]> {
    if (file.symlink !== undefined) return [];
    const out: Extent[] = [];
    let logical = 0n;
    for (const p of file.parts) {
      if (p.length > 0) out.push({ logical, physical: BigInt(p.lba) * 2048n, length: BigInt(p.length) });
      logical += BigInt(p.length);
    }
    return out;
  }
}
