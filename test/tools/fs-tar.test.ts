// The pax tar writer (web/fs/tar.ts) against GNU tar: names of every length (ustar's 100 bytes, past
// its 255, UTF-8), long symlink targets, modes, owners and times come back as written.
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { padding, tarEnd, tarHeader, type TarEntry } from '../../web/fs/tar.js';

it('GNU tar lists and extracts what the writer wrote', () => {
  const dir = mkdtempSync(join(tmpdir(), 'webnbd-tar-'));
  const long = `${'d'.repeat(120)}/${'ü'.repeat(90)}.txt`;
  const files: [TarEntry, Buffer | null][] = [
    [{ path: 'top/', type: 'dir', mode: 0o40755, uid: 0, gid: 0, size: 0n, mtime: 981173106 }, null],
    [{ path: 'top/plain.txt', type: 'file', mode: 0o100640, uid: 1000, gid: 100, size: 6n, mtime: 1700000000 }, Buffer.from('hello\n')],
    [{ path: `top/${'d'.repeat(120)}/`, type: 'dir', mode: 0o40700, uid: 0, gid: 0, size: 0n, mtime: 981173106 }, null],
    [{ path: `top/${long}`, type: 'file', mode: 0o100600, uid: 0, gid: 0, size: 513n, mtime: 981173106 }, Buffer.alloc(513, 7)],
    [{ path: 'top/файл-🙂', type: 'file', mode: 0o104755, uid: 2_000_000_000, gid: 5, size: 0n, mtime: 1 }, Buffer.alloc(0)],
    [{ path: 'top/link', type: 'symlink', mode: 0o120777, uid: 0, gid: 0, size: 0n, mtime: 981173106, linkTarget: `../${'t'.repeat(150)}` }, null],
  ];
  const parts: Uint8Array[] = [];
  for (const [e, data] of files) {
    parts.push(...tarHeader(e));
    if (data) parts.push(data, padding(BigInt(data.length)));
  }
  parts.push(tarEnd());
  const file = join(dir, 'a.tar');
  writeFileSync(file, Buffer.concat(parts));
  const listed = execFileSync('tar', ['-tf', file]).toString().split('\n').slice(0, -1);
  expect(listed).toEqual(files.map(([e]) => e.path));
  const out = join(dir, 'x');
  execFileSync('mkdir', [out]);
  execFileSync('tar', ['-xpf', file, '-C', out, '--numeric-owner']);
  for (const [e, data] of files) {
    const p = join(out, e.path);
    const st = lstatSync(p);
    expect({ path: e.path, mode: st.mode, mtime: st.mtimeMs / 1000 }).toEqual({ path: e.path, mode: e.mode, mtime: e.mtime });
    if (e.type === 'file') {
      expect(readFileSync(p).equals(data!)).toBe(true);
      expect([st.uid, st.gid]).toEqual([e.uid, e.gid]);
    }
    if (e.type === 'symlink') expect(readlinkSync(p)).toBe(e.linkTarget);
  }
});
