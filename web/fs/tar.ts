// A POSIX tar archive writer (pax interchange format, POSIX.1-2001 `pax`): ustar headers, with a
// pax extended header where a name, link target or size does not fit ustar's fields. It returns
// the archive's pieces in order, for a Blob or a stream; file contents are passed through.

import { NbdError, errno } from '../core/errors.js';

export interface TarEntry {
  /** Path inside the archive, without a leading "/" ("dir/file"; directories end in "/"). */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  size: bigint;
  mtime: number;
  linkTarget?: string;
}

const enc = new TextEncoder();
const BLOCK = 512;

/** An octal field of `width` bytes (width-1 digits and a NUL), or null when the value is too big. */
function octal(n: bigint | number, width: number): string | null {
  const s = BigInt(n).toString(8);
  return s.length < width ? s.padStart(width - 1, '0') + '\0' : null;
}

function put(b: Uint8Array, at: number, width: number, s: string | Uint8Array): void {
  const bytes = typeof s === 'string' ? enc.encode(s) : s;
  b.set(bytes.subarray(0, width), at);
}

/** A pax record: "LEN key=value\n", LEN counting itself. */
function record(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const n = enc.encode(body).length;
  let len = n + String(n).length;
  if (String(len).length !== String(n).length) len = n + String(len).length;
  return `${len}${body}`;
}

function header(name: Uint8Array, e: TarEntry, typeflag: string, size: bigint, linkname: Uint8Array): Uint8Array {
  const b = new Uint8Array(BLOCK);
  put(b, 0, 100, name);
  put(b, 100, 8, octal(e.mode & 0o7777, 8)!);
  put(b, 108, 8, octal(e.uid, 8) ?? octal(0, 8)!);
  put(b, 116, 8, octal(e.gid, 8) ?? octal(0, 8)!);
  put(b, 124, 12, octal(size, 12) ?? octal(0, 12)!);
  put(b, 136, 12, octal(Math.max(0, Math.floor(e.mtime)), 12) ?? octal(0, 12)!);
  b.fill(0x20, 148, 156); // the checksum counts its own field as spaces
  b[156] = typeflag.charCodeAt(0);
  put(b, 157, 100, linkname);
  put(b, 257, 6, 'ustar\0');
  put(b, 263, 2, '00');
  let sum = 0;
  for (const x of b) sum += x;
  put(b, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return b;
}

const fits = (s: Uint8Array, width: number) => s.length <= width && s.every((c) => c < 0x80);

/** The header block(s) of an entry: a pax header first when ustar cannot hold it. */
export function tarHeader(e: TarEntry): Uint8Array[] {
  const name = enc.encode(e.path);
  const link = enc.encode(e.linkTarget ?? '');
  const size = e.type === 'file' ? e.size : 0n;
  const pax: string[] = [];
  if (!fits(name, 100)) pax.push(record('path', e.path));
  if (!fits(link, 100)) pax.push(record('linkpath', e.linkTarget ?? ''));
  if (octal(size, 12) === null) pax.push(record('size', String(size)));
  if (octal(e.uid, 8) === null) pax.push(record('uid', String(e.uid)));
  if (octal(e.gid, 8) === null) pax.push(record('gid', String(e.gid)));
  if (e.mtime < 0 || octal(Math.floor(e.mtime), 12) === null) pax.push(record('mtime', String(e.mtime)));
  const short = (b: Uint8Array) => (fits(b, 100) ? b : enc.encode('././@PaxHeader'));
  const typeflag = e.type === 'dir' ? '5' : e.type === 'symlink' ? '2' : '0';
  const out: Uint8Array[] = [];
  if (pax.length) {
    const body = enc.encode(pax.join(''));
    out.push(header(enc.encode('././@PaxHeader'), { ...e, mode: 0o644 }, 'x', BigInt(body.length), new Uint8Array(0)), body, padding(BigInt(body.length)));
  }
  out.push(header(short(name), e, typeflag, size, short(link)));
  return out;
}

/** Zeros that round `size` bytes up to whole 512-byte blocks. */
export function padding(size: bigint): Uint8Array {
  return new Uint8Array(Number((BigInt(BLOCK) - (size % BigInt(BLOCK))) % BigInt(BLOCK)));
}

/** The two zero blocks that end an archive. */
export const tarEnd = (): Uint8Array => new Uint8Array(2 * BLOCK);

/** Check a path before it goes into an archive: relative, no ".." components. */
export function checkTarPath(path: string): void {
  if (path.startsWith('/') || path.split('/').includes('..')) throw new NbdError(errno.EINVAL, 'tar', `unsafe path in the archive: ${path}`);
}
