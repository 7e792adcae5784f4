// Whole disks out of and into Chromium (webnbd/browser's download() and upload()), through
// websockify to nbdkit: a 1 GiB sparse export into a file in the origin-private file system and
// back into a memory export, both checked against the server's bytes as nbdcopy reads them; all of
// a 1 TiB sparse export, data alone read and written; cancel; a read-only export refused. Hashes
// are SHA-256 of each MiB, then of those digests, so both sides hash a MiB at a time.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create } from '../../web/node/index.js';
import { CHROMIUM_ARGS, serveDist, type Site } from '../support/browser.js';
import { random } from '../support/data.js';
import { startNbdkit, startWebsockify, type NbdServer } from '../support/servers.js';

const MiB = 1 << 20;
const GiB = 1024 * MiB;
const TiB = 1024n * BigInt(GiB);

let site: Site;
// A profile on disk: the origin-private file system of an incognito context (Playwright's
// newContext) lives in memory, with a small quota.
let browser: BrowserContext;
beforeAll(async () => {
  site = await serveDist(true);
  browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'webnbd-transfer-profile-')), { executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});
afterAll(async () => {
  await browser?.close();
  await site.close();
});

/** A lab page (window.webnbd), with page errors collected. */
async function labPage(on: Site): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${on.origin}/lab.html`);
  await page.waitForFunction(() => 'webnbd' in window);
  return { page, errors };
}

/** nbdkit with `args`, and its nbd+ws:// URI through websockify. */
async function serve(args: string[]): Promise<{ nbd: NbdServer; ws: string }> {
  const nbd = await startNbdkit(args);
  const bridge = await startWebsockify({ port: nbd.port! });
  return { nbd, ws: `nbd+ws://127.0.0.1:${bridge.port}/` };
}

/** The MiB-wise SHA-256 of what nbdcopy reads from `uri` (Debian's libnbd: an independent reader). */
function serverHash(uri: string): Promise<{ size: number; hash: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('nbdcopy', [uri, '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const digests: Buffer[] = [];
    let piece = createHash('sha256');
    let inPiece = 0;
    let size = 0;
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      size += d.length;
      for (let at = 0; at < d.length;) {
        const n = Math.min(MiB - inPiece, d.length - at);
        piece.update(d.subarray(at, at + n));
        at += n;
        inPiece += n;
        if (inPiece === MiB) {
          digests.push(piece.digest());
          piece = createHash('sha256');
          inPiece = 0;
        }
      }
    });
    p.stderr.on('data', (d: Buffer) => (err += d));
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`nbdcopy ${uri} -: exit ${code}: ${err}`));
      if (inPiece) digests.push(piece.digest());
      resolve({ size, hash: createHash('sha256').update(Buffer.concat(digests)).digest('hex') });
    });
  });
}

/** The same hash, in the page, of a file in its origin-private file system. */
const pageHash = (page: Page, name: string) => page.evaluate(async (n) => {
  const root = await navigator.storage.getDirectory();
  const f = await (await root.getFileHandle(n)).getFile();
  const all = new Uint8Array(Math.ceil(f.size / (1 << 20)) * 32);
  for (let at = 0, i = 0; at < f.size; at += 1 << 20, i++) {
    all.set(new Uint8Array(await crypto.subtle.digest('SHA-256', await f.slice(at, at + (1 << 20)).arrayBuffer())), i * 32);
  }
  const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('');
  return { size: f.size, hash: hex(await crypto.subtle.digest('SHA-256', all)) };
}, name);

/** The page's JS heap plus ArrayBuffer memory, after a collection; or sampled without one, for peaks. */
async function pageMemory(cdp: CDPSession, collect: boolean): Promise<number> {
  if (collect) await cdp.send('HeapProfiler.collectGarbage');
  const u = await cdp.send('Runtime.getHeapUsage') as { usedSize: number; backingStorageSize?: number };
  return u.usedSize + (u.backingStorageSize ?? 0);
}

/** Connections nbdkit's log filter saw open and close. */
function connections(log: string): { opened: number; closed: number } {
  const text = readFileSync(log, 'utf8');
  return { opened: (text.match(/ Connect export=/g) ?? []).length, closed: (text.match(/ Disconnect transactions=/g) ?? []).length };
}

describe('1 GiB sparse export: out to a file and back in', () => {
  let source: { nbd: NbdServer; ws: string };
  let page: Page;
  let errors: string[];
  let want: { size: number; hash: string };

  beforeAll(async () => {
    source = await serve(['-r', 'sparse-random', 'size=1G', 'seed=7']);
    ({ page, errors } = await labPage(site));
    want = await serverHash(source.nbd.uri);
  });

  it('downloads into the origin-private file system, zeroes not read, with progress and bounded memory', async () => {
    const cdp = await page.context().newCDPSession(page);
    const base = await pageMemory(cdp, true);
    let peak = 0;
    const sampler = setInterval(() => void pageMemory(cdp, false).then((m) => { peak = Math.max(peak, m - base); }, () => {}), 100);
    const r = await page.evaluate(async (uri) => {
      const w = window.webnbd;
      const sink = await w.privateFile('sparse-1g.img');
      const seen: { bytes: string; mibps: number; phase: string }[] = [];
      const res = await w.download(uri, sink.stream, { onProgress: (p) => seen.push({ bytes: String(p.bytes), mibps: p.mibps, phase: p.phase }) });
      return { bytes: String(res.bytes), zero: String(res.zeroBytes), connections: res.connections, where: sink.where, seen: seen.length, last: seen.at(-1), rising: seen.every((s, i) => i === 0 || BigInt(s.bytes) >= BigInt(seen[i - 1]!.bytes)) };
    }, source.ws).finally(() => clearInterval(sampler));
    // Four connections (the default): sparse-random says can_multi_conn.
    expect(r).toMatchObject({ bytes: String(GiB), connections: 4, where: 'opfs', rising: true, last: { bytes: String(GiB), phase: 'download' } });
    expect(r.last!.mibps).toBeGreaterThan(0);
    // nbdinfo --map says 94% of this export is hole,zero: none of it was read.
    expect(Number(r.zero)).toBeGreaterThan(0.9 * GiB);
    expect(await pageHash(page, 'sparse-1g.img')).toEqual(want);
    // Never the whole disk in the page: a generous bound (the figure is the bench's).
    expect(peak).toBeLessThan(256 * MiB);
    await cdp.detach();
    expect(errors).toEqual([]);
  });

  it('uploads that file into a memory export, verified; nbdcopy then reads the same bytes', async () => {
    const dest = await serve(['memory', 'size=1G']);
    const r = await page.evaluate(async (uri) => {
      const w = window.webnbd;
      const root = await navigator.storage.getDirectory();
      const file = await (await root.getFileHandle('sparse-1g.img')).getFile();
      const phases = new Set<string>();
      const res = await w.upload(file, uri, { onProgress: (p) => phases.add(`${p.phase}:${p.total}`) });
      return { bytes: String(res.bytes), zero: String(res.zeroBytes), connections: res.connections, phases: [...phases] };
    }, dest.ws);
    expect(r.bytes).toBe(String(GiB));
    expect(r.connections).toBe(4);
    expect(Number(r.zero)).toBeGreaterThan(0.9 * GiB);
    expect(r.phases).toEqual([`upload:${GiB}`, `verify:${GiB}`]);
    expect(await serverHash(dest.nbd.uri)).toEqual(want);
  });
});

describe('a plain WritableStream', () => {
  it('gets every byte in order, zero runs as chunks of zeroes, none of them read', async () => {
    const { nbd, ws } = await serve(['-r', 'sparse-random', 'size=64M', 'seed=11']);
    const { page, errors } = await labPage(site);
    const r = await page.evaluate(async (uri) => {
      // Hashes a MiB at a time as chunks come, in whatever sizes: the same hash as serverHash's.
      const digests: ArrayBuffer[] = [];
      const piece = new Uint8Array(1 << 20);
      let fill = 0;
      let chunks = 0;
      let largest = 0;
      const sink = new WritableStream<Uint8Array>({
        async write(c) {
          chunks++;
          largest = Math.max(largest, c.length);
          for (let at = 0; at < c.length;) {
            const n = Math.min(piece.length - fill, c.length - at);
            piece.set(c.subarray(at, at + n), fill);
            fill += n;
            at += n;
            if (fill === piece.length) {
              digests.push(await crypto.subtle.digest('SHA-256', piece));
              fill = 0;
            }
          }
        },
      });
      const res = await window.webnbd.download(uri, sink);
      if (fill) digests.push(await crypto.subtle.digest('SHA-256', piece.subarray(0, fill)));
      const all = new Uint8Array(digests.length * 32);
      digests.forEach((d, i) => all.set(new Uint8Array(d), i * 32));
      const hex = [...new Uint8Array(await crypto.subtle.digest('SHA-256', all))].map((x) => x.toString(16).padStart(2, '0')).join('');
      return { hash: hex, zero: String(res.zeroBytes), chunks, largest };
    }, ws);
    expect(r.hash).toBe((await serverHash(nbd.uri)).hash);
    expect(Number(r.zero)).toBeGreaterThan(0.8 * 64 * MiB);
    // Never more than a request at a time, whatever the zero runs' lengths.
    expect(r.largest).toBeLessThanOrEqual(MiB);
    expect(r.chunks).toBeGreaterThanOrEqual(64);
    expect(errors).toEqual([]);
  });
});

describe('1 TiB sparse memory export', () => {
  it('downloads all of it into a file-like sink: only the data is read and written, at its offsets', async () => {
    const { nbd, ws } = await serve(['memory', 'size=1T']);
    // Data at the start, past 4 GiB at an odd offset, and at the very end, written from Node.
    const parts = [[0n, random(4096, 1)], [5n * BigInt(GiB) + 12345n, random(65536, 2)], [TiB - BigInt(MiB), random(MiB, 3)]] as const;
    const h = create();
    await h.connectUri(nbd.uri);
    for (const [at, data] of parts) await h.pwrite(data, at);
    await h.shutdown();
    const { page, errors } = await labPage(site);
    const r = await page.evaluate(async ([uri, want]) => {
      const w = window.webnbd;
      // A sink that takes FileSystemWritableFileStream's chunks ({ type, position, data }) and keeps what it is given.
      const writes: { position: number; data: Uint8Array }[] = [];
      let size = -1;
      const sink = new WritableStream<{ type: string; position?: number; size?: number; data?: Uint8Array }>({
        write(c) {
          if (c.type === 'truncate') size = c.size!;
          else writes.push({ position: c.position!, data: c.data! });
        },
      });
      Object.assign(sink, { seek() {}, truncate() {} });
      const res = await w.download(uri, sink, { connections: 1 });
      const at = (pos: number, n: number) => {
        const out = new Uint8Array(n);
        for (const x of writes) {
          const from = Math.max(pos, x.position);
          const to = Math.min(pos + n, x.position + x.data.length);
          if (from < to) out.set(x.data.subarray(from - x.position, to - x.position), from - pos);
        }
        return out;
      };
      const hex = async (b: Uint8Array<ArrayBuffer>) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', b))].map((x) => x.toString(16).padStart(2, '0')).join('');
      return {
        size, bytes: String(res.bytes), zero: String(res.zeroBytes),
        written: writes.reduce((n, x) => n + x.data.length, 0),
        hashes: await Promise.all(want.map(([pos, n]) => hex(at(Number(pos), n)))),
      };
    }, [ws, parts.map(([at, d]) => [String(at), d.length] as const)] as const);
    expect(r.size).toBe(Number(TiB));
    expect(r.bytes).toBe(String(TiB));
    expect(r.written).toBeLessThan(16 * MiB);
    expect(BigInt(r.zero) + BigInt(r.written)).toBe(TiB);
    expect(r.hashes).toEqual(parts.map(([, d]) => createHash('sha256').update(d).digest('hex')));
    expect(errors).toEqual([]);
  });
});

describe('cancel and refusal', () => {
  it('cancels a download mid-way: ECANCELED saying how far it got, the file not written, every connection closed', async () => {
    const log = join(process.env.TMPDIR ?? '/tmp', `transfer-cancel-${process.pid}.log`);
    const { ws } = await serve(['-r', '--filter=log', '--filter=delay', 'pattern', 'size=1G', 'rdelay=50ms', `logfile=${log}`]);
    const { page } = await labPage(site);
    const r = await page.evaluate(async (uri) => {
      const w = window.webnbd;
      const sink = await w.privateFile('cancelled.img');
      const ctl = new AbortController();
      let done = 0n;
      const err = await w.download(uri, sink.stream, {
        signal: ctl.signal,
        onProgress: (p) => { done = p.bytes; if (p.bytes >= 8n << 20n) ctl.abort(); },
      }).then(() => null, (e: { code: string; message: string }) => ({ code: e.code, message: e.message }));
      const file = await sink.file.getFile();
      return { err, done: String(done), size: file.size };
    }, ws);
    expect(r.err).toEqual({ code: 'ECANCELED', message: expect.stringMatching(/^download: cancelled after \d+(\.\d)? MiB of 1024 MiB: Operation canceled$/) });
    // The file is not committed: the stream was aborted.
    expect(r.size).toBe(0);
    for (let i = 0; i < 50 && connections(log).closed < connections(log).opened; i++) await new Promise((res) => setTimeout(res, 100));
    // The four connections of the pool (pattern says can_multi_conn), all closed.
    expect(connections(log)).toEqual({ opened: 4, closed: 4 });
  });

  it('fails, never hangs, when the server dies mid-download: the error says so and the file is left empty', async () => {
    const { nbd, ws } = await serve(['-r', '--filter=delay', 'pattern', 'size=1G', 'rdelay=50ms']);
    const { page } = await labPage(site);
    await page.evaluate(async (uri) => {
      const w = window.webnbd;
      const sink = await w.privateFile('died.img');
      const state = { bytes: 0n, outcome: null as null | { code: string; message: string } };
      Object.assign(window, { died: state, diedFile: sink.file });
      void w.download(uri, sink.stream, { onProgress: (p) => { state.bytes = p.bytes; } })
        .then(() => { state.outcome = { code: 'none', message: 'finished' }; }, (e: { code: string; message: string }) => { state.outcome = { code: e.code, message: e.message }; });
    }, ws);
    type Died = { died: { bytes: bigint; outcome: { code: string; message: string } | null }; diedFile: FileSystemFileHandle };
    await page.waitForFunction(() => (window as unknown as Died).died.bytes >= 4n << 20n);
    nbd.kill('SIGKILL');
    await page.waitForFunction(() => (window as unknown as Died).died.outcome !== null, null, { timeout: 20_000 });
    const r = await page.evaluate(async () => ({ ...(window as unknown as Died).died.outcome!, size: (await (window as unknown as Died).diedFile.getFile()).size }));
    expect(r.code).toMatch(/^(ENOTCONN|ECONNRESET|ESHUTDOWN|EIO)$/);
    expect(r.message).toMatch(/^nbd_pread: /);
    expect(r.size).toBe(0);
  });

  it('verify catches an export that drops what is written (nbdkit null), naming the first byte that differs', async () => {
    const { ws } = await serve(['null', 'size=4M']);
    const { page } = await labPage(site);
    const r = await page.evaluate(async (uri) => {
      const image = new Uint8Array(3 << 20);
      image.fill(0x5a, (2 << 20) + 7);
      return window.webnbd.upload(new Blob([image]), uri, { offset: 4096 }).then(() => null, (e: { code: string; message: string }) => ({ code: e.code, message: e.message }));
    }, ws);
    expect(r).toEqual({ code: 'EIO', message: `upload: verify: byte ${4096 + 2 * MiB + 7} of the default export reads 0x00, the image has 0x5a: Input/output error` });
  });

  it('refuses to upload to a read-only export with EPERM naming the export, and writes nothing', async () => {
    const { ws } = await serve(['-r', 'memory', 'size=1M']);
    const { page } = await labPage(site);
    const r = await page.evaluate(async (uri) => {
      const w = window.webnbd;
      return w.upload(new Blob([new Uint8Array(4096).fill(1)]), `${uri}scratch`).then(() => null, (e: { code: string; message: string }) => ({ code: e.code, message: e.message }));
    }, ws);
    expect(r).toEqual({ code: 'EPERM', message: 'upload: export “scratch” is read-only: Operation not permitted' });
  });
});
