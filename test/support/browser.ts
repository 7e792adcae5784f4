// Real Chromium (Debian's, via playwright-core) and dist/ served on loopback, with or without
// the headers that make a page cross-origin isolated.

import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll } from 'vitest';
import type { Webnbd } from '../../web/pages/lab.js';
import type {} from '../../web/components/nbd-hexdump.js'; // <nbd-hexdump> in HTMLElementTagNameMap

declare global {
  interface Window { webnbd: Webnbd }
}

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json' };

export interface Site {
  origin: string;
  close(): Promise<void>;
}

/**
 * Serve dist/ (or `root`) on 127.0.0.1; `isolated` adds COOP/COEP so SharedArrayBuffer is
 * available; `headers` go on every response.
 */
export function serveDist(isolated: boolean, root = 'dist', headers: Record<string, string> = {}): Promise<Site> {
  const server: Server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    if (isolated) {
      res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
      res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    }
    readFile(join(root, path)).then((data) => {
      res.setHeader('Content-Type', TYPES[extname(path)] ?? 'application/octet-stream');
      res.end(data);
    }, () => {
      res.statusCode = 404;
      res.end();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    resolve({ origin: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) });
  }));
}

let browser: Browser | null = null;

/** One Chromium per test file, closed when the file ends. */
export async function launch(): Promise<Browser> {
  if (!browser) {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    afterAll(async () => { await browser?.close(); browser = null; });
  }
  return browser;
}

/** A page of the lab (window.webnbd), with page errors collected so tests can assert none happened. */
export async function labPage(site: Site): Promise<{ page: Page; errors: string[] }> {
  const page = await (await launch()).newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${site.origin}/lab.html`);
  await page.waitForFunction(() => 'webnbd' in window);
  return { page, errors };
}
