// Stale data in Chromium: regions of one buffer (a SharedArrayBuffer on an isolated page) are
// reused for reads that nbdkit fails (error filter, switched on by a file) and for reads the
// handle refuses once dead. Each failed read leaves its region zeroed: not the pattern put there,
// not the data of the previous read, and the bytes around the region untouched.

import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labPage, serveDist, type Site } from '../support/browser.js';
import { startNbdkit, startWebsockify } from '../support/servers.js';

/** A copy of dist/ that stays put while other test runs rebuild dist/. */
const pages = join(mkdtempSync(join(tmpdir(), 'webnbd-pages-')), 'dist');
cpSync('dist', pages, { recursive: true });

type Lab = { h: ReturnType<Window['webnbd']['create']>; big: Uint8Array };
const OLD = 0xa5;

describe.each([true, false])('isolated page: %s', (isolated) => {
  let site: Site;
  beforeAll(async () => { site = await serveDist(isolated, pages); });
  afterAll(() => site.close());

  it('reused-buffer-regions-show-zeros-after-failed-reads', async () => {
    const inject = join(mkdtempSync(join(tmpdir(), 'webnbd-stale-')), 'inject');
    const nbd = await startNbdkit(['--filter=error', 'pattern', '1M', 'error-pread-rate=100%', `error-pread-file=${inject}`]);
    const ws = await startWebsockify({ port: nbd.port! });
    const { page, errors } = await labPage(site);

    // One 256 KiB buffer; reads use the region [64 KiB, 128 KiB), the rest is a guard.
    const good = await page.evaluate(async ([uri, old]) => {
      const w = window.webnbd;
      const lab = { h: w.create(), big: w.allocBuffer(262144).fill(old) };
      (window as unknown as { lab: Lab }).lab = lab;
      await lab.h.connectUri(uri);
      const region = lab.big.subarray(65536, 131072);
      await lab.h.pread(region, 65536);
      const v = new DataView(region.buffer, region.byteOffset, region.byteLength);
      return {
        shared: lab.big.buffer instanceof (globalThis.SharedArrayBuffer ?? class {}),
        pattern: Array.from({ length: 8192 }, (_, i) => v.getBigUint64(i * 8) === BigInt(65536 + i * 8)).every(Boolean),
      };
    }, [`nbd+ws://127.0.0.1:${ws.port}/`, OLD] as const);
    expect(good).toEqual({ shared: isolated, pattern: true });

    /** Run a failing read on the region (after `prepare`); report how it ended and what the buffer shows. */
    const failedRead = (how: 'sync' | 'aio', prepare: 'pattern' | 'keep') => page.evaluate(async ([how, prepare, old]) => {
      const { h, big } = (window as unknown as { lab: Lab }).lab;
      const region = big.subarray(65536, 131072);
      if (prepare === 'pattern') region.fill(old);
      let outcome: string;
      if (how === 'sync') {
        outcome = await h.pread(region, 0).then(() => 'ok', (e: { code: string }) => e.code);
      } else {
        outcome = await new Promise<string>((resolve) => {
          h.aioPread(region, 0, (err: { value: number }) => { resolve(err.value ? `errno ${err.value}` : 'ok'); return 1; });
        });
      }
      return {
        outcome,
        zeros: region.every((b) => b === 0),
        guard: big.subarray(0, 65536).every((b) => b === old) && big.subarray(131072).every((b) => b === old),
      };
    }, [how, prepare, OLD] as const);

    writeFileSync(inject, '');
    // The region holds the previous read's data; then the pattern; by pread and by aio_pread.
    expect(await failedRead('sync', 'keep')).toEqual({ outcome: 'EIO', zeros: true, guard: true });
    expect(await failedRead('sync', 'pattern')).toEqual({ outcome: 'EIO', zeros: true, guard: true });
    expect(await failedRead('aio', 'pattern')).toEqual({ outcome: 'errno 5', zeros: true, guard: true });
    rmSync(inject);

    // Refused by a dead handle: zeroed all the same (libnbd zeroes before any check).
    nbd.kill('SIGKILL');
    const dead = await page.evaluate(async (old) => {
      const { h, big } = (window as unknown as { lab: Lab }).lab;
      while (!h.aioIsDead()) await h.poll(100).catch(() => 0);
      const region = big.subarray(65536, 131072).fill(old);
      const outcome = await h.pread(region, 0).then(() => 'ok', (e: Error) => e.message);
      return { outcome, zeros: region.every((b) => b === 0) };
    }, OLD);
    expect(dead.outcome).toMatch(/invalid state: DEAD/);
    expect(dead.zeros).toBe(true);
    expect(errors).toEqual([]);
  });
});
