// `npm start` as the README describes it: the sample disk's sector 0 appears in a browser, and
// Ctrl-C stops everything it started.

import { spawn, execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { launch } from '../support/browser.js';

const running = (pattern: string): string[] => {
  try {
    return execFileSync('pgrep', ['-f', pattern]).toString().trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

it('npm start shows the sample disk\'s sector 0 and Ctrl-C stops everything', async () => {
  const child = spawn('node', ['build/web/cli/start.js', '--port', '0', '--no-open'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b));
  child.stderr.on('data', (b: Buffer) => (out += b));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no URL printed:\n${out}`)), 30_000);
    child.stdout.on('data', () => {
      const m = /inspector at (http:\S+)/.exec(out);
      if (m) { clearTimeout(t); resolve(m[1]!); }
    });
  });
  const src = decodeURIComponent(new URL(url).searchParams.get('src')!);
  expect(src).toMatch(/^nbd\+ws:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{32}$/);
  const browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(url);
  // The inspector's hexdump shows the whole disk from sector 0; its .text is the rows on screen.
  await page.waitForFunction(() => document.querySelector('nbd-hexdump')?.dataset['state'] === 'loaded', null, { timeout: 20_000 });
  const shown = await page.evaluate(() => document.querySelector('nbd-hexdump')!.text);
  // Sector 0 of a GPT disk: a protective MBR (partition type 0xee) and the 55 aa signature.
  expect(shown).toMatch(/^000001c0  .. .. ee /m);
  expect(shown).toMatch(/^000001f0  00 00 00 00 00 00 00 00  00 00 00 00 00 00 55 aa  \|..............U.\|$/m);
  // The same bytes read independently on the same origin, as hexdump -C prints them.
  await page.goto(new URL('/lab.html', url).href);
  await page.waitForFunction(() => 'webnbd' in window);
  const again = await page.evaluate(async (u) => {
    const h = window.webnbd.create();
    await h.connectUri(u);
    const b = window.webnbd.allocBuffer(512);
    await h.pread(b, 0);
    return window.webnbd.hexdumpC(b);
  }, src);
  // Sector 0's rows on screen are hexdump -C's for it (without its closing offset line).
  const lines = shown.split('\n');
  const rows = lines.slice(0, lines.findIndex((l) => l !== '*' && !(/^[0-9a-f]{8}  /.test(l) && BigInt(`0x${l.slice(0, 8)}`) < 0x200n)));
  expect(rows.join('\n') + '\n').toBe(again.replace(/^00000200\n$/m, ''));
  await page.close();
  const pids = running('linuxdisk');
  expect(pids.length).toBeGreaterThan(0);
  child.kill('SIGINT');
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  expect(code).toBe(0);
  expect(running('webnbd-sample')).toEqual([]);
}, 90_000);
