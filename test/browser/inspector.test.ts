// The disk inspector (web/pages/index.html, what `npm start` opens) in Chromium, through
// `webnbd bridge` to nbdkit disks with real partition tables: linuxdisk (GPT + ext2), floppy (MBR +
// FAT), partitioning (MBR with logical partitions, GPT with names). What it shows is checked against
// nbdinfo, partx, blkid and hexdump run on the same disks; screenshots go to test-results/.

import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, serveDist, type Site } from '../support/browser.js';
import { blkid, hexdump, makeFiles, makeTree, partx, serve, shots, type Served } from '../support/inspector-fixtures.js';

let site: Site;
let plainSite: Site;
let origins: string[];
const files = makeFiles();
// A partition name that is markup: it must show as text.
const evil = join(dirname(files.ext2), '<img src=x onerror=alert(1)>.img');
renameSync(files.ext2, evil);

beforeAll(async () => {
  site = await serveDist(true);
  plainSite = await serveDist(false);
  origins = [site.origin, plainSite.origin];
});
afterAll(async () => {
  await (await launch()).close();
  await Promise.all([site.close(), plainSite.close()]);
});

interface Opened { page: Page; errors: string[]; alerts: string[] }

/** The inspector at ?src=URI (&export=, &offset=), once partitions and map are done. */
async function inspect(query: Record<string, string>, on: Site = site, settle = true): Promise<Opened> {
  const context = await (await launch()).newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: on.origin });
  const page = await context.newPage();
  const errors: string[] = [];
  const alerts: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => { alerts.push(d.message()); void d.dismiss(); });
  // Other builds of dist/ (npm run build elsewhere in this tree) can briefly leave it empty.
  for (let i = 0; ; i++) {
    try {
      await page.goto(`${on.origin}/index.html?${new URLSearchParams(query)}`);
      break;
    } catch (e) {
      if (i === 4) throw e;
      await page.waitForTimeout(1000);
    }
  }
  if (settle && query['src']?.startsWith('nbd+ws:')) await settled(page);
  return { page, errors, alerts };
}

/** Until the map is built, the partitions are read and the hexdump shows its first screen. */
const settled = (page: Page) => page.waitForFunction(() =>
  document.querySelector<HTMLProgressElement>('#map progress')!.hidden
  && !/Reading|…/.test(document.querySelector('#partitions')!.textContent ?? '')
  && document.querySelector('nbd-hexdump')!.dataset['state'] === 'loaded'
  && document.querySelector('nbd-hexdump')!.shadowRoot!.querySelector('.row:not(.loading)') && !document.querySelector('nbd-hexdump')!.shadowRoot!.querySelector('.loading'), null, { timeout: 30_000 });

/** The partition table as shown: one record per row. */
const shownPartitions = (page: Page) => page.$$eval('#partitions tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent ?? '')));

const dumpState = (page: Page) => page.evaluate(() => {
  const el = document.querySelector('nbd-hexdump')!;
  return { position: String(el.position), first: el.text.split('\n')[0] ?? '', selection: el.selection && [String(el.selection.start), String(el.selection.end)] };
});

const lba = (bytes: string) => `${BigInt(bytes) / 512n}s (${bytes})`;
/** partx prints MBR types as 0xc, the inspector as fdisk does, 0x0c. */
const mbrType = (t: string) => `0x${parseInt(t, 16).toString(16).padStart(2, '0')}`;
/** Exact partition sizes in bytes (the cells show them in KiB, MiB…). */
const sizes = (page: Page) => page.$$eval('#partitions tbody tr td:nth-child(4)', (tds) => tds.map((td) => (td as HTMLElement).dataset['bytes']));

describe('nbdkit linuxdisk: GPT and ext2', () => {
  let disk: Served;
  let o: Opened;
  beforeAll(async () => {
    disk = await serve(['-r', 'linuxdisk', makeTree('root'), 'label=inspect-me'], origins);
    o = await inspect({ src: disk.uri });
  });

  it('shows what nbdinfo shows, the export list and the GPT partition with its ext2 filesystem', async () => {
    const { page, errors } = o;
    const info = await page.textContent('#info pre');
    const nbdinfo = execFileSync('nbdinfo', ['--no-content', `nbd://127.0.0.1:${disk.nbd.port}/`]).toString();
    const noUri = (s: string) => s.split('\n').filter((l) => !l.startsWith('\turi: ')).join('\n');
    expect(noUri(info!)).toBe(noUri(nbdinfo));
    expect(info).toContain(`\turi: ${disk.uri}\n`);
    expect(await page.textContent('#exports ul')).toBe('(default export)');
    const image = disk.image();
    const [p] = partx(image);
    const fs = blkid(image + '');
    expect(fs['PTTYPE']).toBe('gpt');
    const ext2 = execFileSync('blkid', ['-p', '-o', 'export', '-O', String(BigInt(p!['START']!) * 512n), image]).toString();
    const label = /LABEL=(.*)/.exec(ext2)![1];
    const uuid = /\nUUID=(.*)/.exec(ext2)![1];
    expect(await shownPartitions(page)).toEqual([[
      '1', p!['TYPE']!.toUpperCase(), lba(String(BigInt(p!['START']!) * 512n)), '1 MiB', p!['NAME']!, `ext2 “${label}” UUID ${uuid}`,
    ]]);
    expect(label).toBe('inspect-me');
    expect(await page.textContent('#partitions .note')).toMatch(/^GPT partition table, disk [0-9A-F-]{36}, 512-byte sectors\.$/);
    expect(await page.textContent('.legend')).toMatch(/^data 2\.0 MiB \(100\.0%\) · zero 0 bytes \(0\.0%\) · hole 0 bytes \(0\.0%\)$/);
    expect((await dumpState(page)).first).toBe(hexdump(image, 0, 16).split('\n')[0]);
    await page.screenshot({ path: join(shots, 'inspector-linuxdisk.png') });
    expect(errors).toEqual([]);
  });

  it('jumps to a partition, a typed offset, a sector and a map cell; the URL follows', async () => {
    const { page } = o;
    const image = disk.image();
    await page.click('#partitions tbody tr >> text=1');
    expect((await dumpState(page)).position).toBe('1048576');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('offset') === '1048576');
    expect(await page.inputValue('#save [name=start]')).toBe('1048576');
    await page.fill('#goto [name=at]', '0x1be');
    await page.click('#goto button');
    let s = await dumpState(page);
    expect(s).toMatchObject({ position: '432', selection: ['446', '447'] });
    expect(s.first).toBe(hexdump(image, 432, 16).split('\n')[0]!);
    await page.selectOption('#goto [name=unit]', 'sectors');
    await page.fill('#goto [name=at]', '1');
    await page.click('#goto button');
    s = await dumpState(page);
    expect(s.first).toMatch(/^00000200  45 46 49 20 50 41 52 54 .*\|EFI PART/);
    await page.fill('#goto [name=at]', 'nonsense');
    await page.click('#goto button');
    expect(await page.textContent('#error')).toMatch(/“nonsense” is not an offset/);
    // The last cell of the map is the last part of the disk.
    const box = (await page.locator('#map canvas').boundingBox())!;
    await page.mouse.click(box.x + box.width - 1, box.y + box.height - 1);
    const size = 2114048n;
    expect(BigInt((await dumpState(page)).position)).toBeGreaterThan(size - 64n * 1024n);
    await page.waitForFunction((p) => new URLSearchParams(location.search).get('offset') === p, (await dumpState(page)).position);
    const url = page.url();
    expect(new URL(url).searchParams.get('src')).toBe(disk.uri);
    // The shared URL opens the same place.
    const again = await inspect(Object.fromEntries(new URL(url).searchParams));
    expect((await dumpState(again.page)).position).toBe((await dumpState(page)).position);
  });

  it('navigates by keyboard and wheel, highlights a byte in both columns, copies a selection as hex', async () => {
    const { page } = o;
    await page.fill('#goto [name=at]', '0');
    await page.selectOption('#goto [name=unit]', 'bytes');
    await page.click('#goto button');
    await page.keyboard.press('PageDown');
    const p1 = BigInt((await dumpState(page)).position);
    expect(p1).toBeGreaterThan(0n);
    await page.keyboard.press('ArrowUp');
    expect(BigInt((await dumpState(page)).position)).toBeLessThan(p1);
    await page.keyboard.press('Home');
    expect((await dumpState(page)).position).toBe('0');
    const box = (await page.locator('nbd-hexdump').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, 300);
    await page.waitForFunction(() => document.querySelector('nbd-hexdump')!.position > 0n);
    await page.keyboard.press('Home');
    // Hover the hex of byte 0x1fe: its character lights up too.
    await page.hover('nbd-hexdump .b[data-o="510"]');
    const lit = await page.evaluate(() => [...document.querySelector('nbd-hexdump')!.shadowRoot!.querySelectorAll('.hl')].map((e) => `${e.className}:${e.textContent}:${e.getAttribute('part')}`));
    expect(lit).toEqual(['b hl:55:byte hex highlight', 'c hl:U:byte char highlight']);
    // Select 0x1fe..0x201 with the mouse (drag), then copy.
    await page.mouse.down();
    await page.hover('nbd-hexdump .c[data-o="513"]');
    await page.mouse.up();
    expect((await dumpState(page)).selection).toEqual(['510', '514']);
    expect(await page.textContent('#selection')).toBe('Selected 4 bytes at 510 (0x1fe)');
    await page.click('#copy');
    await page.waitForFunction(() => /Copied/.test(document.querySelector('#selection')!.textContent ?? ''));
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('55 aa 45 46\n');
    // Shift+ArrowRight extends it; Ctrl+C copies from the keyboard.
    await page.focus('nbd-hexdump');
    await page.keyboard.press('Shift+ArrowRight');
    await page.keyboard.press('Control+c');
    await page.waitForFunction(async () => (await navigator.clipboard.readText()) === '55 aa 45 46 49\n');
    await page.screenshot({ path: join(shots, 'inspector-selection.png') });
  });

  it('saves a range as a file', async () => {
    const { page } = o;
    await page.fill('#save [name=start]', '1000');
    await page.fill('#save [name=length]', '70000');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save [name=go]')]);
    const saved = readFileSync((await download.path())!);
    expect(saved.equals(readFileSync(disk.image()).subarray(1000, 71000))).toBe(true);
    expect(download.suggestedFilename()).toBe('disk-1000-70000.bin');
    expect(await page.textContent('#save .status')).toBe('Saved 68 KiB as disk-1000-70000.bin.');
  });
});

describe('nbdkit floppy: MBR and FAT', () => {
  it('shows the W95 FAT32 partition with its label, on a plain (not isolated) page too', async () => {
    const disk = await serve(['-r', 'floppy', makeTree('floppy')], origins);
    for (const on of [site, plainSite]) {
      const { page, errors } = await inspect({ src: disk.uri }, on);
      const image = disk.image();
      const [p] = partx(image);
      const fs = execFileSync('blkid', ['-p', '-o', 'export', '-O', String(BigInt(p!['START']!) * 512n), image]).toString();
      expect(fs).toMatch(/TYPE=vfat/);
      const uuid = /\nUUID=(.*)/.exec(fs)![1];
      const label = /\nLABEL=(.*)/.exec(fs)![1];
      expect(await shownPartitions(page)).toEqual([['1', `W95 FAT32 (LBA) (${mbrType(p!['TYPE']!)})`, lba(String(BigInt(p!['START']!) * 512n)), '176 KiB', '', `vfat (FAT32) “${label}” UUID ${uuid}`]]);
      expect(await sizes(page)).toEqual([p!['SIZE']]);
      expect(await page.textContent('#partitions .note')).toBe('MBR partition table, 512-byte sectors.');
      await page.screenshot({ path: join(shots, `inspector-floppy-${on === site ? 'isolated' : 'plain'}.png`) });
      expect(errors).toEqual([]);
    }
  });
});

describe('nbdkit partitioning', () => {
  it('MBR: primary, extended and logical partitions, each filesystem as blkid sees it', async () => {
    const parts = [files.rand, files.ext4, files.swap, evil, files.fat];
    const disk = await serve(['-r', 'partitioning', ...parts, 'partition-type=mbr'], origins);
    const { page } = await inspect({ src: disk.uri });
    const want = partx(disk.image());
    const shown = await shownPartitions(page);
    expect(shown.map((r) => [r[0], r[1], r[2]])).toEqual(want.map((p) => [p['NR'], expect.stringContaining(`(${mbrType(p['TYPE']!)})`), lba(String(BigInt(p['START']!) * 512n))]));
    expect(await sizes(page)).toEqual(want.map((p) => p['SIZE']));
    const fsOf = (f: string) => {
      const b = blkid(f);
      return `${b['TYPE']}${b['TYPE'] === 'vfat' ? ` (${b['VERSION']})` : ''}${b['LABEL'] ? ` “${b['LABEL']}”` : ''} UUID ${b['UUID']}`;
    };
    // partx lists 1-3, the extended partition 4, then logical 5 and 6.
    expect(shown.map((r) => r[5])).toEqual(['—', fsOf(files.ext4), fsOf(files.swap), '(logical partitions)', fsOf(evil), fsOf(files.fat)]);
    expect(shown[3]![1]).toBe("W95 Ext'd (LBA) (0x0f)");
    await page.screenshot({ path: join(shots, 'inspector-mbr.png') });
  });

  it('GPT: names (shown as text, never as markup), LUKS, NTFS and ISO 9660 signatures', async () => {
    const parts = [files.ext4, evil, files.luks, files.ntfs, files.iso, files.swap].map((f) => basename(f));
    const disk = await serve(['-r', 'partitioning', ...parts, 'partition-type=gpt'], origins, dirname(evil));
    const { page, alerts, errors } = await inspect({ src: disk.uri });
    const want = partx(disk.image());
    const shown = await shownPartitions(page);
    expect(shown.map((r) => [r[0], r[1], r[2], r[4]])).toEqual(want.map((p) => [p['NR'], `Linux filesystem (${p['TYPE']!.toUpperCase()})`, lba(String(BigInt(p['START']!) * 512n)), p['NAME']]));
    expect(shown[1]![4]).toBe('<img src=x onerror=alert(1)>.img');
    expect(shown.map((r) => r[5]!.replace(/ UUID .*/, ''))).toEqual([
      'ext4 “rootfs”', 'ext2 “boot<b>”', 'crypto_LUKS (LUKS2) “secret-stuff”', 'ntfs', 'iso9660 “WEBNBD_CD”', 'swap “swappy”',
    ]);
    expect(shown[2]![5]).toBe('crypto_LUKS (LUKS2) “secret-stuff” UUID 6ba7b810-9dad-11d1-80b4-00c04fd430c8');
    expect(shown[3]![5]).toBe('ntfs UUID 1122334455667788');
    expect(await page.$$eval('#partitions img, #partitions b', (e) => e.length)).toBe(0);
    expect(alerts).toEqual([]);
    expect(errors).toEqual([]);
    // Click a row: the hexdump goes there.
    await page.click('#partitions tbody tr:nth-child(3)');
    expect((await dumpState(page)).first).toMatch(/\|LUKS\.\./);
    await settled(page);
    await page.screenshot({ path: join(shots, 'inspector-gpt.png') });
  });
});

describe('nbdkit sparse-random: a 1 TiB disk', () => {
  it('maps the whole disk with a progress bar, as nbdinfo --map --totals counts it', async () => {
    const disk = await serve(['-r', 'sparse-random', 'size=1T', 'seed=7'], origins);
    const { page } = await inspect({ src: disk.uri }, site, false);
    // The map builds in view: progress shows, part way, then goes.
    await page.waitForFunction(() => {
      const p = document.querySelector<HTMLProgressElement>('#map progress')!;
      return !p.hidden && p.value > 0 && p.value < 1;
    }, null, { timeout: 20_000, polling: 10 });
    await page.screenshot({ path: join(shots, 'inspector-1tib-mapping.png') });
    await settled(page);
    const totals = execFileSync('nbdinfo', ['--map', '--totals', `nbd://127.0.0.1:${disk.nbd.port}/`]).toString();
    const pc = (type: string) => /\s([\d.]+)%\s+(\d+)/g.exec(totals.split('\n').find((l) => l.trim().split(/\s+/)[2] === type) ?? '')?.[1];
    const legend = (await page.textContent('.legend'))!;
    expect(legend).toMatch(new RegExp(`^data [\\d.]+ GiB \\(${pc('0')}%\\) · zero 0 bytes \\(0\\.0%\\) · hole [\\d.]+ GiB \\(${pc('3')}%\\)$`));
    expect(await page.textContent('#partitions .note')).toMatch(/^No partition table/);
    // A click in the middle of the map lands in the middle of the disk.
    const box = (await page.locator('#map canvas').boundingBox())!;
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    const p = BigInt((await dumpState(page)).position);
    expect(p).toBeGreaterThan((1n << 40n) * 45n / 100n);
    expect(p).toBeLessThan((1n << 40n) * 55n / 100n);
    await page.screenshot({ path: join(shots, 'inspector-1tib.png') });
  });
});

describe('exports, errors and cancelling', () => {
  it('lists exports in opt mode and opens the one picked; descriptions are text', async () => {
    const disk = await serve(['-r', '--filter=exportname', 'floppy', makeTree('exports'), 'exportname=first', 'exportname=second<b>',
      'exportname-list=explicit', 'exportdesc=fixed:<i>a floppy</i>'], origins);
    const { page } = await inspect({ src: disk.uri });
    expect(await page.$$eval('#exports li', (li) => li.map((l) => l.textContent))).toEqual(['first<i>a floppy</i>', 'second<b><i>a floppy</i>']);
    expect(await page.$$eval('#exports i, #exports b', (e) => e.length)).toBe(0);
    await page.click('#exports li:nth-child(2) button');
    await page.waitForFunction(() => /export="second<b>"/.test(document.querySelector('#info pre')!.textContent ?? ''));
    await settled(page);
    expect(new URL(page.url()).searchParams.get('export')).toBe('second<b>');
    expect(await page.getAttribute('#exports li:nth-child(2) button', 'aria-current')).toBe('true');
    expect(await page.textContent('#info pre')).toContain('\tdescription: <i>a floppy</i>\n');
    await page.screenshot({ path: join(shots, 'inspector-exports.png') });
  });

  it('refuses javascript: and data: URIs and explains connection failures in plain words', async () => {
    const { page } = await inspect({ src: 'javascript:alert(1)' });
    expect(await page.textContent('#error')).toBe('Only nbd+ws:// and nbds+wss:// URIs can be opened here (not javascript:).');
    expect(await page.isHidden('main')).toBe(true);
    for (const [src, want] of [
      ['data:text/html,<b>x</b>', /^Only nbd\+ws:\/\/ and nbds\+wss:\/\/ URIs can be opened here \(not data:\)\.$/],
      ['nbd://127.0.0.1:10809/', /cannot open nbd:\/\/ connections itself.*webnbd bridge/],
      ['nbd+ws://127.0.0.1:1/', /^Could not connect to the bridge to nbd\+ws:\/\/127\.0\.0\.1:1\/\. Is `webnbd bridge` running there, and does it allow this page's origin/],
    ] as const) {
      await page.fill('#connect input', src);
      await page.click('#connect button');
      await page.waitForFunction((w) => new RegExp(w).test(document.querySelector('#error')!.textContent ?? ''), want.source, { timeout: 10_000 })
        .catch(async () => expect(await page.textContent('#error'), src).toMatch(want));
    }
    // A bridge that does not admit this page's origin.
    const other = await serve(['-r', 'floppy', makeTree('closed')], ['http://example.invalid']);
    await page.fill('#connect input', other.uri);
    await page.click('#connect button');
    await page.waitForFunction(() => /does it allow this page's origin/.test(document.querySelector('#error')!.textContent ?? ''), null, { timeout: 10_000 });
    await page.screenshot({ path: join(shots, 'inspector-error.png') });
  });

  it('shows progress while saving and cancels', async () => {
    const disk = await serve(['-r', '--filter=delay', 'pattern', 'size=256M', 'rdelay=200ms'], origins);
    const { page } = await inspect({ src: disk.uri });
    await page.fill('#save [name=start]', '0');
    // 256 reads of 1 MiB, 4 at a time, each held 200 ms: some 13 s, long enough to click cancel in.
    await page.fill('#save [name=length]', '256M');
    await page.click('#save [name=go]');
    await page.waitForFunction(() => /MiB of 256 MiB/.test(document.querySelector('#save .status')!.textContent ?? ''));
    expect(await page.isVisible('#save progress')).toBe(true);
    await page.screenshot({ path: join(shots, 'inspector-saving.png') });
    await page.click('#save [name=cancel]');
    await page.waitForFunction(() => document.querySelector('#save .status')!.textContent === 'Cancelled.');
    expect(await page.isHidden('#save progress')).toBe(true);
    // The reads cancelled in flight leave the connection usable.
    await page.fill('#save [name=length]', '1M');
    await page.click('#save [name=go]');
    await page.waitForFunction(() => /^Saved 1 MiB as /.test(document.querySelector('#save .status')!.textContent ?? ''));
  });
});
