// Security in Chromium: a page from an origin the bridge does not allow cannot connect, nor can a
// wrong token; strings from a server (export names and descriptions, an export name qemu-nbd
// echoes in its error, the bytes of the disk) stay text in <nbd-hexdump> and in the inspector;
// and javascript: or data: URIs, from the URL or typed in, are refused, never followed.

import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBridge, type Bridge } from '../../bridge/bridge.js';
import { launch, labPage, serveDist, type Site } from '../support/browser.js';
import { startNbdkit, startQemuNbd, startWebsockify, type NbdServer } from '../support/servers.js';

/** A copy of dist/ that stays put while other test runs rebuild dist/. */
const pages = join(mkdtempSync(join(tmpdir(), 'webnbd-pages-')), 'dist');
cpSync('dist', pages, { recursive: true });

const HOSTILE = '<img src=x onerror="window.__pwned=1">';
const dir = mkdtempSync(join(tmpdir(), 'webnbd-security-browser-'));
const bridges: Bridge[] = [];
let site: Site;
let nbd: NbdServer;
beforeAll(async () => {
  site = await serveDist(true, pages);
  nbd = await startNbdkit(['pattern', '1M']);
});
afterAll(async () => {
  await Promise.all(bridges.map((b) => b.close()));
  await site.close();
});

async function bridge(opts: Parameters<typeof startBridge>[0]): Promise<Bridge> {
  const b = await startBridge(opts);
  bridges.push(b);
  return b;
}

/** Connect from the lab page: the size on success, else the error code. */
const connectFrom = (page: Page, uri: string) => page.evaluate(async (u) => {
  const h = window.webnbd.create();
  try {
    await h.connectUri(u);
    return String(h.getSize());
  } catch (e) {
    return (e as { code: string }).code;
  } finally {
    h.close();
  }
}, uri);

describe('who may connect', () => {
  it('a-page-from-an-origin-the-bridge-does-not-allow-cannot-connect', async () => {
    const foreign = await bridge({ target: { host: '127.0.0.1', port: nbd.port! }, origins: ['https://app.example'] });
    const allowed = await bridge({ target: { host: '127.0.0.1', port: nbd.port! }, origins: [site.origin] });
    const { page } = await labPage(site);
    expect(await connectFrom(page, foreign.uris[0]!)).toBe('ECONNREFUSED');
    expect(await connectFrom(page, allowed.uris[0]!)).toBe('1048576'); // the control
  });

  it('a-wrong-token-cannot-connect', async () => {
    const tokens = join(dir, 'tokens');
    writeFileSync(tokens, `good: 127.0.0.1:${nbd.port}\n`);
    const b = await bridge({ target: { tokenFile: tokens }, origins: [site.origin] });
    const { page } = await labPage(site);
    expect(await connectFrom(page, `nbd+ws://127.0.0.1:${b.port}/?token=bad`)).toMatch(/^E[A-Z]+$/);
    expect(await connectFrom(page, `nbd+ws://127.0.0.1:${b.port}/`)).toMatch(/^E[A-Z]+$/);
    expect(await connectFrom(page, `nbd+ws://127.0.0.1:${b.port}/?token=good`)).toBe('1048576');
  });
});

/** Open a page of dist/, wait for `ready`, and report what it shows. */
async function show(path: string, ready: string) {
  const page = await (await launch()).newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${site.origin}/${path}`);
  await page.waitForFunction(ready);
  return { page, errors, ...await report(page) };
}

/** What the page shows, and anything markup could have made: elements, a handler run, a link. */
const report = (page: Page) => page.evaluate(() => {
  const el = document.querySelector('nbd-hexdump');
  const root = el?.shadowRoot;
  const visible = (sel: string) => { const e = document.querySelector<HTMLElement>(sel); return e && !e.hidden ? e.textContent ?? '' : null; };
  return {
    state: el?.dataset['state'] ?? null,
    status: root?.querySelector('[part=status]')?.textContent ?? '',
    statusChildren: root?.querySelector('[part=status]')?.children.length ?? 0,
    text: el?.text ?? '',
    error: visible('#error'),
    exports: document.querySelector('#exports ul')?.textContent ?? null,
    info: document.querySelector('#info pre')?.textContent ?? null,
    main: visible('main') !== null,
    imgs: (root?.querySelectorAll('img').length ?? 0) + document.querySelectorAll('img').length,
    pwned: (window as unknown as { __pwned?: number }).__pwned ?? null,
    scriptLinks: [...document.querySelectorAll('a[href]')].map((a) => a.getAttribute('href')!).filter((h) => /^\s*(javascript|data):/i.test(h)),
    location: location.pathname,
  };
});

const SETTLED = `['error', 'loaded'].includes(document.querySelector('nbd-hexdump')?.dataset.state ?? '')`;
const safe = (r: { imgs: number; pwned: number | null; scriptLinks: string[]; errors: string[] }) => {
  expect(r.imgs).toBe(0);
  expect(r.pwned).toBeNull();
  expect(r.scriptLinks).toEqual([]);
  expect(r.errors).toEqual([]);
};

describe('strings from a server never become HTML', () => {
  let ws: { port: number };
  beforeAll(async () => {
    const file = join(dir, 'disk.img');
    writeFileSync(file, Buffer.alloc(65536));
    // qemu-nbd serves an export named, and described, with markup.
    const qemu = await startQemuNbd(file, { exportName: HOSTILE, description: HOSTILE });
    ws = await startWebsockify({ port: qemu.port! });
  });

  it('an-export-name-echoed-in-a-qemu-nbd-error-is-text-in-nbd-hexdump-and-the-inspector', async () => {
    // Asked for an export it lacks, qemu-nbd answers "export '<name>' not present", quoting the name.
    const src = `nbd+ws://127.0.0.1:${ws.port}/${encodeURIComponent(`${HOSTILE}2`)}`;
    const embed = await show(`embed.html?src=${encodeURIComponent(src)}`, SETTLED);
    expect(embed.state).toBe('error');
    expect(embed.status).toContain(`(server: export '${HOSTILE}2' not present)`);
    expect(embed.statusChildren).toBe(0);
    safe(embed);
    const inspector = await show(`index.html?src=${encodeURIComponent(src)}`, `!document.querySelector('#error').hidden`);
    await inspector.page.waitForFunction(SETTLED);
    const r = { ...inspector, ...await report(inspector.page) };
    expect(r.error).toContain(`export '${HOSTILE}2' not present`);
    expect(r.status).toContain(`export '${HOSTILE}2' not present`);
    safe(r);
  });

  it('the-inspector-shows-export-names-and-descriptions-as-text', async () => {
    const src = `nbd+ws://127.0.0.1:${ws.port}/${encodeURIComponent(HOSTILE)}`;
    const r = await show(`index.html?src=${encodeURIComponent(src)}`, `document.querySelector('#info pre')?.textContent && document.querySelector('#exports ul')?.textContent`);
    expect(r.exports).toContain(HOSTILE);
    expect(r.info).toContain(HOSTILE);
    safe(r);
  });

  it('disk-bytes-that-look-like-markup-are-dumped-as-characters', async () => {
    const file = join(dir, 'markup.img');
    const data = Buffer.alloc(4096);
    data.write(HOSTILE.repeat(4), 0, 'latin1');
    writeFileSync(file, data);
    const served = await startNbdkit(['file', file]);
    const plain = await startWebsockify({ port: served.port! });
    const r = await show(`embed.html?src=${encodeURIComponent(`nbd+ws://127.0.0.1:${plain.port}/`)}&length=256`, SETTLED);
    expect(r.state).toBe('loaded');
    expect(r.text).toContain('|<img src=x onerr|');
    safe(r);
  });
});

describe('javascript: and data: URIs are refused, never followed', () => {
  const uris = ['javascript://%0Awindow.__pwned=1', 'data:text/html,<script>window.__pwned=1</script>'];

  it.each(uris)('inspector-refuses: %s', async (src) => {
    // From the URL, and typed into the connect form.
    const r = await show(`index.html?src=${encodeURIComponent(src)}`, `!document.querySelector('#error').hidden`);
    expect(r.error).toMatch(/^Only nbd\+ws:\/\/ and nbds\+wss:\/\/ URIs can be opened here \(not (javascript|data):\)/);
    expect(r.main).toBe(false);
    expect(r.location).toBe('/index.html');
    safe(r);
    await r.page.evaluate(() => document.querySelector<HTMLElement>('#error')!.toggleAttribute('hidden', true));
    await r.page.fill('#connect input[name=src]', src);
    await r.page.click('#connect button');
    await r.page.waitForFunction(`!document.querySelector('#error').hidden`);
    const typed = { ...r, ...await report(r.page) };
    expect(typed.error).toMatch(/URIs can be opened here \(not (javascript|data):\)/);
    expect(typed.location).toBe('/index.html');
    safe(typed);
  });

  it.each(uris)('nbd-hexdump-refuses: %s', async (src) => {
    const r = await show(`embed.html?src=${encodeURIComponent(src)}`, SETTLED);
    expect(r.state).toBe('error');
    expect(r.status).toMatch(/nbd_connect_uri: (unable to parse URI|unknown NBD URI scheme)/);
    expect(r.location).toBe('/embed.html');
    safe(r);
  });
});
