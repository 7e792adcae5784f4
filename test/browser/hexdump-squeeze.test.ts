// <nbd-hexdump> squeezes zeros as hexdump -C does wherever they come from: block status holes,
// zeros written as data, lone zero lines and runs where both meet. Every screen of a sparse
// image, scrolled from the first to the last byte, is a slice of `hexdump -C` of the same file,
// and End on a 2 TiB disk fills the view with the disk's last lines.

import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launch, serveDist, type Site } from '../support/browser.js';
import { serve, shots, work } from '../support/inspector-fixtures.js';
import { pattern } from '../support/fs-fixtures.js';

let site: Site;
beforeAll(async () => { site = await serveDist(true); });
afterAll(async () => {
  await (await launch()).close();
  await site.close();
});

/** A sparse file: `size` bytes with `writes` (offset, bytes) in it; holes elsewhere. */
function sparseFile(name: string, size: bigint, writes: [bigint, Uint8Array][]): string {
  const file = join(work, name);
  const fd = openSync(file, 'w');
  ftruncateSync(fd, Number(size));
  for (const [at, b] of writes) writeSync(fd, b, 0, b.length, Number(at));
  closeSync(fd);
  return file;
}

const KiB = 1024n;
const MiB = 1024n * KiB;

/** Random-looking bytes with zero lines placed in them. */
function dataWithZeroLines(n: number, seed: number, zeroLines: number[]): Uint8Array {
  const b = pattern(n, seed);
  for (const l of zeroLines) b.fill(0, l * 16, l * 16 + 16);
  return b;
}

async function open(uri: string): Promise<Page> {
  const page = await (await launch()).newPage({ viewport: { width: 900, height: 700 } });
  await page.goto(`${site.origin}/embed.html?${new URLSearchParams({ src: uri, length: 'all' })}`);
  await page.waitForFunction(() => document.querySelector('nbd-hexdump')?.dataset['state'] === 'loaded', null, { timeout: 20_000 });
  await page.focus('nbd-hexdump');
  return page;
}

/** The rows on screen once every one has its bytes and the layout has stopped changing. */
async function screen(page: Page): Promise<string[]> {
  let last = '';
  for (let i = 0; i < 50; i++) {
    await page.waitForFunction(() => document.querySelector('nbd-hexdump')!.shadowRoot!.querySelector('.row:not(.loading)') && !document.querySelector('nbd-hexdump')!.shadowRoot!.querySelector('.loading'), null, { timeout: 10_000 });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const text = await page.evaluate(() => document.querySelector('nbd-hexdump')!.text);
    if (text === last) return text.split('\n').slice(0, -1);
    last = text;
  }
  throw new Error('the rows never settled');
}

const pageRows = (page: Page) => page.evaluate(() => {
  const sc = document.querySelector('nbd-hexdump')!.shadowRoot!.querySelector<HTMLElement>('[part~=scroller]')!;
  const row = document.querySelector('nbd-hexdump')!.shadowRoot!.querySelector<HTMLElement>('.row')!;
  return Math.floor(sc.clientHeight / row.getBoundingClientRect().height);
});

/** Where `rows` sit in `lines` (hexdump -C's), as a contiguous slice; -1 when they do not. */
function sliceAt(lines: string[], rows: string[]): number {
  const at = lines.indexOf(rows[0]!);
  return at >= 0 && rows.every((r, i) => lines[at + i] === r) ? at : -1;
}

it('scrolling a sparse image from start to end: each screen is a slice of hexdump -C, never two "*" in a row', async () => {
  const file = sparseFile('squeeze.img', 32n * MiB, [
    [0n, dataWithZeroLines(4096, 1, [7, 100, 101, 102, 255])],
    // Zeros written as data (block status: data) right before a hole: one run of zeros.
    [1n * MiB, new Uint8Array(64 * 1024)],
    // Data ending in zeros, then a hole; data after a hole starting with zeros.
    [3n * MiB, dataWithZeroLines(8192, 2, Array.from({ length: 200 }, (_, i) => 312 + i))],
    [5n * MiB, dataWithZeroLines(8192, 3, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 300])],
    // Two zero lines at the end of a block and two at the start of the next (64 KiB blocks).
    [8n * MiB - 4096n, dataWithZeroLines(8192, 4, [254, 255, 256, 257])],
    [32n * MiB - 4096n, dataWithZeroLines(4096, 5, [3])],
  ]);
  const truth = execFileSync('hexdump', ['-C', file]).toString('latin1').split('\n').slice(0, -1);
  const { uri } = await serve(['-r', 'file', file], [site.origin]);
  const page = await open(uri);
  const seen: string[][] = [];
  for (let i = 0; i < 400; i++) {
    const rows = await screen(page);
    seen.push(rows);
    expect(rows[0]).not.toBe('*');
    expect(rows.some((r, k) => r === '*' && rows[k + 1] === '*')).toBe(false);
    expect({ rows, at: sliceAt(truth, rows) }).not.toMatchObject({ at: -1 });
    if (rows[rows.length - 1] === truth[truth.length - 1]) break;
    await page.keyboard.press('PageDown');
  }
  // The whole dump was seen: every hexdump line on some screen.
  const shown = new Set(seen.flat());
  expect(truth.filter((l) => l !== '*' && !shown.has(l))).toEqual([]);
  await page.screenshot({ path: join(shots, 'hexdump-squeeze.png') });
});

it('End on a 2 TiB disk fills the view with its last lines, also when pressed again', async () => {
  const T2 = 2n << 40n;
  // The end of a GPT disk: a hole, then the backup entries (a few bytes, then zeros written as
  // data) and the backup header (92 bytes, then zeros) in the last 33 sectors.
  const entries = new Uint8Array(32 * 512);
  entries.set(pattern(128, 6));
  const header = new Uint8Array(512);
  header.set(pattern(92, 7));
  const file = sparseFile('two-tib.img', T2, [
    [T2 - 2n * MiB, pattern(4096, 8)],
    [T2 - 33n * 512n, entries],
    [T2 - 512n, header],
  ]);
  const truth = execFileSync('hexdump', ['-C', '-s', String(T2 - 4n * MiB), file]).toString('latin1').split('\n').slice(0, -1);
  const { uri } = await serve(['-r', 'file', file], [site.origin]);
  const page = await open(uri);
  const rowsPerPage = await pageRows(page);
  for (let press = 0; press < 3; press++) {
    await page.keyboard.press('End');
    const rows = await screen(page);
    expect(rows[rows.length - 1]).toBe('20000000000');
    expect(rows.length).toBeGreaterThanOrEqual(rowsPerPage - 1);
    expect(rows[0]).not.toBe('*');
    expect(rows.some((r, k) => r === '*' && rows[k + 1] === '*')).toBe(false);
    expect(rows).toEqual(truth.slice(truth.length - rows.length));
  }
  await page.screenshot({ path: join(shots, 'hexdump-2tib-end.png') });
});
