// The browser's whole-disk download: a 1 GiB export (nbdkit pattern: all data, can_multi_conn)
// through websockify, downloaded by webnbd/browser's download() on the lab page into a file of the
// origin-private file system (the inspector's "as a download" path; Chromium's save dialog writes
// through the same FileSystemWritableFileStream), four connections. Also the page's memory above
// its start while it runs: page and worker JS heaps plus their ArrayBuffer memory, sampled every
// 50 ms, against the same after a collection before the first pass.

import type { Site } from '../support/browser.js';
import { startNbdkit, startWebsockify } from '../support/servers.js';
import type { CdpPage, Chromium } from './chromium.js';
import { ceiling } from './in-browser.js';
import { median, mibps } from './tools.js';

export interface DownloadFigures {
  browser_download_mibps: number;
  browser_download_memory_mib: number;
  browser_ceiling_4_sockets_file_mibps: number;
}

const MiB = 1 << 20;
/** The lab page's worker (Vite names it assets/worker-HASH.js). */
const labWorker = (url: string) => /\/assets\/worker[-.][^/]*\.js$/.test(url);

type Session = (method: string, params?: Record<string, unknown>) => Promise<Record<string, unknown>>;

/** Each session's JS heap plus ArrayBuffer memory, in bytes. */
async function used(sessions: Session[], collect: boolean): Promise<number[]> {
  const n: number[] = [];
  for (const s of sessions) {
    if (collect) await s('HeapProfiler.collectGarbage');
    const u = await s('Runtime.getHeapUsage') as { usedSize: number; backingStorageSize?: number };
    n.push(u.usedSize + (u.backingStorageSize ?? 0));
  }
  return n;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function pass(page: CdpPage, uri: string): Promise<number> {
  return page.evaluate(async (u) => {
    const w = window.webnbd;
    await w.removePrivateFile('bench-download.img');
    const sink = await w.privateFile('bench-download.img');
    const t0 = performance.now();
    await w.download(u, sink.stream, { connections: 4 });
    const ms = performance.now() - t0;
    await w.removePrivateFile('bench-download.img');
    return ms;
  }, uri);
}

/** `passes` downloads of a `bytes` export (the median reported), and the most memory any of them took. */
export async function downloadPhase(chromium: Chromium, site: Site, floodUrl: string, bytes: number, passes: number, log: (l: string) => void): Promise<DownloadFigures> {
  const nbd = await startNbdkit(['-r', 'pattern', `size=${bytes}`]);
  const bridge = await startWebsockify({ port: nbd.port! });
  const uri = `nbd+ws://127.0.0.1:${bridge.port}/`;
  const page = await chromium.page(`${site.origin}/lab.html`, "'webnbd' in window");
  try {
    // The connection workers start with the first pool (one per connection, kept for the page's life).
    await page.evaluate(async (u) => {
      const pool = await window.webnbd.openPool(u, { connections: 4 });
      await pool.close();
    }, uri);
    const sessions: Session[] = [(m, p) => page.send(m, p), ...await chromium.workers(labWorker)];
    const base = await used(sessions, true);
    let peak = base;
    let sampling = Promise.resolve();
    const timer = setInterval(() => {
      sampling = sampling.then(() => used(sessions, false)).then((n) => { if (sum(n) > sum(peak)) peak = n; }, () => {});
    }, 50);
    const times: number[] = [];
    try {
      for (let i = 0; i < passes; i++) times.push(await pass(page, uri));
    } finally {
      clearInterval(timer);
      await sampling;
    }
    // The same bytes through four bare sockets into the same kind of file, after the memory passes
    // (its 1 GiB of shared memory is not the download's); taking turns with as many more downloads.
    const files: number[] = [];
    for (let i = 0; i < passes; i++) {
      files.push(await ceiling(page, floodUrl, bytes, true, 4, true));
      times.push(await pass(page, uri));
    }
    const above = peak.map((n, i) => (n - base[i]!) / MiB);
    log(`download: ${times.map((t) => t.toFixed(0)).join(' ')} ms for ${bytes / MiB} MiB; memory above the start: page ${above[0]!.toFixed(1)} MiB, `
      + `${above.length - 1} connection worker(s) ${above.slice(1).map((n) => n.toFixed(1)).join(' + ')} MiB`);
    log(`download: four bare sockets into a file: ${files.map((t) => t.toFixed(0)).join(' ')} ms`);
    return { browser_download_mibps: mibps(bytes, median(times)), browser_download_memory_mib: sum(above), browser_ceiling_4_sockets_file_mibps: mibps(bytes, median(files)) };
  } finally {
    await page.close();
    await Promise.all([bridge.stop(), nbd.stop()]);
  }
}
