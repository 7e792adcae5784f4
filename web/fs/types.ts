// What every filesystem reader gives: nodes with stat(2)'s fields, directories as lists of
// entries, file contents by extents. Paths, symlinks and walking are volume.ts's, once for all.

/** st_mode's file type bits (S_IFMT) and their values, as in <sys/stat.h>. */
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

export const isDir = (mode: number): boolean => (mode & S_IFMT) === S_IFDIR;
export const isReg = (mode: number): boolean => (mode & S_IFMT) === S_IFREG;
export const isLink = (mode: number): boolean => (mode & S_IFMT) === S_IFLNK;

/** `ls -l`'s ten-character mode: type, then rwx with s/S and t/T. */
export function modeString(mode: number): string {
  const types: Record<number, string> = { [S_IFREG]: '-', [S_IFDIR]: 'd', [S_IFLNK]: 'l', [S_IFCHR]: 'c', [S_IFBLK]: 'b', [S_IFIFO]: 'p', [S_IFSOCK]: 's' };
  const rwx = (bits: number, special: boolean, ch: string) =>
    (bits & 4 ? 'r' : '-') + (bits & 2 ? 'w' : '-') + (special ? (bits & 1 ? ch : ch.toUpperCase()) : bits & 1 ? 'x' : '-');
  return (types[mode & S_IFMT] ?? '?') + rwx(mode >> 6, (mode & 0o4000) !== 0, 's') + rwx(mode >> 3, (mode & 0o2000) !== 0, 's') + rwx(mode, (mode & 0o1000) !== 0, 't');
}

/** A timestamp: seconds since the epoch (UTC) and nanoseconds. */
export interface Time {
  sec: number;
  nsec: number;
}

/** stat(2), as Linux would report it for the mounted filesystem. */
export interface Stat {
  ino: bigint;
  /** File type and permission bits (st_mode). */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: bigint;
  /** 512-byte blocks allocated (st_blocks). */
  blocks: bigint;
  atime: Time;
  mtime: Time;
  ctime: Time;
  /** Device number of a character or block device. */
  rdev?: { major: number; minor: number };
}

/** A file or directory of a filesystem: its stat, and whatever its reader needs to find it. */
export interface Node {
  readonly stat: Stat;
}

export interface Dirent<N extends Node = Node> {
  /** The name as stored, decoded (UTF-8 on ext and ISO 9660 with Rock Ridge, UTF-16 for FAT and Joliet). */
  name: string;
  /** The name's bytes as stored, for printing exactly (ext names need not be UTF-8). */
  bytes: Uint8Array;
  node: N;
}

/** Where a stretch of a file's bytes lies on the filesystem's device. */
export interface Extent {
  /** Offset in the file. */
  logical: bigint;
  /** Offset on the device (from the filesystem's start). */
  physical: bigint;
  length: bigint;
  /** Allocated but unwritten (reads as zeros: ext4's uninitialised extents). */
  unwritten?: boolean;
}

/** One filesystem reader (ext.ts, fat.ts, iso9660.ts). */
export interface Filesystem<N extends Node = Node> {
  /** blkid's TYPE: ext2, ext3, ext4, vfat, iso9660. */
  readonly type: string;
  readonly label: string;
  readonly uuid: string;
  /** Bytes the filesystem spans on its device. */
  readonly size: bigint;
  readonly blockSize: number;
  root(): Promise<N>;
  /** Entries of a directory, without "." and "..", in on-disk order. */
  readdir(dir: N): Promise<Dirent<N>[]>;
  readlink(link: N): Promise<string>;
  /** The file's data as extents, in file order; holes are the gaps. */
  extents(file: N): Promise<Extent[]>;
  /** Files whose bytes are not in extents (ext4 inline data): the whole content. */
  inline?(file: N): Promise<Uint8Array | null>;
}
