// Filesystem and container signatures at the start of a partition (what blkid would call TYPE),
// with the label and UUID where the format keeps them. Pure: reads through a Reader.

import { ascii, field, hex, le16, le32, uuid } from './bytes.js';
import type { Reader } from './device.js';

export interface Signature {
  /** blkid's name for it: ext2, ext3, ext4, vfat, ntfs, exfat, iso9660, swap, crypto_LUKS, xfs, btrfs, LVM2_member, squashfs. */
  type: string;
  /** A longer description ("FAT32", "LUKS2"), when there is more to say. */
  version?: string;
  label?: string;
  uuid?: string;
}

const withLabel = (s: Signature, label: string): Signature => (label ? { ...s, label } : s);

/** What is at `start` (a partition of `size` bytes), or null when nothing known is there. */
export async function probe(read: Reader, start: bigint, size: bigint): Promise<Signature | null> {
  const get = (at: number, n: number): Promise<Uint8Array | null> =>
    BigInt(at + n) <= size ? read(start + BigInt(at), n) : Promise.resolve(null);
  const head = await get(0, 8192) ?? await get(0, 512);
  if (!head) return null;
  const s = fromHead(head);
  if (s) return s;
  const iso = await get(32768, 2048);
  if (iso && iso[0] === 1 && ascii(iso, 1, 5) === 'CD001') return withLabel({ type: 'iso9660' }, field(iso, 40, 32));
  const btrfs = await get(0x10000, 0x300);
  if (btrfs && ascii(btrfs, 0x40, 8) === '_BHRfS_M') return withLabel({ type: 'btrfs', uuid: uuid(btrfs, 0x20) }, field(btrfs, 0x12b, 256));
  return null;
}

/** Signatures within the first 8 KiB (or 512 bytes for tiny partitions). */
function fromHead(b: Uint8Array): Signature | null {
  if (ascii(b, 0, 6) === 'LUKS\xba\xbe') {
    const version = (b[6]! << 8) | b[7]!;
    const s: Signature = { type: 'crypto_LUKS', version: `LUKS${version}`, uuid: field(b, 168, 40) };
    return version === 2 ? withLabel(s, field(b, 24, 48)) : s;
  }
  if (ascii(b, 0, 4) === 'XFSB') return withLabel({ type: 'xfs', uuid: uuid(b, 32) }, field(b, 108, 12));
  if (ascii(b, 0, 4) === 'hsqs') return { type: 'squashfs' };
  if (ascii(b, 3, 8) === 'NTFS    ') return { type: 'ntfs', uuid: hex(b.subarray(0x48, 0x50).slice().reverse()).toUpperCase() };
  if (ascii(b, 3, 8) === 'EXFAT   ') return { type: 'exfat' };
  if (b.length >= 2048 && le16(b, 1024 + 56) === 0xef53) return ext(b.subarray(1024, 2048));
  for (const page of [4096, 8192]) {
    if (b.length >= page && /^SWAP(SPACE2|-SPACE)$/.test(ascii(b, page - 10, 10))) {
      return withLabel({ type: 'swap', uuid: uuid(b, 1024 + 12) }, field(b, 1024 + 28, 16));
    }
  }
  for (let sector = 0; sector < 4 && b.length >= (sector + 1) * 512; sector++) {
    if (ascii(b, sector * 512, 8) === 'LABELONE' && ascii(b, sector * 512 + 24, 8) === 'LVM2 001') return { type: 'LVM2_member' };
  }
  if (b[510] === 0x55 && b[511] === 0xaa) {
    const bps = le16(b, 11);
    if (bps >= 512 && bps <= 4096 && (bps & (bps - 1)) === 0) {
      if (ascii(b, 82, 5) === 'FAT32') return fat(b, 'FAT32', 67, 71);
      const t = ascii(b, 54, 5);
      if (t === 'FAT12' || t === 'FAT16') return fat(b, t, 39, 43);
      if (t.startsWith('FAT')) return fat(b, 'FAT', 39, 43);
    }
  }
  return null;
}

function fat(b: Uint8Array, version: string, idAt: number, labelAt: number): Signature {
  const id = le32(b, idAt).toString(16).toUpperCase().padStart(8, '0');
  const label = field(b, labelAt, 11);
  return withLabel({ type: 'vfat', version, uuid: `${id.slice(0, 4)}-${id.slice(4)}` }, label === 'NO NAME' ? '' : label);
}

/** ext2/3/4 from the superblock (linux/fs/ext4/ext4.h): the features tell them apart. */
function ext(sb: Uint8Array): Signature {
  const compat = le32(sb, 92);
  const incompat = le32(sb, 96);
  const roCompat = le32(sb, 100);
  const HAS_JOURNAL = 0x4;
  // extents, 64bit, flex_bg, mmp, inline_data…; huge_file, gdt_csum, dir_nlink, extra_isize, metadata_csum.
  const ext4 = (incompat & ~0x0016) !== 0 || (roCompat & ~0x0007) !== 0;
  const type = ext4 ? 'ext4' : compat & HAS_JOURNAL ? 'ext3' : 'ext2';
  return withLabel({ type, uuid: uuid(sb, 104) }, field(sb, 120, 16));
}
