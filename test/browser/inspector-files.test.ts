// The inspector's file browser in Chromium, on a GPT disk (nbdkit partitioning) holding an ext4
// filesystem (mke2fs -d) and a FAT32 one (mkfs.vfat, mcopy) built from a directory tree: browse
// to a file, see its bytes in the hexdump where debugfs says its blocks are, download it and its
// folder as a .tar (extracted by GNU tar) and compare with the tree; the path is in the URL.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, serveDist, type Site } from '../support/browser.js';
import { hexdump, serve, shots, work, type Served } from '../support/inspector-fixtures.js';
import { makeExt4, makeFat, makeSourceTree } from '../support/fs-fixtures.js';

let site: Site;
let disk: Served;
let tree: string;
let fatTree: string;
let ext: string;
let partStart: bigint[] = [];

beforeAll(async () => {
  site = await serveDist(true);
  tree = makeSourceTree('files-tree', { unix: true, many: 40, longName: 120 });
  // A name that would read backwards: it must show as what it is.
  writeFileSync(join(tree, 'abc\u202Efdp.exe'), 'not a pdf\n');
  fatTree = makeSourceTree('files-fat', { unix: false, many: 40, longName: 120, short: true });
  ext = makeExt4(tree);
  const fat = makeFat(fatTree, 32, 64 << 20);
  disk = await serve(['-r', 'partitioning', ext, fat, 'partition-type=gpt'], [site.origin]);
  const parts = execFileSync('partx', ['-b', '-g', '-o', 'START', disk.image()]).toString().trim().split('\n');
  partStart = parts.map((l) => BigInt(l.trim()) * 512n);
}, 120_000);
afterAll(async () => {
  await (await launch()).close();
  await site.close();
});

async function inspector(query: Record<string, string>, viewport = { width: 1400, height: 900 }, colorScheme: 'light' | 'dark' = 'light'): Promise<{ page: Page; errors: string[] }> {
  const context = await (await launch()).newContext({ viewport, colorScheme, acceptDownloads: true });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${site.origin}/index.html?${new URLSearchParams(query)}`);
  await page.waitForFunction(() => document.querySelector<HTMLProgressElement>('#map progress')!.hidden
    && !/Reading|…/.test(document.querySelector('#partitions')!.textContent ?? ''), null, { timeout: 30_000 });
  return { page, errors };
}

/** Click a name in the listing (exact text) and wait for the listing or the file to show. */
async function click(page: Page, name: string): Promise<void> {
  await page.locator('#files tbody button.name', { hasText: name }).filter({ hasText: new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/?$`) }).click();
}

const shown = (page: Page) => page.evaluate(() => ({
  note: document.querySelector('#files .note')!.textContent,
  names: [...document.querySelectorAll('#files tbody button.name')].map((b) => b.textContent),
  facts: document.querySelector('#files .facts')!.textContent,
  position: String(document.querySelector('nbd-hexdump')!.position),
  first: document.querySelector('nbd-hexdump')!.text.split('\n')[0],
  url: location.search,
}));

async function download(page: Page, button: string): Promise<Buffer> {
  const [d] = await Promise.all([page.waitForEvent('download'), page.click(`#files [name=${button}]`)]);
  const file = join(mkdtempSync(join(work, 'dl-')), d.suggestedFilename());
  await d.saveAs(file);
  return readFileSync(file);
}

describe('ext4 partition', () => {
  let page: Page;
  let errors: string[];
  beforeAll(async () => {
    ({ page, errors } = await inspector({ src: disk.uri }));
  });

  it('browses to a file: its bytes in the hexdump where debugfs puts its blocks, and downloads it', async () => {
    await page.locator('#partitions tbody tr').first().locator('button.browse').click();
    await page.waitForFunction(() => /entries in \//.test(document.querySelector('#files .note')!.textContent ?? ''));
    const names = (await shown(page)).names;
    expect(names).toContain('ünïcödé ディレクトリ/');
    expect(names).toContain('abc⟨U+202E⟩fdp.exe');
    await click(page, 'ünïcödé ディレクトリ');
    await page.waitForFunction(() => /in \/ünïcödé/.test(document.querySelector('#files .note')!.textContent ?? ''));
    await click(page, 'файл-🙂.txt');
    await page.waitForFunction(() => /файл/.test(document.querySelector('#files .facts')!.textContent ?? ''));
    // debugfs, reading the image by itself, says which block holds the file.
    const block = BigInt(execFileSync('debugfs', ['-R', 'blocks "/ünïcödé ディレクトリ/файл-🙂.txt"', ext], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim().split(/\s+/)[0]!);
    const blockSize = BigInt(/Block size:\s+(\d+)/.exec(execFileSync('dumpe2fs', ['-h', ext], { stdio: ['ignore', 'pipe', 'ignore'] }).toString())![1]!);
    const at = partStart[0]! + block * blockSize;
    await page.waitForFunction((p) => String(document.querySelector('nbd-hexdump')!.position) === p
      && document.querySelector('nbd-hexdump')!.shadowRoot!.querySelector('.row:not(.loading)') && !document.querySelector('nbd-hexdump')!.shadowRoot!.querySelector('.loading'), String(at));
    const s = await shown(page);
    expect(s.first).toBe(hexdump(disk.image(), at, 16).split('\n')[0]);
    expect(s.first).toContain('|utf-8 names.');
    expect(new URLSearchParams(s.url).get('path')).toBe('/ünïcödé ディレクトリ/файл-🙂.txt');
    expect(new URLSearchParams(s.url).get('part')).toBe('1');
    expect((await download(page, 'download')).equals(readFileSync(join(tree, 'ünïcödé ディレクトリ/файл-🙂.txt')))).toBe(true);
  });

  it('a big file through its extents, in the hexdump and in file offsets; downloaded whole', async () => {
    await page.locator('#files .crumbs button').first().click();
    await click(page, 'big.bin');
    await page.waitForFunction(() => /big\.bin/.test(document.querySelector('#files .facts')!.textContent ?? ''));
    await page.check('#files [name=follow]');
    await page.waitForFunction(() => /^00000000 /.test(document.querySelector('#files .filedump')!.textContent ?? ''));
    const dump = await page.textContent('#files .filedump');
    const src = join(tree, 'big.bin');
    expect(dump!.split('\n').slice(0, 64)).toEqual(hexdump(src, 0, 1024).split('\n').slice(0, 64));
    expect((await download(page, 'download')).equals(readFileSync(src))).toBe(true);
    // The bytes went through a file of the origin-private file system, not the page's memory.
    const staged = await page.evaluate(async () => {
      const f = await (await navigator.storage.getDirectory()).getFileHandle('webnbd-download-big.bin');
      return (await f.getFile()).size;
    });
    expect(staged).toBe(readFileSync(src).length);
    // Every extent the page lists holds the file's bytes at the disk offset it names.
    const extents = await page.$$eval('#files .extents button', (bs) => bs.map((b) => b.textContent!));
    expect(extents.length).toBeGreaterThan(0);
    const image = readFileSync(disk.image());
    const file = readFileSync(src);
    for (const e of extents) {
      const [, logical, length, at] = /^(\d+)\+(\d+) @ (\d+)/.exec(e)!.map(Number);
      expect(image.subarray(at!, at! + Math.min(length!, 65536)).equals(file.subarray(logical!, logical! + Math.min(length!, 65536)))).toBe(true);
    }
  });

  it('downloads a folder as a .tar that GNU tar extracts to the same files and links', async () => {
    await page.locator('#files .crumbs button').first().click();
    await click(page, 'level0');
    await page.waitForFunction(() => /in \/level0$/.test(document.querySelector('#files .note')!.textContent ?? ''));
    const tar = await download(page, 'tar');
    const out = mkdtempSync(join(work, 'untar-'));
    const file = join(out, 'level0.tar');
    writeFileSync(file, tar);
    execFileSync('tar', ['-xf', file, '-C', out]);
    execFileSync('diff', ['-r', join(tree, 'level0'), join(out, 'level0')]);
    // The whole filesystem: names (UTF-8, 120 bytes long, backwards), symlinks, the sparse file.
    await page.locator('#files .crumbs button').first().click();
    await page.waitForFunction(() => /entries in \/$/.test(document.querySelector('#files .note')!.textContent ?? ''));
    const all = await download(page, 'tar');
    const out2 = mkdtempSync(join(work, 'untar-'));
    writeFileSync(join(out2, 'all.tar'), all);
    execFileSync('tar', ['-xf', join(out2, 'all.tar'), '-C', out2]);
    const root = join(out2, 'webnbd-ext4');
    execFileSync('diff', ['-r', '--no-dereference', '-x', 'lost+found', tree, root]);
    expect(readlinkSync(join(root, 'absolute-link'))).toBe('/ünïcödé ディレクトリ');
    expect(errors).toEqual([]);
  });

  it('structures: GPT entry and ext superblock fields as partx and blkid read them; hover marks a field\'s bytes, a byte names its field', async () => {
    const partUuid = execFileSync('partx', ['-g', '-o', 'UUID', '-n', '1', disk.image()]).toString().trim().toUpperCase();
    const fsUuid = /^UUID=(\S+)/m.exec(execFileSync('blkid', ['-p', '-o', 'export', ext]).toString())![1]!;
    const rows = await page.$$eval('#structure tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent).join(' | ')));
    expect(rows).toContain(`+16 | unique GUID | ${partUuid}`);
    expect(rows).toContain(`+104 | UUID | ${fsUuid}`);
    expect(rows).toContain('+120 | volume name | "webnbd-ext4"');
    await page.locator('#structure summary', { hasText: /^GPT header/ }).click();
    const row = page.locator('#structure tr', { hasText: 'disk GUID' });
    await row.click();
    await page.waitForFunction(() => String(document.querySelector('nbd-hexdump')!.position) === '560'
      && document.querySelector('nbd-hexdump')!.shadowRoot!.querySelector('.row:not(.loading)') && !document.querySelector('nbd-hexdump')!.shadowRoot!.querySelector('.loading'));
    await row.hover();
    const marked = await page.evaluate(() => [...document.querySelector('nbd-hexdump')!.shadowRoot!.querySelectorAll('.mk')].map((e) => (e as HTMLElement).dataset['o']));
    expect(marked.length).toBe(32);
    expect(new Set(marked)).toEqual(new Set(Array.from({ length: 16 }, (_, i) => String(568 + i))));
    await page.locator('nbd-hexdump [data-o="572"]').first().click();
    await page.waitForFunction(() => /^Byte 572 is GPT header › disk GUID/.test(document.querySelector('#structure .where')!.textContent ?? ''));
  });

  it('the URL opens the same file again', async () => {
    const url = new URL(page.url());
    const { page: again } = await inspector(Object.fromEntries(url.searchParams));
    await again.waitForFunction(() => /entries in \/$/.test(document.querySelector('#files .note')!.textContent ?? ''));
    const { page: p2 } = await inspector({ src: disk.uri, part: '1', path: '/level0/level1/level2' });
    await p2.waitForFunction(() => /in \/level0\/level1\/level2$/.test(document.querySelector('#files .note')!.textContent ?? ''));
    expect((await shown(p2)).names).toEqual(['..', 'level3/']);
  });
});

it('FAT32 partition: browse to a file, see its bytes in the hexdump, download it', async () => {
  const { page, errors } = await inspector({ src: disk.uri });
  await page.locator('#partitions tbody tr').nth(1).locator('button.browse').click();
  await page.waitForFunction(() => /vfat “FAT32”: .* entries in \//.test(document.querySelector('#files .note')!.textContent ?? ''));
  await click(page, 'block-plus-one.bin');
  await page.waitForFunction(() => /block-plus-one/.test(document.querySelector('#files .facts')!.textContent ?? ''));
  await page.waitForFunction(() => document.querySelector('nbd-hexdump')!.shadowRoot!.querySelector('.row:not(.loading)') && !document.querySelector('nbd-hexdump')!.shadowRoot!.querySelector('.loading'));
  const s = await shown(page);
  const src = join(fatTree, 'block-plus-one.bin');
  // The hexdump is at the file's first cluster: its first line is the file's first 16 bytes.
  expect(s.first).toBe(hexdump(src, 0, 16).split('\n')[0]!.replace(/^0{8}/, BigInt(s.position).toString(16).padStart(8, '0')));
  expect(BigInt(s.position)).toBeGreaterThan(partStart[1]!);
  expect((await download(page, 'download')).equals(readFileSync(src))).toBe(true);
  await page.screenshot({ path: join(shots, 'inspector-files-fat.png') });
  expect(errors).toEqual([]);
});
