// The inspector's download and upload forms in Chromium, through websockify to nbdkit: the whole
// export to a file (checked against nbdcopy's bytes), an image uploaded with the file picker and
// verified (checked from Node), one dropped on a read-only export and refused in plain words,
// and an upload cancelled.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, serveDist, type Site } from '../support/browser.js';
import { random } from '../support/data.js';
import { shots } from '../support/inspector-fixtures.js';
import { startNbdkit, startWebsockify, type NbdServer } from '../support/servers.js';

const MiB = 1 << 20;
const dir = mkdtempSync(join(tmpdir(), 'webnbd-inspector-transfer-'));
let site: Site;
let browser: BrowserContext;

beforeAll(async () => {
  site = await serveDist(true);
  // A profile on disk, as people have: the private file system is on disk too.
  browser = await chromium.launchPersistentContext(join(dir, 'profile'), { executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, acceptDownloads: true, viewport: { width: 1400, height: 900 } });
});
afterAll(async () => {
  await browser?.close();
  await site.close();
});

async function serve(args: string[]): Promise<{ nbd: NbdServer; ws: string }> {
  const nbd = await startNbdkit(args);
  const bridge = await startWebsockify({ port: nbd.port! });
  return { nbd, ws: `nbd+ws://127.0.0.1:${bridge.port}/` };
}

/** The inspector showing `uri`, once its map is drawn; every status line the forms show is kept in window.statuses. */
async function inspect(uri: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${site.origin}/index.html?${new URLSearchParams({ src: uri })}`);
  await page.waitForFunction(() => document.querySelector<HTMLProgressElement>('#map progress')?.hidden === true && !!document.querySelector('nbd-hexdump')?.size, null, { timeout: 30_000 });
  await page.evaluate(() => {
    const seen: string[] = [];
    Object.assign(window, { statuses: seen });
    for (const s of document.querySelectorAll('#save .status, #upload .status')) {
      new MutationObserver(() => seen.push(s.textContent ?? '')).observe(s, { childList: true, characterData: true, subtree: true });
    }
  });
  return { page, errors };
}

const statuses = (page: Page) => page.evaluate(() => (window as unknown as { statuses: string[] }).statuses);
const statusIs = (page: Page, form: string, re: RegExp) =>
  page.waitForFunction(([f, s]) => new RegExp(s).test(document.querySelector(`${f} .status`)!.textContent ?? ''), [form, re.source] as const, { timeout: 60_000 });

/** What nbdcopy reads from the export. */
const serverBytes = (uri: string) => execFileSync('nbdcopy', [uri, '-'], { maxBuffer: 1 << 30 });

describe('inspector downloads and uploads', () => {
  it('downloads the whole export to a file with progress and speed; the file is the export', async () => {
    const { nbd, ws } = await serve(['-r', '--filter=delay', 'sparse-random', 'size=64M', 'seed=3', 'rdelay=5ms']);
    const { page, errors } = await inspect(ws);
    await page.click('#save [name=whole]');
    expect(await page.inputValue('#save [name=length]')).toBe(String(64 * MiB));
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save [name=go]')]);
    await statusIs(page, '#save', /^Saved /);
    expect(await page.textContent('#save .status')).toBe('Saved 64 MiB as disk-0-67108864.bin.');
    expect(readFileSync((await download.path())!).equals(serverBytes(nbd.uri))).toBe(true);
    expect((await statuses(page)).some((s) => /^Downloaded \d+(\.\d)? (KiB|MiB) of 64 MiB, [\d.]+ MiB\/s$/.test(s))).toBe(true);
    expect(await page.isHidden('#save progress')).toBe(true);
    expect(errors).toEqual([]);
  });

  it('downloads a range into a file chosen in the save dialog (FileSystemWritableFileStream)', async () => {
    const { nbd, ws } = await serve(['-r', 'sparse-random', 'size=64M', 'seed=4']);
    const { page, errors } = await inspect(ws);
    // The dialog itself cannot be driven here: it answers with a file of the private file system,
    // whose writable stream is the one a chosen file gets.
    await page.evaluate(() => Object.assign(window, {
      showSaveFilePicker: async (o: { suggestedName: string }) => (await navigator.storage.getDirectory()).getFileHandle(`picked-${o.suggestedName}`, { create: true }),
    }));
    await page.fill('#save [name=start]', '1M');
    await page.fill('#save [name=length]', '40000000');
    await page.selectOption('#save [name=to]', 'picker');
    await page.click('#save [name=go]');
    await statusIs(page, '#save', /^(Saved|Could not)/);
    expect(await page.textContent('#save .status')).toBe('Saved 38 MiB to picked-disk-1048576-40000000.bin.');
    const saved = await page.evaluate(async () => {
      const f = await (await (await navigator.storage.getDirectory()).getFileHandle('picked-disk-1048576-40000000.bin')).getFile();
      return [...new Uint8Array(await crypto.subtle.digest('SHA-256', await f.arrayBuffer()))].map((x) => x.toString(16).padStart(2, '0')).join('');
    });
    expect(saved).toBe(createHash('sha256').update(serverBytes(nbd.uri).subarray(MiB, MiB + 40000000)).digest('hex'));
    expect(errors).toEqual([]);
  });

  it('uploads an image chosen with the file picker, verified, and shows the new bytes', async () => {
    const { nbd, ws } = await serve(['memory', 'size=64M']);
    const image = join(dir, 'image.img');
    const data = random(3 * MiB + 512, 5);
    writeFileSync(image, data);
    const { page, errors } = await inspect(ws);
    await page.setInputFiles('#upload [name=image]', image);
    expect(await page.textContent('#upload .status')).toBe('image.img: 3.0 MiB.');
    await page.fill('#upload [name=at]', '1M');
    await page.click('#upload [name=go]');
    await statusIs(page, '#upload', /^(Wrote|Could not)/);
    expect(await page.textContent('#upload .status')).toBe('Wrote image.img (3.0 MiB) to the default export at 1048576, verified.');
    expect((await statuses(page)).some((s) => /^Verified .* of 3.0 MiB/.test(s))).toBe(true);
    const back = serverBytes(nbd.uri);
    expect(back.subarray(MiB, MiB + data.length).equals(data)).toBe(true);
    expect(back.subarray(0, MiB).every((b) => b === 0)).toBe(true);
    // The views show what is there now.
    await page.fill('#goto [name=at]', '1M');
    await page.click('#goto button');
    const hex = [...data.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    await page.waitForFunction((h) => document.querySelector('nbd-hexdump')!.text.includes(`00100000  ${h}`), hex);
    await page.screenshot({ path: join(shots, 'inspector-upload.png') });
    expect(errors).toEqual([]);
  });

  it('refuses an image dropped on a read-only export, saying so', async () => {
    const { ws } = await serve(['-r', 'memory', 'size=8M']);
    const { page } = await inspect(ws);
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(4096).fill(7)], 'dropped.img'));
      const form = document.querySelector('#upload')!;
      form.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      form.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    expect(await page.textContent('#upload .status')).toBe('dropped.img: 4 KiB.');
    await page.click('#upload [name=go]');
    await statusIs(page, '#upload', /^Could not/);
    expect(await page.textContent('#upload .status')).toBe('Could not upload: the default export is read-only.');
  });

  it('cancels an upload mid-way', async () => {
    const { ws } = await serve(['--filter=delay', 'memory', 'size=64M', 'wdelay=100ms']);
    const image = join(dir, 'big.img');
    writeFileSync(image, random(48 * MiB, 9));
    const { page } = await inspect(ws);
    await page.setInputFiles('#upload [name=image]', image);
    await page.click('#upload [name=go]');
    await statusIs(page, '#upload', /^Written .* MiB of 48 MiB/);
    expect(await page.isVisible('#upload progress')).toBe(true);
    await page.click('#upload [name=cancel]');
    await statusIs(page, '#upload', /^Cancelled\.$/);
    expect(await page.isHidden('#upload [name=cancel]')).toBe(true);
  });
});
