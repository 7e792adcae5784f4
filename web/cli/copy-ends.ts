// The two ends of `webnbd copy`, as nbdcopy's struct rw: an NBD export (one connection, or a
// pool of them), a local file or block device, a pipe (`-`, or anything not seekable), or null:.
// Each end says what it is and does reads, writes and zeroing; copy-loop.ts drives them.

import { constants as FS, promises as fsp, writeSync, type Stats } from 'node:fs';
import { isatty } from 'node:tty';
import { NbdPool } from '../core/pool.js';
import { NbdError, errno } from '../core/errors.js';
import { CMD_FLAG_NO_HOLE, SIZE_PAYLOAD, SIZE_PREFERRED, type CommandOptions } from '../core/types.js';
import { connect } from './connect.js';
import type { Io } from './io.js';
import { extentsAt, type Range } from './reader.js';

/** A run of the source: data to read, or zeroes known from block status. */
export type Extent = Range;

export interface End {
  /** As given on the command line: errors start with it. */
  readonly name: string;
  readonly kind: 'nbd' | 'file' | 'block' | 'pipe' | 'null';
  /** Bytes; null when unknown (a pipe). */
  size: bigint | null;
  /** Preferred block size (a power of 2). */
  readonly preferred: number;
  /** Largest request the end takes (an NBD server's maximum block size, or libnbd's payload limit). */
  readonly maximum: number;
  /** More connections may be opened (files and null: count as unlimited, as in nbdcopy). */
  readonly multiConn: boolean;
  readonly readOnly: boolean;
  /** Read exactly buf.length bytes at `offset`. */
  read(buf: Uint8Array, offset: bigint): Promise<void>;
  /** A pipe: the next bytes, up to buf.length; 0 at the end. */
  readStream(buf: Uint8Array): Promise<number>;
  /** Zero and data runs of [offset, offset + count), or null when the end cannot tell. */
  extents(offset: bigint, count: bigint): Promise<Extent[] | null>;
  write(buf: Uint8Array, offset: bigint): Promise<void>;
  /** Zero a range efficiently; false when this end cannot (write zeroes instead). */
  zero(offset: bigint, count: bigint, allocated: boolean): Promise<boolean>;
  flush(): Promise<void>;
  /** Grow to `connections` (NBD only), once both ends agree on multi-conn. */
  extend(connections: number): Promise<void>;
  close(): Promise<void>;
}

const BASE_ALLOCATION = 'base:allocation';
/** Largest block status and zero request: within 32 bits, aligned. */
const MAX_LEN = 1n << 30n;

/** nbdcopy's is_nbd_uri, plus webnbd's WebSocket schemes. */
export const isNbdUri = (s: string): boolean => /^nbds?(\+(unix|vsock|ws|wss))?:/.test(s);

const notFor = (what: string) => (): never => { throw new Error(`internal error: ${what}`); };

/** Open an NBD end: connection 0 now, the others in extend(). */
export async function openNbd(uri: string, writing: boolean, limit: CommandOptions = {}): Promise<End> {
  const factory = () => connect(uri, limit, (h) => {
    if (!writing) h.addMetaContext(BASE_ALLOCATION);
    h.setPreadInitialize(false);
  });
  const h0 = await factory();
  let pool = await NbdPool.open(factory, { connections: 1, first: h0 });
  const canZero = h0.canZero();
  const extents = !writing && h0.canMetaContext(BASE_ALLOCATION);
  const preferred = h0.getBlockSize(SIZE_PREFERRED);
  const maximum = h0.getBlockSize(SIZE_PAYLOAD);
  return {
    name: uri,
    kind: 'nbd',
    size: h0.getSize(),
    preferred: preferred > 0 && (preferred & (preferred - 1)) === 0 ? preferred : 4096,
    maximum,
    multiConn: h0.canMultiConn(),
    readOnly: h0.isReadOnly(),
    read: (buf, offset) => pool.pread(buf, offset),
    readStream: notFor('readStream on NBD'),
    extents: async (offset, count) => (extents ? extentsAt(pool, offset, offset + count, MAX_LEN) : null),
    write: (buf, offset) => pool.pwrite(buf, offset),
    async zero(offset, count, allocated) {
      if (!canZero) return false;
      const work: Promise<void>[] = [];
      for (let at = offset; at < offset + count; at += MAX_LEN) {
        const left = offset + count - at;
        work.push(pool.zero(left < MAX_LEN ? left : MAX_LEN, at, allocated ? CMD_FLAG_NO_HOLE : 0));
      }
      await Promise.all(work);
      return true;
    },
    flush: () => (h0.canFlush() ? pool.flush() : Promise.resolve()),
    async extend(connections) {
      if (connections <= 1) return;
      pool = await NbdPool.open(factory, { connections, first: h0 });
    },
    close: () => pool.close(),
  };
}

/** null: discards writes and zeroes everything at once (nbdcopy's null-ops.c). */
export function openNull(name: string): End {
  return {
    name, kind: 'null', size: 1n << 63n, preferred: 4096, maximum: Infinity, multiConn: true, readOnly: false,
    read: notFor('read from null:'), readStream: notFor('read from null:'),
    extents: async () => null,
    write: async () => {},
    zero: async () => true,
    flush: async () => {},
    extend: async () => {},
    close: async () => {},
  };
}

/** A local file, block device, or pipe (`-` is stdin or stdout), opened as nbdcopy's open_local. */
export async function openLocal(name: string, writing: boolean, io: Io): Promise<End> {
  let fh: fsp.FileHandle | null = null;
  let fd: number;
  if (name === '-') {
    fd = writing ? 1 : 0;
    if (writing && isatty(1)) throw new NbdError(0, 'copy', 'refusing to write to tty');
  } else {
    try {
      fh = await fsp.open(name, writing ? FS.O_WRONLY : FS.O_RDONLY);
    } catch (e) {
      if (!writing) throw fsError(name, e);
      // Not there: create it (never a block device turned into a file by accident).
      fh = await fsp.open(name, FS.O_WRONLY | FS.O_TRUNC | FS.O_CREAT | FS.O_EXCL, 0o644).catch((e2: unknown) => { throw fsError(name, e2); });
    }
    fd = fh.fd;
  }
  const st: Stats = fh ? await fh.stat() : await fsp.stat(`/proc/self/fd/${fd}`);
  if (fh && (st.isFile() || st.isBlockDevice())) return fileEnd(name, fh, st);
  return pipeEnd(name, fh, fd, writing, io);
}

function fsError(name: string, e: unknown): NbdError {
  const err = e as NodeJS.ErrnoException;
  const n = (err.code && (errno as Record<string, number>)[err.code]) || errno.EIO;
  return new NbdError(n, 'copy', name);
}

/** A block device's size: fstat says 0; sysfs knows it in 512-byte sectors. */
async function blockDeviceSize(st: Stats): Promise<bigint> {
  const major = (st.rdev >> 8) & 0xfff;
  const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
  return BigInt((await fsp.readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8')).trim()) * 512n;
}

/** The largest single pwrite to a file (see write). */
const WRITE_SLICE = 256 << 10;

async function fileEnd(name: string, fh: fsp.FileHandle, st: Stats): Promise<End> {
  const block = st.isBlockDevice();
  const size = block ? await blockDeviceSize(st) : BigInt(st.size);
  const zeroes = new Uint8Array(1 << 20);
  let writing: Promise<void> = Promise.resolve();
  const end: End = {
    name, kind: block ? 'block' : 'file', size, preferred: block ? 4096 : Math.max(512, st.blksize || 4096), maximum: Infinity, multiConn: true,
    readOnly: false,
    async read(buf, offset) {
      for (let done = 0; done < buf.length;) {
        const { bytesRead } = await fh.read(buf, done, buf.length - done, Number(offset) + done);
        if (bytesRead === 0) throw new NbdError(errno.EIO, name, `read at offset ${offset}: unexpected end of file`);
        done += bytesRead;
      }
    },
    readStream: notFor('readStream on a file'),
    extents: async () => null,
    write(buf, offset) {
      // One write at a time, in the order asked, each a blocking pwrite of at most 256 KiB from
      // this thread, as nbdcopy's worker does. Measured per GiB into a new file: parallel writes
      // through libuv's threads contend for the file's lock (1-4 s of kernel time), 2 MiB
      // pwrites copy into the page cache slowly (3-4 s), and a thread hop per slice leaves the
      // copy waiting (1.7-1.9 s); this way 1.1 s, nbdcopy 1.3-1.4 s.
      const w = writing.then(() => {
        for (let done = 0; done < buf.length;) {
          done += writeSync(fh.fd, buf, done, Math.min(buf.length - done, WRITE_SLICE), Number(offset) + done);
        }
      });
      writing = w.catch(() => {});
      return w;
    },
    async zero(offset, count) {
      // No fallocate from Node: write zeroes (regular files are emptied first, see truncate).
      for (let at = offset; at < offset + count;) {
        const n = Number(offset + count - at < BigInt(zeroes.length) ? offset + count - at : BigInt(zeroes.length));
        await end.write(zeroes.subarray(0, n), at);
        at += BigInt(n);
      }
      return true;
    },
    flush: () => fh.sync(),
    extend: async () => {},
    close: () => fh.close(),
  };
  return end;
}

/** Emptied, then `size` bytes long: all zeroes, as nbdcopy's file_truncate leaves it. */
export async function truncateFile(name: string, end: End, size: bigint): Promise<void> {
  const fh = await fsp.open(name, FS.O_WRONLY);
  try {
    await fh.truncate(0);
    await fh.truncate(Number(size));
  } finally {
    await fh.close();
  }
  end.size = size;
}

function pipeEnd(name: string, fh: fsp.FileHandle | null, fd: number, writing: boolean, io: Io): End {
  const fail = notFor('random access on a pipe');
  return {
    name, kind: 'pipe', size: null, preferred: 4096, maximum: Infinity, multiConn: false, readOnly: false,
    read: fail,
    readStream: async (buf) => {
      // stdin is read with fs.read (a blocking read on the thread pool): process.stdin would
      // copy every chunk. A non-blocking descriptor says EAGAIN: try again shortly.
      const { read } = await import('node:fs');
      for (;;) {
        const r = await new Promise<number | null>((resolve, reject) => read(fd, buf, 0, buf.length, null, (e, n) => {
          if (e && e.code === 'EAGAIN') resolve(null);
          else if (e) reject(fsError(name, e));
          else resolve(n);
        }));
        if (r !== null) return r;
        await new Promise((r2) => setTimeout(r2, 1));
      }
    },
    extents: async () => null,
    // stdout goes through the command's output stream, which waits for the reader.
    write: async (buf) => {
      if (fh) await fh.write(buf, 0, buf.length, null);
      else await io.write(buf);
    },
    zero: async () => false,
    flush: async () => {},
    extend: async () => {},
    close: async () => { await fh?.close(); },
  };
}
