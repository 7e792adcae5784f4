// The inspector's layout at 1024 and 1280 px, light and dark, with a partition table of long type
// names, the file browser open on a file with long names: nothing is wider than its column
// (screenshots in test-results/screenshots/); the allocation map is one colour where the disk is
// (no stripes); names with bidirectional controls from the disk and the server show visibly.

import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, serveDist, type Site } from '../support/browser.js';
import { serve, shots, type Served } from '../support/inspector-fixtures.js';
import { makeExt4, makeFat, makeSourceTree } from '../support/fs-fixtures.js';

let site: Site;
let disk: Served;
let empty: Served;

beforeAll(async () => {
  site = await serveDist(true);
  const tree = makeSourceTree('layout-tree', { unix: true, many: 10, longName: 200 });
  const ext = makeExt4(tree);
  const fat = makeFat(makeSourceTree('layout-fat', { unix: false, many: 10, longName: 200, short: true }), 16, 32 << 20);
  disk = await serve(['-r', '--filter=exportname', 'partitioning', ext, fat, ext, 'partition-type=gpt',
    'exportname=disk', 'exportdesc=fixed:abc\u202Efdp.exe', 'exportname-list=explicit'], [site.origin]);
  empty = await serve(['-r', 'null', '1G'], [site.origin]);
}, 120_000);
afterAll(async () => {
  await (await launch()).close();
  await site.close();
});

async function open(uri: string, width: number, colorScheme: 'light' | 'dark'): Promise<Page> {
  const page = await (await launch()).newPage({ viewport: { width, height: 900 }, colorScheme });
  await page.goto(`${site.origin}/index.html?${new URLSearchParams({ src: uri })}`);
  await page.waitForFunction(() => document.querySelector<HTMLProgressElement>('#map progress')!.hidden
    && !/Reading|…/.test(document.querySelector('#partitions')!.textContent ?? ''), null, { timeout: 30_000 });
  return page;
}

/** Elements wider than the column they are in (aside, the map, the hexdump's section). */
const overflowing = (page: Page) => page.evaluate(() => {
  const out: string[] = [];
  for (const col of document.querySelectorAll<HTMLElement>('aside, #map, #view')) {
    const box = col.getBoundingClientRect();
    if (col.scrollWidth > col.clientWidth + 1) out.push(`${col.id || col.tagName}: scrolls sideways (${col.scrollWidth} > ${col.clientWidth})`);
    for (const e of col.querySelectorAll<HTMLElement>('*')) {
      const r = e.getBoundingClientRect();
      if (r.width > 0 && r.right > box.right + 1 && getComputedStyle(e).visibility !== 'hidden') out.push(`${e.tagName}.${e.className} in ${col.id || col.tagName}: right ${Math.round(r.right)} > ${Math.round(box.right)}`);
    }
  }
  return out;
});

describe.each([1024, 1280])('%i px wide', (width) => {
  it.each(['light', 'dark'] as const)('%s: nothing is wider than its column, with the file browser open', async (scheme) => {
    const page = await open(disk.uri.replace(/\/(?=\?|$)/, '/disk'), width, scheme); // the export name, before ?token=
    await page.locator('#partitions tbody tr').first().locator('button.browse').click();
    await page.waitForFunction(() => /entries in \//.test(document.querySelector('#files .note')!.textContent ?? ''));
    await page.locator('#files tbody button.name', { hasText: /^x+\.txt$/ }).click();
    await page.waitForFunction(() => /x+\.txt/.test(document.querySelector('#files .facts')!.textContent ?? ''));
    // A long selection description must not wrap the toolbar.
    const toolbar = await page.locator('#view .toolbar').boundingBox();
    await page.evaluate(() => { document.querySelector('nbd-hexdump')!.selection = { start: 0n, end: 123456789n }; });
    expect((await page.locator('#view .toolbar').boundingBox())!.height).toBe(toolbar!.height);
    await page.screenshot({ path: join(shots, `inspector-${width}-${scheme}.png`), fullPage: true });
    expect(await overflowing(page)).toEqual([]);
    // The partitions table shows every column, Name and Filesystem included.
    const headers = await page.$$eval('#partitions th', (ths) => ths.map((th) => {
      const r = th.getBoundingClientRect();
      const aside = document.querySelector('aside')!.getBoundingClientRect();
      return r.width > 0 && r.right <= aside.right + 1;
    }));
    expect(headers).toEqual([true, true, true, true, true, true]);
    // The export's description, from the server, with its bidirectional control shown.
    expect(await page.textContent('#exports')).toContain('abc⟨U+202E⟩fdp.exe');
  });
});

it('the allocation map of an all-hole disk is one colour in dark mode (no stripes)', async () => {
  const page = await open(empty.uri, 1280, 'dark');
  const colours = await page.evaluate(() => {
    const c = document.querySelector<HTMLCanvasElement>('#map canvas')!;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<string>();
    for (let i = 0; i < d.length; i += 4) seen.add(`${d[i]},${d[i + 1]},${d[i + 2]},${d[i + 3]}`);
    return [...seen];
  });
  await page.screenshot({ path: join(shots, 'inspector-map-dark.png') });
  expect(colours).toHaveLength(1);
});
