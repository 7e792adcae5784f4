// Programs compiled for the browser run from ordinary pages, with no cross-origin isolation:
// the page and runtime that `webnbd cc` writes beside the program, and dist/wasm.html, the
// example page Vite builds, each serving libnbd's get-size example.

import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { launch, serveDist } from '../support/browser.js';
import { startNbdkit, startWebsockify } from '../support/servers.js';
import { buildWasm } from '../support/wasm.js';

const exec = promisify(execFile);
const EXAMPLE = 'wasm/examples/get-size.c';

async function bridge(): Promise<string> {
  const nbd = await startNbdkit(['memory', '1M']);
  return (await startWebsockify({ port: nbd.port! })).url;
}

/** Open the page, wait for the program's exit line, return what the page shows. */
async function output(url: string): Promise<string> {
  const page = await (await launch()).newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    await page.goto(url);
    await page.waitForFunction(() => /exit status \d+\]/.test(document.querySelector('pre')?.textContent ?? ''), null, { timeout: 30_000 });
    expect(errors).toEqual([]);
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(false);
    return (await page.textContent('pre')) ?? '';
  } finally {
    await page.close();
  }
}

describe('pages', () => {
  it('cc-writes-a-page-that-runs-the-program', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'webnbd-cc-'));
    await exec('node', ['bin/webnbd.js', 'cc', EXAMPLE, '-o', join(dir, 'get-size.js')]);
    const [ws, site] = await Promise.all([bridge(), serveDist(false, dir)]);
    try {
      const text = await output(`${site.origin}/get-size.html?arg=${encodeURIComponent(ws)}`);
      expect(text).toContain(`${ws}: size = 1048576 bytes\n`);
      expect(text).toContain('[exit status 0]');
    } finally {
      await site.close();
    }
  }, 120_000);

  it('example-page-runs-a-compiled-program', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'webnbd-page-'));
    cpSync('dist', dir, { recursive: true });
    const js = await buildWasm(EXAMPLE);
    cpSync(js, join(dir, 'get-size.js'));
    cpSync(js.replace(/\.js$/, '.wasm'), join(dir, 'get-size.wasm'));
    const [ws, site] = await Promise.all([bridge(), serveDist(false, dir)]);
    try {
      const text = await output(`${site.origin}/wasm.html?program=get-size.js&arg=${encodeURIComponent(ws)}&run`);
      expect(text).toContain(`${ws}: size = 1048576 bytes\n`);
      expect(text).toContain('[exit status 0]');
    } finally {
      await site.close();
    }
  }, 120_000);
});
