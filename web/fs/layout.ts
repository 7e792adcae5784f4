// What a disk holds, as virt-filesystems sees it: its partitions (MBR with logical partitions,
// GPT) or the whole disk, each with the filesystem signature at its start, named as libguestfs
// names devices (/dev/sda, /dev/sda1 …); and the choice of one for `ls` and `cat`.

import { NbdError, errno } from '../core/errors.js';
import type { Reader } from './device.js';
import { readPartitionTable, type Partition, type PartitionTable } from './partitions.js';
import { probe, type Signature } from './probe.js';

export interface Place {
  /** libguestfs's name: /dev/sda for the whole disk, /dev/sdaN for partition N. */
  device: string;
  partition: Partition | null;
  start: bigint;
  size: bigint;
  signature: Signature | null;
}

export interface Layout {
  table: PartitionTable;
  /** The whole disk (when it has no partition table) or each partition, in table order. */
  places: Place[];
}

/** Filesystem types this project can list and read. */
export const READABLE = new Set(['ext2', 'ext3', 'ext4', 'vfat', 'iso9660']);

export async function readLayout(read: Reader, size: bigint): Promise<Layout> {
  const table = await readPartitionTable(read, size);
  if (table.scheme === 'none') {
    return { table, places: [{ device: '/dev/sda', partition: null, start: 0n, size, signature: await probe(read, 0n, size) }] };
  }
  const places = await Promise.all(table.partitions.map(async (p): Promise<Place> => ({
    device: `/dev/sda${p.number}`, partition: p, start: p.start, size: p.size,
    signature: p.extended || p.start + p.size > size ? null : await probe(read, p.start, p.size),
  })));
  return { table, places };
}

/**
 * The place `arg` names ("1", "sda1", "/dev/sda1", "/dev/sda"), or without `arg` the only
 * filesystem there is. Fails in words that list what there is.
 */
export function choose(layout: Layout, arg: string | undefined, context: string): Place {
  const usable = layout.places.filter((p) => p.signature && READABLE.has(p.signature.type));
  const names = layout.places.map((p) => `${p.device}${p.signature ? ` (${p.signature.type})` : ''}`).join(', ');
  if (arg === undefined) {
    if (usable.length === 1) return usable[0]!;
    if (usable.length === 0) throw new NbdError(errno.ENOENT, context, `no filesystem that can be read on this disk (found: ${names || 'nothing'})`);
    throw new NbdError(errno.EINVAL, context, `the disk has several filesystems; name one (${usable.map((p) => p.device).join(', ')})`);
  }
  const m = /^(?:(?:\/dev\/)?sda)?(\d*)$/.exec(arg);
  const place = m ? layout.places.find((p) => (m[1] === '' ? p.partition === null : p.partition?.number === Number(m[1]))) : undefined;
  if (!place) throw new NbdError(errno.ENOENT, context, `no partition ${arg} on this disk (it has: ${names || 'nothing'})`);
  return place;
}
