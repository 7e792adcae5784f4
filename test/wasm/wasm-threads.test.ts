// Programs with pthreads, built with -pthread: wasm/tests/threads.c (a handle per thread with
// many commands in flight and its own poll() loop; one handle shared by threads, each with its
// own last error; a thread in pause() while main returns) prints in Chromium, on a cross-origin
// isolated page, what it prints natively.
// Without -pthread, pthread_create fails and says how to get threads; a -pthread build on a page
// that is not isolated stops with the reason.

import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { launch, serveDist } from '../support/browser.js';
import { buildNative, buildWasm, runNative, runWasm, serveUnix } from '../support/wasm.js';

const exec = promisify(execFile);

const THREADS = 'wasm/tests/threads.c';
let built: Record<string, string>;

beforeAll(async () => {
  const [native, threaded, plain] = await Promise.all([
    buildNative(THREADS, ['-pthread']), buildWasm(THREADS, ['-pthread']), buildWasm(THREADS),
  ]);
  built = { native, threaded, plain };
}, 300_000);

describe('threads', () => {
  it('threads-program-prints-what-it-prints-natively', async () => {
    const { socket, url } = await serveUnix(['memory', '16M']);
    const want = await runNative(built.native!, [socket]);
    const got = await runWasm(built.threaded!, 'threads', [url]);
    expect(want.stdout).toContain('one handle per thread: 4 threads, 4000 requests, most in flight 32, bad blocks 0');
    expect(got).toEqual(want);
  }, 60_000);

  it('without-pthread-pthread-create-fails-and-says-why', async () => {
    const { url } = await serveUnix(['memory', '16M']);
    const got = await runWasm(built.plain!, 'threads', [url]);
    expect(got.status).toBe(1);
    expect(got.stderr).toBe('webnbd: pthread_create: this program was compiled without threads: compile it with -pthread (webnbd cc FILE.c -pthread, or webnbd run-wasm --emcc=-pthread FILE.c) and run it on a cross-origin isolated page\npthread_create: Resource temporarily unavailable\n');
  });
});

describe('pages', () => {
  /** Open the page `webnbd cc` wrote and wait for its exit line. */
  async function output(url: string): Promise<{ text: string; isolated: boolean }> {
    const page = await (await launch()).newPage();
    try {
      await page.goto(url);
      await page.waitForFunction(() => /exit status \d+\]/.test(document.querySelector('pre')?.textContent ?? ''), null, { timeout: 60_000 })
        .catch(async (e: Error) => { throw new Error(`${e.message}\nthe page shows:\n${(await page.textContent('pre').catch(() => null)) ?? '(nothing)'}`); });
      return { text: (await page.textContent('pre')) ?? '', isolated: await page.evaluate(() => crossOriginIsolated) };
    } finally {
      await page.close();
    }
  }

  it('cc-page-runs-threads-where-isolated-and-says-why-not-elsewhere', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'webnbd-cc-threads-'));
    await exec('node', ['bin/webnbd.js', 'cc', THREADS, '-pthread', '-o', join(dir, 'threads.js')]);
    const { url } = await serveUnix(['memory', '16M']);
    const [isolated, plain] = await Promise.all([serveDist(true, dir), serveDist(false, dir)]);
    try {
      const page = `/threads.html?arg=${encodeURIComponent(url)}`;
      const good = await output(isolated.origin + page);
      expect(good.isolated).toBe(true);
      expect(good.text).toContain('one handle per thread: 4 threads, 4000 requests, most in flight 32, bad blocks 0\n');
      expect(good.text).toContain('[exit status 0]');
      const bad = await output(plain.origin + page);
      expect(bad.isolated).toBe(false);
      expect(bad.text).toMatch(/\[cannot start .*threads\.js: it was compiled with -pthread, and threads need a cross-origin isolated page \(.*\), exit status 1\]/);
    } finally {
      await Promise.all([isolated.close(), plain.close()]);
    }
  }, 120_000);
});
