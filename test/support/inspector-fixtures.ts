// Fixtures for the component and inspector tests: disks with real partition tables and
// filesystems made by the real tools (mke2fs, mkswap, nbdkit floppy), a few hand-made signatures,
// nbdkit behind `webnbd bridge` with the test pages' origins allowed, and independent oracles
// (hexdump, partx, blkid) run on a copy of what the server serves.

import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { startBridge, type Bridge } from '../../bridge/bridge.js';
import { freePort, startNbdkit, type NbdServer } from './servers.js';

export const work = mkdtempSync(join(tmpdir(), 'webnbd-inspector-'));
/** Screenshots the tests take (and check); look at them too. */
export const shots = 'test-results/screenshots';
mkdirSync(shots, { recursive: true });
const bridges: Bridge[] = [];
afterAll(async () => { await Promise.all(bridges.map((b) => b.close())); });

export interface Served {
  /** nbd+ws:// URI of the bridge. */
  uri: string;
  nbd: Pick<NbdServer, 'port'>;
  /** A copy of the whole export (nbdcopy), for the oracles. */
  image(): string;
}

/**
 * nbdkit in `cwd`, for plugins that keep the paths they are given (partitioning names GPT
 * partitions after its files, when the path fits in 36 characters).
 */
async function nbdkitIn(cwd: string, args: string[]): Promise<{ port: number }> {
  const port = await freePort();
  const child = spawn('nbdkit', ['-f', '-i', '127.0.0.1', '-p', String(port), ...args], { cwd, stdio: 'ignore' });
  afterAll(() => { child.kill(); });
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync('nbdinfo', ['--size', `nbd://127.0.0.1:${port}/`], { stdio: 'ignore' });
      return { port };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`nbdkit ${args.join(' ')} did not start`);
}

/** nbdkit ARGS on loopback (run in `cwd` if given) behind `webnbd bridge` admitting `origins`. */
export async function serve(args: string[], origins: string[], cwd?: string): Promise<Served> {
  const nbd = cwd ? await nbdkitIn(cwd, args) : await startNbdkit(args);
  const bridge = await startBridge({ target: { host: '127.0.0.1', port: nbd.port! }, origins });
  bridges.push(bridge);
  let copy: string | null = null;
  return {
    uri: bridge.uris[0]!,
    nbd,
    image: () => {
      if (!copy) {
        copy = join(mkdtempSync(join(work, 'img-')), 'disk.img');
        execFileSync('nbdcopy', [`nbd://127.0.0.1:${nbd.port}/`, copy]);
      }
      return copy;
    },
  };
}

/** `hexdump -C -s OFFSET -n LENGTH FILE`. */
export const hexdump = (file: string, offset: number | bigint, length: number | bigint): string =>
  execFileSync('hexdump', ['-C', '-s', String(offset), '-n', String(length), file]).toString('latin1');

/** partx's view of a disk image: one record per partition. */
export function partx(image: string): Record<string, string>[] {
  const out = execFileSync('partx', ['-b', '-P', '-o', 'NR,START,SECTORS,SIZE,TYPE,NAME,UUID', image]).toString();
  return out.trim().split('\n').filter(Boolean).map((line) => Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!])));
}

/** blkid's low-level probe of a file: TYPE, LABEL, UUID… */
export function blkid(file: string): Record<string, string> {
  const out = execFileSync('blkid', ['-p', '-o', 'export', file]).toString();
  // -o export escapes shell specials ("boot\\<b\\>").
  return Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).replace(/\\(.)/g, '$1')]));
}

/** Filesystem images made by the real tools, and signatures made by hand where no tool is here. */
export function makeFiles(): Record<'rand' | 'ext4' | 'swap' | 'ext2' | 'fat' | 'luks' | 'ntfs' | 'iso', string> {
  const dir = mkdtempSync(join(work, 'files-'));
  const f = (name: string) => join(dir, name);
  const blank = (name: string, size: number) => {
    writeFileSync(f(name), Buffer.alloc(0));
    execFileSync('truncate', ['-s', String(size), f(name)]);
    return f(name);
  };
  writeFileSync(f('rand.bin'), Buffer.from(Array.from({ length: 1_500_000 }, (_, i) => (i * 2654435761) >>> 24)));
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'rootfs', blank('ext4.img', 4 << 20)]);
  execFileSync('mkswap', ['-q', '-L', 'swappy', blank('swap.img', 2 << 20)]);
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext2', '-L', 'boot<b>', blank('ext2.img', 1 << 20)]);
  // A FAT filesystem from nbdkit floppy, without its partition table (it starts at sector 2048).
  const src = join(dir, 'floppy');
  mkdirSync(src);
  writeFileSync(join(src, 'hello.txt'), 'hello\n');
  const floppy = f('floppy.img');
  execFileSync('nbdkit', ['-U', '-', 'floppy', src, '--run', `nbdcopy "$uri" ${floppy}`]);
  writeFileSync(f('fat.img'), readFileSync(floppy).subarray(2048 * 512));
  // LUKS2: magic, version 2, a label at 24 and a UUID at 168 (cryptsetup's on-disk format).
  const luks = Buffer.alloc(1 << 20);
  luks.write('LUKS\xba\xbe', 0, 'latin1');
  luks.writeUInt16BE(2, 6);
  luks.write('secret-stuff', 24, 'latin1');
  luks.write('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 168, 'latin1');
  writeFileSync(f('luks.img'), luks);
  // NTFS: the boot sector's OEM id and serial number, and 55 aa.
  const ntfs = Buffer.alloc(1 << 20);
  ntfs.set([0xeb, 0x52, 0x90], 0);
  ntfs.write('NTFS    ', 3, 'latin1');
  ntfs.writeUInt16LE(512, 11);
  ntfs.set([0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11], 0x48);
  ntfs.set([0x55, 0xaa], 510);
  writeFileSync(f('ntfs.img'), ntfs);
  // ISO 9660: the primary volume descriptor at 32 KiB with its volume identifier.
  const iso = Buffer.alloc(1 << 20);
  iso[32768] = 1;
  iso.write('CD001', 32769, 'latin1');
  iso[32774] = 1;
  iso.write('WEBNBD_CD'.padEnd(32, ' '), 32768 + 40, 'latin1');
  writeFileSync(f('iso.img'), iso);
  return {
    rand: f('rand.bin'), ext4: f('ext4.img'), swap: f('swap.img'), ext2: f('ext2.img'), fat: f('fat.img'),
    luks: f('luks.img'), ntfs: f('ntfs.img'), iso: f('iso.img'),
  };
}

/** A directory for nbdkit linuxdisk or floppy, with a file or two. */
export function makeTree(name: string): string {
  const dir = join(mkdtempSync(join(work, 'tree-')), name);
  mkdirSync(join(dir, 'sub'), { recursive: true });
  writeFileSync(join(dir, 'README'), 'A disk made by nbdkit for the webnbd tests.\n');
  writeFileSync(join(dir, 'sub', 'data.bin'), Buffer.alloc(70000, 0x5a));
  return dir;
}
