// webnbd in real Chromium: the handle in a Web Worker, through websockify to nbdkit. Reads land in
// SharedArrayBuffers on an isolated page and in transferred ArrayBuffers on a plain one; many reads
// in flight; the server dying mid-read fails every command (and nothing hangs).

import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labPage, serveDist, type Site } from '../support/browser.js';
import { startNbdkit, startWebsockify } from '../support/servers.js';

const SIZE = 4 << 20;
const disk = Buffer.alloc(SIZE);
for (let i = 0; i < SIZE; i += 4) disk.writeUInt32BE((i * 2654435761) >>> 0, i);
const file = join(mkdtempSync(join(tmpdir(), 'webnbd-browser-')), 'disk.img');
writeFileSync(file, disk);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let uri = '';
beforeAll(async () => {
  const nbd = await startNbdkit(['file', file]);
  const ws = await startWebsockify({ port: nbd.port! });
  uri = `nbd+ws://127.0.0.1:${ws.port}/`;
});

describe.each([true, false])('isolated page: %s', (isolated) => {
  let site: Site;
  beforeAll(async () => { site = await serveDist(isolated); });
  afterAll(() => site.close());

  it('reads a whole disk into the page\'s buffer, in the right kind of memory', async () => {
    const { page, errors } = await labPage(site);
    const r = await page.evaluate(async ([u, size]) => {
      const w = window.webnbd;
      const h = w.create();
      await h.connectUri(u);
      const buf = w.allocBuffer(size);
      const piece = 256 * 1024;
      await Promise.all(Array.from({ length: size / piece }, (_, i) => h.pread(buf.subarray(i * piece, (i + 1) * piece), i * piece)));
      const copy = new Uint8Array(size);
      copy.set(buf);
      const digest = await crypto.subtle.digest('SHA-256', copy);
      await h.shutdown();
      return {
        shared: buf.buffer instanceof (globalThis.SharedArrayBuffer ?? class {}),
        isolated: crossOriginIsolated,
        size: String(h.getSize()),
        sha: [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join(''),
        closed: h.aioIsClosed(),
      };
    }, [uri, SIZE] as const);
    expect(r).toEqual({ shared: isolated, isolated, size: String(SIZE), sha: sha(disk), closed: true });
    expect(errors).toEqual([]);
  });

  it('reads and completions go through the shared rings on isolated pages, are posted elsewhere or when asked, in order', async () => {
    const { page, errors } = await labPage(site);
    const r = await page.evaluate(async ([u, size]) => {
      const w = window.webnbd;
      // Count the worker's 'done' messages: each client adds its listener when it is made.
      const dones = new Map<object, number>();
      const add = Worker.prototype.addEventListener;
      Worker.prototype.addEventListener = function (this: Worker, type: string, fn: EventListenerOrEventListenerObject, o?: boolean | AddEventListenerOptions) {
        if (type === 'message') {
          const me = this;
          dones.set(me, 0);
          add.call(me, type, (e: Event) => { if ((e as MessageEvent<{ t: string }>).data.t === 'done') dones.set(me, dones.get(me)! + 1); }, o);
        }
        add.call(this, type, fn, o);
      } as typeof Worker.prototype.addEventListener;
      // And the reads the page posts: through the ring, a buffer's first read gives it to the worker.
      const cmds = new Map<object, number>();
      const post = Worker.prototype.postMessage as (this: Worker, m: unknown, transfer?: Transferable[]) => void;
      Worker.prototype.postMessage = function (this: Worker, m: { t: string }, transfer?: Transferable[]) {
        if (m.t === 'cmd') cmds.set(this, (cmds.get(this) ?? 0) + 1);
        post.call(this, m, transfer ?? []);
      } as typeof Worker.prototype.postMessage;
      const out = [];
      for (const how of ['ring', 'postMessage'] as const) {
        const client = new w.WorkerClient(undefined, { completions: how });
        const h = client.create();
        await h.connectUri(u);
        const buf = w.allocBuffer(size);
        const piece = 64 * 1024;
        const order: number[] = [];
        // Sequential and then many at once; each completion callback sees its own bytes landed.
        for (let i = 0; i < 8; i++) await h.pread(buf.subarray(i * piece, (i + 1) * piece), i * piece);
        await Promise.all(Array.from({ length: size / piece - 8 }, (_, j) => {
          const i = j + 8;
          return h.pread(buf.subarray(i * piece, (i + 1) * piece), i * piece).then(() => { order.push(i); });
        }));
        const copy = new Uint8Array(size);
        copy.set(buf);
        const digest = await crypto.subtle.digest('SHA-256', copy);
        await h.shutdown();
        out.push({ how: client.completions, reads: size / piece, completed: order.length, state: h.aioIsClosed(),
          sha: [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('') });
      }
      return { out, dones: [...dones.values()], cmds: [...dones.keys()].map((k) => cmds.get(k) ?? 0) };
    }, [uri, SIZE] as const);
    const reads = SIZE / (64 * 1024);
    expect(r.out).toEqual([
      { how: isolated ? 'ring' : 'postMessage', reads, completed: reads - 8, state: true, sha: sha(disk) },
      { how: 'postMessage', reads, completed: reads - 8, state: true, sha: sha(disk) },
    ]);
    // Through the ring the worker posted no 'done' at all; otherwise one per read.
    expect(r.dones).toEqual([isolated ? 0 : reads, reads]);
    expect(r.cmds).toEqual([isolated ? 1 : reads, reads]);
    expect(errors).toEqual([]);
  });

  it('keeps many reads in flight with aio cookies and completion callbacks on the page', async () => {
    const { page } = await labPage(site);
    const r = await page.evaluate(async (u) => {
      const w = window.webnbd;
      const h = w.create();
      await h.connectUri(u);
      const n = 512;
      const bufs = Array.from({ length: n }, () => w.allocBuffer(4096));
      const cookies = new Set<number>();
      let completed = 0;
      const errors: number[] = [];
      for (let i = 0; i < n; i++) {
        cookies.add(h.aioPread(bufs[i]!, ((i * 7919) % 1024) * 4096, (err: { value: number }) => { completed++; if (err.value) errors.push(err.value); return 1; }));
      }
      const maxInFlight = h.aioInFlight();
      while (h.aioInFlight() > 0) await h.poll();
      const firstWords = bufs.map((b) => new DataView(b.buffer, b.byteOffset).getUint32(0));
      h.close();
      return { distinct: cookies.size, minCookie: Math.min(...cookies), completed, errors, maxInFlight, firstWords };
    }, uri);
    expect(r.distinct).toBe(512);
    expect(r.minCookie).toBeGreaterThanOrEqual(1);
    expect(r.completed).toBe(512);
    expect(r.errors).toEqual([]);
    expect(r.maxInFlight).toBe(512);
    r.firstWords.forEach((word, i) => expect(word).toBe(disk.readUInt32BE(((i * 7919) % 1024) * 4096)));
  });

  it('fails every read in flight when the server dies (websockify closes 1000 "Target closed")', async () => {
    const slow = await startNbdkit(['--filter=delay', 'file', file, 'rdelay=3']);
    const ws = await startWebsockify({ port: slow.port! });
    const { page, errors } = await labPage(site);
    await page.evaluate(async (u) => {
      const w = window.webnbd;
      const h = w.create();
      (window as unknown as { h: unknown }).h = h;
      await h.connectUri(u);
      const guard = new Uint8Array(4096 + 64).fill(0xee);
      const bufs = Array.from({ length: 64 }, (_, i) => w.allocBuffer(4096 + 64).subarray(0, 4096).fill(i));
      (window as unknown as { result: Promise<unknown> }).result = Promise.allSettled(bufs.map((b, i) => h.pread(b, i * 4096))).then((rs) => ({
        codes: rs.map((r) => (r.status === 'rejected' ? (r.reason as { code: string }).code : 'ok')),
        dead: h.aioIsDead(),
        // Nothing was written past any buffer's end.
        tails: bufs.map((b) => new Uint8Array(b.buffer, b.byteOffset + 4096, 64).every((x) => x === 0)),
        guard: guard.every((x) => x === 0xee),
      }));
    }, `nbd+ws://127.0.0.1:${ws.port}/`);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    slow.kill('SIGKILL');
    const r = await page.evaluate(() => (window as unknown as { result: Promise<{ codes: string[]; dead: boolean; tails: boolean[]; guard: boolean }> }).result);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(r.codes).toEqual(Array(64).fill('ENOTCONN'));
    expect(r.dead).toBe(true);
    expect(r.tails.every(Boolean)).toBe(true);
    expect(r.guard).toBe(true);
    expect(errors).toEqual([]);
  });

  it('cancels a slow read with an AbortSignal; the page\'s buffer is not written afterwards', async () => {
    const slow = await startNbdkit(['--filter=delay', 'file', file, 'rdelay=1']);
    const ws = await startWebsockify({ port: slow.port! });
    const { page } = await labPage(site);
    const r = await page.evaluate(async (u) => {
      const w = window.webnbd;
      const h = w.create();
      await h.connectUri(u);
      const buf = w.allocBuffer(4096);
      const ac = new AbortController();
      const p = h.pread(buf, 0, 0, { signal: ac.signal }).then(() => 'ok', (e: { code: string }) => e.code);
      setTimeout(() => ac.abort(), 100);
      const code = await p;
      buf.fill(0xee);
      const timedOut = await h.pread(w.allocBuffer(512), 4096, 0, { timeout: 50 }).then(() => 'ok', (e: { code: string }) => e.code);
      await new Promise((res) => setTimeout(res, 1500));
      return { code, timedOut, untouched: buf.every((b) => b === 0xee), ready: h.aioIsReady() };
    }, `nbd+ws://127.0.0.1:${ws.port}/`);
    expect(r).toEqual({ code: 'ECANCELED', timedOut: 'ETIMEDOUT', untouched: true, ready: true });
  });

  it('reports a bridge that is not there as a clear error', async () => {
    const { page } = await labPage(site);
    const msg = await page.evaluate(async () => {
      const h = window.webnbd.create();
      return h.connectUri('nbd+ws://127.0.0.1:1/').then(() => 'connected', (e: Error & { code: string }) => `${e.code}: ${e.message}`);
    });
    expect(msg).toMatch(/^ECONNREFUSED: nbd_connect_uri: connect: ws:\/\/127\.0\.0\.1:1\/: could not connect to the bridge/);
  });
});

describe('libnbd 1.24 calls in a page', () => {
  let site: Site;
  beforeAll(async () => { site = await serveDist(true); });
  afterAll(() => site.close());

  it('tls-is-the-bridge-s-in-a-page-and-the-newer-calls-run-through-the-worker', async () => {
    const { page, errors } = await labPage(site);
    const got = await page.evaluate(async (u) => {
      const w = window.webnbd;
      const h = w.create();
      const fails = (f: () => unknown) => { try { f(); return 'no error'; } catch (e) { return `${(e as { code: string }).code}: ${(e as Error).message}`; } };
      const out: Record<string, unknown> = {
        version: h.getVersion(), tls: h.supportsTls(), isUri: [h.isUri('nbd+ws://h/'), h.isUri('disk.img')],
        setTls: fails(() => h.setTls(w.TLS_REQUIRE)),
        certificates: fails(() => h.setTlsCertificates('/etc/pki/libnbd')),
        nbds: await h.connectUri('nbds://127.0.0.1/').then(() => 'connected', (e: Error & { code: string }) => `${e.code}: ${e.message}`),
      };
      const g = w.create();
      g.setOptMode(true);
      await g.connectUri(u);
      const names: string[] = [];
      out['listed'] = [await g.optListMetaContextQueries(['base:'], (n: string) => void names.push(n)), names];
      out['extended'] = await g.optExtendedHeaders();
      out['starttls'] = await g.optStarttls().then(() => 'no error', (e: Error & { code: string }) => `${e.code}: ${e.message}`);
      await g.optGo();
      out['filter'] = await g.blockStatusFilter(4096, 0, ['base:allocation'], () => 0).then(() => 'no error', (e: Error & { code: string }) => e.code);
      out['poll2'] = await g.poll2(3, 0).then(() => 'no error', (e: Error & { code: string }) => e.code);
      await g.shutdown();
      return out;
    }, uri);
    const why = 'TLS is not supported here: in a browser, TLS is wss:// to the bridge (use an nbds+wss:// URI): Operation not supported';
    expect(got).toEqual({
      version: '1.24.0', tls: false, isUri: [true, false],
      setTls: `ENOTSUP: nbd_set_tls: ${why}`, certificates: `ENOTSUP: nbd_set_tls_certificates: ${why}`,
      nbds: `ENOTSUP: nbd_connect_uri: ${why}`,
      listed: [1, ['base:allocation']], extended: false, starttls: `ENOTSUP: nbd_opt_starttls: ${why}`,
      filter: 'ENOTSUP', poll2: 'ENOTSUP',
    });
    expect(errors).toEqual([]);
  });
});
