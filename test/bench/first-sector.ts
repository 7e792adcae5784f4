// Issue #5's figure: milliseconds from connecting to sector 0 on screen, for a 1 TiB sparse export
// (nbdkit sparse-random size=1T) through `webnbd bridge` on loopback. Each run is a fresh page:
// the worker starts, the WebSocket opens, NBD negotiates, block status and the first read go out
// together, and the clock stops at the first frame painted after <nbd-hexdump> fires nbd-load.
// `npm run bench` calls firstSector(); run it alone with
//   npx vitest run --config test/bench/first-sector.config.ts

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { startBridge } from '../../bridge/bridge.js';

export interface FirstSectorOptions {
  /** The built pages (default: dist/, as `npm run build` makes it). */
  site?: string;
  /** Fresh pages to time; the median is returned (default 9). */
  runs?: number;
  /** A browser to use (default: Debian's Chromium, launched and closed here). */
  browser?: Browser;
  /** Where a line per run goes. */
  log?: (line: string) => void;
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };

/** The pages on 127.0.0.1, cross-origin isolated (the SharedArrayBuffer path, as `npm start` serves them). */
async function servePages(root: string): Promise<{ origin: string; close(): void }> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    readFile(join(root, path)).then((data) => {
      res.setHeader('Content-Type', TYPES[extname(path)] ?? 'application/octet-stream');
      res.end(data);
    }, () => { res.statusCode = 404; res.end(); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { origin: `http://127.0.0.1:${port}`, close: () => { server.closeAllConnections(); server.close(); } };
}

/** The median time, in milliseconds, from setting src to sector 0 painted. */
export async function firstSector(opts: FirstSectorOptions = {}): Promise<number> {
  const runs = opts.runs ?? 9;
  const site = await servePages(resolve(opts.site ?? 'dist'));
  const bridge = await startBridge({ target: { command: ['nbdkit', '-r', 'sparse-random', 'size=1T', 'seed=1'] }, origins: [site.origin] });
  const browser = opts.browser ?? await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
  const times: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const page = await browser.newPage();
      await page.goto(`${site.origin}/embed.html`);
      await page.waitForFunction(() => customElements.get('nbd-hexdump') !== undefined);
      const r = await page.evaluate(async (src) => {
        const el = document.createElement('nbd-hexdump');
        el.setAttribute('length', 'all');
        const t0 = performance.now();
        const shown = new Promise<number>((res, rej) => {
          el.addEventListener('nbd-load', () => requestAnimationFrame(() => setTimeout(() => res(performance.now() - t0))), { once: true });
          el.addEventListener('nbd-error', (e) => rej(new Error((e as Event & { message: string }).message)), { once: true });
        });
        el.src = src;
        document.body.replaceChildren(el);
        const ms = await shown;
        return { ms, first: el.text.split('\n')[0] ?? '' };
      }, bridge.uris[0]!);
      if (!r.first.startsWith('00000000  ')) throw new Error(`sector 0 not shown: ${r.first}`);
      times.push(r.ms);
      opts.log?.(`first sector, run ${i + 1}: ${r.ms.toFixed(1)} ms`);
      await page.close();
    }
  } finally {
    if (!opts.browser) await browser.close();
    await bridge.close();
    site.close();
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}
