// Damaged filesystems: images built by the real tools, then bytes of their metadata overwritten
// at random (seeded), served by nbdkit. `webnbd ls -lR` and `cat` either work or fail with one
// line saying what is wrong; never a stack trace, an internal error or a hang.
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { startNbdkit } from '../support/servers.js';
import { cliFixture, run } from '../support/cli.js';
import { fsWork, makeExt4, makeFat, makeIso, makeSourceTree } from '../support/fs-fixtures.js';

cliFixture('cli-fs-damaged');

/** mulberry32: a small seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VARIANTS = 16;

/**
 * Copies of `img`, each with `bytes` of its non-zero bytes (metadata, mostly: superblocks, inode
 * tables, FATs, directories) within its first `span` bytes overwritten at random.
 */
function damaged(img: string, dir: string, name: string, span: number, bytes: number): string[] {
  const head = readFileSync(img).subarray(0, span);
  const used: number[] = [];
  for (let i = 0; i < head.length; i++) if (head[i] !== 0) used.push(i);
  const out: string[] = [];
  for (let v = 0; v < VARIANTS; v++) {
    const file = join(dir, `${name}-${v}.img`);
    copyFileSync(img, file);
    const next = random(v * 7919 + name.length);
    const fd = openSync(file, 'r+');
    for (let i = 0; i < bytes; i++) writeSync(fd, Buffer.from([Math.floor(next() * 256)]), 0, 1, used[Math.floor(next() * used.length)]!);
    closeSync(fd);
    out.push(`${name}-${v}.img`);
  }
  return out;
}

/** Exit status 0, or 1 with exactly one line that names the command and is not an internal error. */
function sane(r: { status: number; stderr: string }, what: string): void {
  expect({ what, status: r.status }).toMatchObject({ status: expect.toSatisfy((s: number) => s === 0 || s === 1) });
  if (r.status === 1) expect({ what, stderr: r.stderr }).toMatchObject({ stderr: expect.stringMatching(/^webnbd: (ls|cat|open|read|walk|lookup|ext|vfat|iso9660): [^\n]+\n$/) });
  expect(r.stderr).not.toMatch(/internal error|TypeError|RangeError|at .*\.js:\d+/);
}

describe('randomly damaged images', () => {
  let base: string;
  const dir = join(fsWork, 'damaged');
  const names: string[] = [];
  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    const tree = makeSourceTree('damaged-tree', { unix: true, many: 200, longName: 100 });
    const fatTree = makeSourceTree('damaged-fat', { unix: false, many: 200, longName: 100, short: true });
    names.push(...damaged(makeExt4(tree), dir, 'ext4', 1 << 20, 24));
    names.push(...damaged(makeFat(fatTree, 16, 32 << 20), dir, 'fat16', 256 << 10, 24));
    names.push(...damaged(makeIso(tree, 'xorriso'), dir, 'iso', 128 << 10, 24));
    // One server, an export per file (nbdkit-file-plugin dir=).
    base = (await startNbdkit(['-r', 'file', `dir=${dir}`])).uri.replace(/\/[^/]*$/, '/');
  }, 120_000);

  it('ls -lR and cat work or say what is wrong, in one line, within the time limit', async () => {
    for (const name of names) {
      const uri = `${base}${name}`;
      // `timeout` ends a hang; its exit status 124 would fail the check.
      sane(await run('timeout', ['60', 'node', 'bin/webnbd.js', 'ls', '-lR', uri, '/']), `${name} ls -lR`);
      sane(await run('timeout', ['60', 'node', 'bin/webnbd.js', 'cat', uri, '/hello.txt', '/big.bin']), `${name} cat`);
    }
  }, 600_000);
});
