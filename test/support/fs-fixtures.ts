// Filesystem images built by Debian's own tools from a directory tree (mke2fs -d, mkfs.vfat with
// mcopy, genisoimage and xorriso), and the truth read back by Debian's tools: the kernel's ext4
// through a read-only loop mount, mtools' and osirrox's extraction, GNU find and ls on the result.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, utimesSync, writeFileSync, chmodSync, truncateSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

export const fsWork = mkdtempSync(join(tmpdir(), 'webnbd-fs-'));
const mounts: string[] = [];
// The files themselves go with the test run's directory (test/support/global-setup.ts).
afterAll(() => {
  for (const m of mounts) execFileSync('umount', [m], { stdio: 'ignore' });
});

const sh = (cmd: string, args: string[], env: Record<string, string> = {}) =>
  execFileSync(cmd, args, { env: { ...process.env, TZ: 'UTC', LC_ALL: 'C', ...env }, maxBuffer: 1 << 28 });

/** Deterministic bytes that are not all alike. */
export const pattern = (n: number, seed = 1): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => ((i * 2654435761 + seed * 40503) >>> 13) & 0xff));

export interface TreeOptions {
  /** Symbolic links, sparse files and unusual modes (not on FAT). */
  unix: boolean;
  /** Files in the crowded directory. */
  many: number;
  /** Longest name component (FAT and Joliet allow fewer than 255 bytes). */
  longName: number;
  /** Names in the crowded directory: 8.3 names on FAT (mcopy makes thousands of long names slowly). */
  short?: boolean;
}

/** The i-th name in the crowded directory. */
export const crowdName = (i: number, short = false): string => (short ? `e${String(i).padStart(5, '0')}.dat` : `entry-${String(i).padStart(5, '0')}.dat`);

const OLD = 981173106; // 2001-02-03 04:05:06 UTC, an even second for FAT
const RECENT = Math.floor(Date.now() / 1000 / 2) * 2 - 86400 * 3;

/** The directory tree every image is built from. */
export function makeSourceTree(name: string, opts: TreeOptions): string {
  const root = join(mkdtempSync(join(fsWork, 'src-')), name);
  const f = (p: string, data: Buffer | string, mtime = RECENT) => {
    writeFileSync(join(root, p), data);
    utimesSync(join(root, p), mtime, mtime);
  };
  mkdirSync(root);
  f('hello.txt', 'hello, world\n', OLD);
  f('empty', '');
  f('one-byte', 'x');
  f('block-minus-one.bin', pattern(4095, 2));
  f('block-plus-one.bin', pattern(4097, 3));
  f('big.bin', pattern((1 << 20) * 3 + 3, 4));
  mkdirSync(join(root, 'ünïcödé ディレクトリ'));
  f('ünïcödé ディレクトリ/файл-🙂.txt', 'utf-8 names\n');
  f('x'.repeat(opts.longName - 4) + '.txt', 'long name\n');
  let deep = root;
  for (let i = 0; i < 12; i++) mkdirSync((deep = join(deep, `level${i}`)));
  writeFileSync(join(deep, 'bottom.txt'), 'deep\n');
  mkdirSync(join(root, 'crowd'));
  for (let i = 0; i < opts.many; i++) writeFileSync(join(root, 'crowd', crowdName(i, opts.short)), String(i));
  if (opts.unix) {
    symlinkSync('hello.txt', join(root, 'link-to-hello'));
    symlinkSync('/ünïcödé ディレクトリ', join(root, 'absolute-link'));
    symlinkSync('level0/level1', join(root, 'dir-link'));
    symlinkSync('no/such/target', join(root, 'dangling'));
    symlinkSync('link-to-hello', join(root, 'link-to-link'));
    symlinkSync('x'.repeat(200), join(root, 'long-target'));
    writeFileSync(join(root, 'sparse.bin'), 'start');
    truncateSync(join(root, 'sparse.bin'), 8 << 20);
    writeFileSync(join(root, 'sparse.bin'), 'end', { flag: 'a' });
    chmodSync(join(root, 'one-byte'), 0o600);
    chmodSync(join(root, 'empty'), 0o4755);
    mkdirSync(join(root, 'sticky'));
    chmodSync(join(root, 'sticky'), 0o1777);
  }
  // Times last: adding entries changes directories' times.
  for (const d of ['crowd', 'ünïcödé ディレクトリ', '']) utimesSync(join(root, d), OLD, OLD);
  return root;
}

const blank = (file: string, size: number) => {
  writeFileSync(file, '');
  truncateSync(file, size);
  return file;
};

export function makeExt4(tree: string, opts: string[] = []): string {
  const img = join(mkdtempSync(join(fsWork, 'ext-')), 'ext4.img');
  sh('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'webnbd-ext4', ...opts, '-d', tree, blank(img, 256 << 20)]);
  return img;
}

/** mkfs.vfat -F BITS, then mcopy -s -m the tree's contents in (times in UTC). */
export function makeFat(tree: string, bits: 12 | 16 | 32, size: number): string {
  const img = join(mkdtempSync(join(fsWork, 'fat-')), `fat${bits}.img`);
  sh('mkfs.vfat', ['-F', String(bits), '-n', `FAT${bits}`, blank(img, size)]);
  // mtools converts names with the locale's character set: UTF-8 here.
  sh('mcopy', ['-s', '-m', '-i', img, ...readdirSync(tree).map((n) => join(tree, n)), '::/'], { LC_ALL: 'C.UTF-8' });
  return img;
}

export function makeIso(tree: string, tool: 'genisoimage' | 'xorriso'): string {
  const img = join(mkdtempSync(join(fsWork, 'iso-')), `${tool}.iso`);
  if (tool === 'genisoimage') sh('genisoimage', ['-quiet', '-R', '-J', '-joliet-long', '-V', 'WEBNBD_GEN', '-o', img, tree]);
  else sh('xorriso', ['-outdev', img, '-volid', 'WEBNBD_XOR', '-joliet', 'on', '-map', tree, '/'], {});
  return img;
}

/** Mount an ext image read-only through a loop device: the kernel's view is the truth. */
export function mountExt(img: string): string {
  const dir = mkdtempSync(join(fsWork, 'mnt-'));
  sh('mount', ['-o', 'loop,ro', '-t', 'ext4', img, dir]);
  mounts.unshift(dir);
  return dir;
}

/** mtools' extraction of a FAT image (mcopy -s -m: names, contents and times as mtools reads them). */
export function extractFat(img: string): string {
  const dir = mkdtempSync(join(fsWork, 'mcopy-'));
  sh('mcopy', ['-s', '-m', '-n', '-i', img, '::/*', dir], { LC_ALL: 'C.UTF-8' });
  return dir;
}

/** xorriso's osirrox extraction of an ISO image (Rock Ridge modes, links and times). */
export function extractIso(img: string): string {
  const dir = join(mkdtempSync(join(fsWork, 'osirrox-')), 'x');
  sh('osirrox', ['-indev', img, '-extract', '/', dir]);
  return dir;
}

export interface Entry {
  type: string;
  mode: number;
  size: bigint;
  uid: number;
  gid: number;
  atime: number;
  mtime: number;
  ctime: number;
  /** Path from the top, "/"-prefixed. */
  path: string;
  link: string;
}

/** GNU find's view of a tree: one record per file, the top included (as "/"). */
export function findTree(root: string): Entry[] {
  const out = sh('find', [root, '-printf', '%y %m %s %U %G %A@ %T@ %C@ %P\\0%l\\0']).toString('utf8');
  const fields = out.split('\0');
  const entries: Entry[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const m = /^(\S) (\d+) (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+) (.*)$/s.exec(fields[i]!)!;
    entries.push({
      type: m[1] === 'f' ? '-' : m[1]!, mode: parseInt(m[2]!, 8), size: BigInt(m[3]!), uid: Number(m[4]), gid: Number(m[5]),
      atime: Math.floor(Number(m[6])), mtime: Math.floor(Number(m[7])), ctime: Math.floor(Number(m[8])),
      path: `/${m[9]}`.replace(/\/$/, '') || '/', link: fields[i + 1]!,
    });
  }
  return entries;
}
