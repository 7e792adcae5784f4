// Partition tables: MBR (with the extended partition's chain of EBRs) and GPT (UEFI spec 2.10,
// section 5.3), read through any `read(offset, length)`. Pure: no DOM, no I/O of its own, so the
// same code runs in the page and in Node tests.

import { hex as lowerHex, le16, le32, le64 } from './bytes.js';
import type { Reader } from './device.js';

export type { Reader };

export interface Partition {
  /** As Linux numbers them: MBR primaries 1-4 by slot, logical partitions from 5; GPT entries from 1. */
  number: number;
  scheme: 'mbr' | 'gpt';
  /** Byte offset and size. */
  start: bigint;
  size: bigint;
  /** MBR: the type byte as "0x83"; GPT: the type GUID. */
  type: string;
  /** What the type means ("Linux filesystem"), or "" when unknown. */
  typeName: string;
  /** GPT partition name (UTF-16LE in the entry); "" for MBR. */
  name: string;
  /** GPT unique partition GUID. */
  guid?: string;
  /** MBR: an extended partition (a container of logical ones, not a filesystem). */
  extended?: boolean;
  bootable?: boolean;
}

export interface PartitionTable {
  scheme: 'mbr' | 'gpt' | 'none';
  /** The logical sector size the table was found with (512 or 4096). */
  sectorSize: number;
  diskGuid?: string;
  partitions: Partition[];
  /** Things wrong with the table (bad CRC, entries past the end of the disk…). */
  warnings: string[];
}

const MBR_TYPES: Record<number, string> = {
  0x01: 'FAT12', 0x04: 'FAT16 <32M', 0x05: 'Extended', 0x06: 'FAT16', 0x07: 'HPFS/NTFS/exFAT',
  0x0b: 'W95 FAT32', 0x0c: 'W95 FAT32 (LBA)', 0x0e: 'W95 FAT16 (LBA)', 0x0f: "W95 Ext'd (LBA)",
  0x11: 'Hidden FAT12', 0x17: 'Hidden HPFS/NTFS', 0x27: 'Hidden NTFS WinRE', 0x82: 'Linux swap / Solaris',
  0x83: 'Linux', 0x85: 'Linux extended', 0x8e: 'Linux LVM', 0xa5: 'FreeBSD', 0xa6: 'OpenBSD',
  0xa8: 'Darwin UFS', 0xa9: 'NetBSD', 0xaf: 'HFS / HFS+', 0xee: 'GPT', 0xef: 'EFI (FAT-12/16/32)',
  0xfd: 'Linux raid autodetect',
};
const EXTENDED = new Set([0x05, 0x0f, 0x85]);

const GPT_TYPES: Record<string, string> = {
  'C12A7328-F81F-11D2-BA4B-00A0C93EC93B': 'EFI System',
  '21686148-6449-6E6F-744E-656564454649': 'BIOS boot',
  '0FC63DAF-8483-4772-8E79-3D69D8477DE4': 'Linux filesystem',
  '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F': 'Linux swap',
  'E6D6D379-F507-44C2-A23C-238F2A3DF928': 'Linux LVM',
  'A19D880F-05FC-4D3B-A006-743F0F84911E': 'Linux RAID',
  'CA7D7CCB-63ED-4C53-861C-1742536059CC': 'Linux LUKS',
  '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709': 'Linux root (x86-64)',
  '44479540-F297-41B2-9AF7-D131D5F0458A': 'Linux root (x86)',
  'B921B045-1DF0-41C3-AF44-4C6F280D3FAE': 'Linux root (ARM-64)',
  '933AC7E1-2EB4-4F13-B844-0E14E2AEF915': 'Linux home',
  'BC13C2FF-59E6-4262-A352-B275FD6F7172': 'Linux extended boot',
  'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7': 'Microsoft basic data',
  'E3C9E316-0B5C-4DB8-817D-F92DF00215AE': 'Microsoft reserved',
  'DE94BBA4-06D1-4D40-A16A-BFD50179D6AC': 'Windows recovery environment',
  '48465300-0000-11AA-AA11-00306543ECAC': 'Apple HFS/HFS+',
  '7C3457EF-0000-11AA-AA11-00306543ECAC': 'Apple APFS',
  '516E7CB6-6ECF-11D6-8FF8-00022D09712B': 'FreeBSD UFS',
  '83BD6B9D-7F41-11DC-BE0B-001560B84F0F': 'FreeBSD boot',
};

const hex = (b: Uint8Array) => lowerHex(b).toUpperCase();

/** A GUID as text: its first three fields are little-endian on disk. */
export function guid(b: Uint8Array, o = 0): string {
  const r = (i: number, n: number) => hex(b.subarray(o + i, o + i + n).slice().reverse());
  return `${r(0, 4)}-${r(4, 2)}-${r(6, 2)}-${hex(b.subarray(o + 8, o + 10))}-${hex(b.subarray(o + 10, o + 16))}`;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 (IEEE 802.3), as GPT uses it. */
export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The partition table of a disk of `size` bytes, or scheme 'none'. */
export async function readPartitionTable(read: Reader, size: bigint): Promise<PartitionTable> {
  const none: PartitionTable = { scheme: 'none', sectorSize: 512, partitions: [], warnings: [] };
  if (size < 512n) return none;
  const mbr = await read(0n, 512);
  for (const ss of [512, 4096]) {
    if (size < BigInt(ss) * 2n) continue;
    const gpt = await readGpt(read, size, ss);
    if (gpt) return gpt;
  }
  if (mbr[510] !== 0x55 || mbr[511] !== 0xaa) return none;
  // A boot sector of a filesystem spanning the whole disk also ends in 55 aa; its "entries" are code.
  if ((mbr[0] === 0xeb || mbr[0] === 0xe9) && /^(NTFS|EXFAT|MSDOS|MSWIN|mkfs|FAT)/.test(String.fromCharCode(...mbr.subarray(3, 11)).trim())) return none;
  return readMbr(read, size, mbr);
}

async function readMbr(read: Reader, size: bigint, mbr: Uint8Array): Promise<PartitionTable> {
  const t: PartitionTable = { scheme: 'mbr', sectorSize: 512, partitions: [], warnings: [] };
  const entry = (b: Uint8Array, i: number, base: bigint) => {
    const o = 446 + 16 * i;
    return { status: b[o]!, type: b[o + 4]!, start: base + BigInt(le32(b, o + 8)) * 512n, size: BigInt(le32(b, o + 12)) * 512n };
  };
  for (let i = 0; i < 4; i++) {
    const e = entry(mbr, i, 0n);
    if (e.status !== 0 && e.status !== 0x80) return { ...t, scheme: 'none' };
  }
  let ext: bigint | null = null;
  for (let i = 0; i < 4; i++) {
    const e = entry(mbr, i, 0n);
    if (e.type === 0 || e.size === 0n) continue;
    if (e.start + e.size > size) t.warnings.push(`partition ${i + 1} ends past the end of the disk`);
    const extended = EXTENDED.has(e.type);
    if (extended && ext === null) ext = e.start;
    t.partitions.push(mbrPartition(i + 1, e.type, e.start, e.size, e.status === 0x80, extended));
  }
  // Logical partitions: each EBR holds one, and the offset of the next EBR from the extended start.
  let ebr = ext;
  const seen = new Set<bigint>();
  for (let n = 5; ext !== null && ebr !== null && n < 5 + 128; n++) {
    if (seen.has(ebr) || ebr + 512n > size) {
      t.warnings.push('the chain of extended boot records loops or leaves the disk');
      break;
    }
    seen.add(ebr);
    const b = await read(ebr, 512);
    if (b[510] !== 0x55 || b[511] !== 0xaa) {
      t.warnings.push(`no extended boot record signature at byte ${ebr}`);
      break;
    }
    const e = entry(b, 0, ebr);
    if (e.type !== 0 && e.size > 0n) t.partitions.push(mbrPartition(n, e.type, e.start, e.size, e.status === 0x80, false));
    const next = entry(b, 1, ext);
    ebr = next.type !== 0 && next.size > 0n ? next.start : null;
  }
  return t;
}

function mbrPartition(number: number, type: number, start: bigint, size: bigint, bootable: boolean, extended: boolean): Partition {
  const p: Partition = { number, scheme: 'mbr', start, size, type: `0x${type.toString(16).padStart(2, '0')}`, typeName: MBR_TYPES[type] ?? '', name: '', bootable };
  if (extended) p.extended = true;
  return p;
}

async function readGpt(read: Reader, size: bigint, ss: number): Promise<PartitionTable | null> {
  const h = await read(BigInt(ss), Math.min(ss, 512));
  if (String.fromCharCode(...h.subarray(0, 8)) !== 'EFI PART') return null;
  const t: PartitionTable = { scheme: 'gpt', sectorSize: ss, diskGuid: guid(h, 56), partitions: [], warnings: [] };
  const headerSize = le32(h, 12);
  if (headerSize >= 92 && headerSize <= h.length) {
    const copy = h.slice(0, headerSize);
    copy.fill(0, 16, 20);
    if (crc32(copy) !== le32(h, 16)) t.warnings.push('the GPT header CRC is wrong');
  }
  const entriesAt = le64(h, 72) * BigInt(ss);
  const count = le32(h, 80);
  const entrySize = le32(h, 84);
  if (entrySize < 128 || entrySize > 4096 || count > 4096 || entriesAt + BigInt(count * entrySize) > size) {
    t.warnings.push('the GPT partition entry array is not where the header says');
    return t;
  }
  const all = await read(entriesAt, count * entrySize);
  if (crc32(all) !== le32(h, 88)) t.warnings.push('the GPT partition entries CRC is wrong');
  for (let i = 0; i < count; i++) {
    const e = all.subarray(i * entrySize, (i + 1) * entrySize);
    if (e.subarray(0, 16).every((x) => x === 0)) continue;
    const first = le64(e, 32);
    const last = le64(e, 40);
    const type = guid(e, 0);
    let name = '';
    for (let k = 56; k + 1 < 128; k += 2) {
      const c = le16(e, k);
      if (c === 0) break;
      name += String.fromCharCode(c);
    }
    const start = first * BigInt(ss);
    const bytes = last >= first ? (last - first + 1n) * BigInt(ss) : 0n;
    if (start + bytes > size) t.warnings.push(`partition ${i + 1} ends past the end of the disk`);
    t.partitions.push({ number: i + 1, scheme: 'gpt', start, size: bytes, type, typeName: GPT_TYPES[type] ?? '', name, guid: guid(e, 16) });
  }
  return t;
}
