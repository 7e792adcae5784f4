// The rows <nbd-hexdump> lays out for a large range (LazyRows over the extent map), in Node: walked
// from start to end they print what `hexdump -C -s -n` prints, when the repeated lines are the
// zero runs block status reports; and they stay put whichever way they are walked.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Disk } from '../../web/browser/disk.js';
import { ExtentMap, STATE_HOLE, STATE_ZERO } from '../../web/browser/extents.js';
import { LazyRows, type Row } from '../../web/components/rows.js';
import { work } from '../support/inspector-fixtures.js';

const SIZE = 1 << 20;
const bytes = new Uint8Array(SIZE);
for (let i = 0; i < SIZE; i++) bytes[i] = 1 + ((i * 2654435761) >>> 24) % 255; // never a zero byte
// Zero runs, as block status would report them: [start, end).
const zeros: [number, number][] = [[4096, 65536], [100_000, 100_032], [300_016, 700_000], [1_000_000, SIZE]];
for (const [a, b] of zeros) bytes.fill(0, a, b);
const file = join(work, 'rows.img');
writeFileSync(file, bytes);

/** What LazyRows needs of a Disk: its size, extents, the zeros found in data, and bytes. */
function fakeDisk(): Disk {
  const extents = new ExtentMap(BigInt(SIZE));
  let at = 0;
  for (const [a, b] of zeros) {
    extents.add(BigInt(at), [{ length: BigInt(a - at), flags: 0 }, { length: BigInt(b - a), flags: STATE_HOLE | STATE_ZERO }]);
    at = b;
  }
  return {
    size: BigInt(SIZE), extents, readZeros: new ExtentMap(BigInt(SIZE)),
    slice: (s: bigint, e: bigint) => bytes.slice(Number(s), Number(e)),
  } as unknown as Disk;
}

const walk = (rows: LazyRows, from: Row, step: (r: Row) => Row | null) => {
  const out: Row[] = [];
  for (let r: Row | null = from; r; r = step(r)) out.push(r);
  return out;
};

describe('LazyRows', () => {
  // Each zero run starts after a non-zero line, so hexdump squeezes exactly the runs block status reports.
  it.each([[0, SIZE], [16, 512 * 1024], [96, 700_000], [100_000 - 48, 1000]])('from %i, %i bytes, prints what hexdump -C -s -n prints', (offset, length) => {
    const rows = new LazyRows('hexdump-C', fakeDisk(), BigInt(offset), BigInt(offset + length));
    const all = walk(rows, rows.rowAt(BigInt(offset)), (r) => rows.after(r));
    const text = all.map((r) => rows.text(r)).join('\n') + '\n';
    expect(text).toBe(execFileSync('hexdump', ['-C', '-s', String(offset), '-n', String(length), file], { maxBuffer: 1 << 28 }).toString('latin1'));
  });

  it('walks back through the same rows it walks forward', () => {
    const rows = new LazyRows('hexdump-C', fakeDisk(), 0n, BigInt(SIZE));
    const forward = walk(rows, rows.rowAt(0n), (r) => rows.after(r));
    const backward = walk(rows, rows.rowAt(BigInt(SIZE)), (r) => rows.before(r)).reverse();
    expect(backward).toEqual(forward);
  });

  it('shows the line gone to inside a zero run, as hexdump -s would start there', () => {
    const rows = new LazyRows('hexdump-C', fakeDisk(), 0n, BigInt(SIZE));
    rows.anchor(400_000n);
    const r = rows.rowAt(400_000n);
    expect([r.kind, r.pos]).toEqual(['zero', 400_000n]);
    expect(rows.text(rows.after(r)!)).toBe('*');
    expect(rows.before(r)!.kind).toBe('star');
  });
});
