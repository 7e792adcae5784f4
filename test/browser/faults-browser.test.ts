// Faults with real servers, in Chromium: the handle in the page's worker has 64 reads in flight
// through websockify when nbdkit, or websockify itself, is SIGKILLed. All reads fail within 1 s,
// each completion callback on the page runs once, and the handle is dead. An idle handle's page
// side learns of the death too.

import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labPage, serveDist, type Site } from '../support/browser.js';
import { startNbdkit, startWebsockify, type ServerProcess } from '../support/servers.js';

/** A copy of dist/ that stays put while other test runs rebuild dist/. */
const pages = join(mkdtempSync(join(tmpdir(), 'webnbd-pages-')), 'dist');
cpSync('dist', pages, { recursive: true });

type Outcome = { completions: Record<number, number[]>; frees: Record<number, number>; doneAt: number; dead: boolean; refused: string };

describe.each([true, false])('isolated page: %s', (isolated) => {
  let site: Site;
  beforeAll(async () => { site = await serveDist(isolated, pages); });
  afterAll(() => site.close());

  async function killMidRead(victim: 'nbdkit' | 'websockify') {
    const nbd = await startNbdkit(['--filter=delay', 'pattern', '64M', 'rdelay=10']);
    const ws = await startWebsockify({ port: nbd.port! });
    const { page, errors } = await labPage(site);
    await page.evaluate(async (uri) => {
      const w = window.webnbd;
      const h = w.create();
      await h.connectUri(uri);
      const completions: Record<number, number[]> = {};
      const frees: Record<number, number> = {};
      let completed = 0;
      let finish!: (at: number) => void;
      const all = new Promise<number>((r) => (finish = r));
      for (let i = 0; i < 64; i++) {
        let cookie = 0;
        cookie = h.aioPread(w.allocBuffer(4096), i * 4096, {
          callback: (err: { value: number }) => {
            (completions[cookie] ??= []).push(err.value);
            if (++completed === 64) finish(Date.now());
            return 1;
          },
          free: () => void (frees[cookie] = (frees[cookie] ?? 0) + 1),
        });
      }
      (window as unknown as { outcome: Promise<Outcome> }).outcome = all.then(async (doneAt) => {
        await new Promise((r) => setTimeout(r, 300)); // anything running twice would have by now
        return {
          completions, frees, doneAt, dead: h.aioIsDead(),
          refused: (() => { try { h.aioPread(w.allocBuffer(1), 0); return 'sent'; } catch (e) { return (e as Error).message; } })(),
        };
      });
    }, `nbd+ws://127.0.0.1:${ws.port}/`);
    await new Promise((r) => setTimeout(r, 300)); // let the requests reach nbdkit
    const t0 = Date.now();
    if (victim === 'nbdkit') nbd.kill('SIGKILL');
    else process.kill(-(ws as ServerProcess).pid, 'SIGKILL'); // websockify and its per-connection process
    const r = await page.evaluate(() => (window as unknown as { outcome: Promise<Outcome> }).outcome);
    // The page and this process read the same wall clock.
    const elapsed = r.doneAt - t0;
    console.log(`browser (isolated: ${isolated}), ${victim} killed: 64 reads failed ${elapsed} ms after the kill`);
    expect(elapsed).toBeLessThan(1000);
    expect(Object.keys(r.completions)).toHaveLength(64);
    for (const [cookie, errs] of Object.entries(r.completions)) {
      expect(errs, `cookie ${cookie}`).toHaveLength(1);
      expect(errs[0]).toBeGreaterThan(0);
      expect(r.frees[Number(cookie)]).toBe(1);
    }
    expect(r.dead).toBe(true);
    expect(r.refused).toMatch(/invalid state: DEAD/);
    expect(errors).toEqual([]);
  }

  it('nbdkit-killed-mid-read', () => killMidRead('nbdkit'));
  it('websockify-killed-mid-read', () => killMidRead('websockify'));

  it('an-idle-handle-on-the-page-sees-its-server-die', async () => {
    // Nothing in flight, nobody polling: the page's view of the handle must still follow the worker's.
    const nbd = await startNbdkit(['pattern', '1M']);
    const ws = await startWebsockify({ port: nbd.port! });
    const { page } = await labPage(site);
    await page.evaluate(async (uri) => {
      const h = window.webnbd.create();
      (window as unknown as { h: typeof h }).h = h;
      await h.connectUri(uri);
    }, `nbd+ws://127.0.0.1:${ws.port}/`);
    nbd.kill('SIGKILL');
    const seen = await page.evaluate(async () => {
      const h = (window as unknown as { h: ReturnType<Window['webnbd']['create']> }).h;
      for (let t = 0; t < 100 && !h.aioIsDead(); t++) await new Promise((r) => setTimeout(r, 20));
      return { dead: h.aioIsDead(), state: h.connectionState() };
    });
    expect(seen.dead, seen.state).toBe(true);
  });
});
