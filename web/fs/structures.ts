// On-disk structures decoded as fields tied to their bytes: the MBR (and each EBR), the GPT header
// and its used entries (UEFI 2.10, 5.2-5.3), the ext superblock (linux/fs/ext4/ext4.h), the FAT boot
// sector (Microsoft's FAT specification) and the ISO 9660 primary volume descriptor (ECMA-119 8.4).
// The inspector lists them; hovering a field marks its bytes, and a byte names its field.

import { ascii, field, hex, le16, le32, le64, utf16, uuid } from './bytes.js';
import { guid, type PartitionTable } from './partitions.js';
import type { Reader } from './device.js';

export interface Field {
  name: string;
  /** Absolute byte offset on the export. */
  offset: bigint;
  length: number;
  value: string;
}

export interface Structure {
  title: string;
  offset: bigint;
  length: number;
  fields: Field[];
}

type Kind = 'u8' | 'u16' | 'u32' | 'u64' | 'hex' | 'text' | 'guid' | 'uuid' | 'utf16' | 'time' | 'ascii';

/** Fields of `b` (read at `base`) from [name, offset, length, kind] rows. */
function fields(b: Uint8Array, base: bigint, rows: [string, number, number, Kind][]): Field[] {
  return rows.filter(([, o, n]) => o + n <= b.length).map(([name, o, n, kind]) => {
    let value: string;
    switch (kind) {
      case 'u8': value = String(b[o]!); break;
      case 'u16': value = String(le16(b, o)); break;
      case 'u32': value = String(le32(b, o)); break;
      case 'u64': value = String(le64(b, o)); break;
      case 'guid': value = guid(b, o); break;
      case 'uuid': value = uuid(b, o); break;
      case 'text': value = JSON.stringify(field(b, o, n)); break;
      case 'ascii': value = JSON.stringify(ascii(b, o, n)); break;
      case 'utf16': value = JSON.stringify(utf16(b, o, n)); break;
      case 'time': value = le32(b, o) ? new Date(le32(b, o) * 1000).toISOString().replace('.000Z', 'Z') : '0'; break;
      default: value = n <= 16 ? hex(b.subarray(o, o + n)) : `${hex(b.subarray(o, o + 8))}… (${n} bytes)`;
    }
    if (kind === 'u16' || kind === 'u32' || kind === 'u8') value += ` (0x${Number(value).toString(16)})`;
    return { name, offset: base + BigInt(o), length: n, value };
  });
}

const MBR_ENTRY: [string, number, number, Kind][] = [
  ['status', 0, 1, 'hex'], ['first CHS', 1, 3, 'hex'], ['type', 4, 1, 'hex'], ['last CHS', 5, 3, 'hex'],
  ['first LBA', 8, 4, 'u32'], ['sectors', 12, 4, 'u32'],
];

function mbr(b: Uint8Array, at: bigint, title: string, entries: number): Structure {
  const rows: [string, number, number, Kind][] = [];
  if (at === 0n) rows.push(['boot code', 0, 440, 'hex'], ['disk signature', 440, 4, 'hex'], ['reserved', 444, 2, 'hex']);
  for (let i = 0; i < entries; i++) for (const [n, o, len, k] of MBR_ENTRY) rows.push([`entry ${i + 1} ${n}`, 446 + 16 * i + o, len, k]);
  rows.push(['boot signature', 510, 2, 'hex']);
  return { title, offset: at, length: 512, fields: fields(b, at, rows) };
}

function gptHeader(h: Uint8Array, at: bigint): Structure {
  return {
    title: 'GPT header', offset: at, length: 92,
    fields: fields(h, at, [
      ['signature', 0, 8, 'ascii'], ['revision', 8, 4, 'hex'], ['header size', 12, 4, 'u32'], ['header CRC32', 16, 4, 'hex'],
      ['reserved', 20, 4, 'hex'], ['my LBA', 24, 8, 'u64'], ['alternate LBA', 32, 8, 'u64'], ['first usable LBA', 40, 8, 'u64'],
      ['last usable LBA', 48, 8, 'u64'], ['disk GUID', 56, 16, 'guid'], ['entries LBA', 72, 8, 'u64'],
      ['number of entries', 80, 4, 'u32'], ['entry size', 84, 4, 'u32'], ['entries CRC32', 88, 4, 'hex'],
    ]),
  };
}

function gptEntry(e: Uint8Array, at: bigint, n: number): Structure {
  return {
    title: `GPT entry ${n}`, offset: at, length: e.length,
    fields: fields(e, at, [['type GUID', 0, 16, 'guid'], ['unique GUID', 16, 16, 'guid'], ['first LBA', 32, 8, 'u64'],
      ['last LBA', 40, 8, 'u64'], ['attributes', 48, 8, 'hex'], ['name', 56, 72, 'utf16']]),
  };
}

function extSuperblock(sb: Uint8Array, at: bigint): Structure {
  return {
    title: 'ext superblock', offset: at, length: 1024,
    fields: fields(sb, at, [
      ['inodes count', 0, 4, 'u32'], ['blocks count', 4, 4, 'u32'], ['reserved blocks', 8, 4, 'u32'], ['free blocks', 12, 4, 'u32'],
      ['free inodes', 16, 4, 'u32'], ['first data block', 20, 4, 'u32'], ['log block size', 24, 4, 'u32'], ['log cluster size', 28, 4, 'u32'],
      ['blocks per group', 32, 4, 'u32'], ['clusters per group', 36, 4, 'u32'], ['inodes per group', 40, 4, 'u32'],
      ['mount time', 44, 4, 'time'], ['write time', 48, 4, 'time'], ['mount count', 52, 2, 'u16'], ['max mount count', 54, 2, 'u16'],
      ['magic', 56, 2, 'hex'], ['state', 58, 2, 'u16'], ['errors', 60, 2, 'u16'], ['minor revision', 62, 2, 'u16'],
      ['last check', 64, 4, 'time'], ['check interval', 68, 4, 'u32'], ['creator OS', 72, 4, 'u32'], ['revision', 76, 4, 'u32'],
      ['default uid', 80, 2, 'u16'], ['default gid', 82, 2, 'u16'], ['first inode', 84, 4, 'u32'], ['inode size', 88, 2, 'u16'],
      ['block group', 90, 2, 'u16'], ['compatible features', 92, 4, 'hex'], ['incompatible features', 96, 4, 'hex'],
      ['read-only compatible features', 100, 4, 'hex'], ['UUID', 104, 16, 'uuid'], ['volume name', 120, 16, 'text'],
      ['last mounted on', 136, 64, 'text'], ['journal UUID', 208, 16, 'uuid'], ['journal inode', 224, 4, 'u32'],
      ['hash seed', 236, 16, 'hex'], ['descriptor size', 254, 2, 'u16'], ['mkfs time', 264, 4, 'time'],
      ['blocks count (high)', 336, 4, 'u32'], ['checksum', 1020, 4, 'hex'],
    ]),
  };
}

function fatBootSector(b: Uint8Array, at: bigint): Structure {
  const fat32 = le16(b, 22) === 0;
  const rows: [string, number, number, Kind][] = [
    ['jump', 0, 3, 'hex'], ['OEM name', 3, 8, 'ascii'], ['bytes per sector', 11, 2, 'u16'], ['sectors per cluster', 13, 1, 'u8'],
    ['reserved sectors', 14, 2, 'u16'], ['FATs', 16, 1, 'u8'], ['root entries', 17, 2, 'u16'], ['total sectors (16)', 19, 2, 'u16'],
    ['media', 21, 1, 'hex'], ['sectors per FAT (16)', 22, 2, 'u16'], ['sectors per track', 24, 2, 'u16'], ['heads', 26, 2, 'u16'],
    ['hidden sectors', 28, 4, 'u32'], ['total sectors (32)', 32, 4, 'u32'],
  ];
  const x = fat32 ? 28 : 0;
  if (fat32) rows.push(['sectors per FAT (32)', 36, 4, 'u32'], ['flags', 40, 2, 'hex'], ['version', 42, 2, 'hex'], ['root cluster', 44, 4, 'u32'], ['FSInfo sector', 48, 2, 'u16'], ['backup boot sector', 50, 2, 'u16']);
  rows.push(['drive number', 36 + x, 1, 'hex'], ['boot signature', 38 + x, 1, 'hex'], ['volume ID', 39 + x, 4, 'hex'], ['volume label', 43 + x, 11, 'ascii'], ['filesystem type', 54 + x, 8, 'ascii'], ['signature', 510, 2, 'hex']);
  return { title: 'FAT boot sector', offset: at, length: 512, fields: fields(b, at, rows) };
}

function isoPvd(d: Uint8Array, at: bigint): Structure {
  const both32: Kind = 'u32';
  return {
    title: 'ISO 9660 primary volume descriptor', offset: at, length: 2048,
    fields: fields(d, at, [
      ['type', 0, 1, 'u8'], ['identifier', 1, 5, 'ascii'], ['version', 6, 1, 'u8'], ['system identifier', 8, 32, 'text'],
      ['volume identifier', 40, 32, 'text'], ['volume space size', 80, 4, both32], ['volume set size', 120, 2, 'u16'],
      ['volume sequence number', 124, 2, 'u16'], ['logical block size', 128, 2, 'u16'], ['path table size', 132, 4, both32],
      ['root directory record', 156, 34, 'hex'], ['volume set identifier', 190, 128, 'text'], ['publisher', 318, 128, 'text'],
      ['data preparer', 446, 128, 'text'], ['application', 574, 128, 'text'], ['creation date', 813, 17, 'ascii'],
      ['modification date', 830, 17, 'ascii'], ['file structure version', 881, 1, 'u8'],
    ]),
  };
}

/** The structures of a disk: its partition table, and the superblock of each filesystem found. */
export async function readStructures(read: Reader, size: bigint, table: PartitionTable, places: { start: bigint; size: bigint; type: string | null }[]): Promise<Structure[]> {
  const out: Structure[] = [];
  const head = size >= 512n ? await read(0n, 512) : null;
  if (table.scheme === 'gpt') {
    const ss = BigInt(table.sectorSize);
    if (head && head[510] === 0x55) out.push(mbr(head, 0n, 'Protective MBR', 4));
    const h = await read(ss, 92);
    out.push(gptHeader(h, ss));
    const entriesAt = le64(h, 72) * ss;
    const entrySize = le32(h, 84);
    for (const p of table.partitions) {
      const at = entriesAt + BigInt((p.number - 1) * entrySize);
      out.push(gptEntry(await read(at, Math.min(entrySize, 128)), at, p.number));
    }
  } else if (table.scheme === 'mbr' && head) {
    out.push(mbr(head, 0n, 'MBR', 4));
  }
  for (const p of places) {
    try {
      if (p.type?.startsWith('ext') && p.size >= 2048n) out.push(extSuperblock(await read(p.start + 1024n, 1024), p.start + 1024n));
      else if (p.type === 'vfat') out.push(fatBootSector(await read(p.start, 512), p.start));
      else if (p.type === 'iso9660') out.push(isoPvd(await read(p.start + 32768n, 2048), p.start + 32768n));
    } catch {
      // A partition that cannot be read has nothing to decode; the partitions table says why.
    }
  }
  return out;
}

/** The field holding byte `o`, and its structure. */
export function fieldAt(structures: readonly Structure[], o: bigint): { structure: Structure; field: Field } | null {
  for (const structure of structures) {
    if (o < structure.offset || o >= structure.offset + BigInt(structure.length)) continue;
    const f = structure.fields.find((x) => o >= x.offset && o < x.offset + BigInt(x.length));
    if (f) return { structure, field: f };
  }
  return null;
}

