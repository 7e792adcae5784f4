// How the inspector talks about connections: the listing connection says NBD_OPT_ABORT to
// qemu-nbd before it goes; a lost connection is said in plain words within seconds, without a
// read to reveal it, and given up once reconnecting has failed; a missing export, a raw NBD port and a TLS-scheme mismatch each in their words.

import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startBridge, type Bridge } from '../../bridge/bridge.js';
import { CHROMIUM_ARGS, launch, serveDist, type Site } from '../support/browser.js';
import { startNbdkit, startQemuNbd } from '../support/servers.js';
import { work } from '../support/inspector-fixtures.js';

let site: Site;
const bridges: Bridge[] = [];
beforeAll(async () => { site = await serveDist(true); });
afterAll(async () => {
  await Promise.all(bridges.map((b) => b.close()));
  await (await launch()).close();
  await site.close();
});

async function bridge(port: number, tls?: { cert: string; key: string }): Promise<Bridge> {
  const b = await startBridge({ target: { host: '127.0.0.1', port }, origins: [site.origin], ...(tls ?? {}) });
  bridges.push(b);
  return b;
}

async function open(src: string, browser?: Browser): Promise<Page> {
  const page = await (browser ?? (await launch())).newPage();
  await page.goto(`${site.origin}/index.html?${new URLSearchParams({ src })}`);
  return page;
}

const error = (page: Page, re: RegExp, timeout = 15_000) => page.waitForFunction((s) => new RegExp(s).test(document.querySelector('#error')!.textContent ?? ''), re.source, { timeout })
  .catch(async () => expect(await page.textContent('#error')).toMatch(re));

it('the listing connection ends with NBD_OPT_ABORT: qemu-nbd logs no "Failed to read opts magic"', async () => {
  const img = join(work, 'qemu.img');
  writeFileSync(img, Buffer.alloc(4 << 20, 1));
  const q = await startQemuNbd(img, { format: 'raw', readOnly: true, shared: 8 });
  const b = await bridge(q.port!);
  const page = await open(b.uris[0]!);
  await page.waitForFunction(() => /size: 4194304/.test(document.querySelector('#info pre')!.textContent ?? ''), null, { timeout: 20_000 });
  await page.waitForFunction(() => document.querySelector('nbd-hexdump')!.dataset['state'] === 'loaded');
  await page.close();
  await new Promise((r) => setTimeout(r, 2000));
  expect(q.log()).not.toMatch(/Failed to read opts magic|Unexpected end-of-file|Disconnect client, due to/);
});

it('a lost connection is said in plain words within seconds, without a read; given up after the reconnection bound', async () => {
  const s = await startNbdkit(['-r', 'memory', '1M']);
  const b = await bridge(s.port!);
  const page = await open(b.uris[0]!);
  await page.waitForFunction(() => document.querySelector('nbd-hexdump')!.dataset['state'] === 'loaded', null, { timeout: 20_000 });
  await s.stop();
  await error(page, /^The connection to nbd\+ws:\/\/.* was lost; reconnecting \(attempt \d of 6\)…$/, 10_000);
  await error(page, /^The connection to nbd\+ws:\/\/.* was lost: the bridge or the NBD server went away\. Press Connect to connect again\.( \(.*\))?$/, 40_000);
  // Scrolling now must not bring libnbd's words back.
  await page.focus('nbd-hexdump');
  await page.keyboard.press('End');
  await page.waitForTimeout(1500);
  expect(await page.textContent('#error')).not.toMatch(/invalid state|DEAD/);
  expect(await page.evaluate(() => document.querySelector('nbd-hexdump')!.shadowRoot!.textContent)).not.toMatch(/invalid state|DEAD/);
});

it('a missing export is named, the default export as such', async () => {
  const s = await startNbdkit(['-r', '--filter=exportname', 'memory', '1M', 'exportname=only', 'exportname-strict=true']);
  const b = await bridge(s.port!);
  const page = await open(b.uris[0]!.replace(/\/\?/, '/nope?'));
  await error(page, /^The server has no export named “nope”\./);
  await page.goto(`${site.origin}/index.html?${new URLSearchParams({ src: b.uris[0]! })}`);
  await error(page, /^The server has no default export\./);
});

it('a raw NBD port and a TLS-scheme mismatch are told apart from "refused"', async () => {
  const s = await startNbdkit(['-r', 'memory', '1M']);
  const page = await open(`nbd+ws://127.0.0.1:${s.port}/`);
  await error(page, /^Could not connect to the bridge to nbd\+ws:\/\/127\.0\.0\.1:\d+\/\. .* If that address is an NBD server itself rather than a bridge, put `webnbd bridge` in front of it\.$/);
  expect(await page.textContent('#error')).not.toMatch(/refused/i);
  // A bridge with TLS, reached as nbd+ws://, and one without, reached as nbds+wss://.
  const cert = join(work, 'cert.pem');
  const key = join(work, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const spki = createHash('sha256').update(new X509Certificate(readFileSync(cert)).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
  const trusting = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${spki}`] });
  try {
    const secure = await bridge(s.port!, { cert, key });
    const plain = await bridge(s.port!);
    const port = (u: string) => new URL(u.replace(/^[a-z+]+:/, 'http:')).port;
    // The token goes with the probe: without it, neither bridge answers at all.
    const p1 = await open(`nbd+ws://127.0.0.1:${port(secure.uris[0]!)}/?token=${secure.token}`, trusting);
    await error(p1, new RegExp(`A bridge answers there with TLS: use nbds\\+wss://127\\.0\\.0\\.1:${port(secure.uris[0]!)}/\\?token=${secure.token}$`));
    const p2 = await open(`nbds+wss://127.0.0.1:${port(plain.uris[0]!)}/?token=${plain.token}`, trusting);
    await error(p2, new RegExp(`A bridge answers there without TLS: use nbd\\+ws://127\\.0\\.0\\.1:${port(plain.uris[0]!)}/\\?token=${plain.token}$`));
  } finally {
    await trusting.close();
  }
});
