// <nbd-hexdump> in real Chromium through `webnbd bridge` to nbdkit, on a cross-origin isolated
// page (reads land in SharedArrayBuffers) and on a plain one (the fallback): attributes and
// properties, events, several elements on one connection, theming, and a 1 TiB disk scrolled
// with only the visible rows in the DOM, zero runs squeezed from block status without reads.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, serveDist, type Site } from '../support/browser.js';
import { create } from '../../web/node/index.js';
import { hexdump, serve, shots, work, type Served } from '../support/inspector-fixtures.js';

const SIZE = 3_000_000;
const disk = Buffer.alloc(SIZE);
for (let i = 0; i < SIZE; i++) disk[i] = (i * 2654435761) >>> 24;
disk.fill(0, 70_000, 75_000);
const file = join(work, 'component.img');
writeFileSync(file, disk);
const small = join(work, 'small.img');
writeFileSync(small, disk.subarray(0, 65536));

const sites: Record<string, Site> = {};
let plain: Served;
let smallDisk: Served;
let sparse: Served;

beforeAll(async () => {
  sites['true'] = await serveDist(true);
  sites['false'] = await serveDist(false);
  const origins = Object.values(sites).map((s) => s.origin);
  [plain, smallDisk, sparse] = await Promise.all([
    serve(['-r', 'file', file], origins),
    serve(['-r', 'file', small], origins),
    serve(['sparse-random', 'size=1T', 'seed=4242'], origins),
  ]);
});
// The browser first: its keep-alive connections would hold the sites open.
afterAll(async () => {
  await (await launch()).close();
  await Promise.all(Object.values(sites).map((s) => s.close()));
});

/** The embed page with `query`, waiting until its element has loaded (or failed). */
async function embed(site: Site, query: Record<string, string>, opts: { colorScheme?: 'light' | 'dark' } = {}): Promise<{ page: Page; errors: string[] }> {
  const page = await (await launch()).newPage({ viewport: { width: 900, height: 700 }, colorScheme: opts.colorScheme ?? 'light' });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${site.origin}/embed.html?${new URLSearchParams(query)}`);
  await page.waitForSelector('nbd-hexdump', { state: 'attached' });
  if (query['src']) await page.waitForFunction(() => ['loaded', 'error'].includes(document.querySelector('nbd-hexdump')?.dataset['state'] ?? ''), null, { timeout: 20_000 });
  return { page, errors };
}

const text = (page: Page) => page.evaluate(() => document.querySelector('nbd-hexdump')!.text);

describe.each([true, false])('isolated page: %s', (isolated) => {
  const site = () => sites[String(isolated)]!;

  it('shows exactly what hexdump -C -s OFFSET -n LENGTH prints, for each attribute', async () => {
    const { page, errors } = await embed(site(), { src: plain.uri });
    expect(await text(page)).toBe(hexdump(file, 0, 512));
    for (const [offset, length] of [[512, 4096], [69_999, 5100], [1, 33], [2_999_000, 5000], [SIZE, 16]] as const) {
      await page.evaluate(([o, l]) => {
        const el = document.querySelector('nbd-hexdump')!;
        el.setAttribute('offset', String(o));
        el.setAttribute('length', String(l));
      }, [offset, length]);
      await page.waitForFunction((want) => document.querySelector('nbd-hexdump')!.text === want, hexdump(file, offset, length), { timeout: 10_000 });
    }
    const shared = await page.evaluate(() => {
      const el = document.querySelector('nbd-hexdump')!;
      return { isolated: crossOriginIsolated, shared: el.disk!.peek(0)!.buffer instanceof (globalThis.SharedArrayBuffer ?? class {}) };
    });
    expect(shared).toEqual({ isolated, shared: isolated });
    expect(errors).toEqual([]);
  });

  it('length=all and format=nbddump print what nbddump prints', async () => {
    const { page } = await embed(site(), { src: smallDisk.uri, length: 'all', format: 'nbddump' });
    const want = execFileSync('nbddump', [`nbd://127.0.0.1:${smallDisk.nbd.port}/`]).toString();
    expect(await text(page)).toBe(want);
  });

  it('properties mirror the attributes', async () => {
    const { page } = await embed(site(), {});
    const r = await page.evaluate(() => {
      const el = document.querySelector('nbd-hexdump')!;
      const before = { offset: el.offset, length: el.length, format: el.format, export: el.export, src: el.src };
      el.offset = 4096n;
      el.length = 'all';
      el.format = 'nbddump';
      el.export = 'disk';
      el.src = 'nbd+ws://127.0.0.1:9/';
      const attrs = ['offset', 'length', 'format', 'export', 'src'].map((a) => el.getAttribute(a));
      el.setAttribute('offset', '0x200');
      el.setAttribute('length', '100');
      el.export = null;
      return { before: { ...before, offset: String(before.offset), length: String(before.length) }, attrs, offset: String(el.offset), length: String(el.length), exportAttr: el.hasAttribute('export') };
    });
    expect(r).toEqual({
      before: { offset: '0', length: '512', format: 'hexdump-C', export: null, src: '' },
      attrs: ['4096', 'all', 'nbddump', 'disk', 'nbd+ws://127.0.0.1:9/'],
      offset: '512', length: '100', exportAttr: false,
    });
  });

  it('fires nbd-load and nbd-error, bubbling out of a shadow root (composed)', async () => {
    const { page } = await embed(site(), {});
    const r = await page.evaluate(async ([good]) => {
      const host = document.createElement('div');
      const root = host.attachShadow({ mode: 'open' });
      document.body.append(host);
      const seen: unknown[] = [];
      const until = (type: string) => new Promise<void>((res) => document.addEventListener(type, () => res(), { once: true }));
      for (const t of ['nbd-load', 'nbd-error'] as const) {
        document.addEventListener(t, (e) => {
          const d = e as Event & Record<string, unknown>;
          seen.push({ type: e.type, bubbles: e.bubbles, composed: e.composed, retargeted: e.target === host,
            ...(t === 'nbd-load' ? { offset: String(d['offset']), length: String(d['length']), size: String(d['size']) } : { errno: d['errno'], code: d['code'], message: d['message'] }) });
        });
      }
      const el = document.createElement('nbd-hexdump');
      el.setAttribute('offset', '1024');
      el.setAttribute('length', '100');
      el.src = good!;
      let wait = until('nbd-load');
      root.append(el);
      await wait;
      for (const [src, offset] of [['nbd+ws://127.0.0.1:1/', '0'], ['javascript:alert(1)', '0'], [good!, '99999999']] as const) {
        wait = until('nbd-error');
        el.setAttribute('offset', offset);
        el.src = src;
        await wait;
      }
      return { seen, text: el.text, status: el.shadowRoot!.querySelector('[part~=status]')!.textContent };
    }, [plain.uri]);
    expect(r.seen[0]).toEqual({ type: 'nbd-load', bubbles: true, composed: true, retargeted: true, offset: '1024', length: '100', size: String(SIZE) });
    const errors = r.seen.slice(1) as { code: string; errno: number; message: string; bubbles: boolean; composed: boolean }[];
    expect(errors.map((e) => [e.code, e.errno, e.bubbles, e.composed]), JSON.stringify(errors)).toEqual([['ECONNREFUSED', 111, true, true], ['EINVAL', 22, true, true], ['EINVAL', 22, true, true]]);
    expect(errors[0]!.message).toMatch(/could not connect to the bridge/);
    expect(errors[1]!.message).toMatch(/^nbd_connect_uri: unable to parse URI: javascript:alert\(1\)/);
    expect(errors[2]!.message).toMatch(/offset 99999999 is beyond the end of the export \(3000000 bytes\)/);
    expect(r.text).toBe('');
    expect(r.status).toBe(errors[2]!.message);
  });

  it('several elements share the page\'s one worker and one connection', async () => {
    const page = await (await launch()).newPage();
    await page.addInitScript(() => {
      const W = window.Worker;
      (window as unknown as { workers: number }).workers = 0;
      window.Worker = class extends W {
        constructor(...a: ConstructorParameters<typeof Worker>) { super(...a); (window as unknown as { workers: number }).workers++; }
      };
    });
    await page.goto(`${site().origin}/embed.html`);
    const r = await page.evaluate(async (src) => {
      const els = [0, 512, 2048, 4096].map((o) => {
        const el = document.createElement('nbd-hexdump');
        el.setAttribute('offset', String(o));
        el.src = src;
        return el;
      });
      const loaded = Promise.all(els.map((el) => new Promise((res) => el.addEventListener('nbd-load', res, { once: true }))));
      document.body.append(...els);
      await loaded;
      return { workers: (window as unknown as { workers: number }).workers, same: els.every((e) => e.disk === els[0]!.disk), texts: els.map((e) => e.text.slice(0, 8)) };
    }, plain.uri);
    expect(r).toEqual({ workers: 1, same: true, texts: ['00000000', '00000200', '00000800', '00001000'] });
  });
});

describe('a 1 TiB sparse disk (nbdkit sparse-random)', () => {
  let page: Page;
  const T = 1n << 40n;
  beforeAll(async () => {
    ({ page } = await embed(sites['true']!, { src: sparse.uri, length: 'all' }));
  });
  const state = () => page.evaluate(() => {
    const el = document.querySelector('nbd-hexdump')!;
    const rows = el.shadowRoot!.querySelectorAll('.row');
    return { position: String(el.position), rows: rows.length, first: rows[0]?.textContent ?? '', text: el.text, reads: el.disk!.stats.reads, cached: el.disk!.cached };
  });
  const settle = () => page.waitForFunction(() => document.querySelector('nbd-hexdump')!.shadowRoot!.querySelector('.row:not(.loading)') && !document.querySelector('nbd-hexdump')!.shadowRoot!.querySelector('.loading'), null, { timeout: 10_000 });

  it('keeps only the rows on screen in the DOM', async () => {
    const s = await state();
    expect(s.rows).toBeGreaterThan(10);
    expect(s.rows).toBeLessThan(40);
    expect(s.text.split('\n').length - 1).toBe(s.rows);
    expect(s.first).toMatch(/^00000000  /);
  });

  it('draws its first screen as text, the byte spans a frame later; a selection made at nbd-load shows at once', async () => {
    const { page: p2 } = await embed(sites['true']!, {});
    const r = await p2.evaluate(async (src) => {
      const el = document.createElement('nbd-hexdump');
      el.setAttribute('length', 'all');
      const count = (sel: string) => el.shadowRoot!.querySelectorAll(sel).length;
      const atLoad = new Promise<Record<string, number>>((res) => el.addEventListener('nbd-load', () => {
        const before = { rows: count('.row'), spans: count('.b, .c') };
        el.selection = { start: 0n, end: 4n };
        res({ ...before, selected: count('.sel'), spansAfter: count('.b, .c') });
      }, { once: true }));
      const el2 = document.createElement('nbd-hexdump');
      el2.setAttribute('length', 'all');
      const later = new Promise<Record<string, number>>((res) => el2.addEventListener('nbd-load', () => {
        const at = { rows: el2.shadowRoot!.querySelectorAll('.row').length, spans: el2.shadowRoot!.querySelectorAll('.b, .c').length };
        requestAnimationFrame(() => setTimeout(() => res({ ...at, spansAfter: el2.shadowRoot!.querySelectorAll('.b, .c').length })));
      }, { once: true }));
      el.src = el2.src = src;
      document.body.replaceChildren(el, el2);
      return { first: await atLoad, second: await later, text: el.text === el2.text };
    }, sparse.uri);
    // Selecting needs the spans: they are made there and then (4 bytes, hex and character each).
    expect(r.first.spans).toBe(0);
    expect(r.first.selected).toBe(8);
    expect(r.first.spansAfter).toBeGreaterThan(32 * 10);
    // Left alone, the first screen is text at nbd-load and has its spans once painted.
    expect(r.second.spans).toBe(0);
    expect(r.second.spansAfter).toBeGreaterThan(32 * 10);
    expect(r.text).toBe(true);
    await p2.close();
  });

  it('a click on a row still drawn as text selects the byte under the pointer', async () => {
    const { page: p2 } = await embed(sites['true']!, {});
    const r = await p2.evaluate(async (src) => {
      const el = document.createElement('nbd-hexdump');
      el.setAttribute('length', 'all');
      el.setAttribute('offset', '4096');
      const picked = new Promise<unknown>((res) => el.addEventListener('nbd-load', () => {
        const row = el.shadowRoot!.querySelector('.row')!;
        const spans = row.querySelectorAll('.b').length;
        // The second byte's hex digits: columns 13-14 of "00001000  xx xx ...", in the row's text node.
        const text = [...row.childNodes].find((n) => n.nodeType === Node.TEXT_NODE && (n.textContent ?? '').length > 20)!;
        const range = document.createRange();
        const at = (row.textContent ?? '').indexOf(' ', 8) + 5 - (row.firstChild!.textContent ?? '').length;
        range.setStart(text, at);
        range.setEnd(text, at + 1);
        const box = range.getBoundingClientRect();
        row.dispatchEvent(new PointerEvent('pointerdown', { bubbles: true, composed: true, button: 0, clientX: box.x + box.width / 2, clientY: box.y + box.height / 2 }));
        res({ spans, selection: el.selection && [String(el.selection.start), String(el.selection.end)], selected: el.shadowRoot!.querySelectorAll('.sel').length });
      }, { once: true }));
      el.src = src;
      document.body.replaceChildren(el);
      return picked;
    }, sparse.uri);
    expect(r).toEqual({ spans: 0, selection: ['4097', '4098'], selected: 2 });
    await p2.close();
  });

  it('goes to the end with End: the last line is the closing offset 1 TiB', async () => {
    await page.focus('nbd-hexdump');
    await page.keyboard.press('End');
    await settle();
    const s = await state();
    expect(s.text.trimEnd().split('\n').pop()).toBe('10000000000');
    await page.keyboard.press('Home');
    await settle();
    expect((await state()).position).toBe('0');
  });

  it('squeezes a hole into one zero line and "*" without reading it', async () => {
    // The first hole of at least 1 GiB, as nbdinfo --map sees it.
    const map = execFileSync('nbdinfo', ['--map', `nbd://127.0.0.1:${sparse.nbd.port}/`]).toString();
    const hole = map.split('\n').map((l) => l.trim().split(/\s+/)).find((f) => f[2] === '3' && BigInt(f[1]!) >= 1n << 30n)!;
    const [start, length] = [BigInt(hole[0]!), BigInt(hole[1]!)];
    const before = (await state()).reads;
    await page.evaluate((at) => { document.querySelector('nbd-hexdump')!.position = BigInt(at); }, String(start));
    await settle();
    const s = await state();
    const lines = s.text.split('\n');
    const hex = (n: bigint) => n.toString(16).padStart(8, '0');
    expect(lines[0]).toBe(`${hex(start)}  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|`);
    expect(lines[1]).toBe('*');
    expect(lines[2]).toMatch(new RegExp(`^${hex(start + length)}  `));
    // Only the data after the hole (and read-ahead there) was read: no block of the hole.
    expect(s.reads - before).toBeLessThanOrEqual(8);
    // The data line after the hole is what the server holds there (read from Node, hexdumped).
    const h = create();
    await h.connectUri(`nbd://127.0.0.1:${sparse.nbd.port}/`);
    const bytes = new Uint8Array(16);
    await h.pread(bytes, start + length);
    await h.shutdown();
    const one = join(work, 'line.bin');
    writeFileSync(one, bytes);
    expect(lines[2]).toBe(hexdump(one, 0, 16).split('\n')[0]!.replace(/^0{8}/, hex(start + length)));
  });

  it('scrolls by wheel, keys and scroll bar; the cache stays bounded', async () => {
    await page.keyboard.press('Home');
    await settle();
    const box = (await page.locator('nbd-hexdump').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const p0 = BigInt((await state()).position);
    await page.keyboard.press('PageDown');
    const p1 = BigInt((await state()).position);
    expect(p1).toBeGreaterThan(p0);
    await page.mouse.wheel(0, 400);
    await page.waitForFunction((p) => BigInt(document.querySelector('nbd-hexdump')!.position) > BigInt(p), String(p1));
    await page.keyboard.press('ArrowUp');
    // Drag the scroll bar to the middle: the middle of the disk.
    await page.evaluate(() => {
      const sc = document.querySelector('nbd-hexdump')!.shadowRoot!.querySelector<HTMLElement>('[part~=scroller]')!;
      sc.scrollTop = (sc.scrollHeight - sc.clientHeight) / 2;
    });
    await page.waitForFunction((t) => BigInt(document.querySelector('nbd-hexdump')!.position) > BigInt(t) / 3n, String(T));
    await settle();
    const mid = BigInt((await state()).position);
    expect(mid).toBeGreaterThan((T * 49n) / 100n);
    expect(mid).toBeLessThan((T * 51n) / 100n);
    // Reading many blocks never keeps more than the cache's bound.
    const cached = await page.evaluate(async () => {
      const d = document.querySelector('nbd-hexdump')!.disk!;
      const runs = d.extents.runs.filter((r) => r.flags === 0).slice(0, 40);
      for (const r of runs) for (let i = 0; i < 10; i++) await d.block(Number(r.start / 65536n) + i);
      return d.cached;
    });
    expect(cached).toBeLessThanOrEqual(256);
    await page.screenshot({ path: join(shots, 'component-1tib.png') });
  });
});

describe('theming', () => {
  it('takes custom properties and ::part() rules, light and dark', async () => {
    const colours: Record<string, unknown> = {};
    for (const scheme of ['light', 'dark'] as const) {
      const { page } = await embed(sites['true']!, { src: plain.uri, length: '256' }, { colorScheme: scheme });
      // The element follows the page's colour scheme; this page takes the reader's.
      await page.addStyleTag({ content: ':root { color-scheme: light dark; }' });
      await page.screenshot({ path: join(shots, `component-${scheme}.png`) });
      colours[scheme] = await page.evaluate(() => {
        const el = document.querySelector('nbd-hexdump')!;
        const cs = (e: Element) => getComputedStyle(e);
        const plainBg = cs(el).backgroundColor;
        const style = document.createElement('style');
        style.textContent = 'nbd-hexdump { --nbd-hexdump-color: rgb(1, 2, 3); } nbd-hexdump::part(offset) { color: rgb(200, 0, 0); }';
        document.head.append(style);
        const row = el.shadowRoot!.querySelector('[part~=row]')!;
        return { plainBg, themed: cs(row).color, offset: cs(el.shadowRoot!.querySelector('[part~=offset]')!).color };
      });
      await page.screenshot({ path: join(shots, `component-${scheme}-themed.png`) });
    }
    expect(colours['light']).toMatchObject({ themed: 'rgb(1, 2, 3)', offset: 'rgb(200, 0, 0)' });
    expect(colours['dark']).toMatchObject({ themed: 'rgb(1, 2, 3)', offset: 'rgb(200, 0, 0)' });
    expect((colours['light'] as { plainBg: string }).plainBg).not.toBe((colours['dark'] as { plainBg: string }).plainBg);
  });
});
