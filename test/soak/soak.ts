// The soak: a browser worker reads continuously through `webnbd bridge` from nbdkit,
// while the worker's JavaScript heap is sampled over CDP after a forced GC. Used by `npm run soak`
// (run.ts, 30 minutes) and by the 20-second smoke test in npm test (smoke.test.ts).

import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { chromium, type CDPSession } from 'playwright-core';
import { startBridge } from '../../bridge/bridge.js';

export interface SoakOptions {
  seconds: number;
  /** Seconds between heap samples. */
  interval: number;
  /** The built pages (lab.html). */
  dist: string;
  /** Called with each sample as it is taken. */
  onSample?: (s: Sample) => void;
}

export interface Sample {
  /** Seconds since the reads started. */
  t: number;
  /** The worker's JS heap after a forced GC (Runtime.getHeapUsage), bytes. */
  used: number;
  total: number;
  /** Reads completed and verified so far. */
  reads: number;
  bytes: number;
}

export interface SoakResult {
  samples: Sample[];
  reads: number;
  bytes: number;
  /** Reads that failed, or whose data was not what nbdkit's pattern plugin serves. */
  errors: string[];
}

const READ = 64 * 1024;
const IN_FLIGHT = 16;
const DISK = 1 << 30;
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };

/** dist/ on loopback with COOP/COEP, so the worker reads into SharedArrayBuffers. */
async function serve(root: string): Promise<{ origin: string; close(): void }> {
  const server = createServer((req, res) => {
    const path = normalize(new URL(req.url ?? '/', 'http://x').pathname).replace(/^(\.\.[/\\])+/, '');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    readFile(join(root, path)).then((d) => {
      res.setHeader('Content-Type', TYPES[extname(path)] ?? 'application/octet-stream');
      res.end(d);
    }, () => { res.statusCode = 404; res.end(); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { origin: `http://127.0.0.1:${port}`, close: () => server.close() };
}

/** A CDP client for a dedicated worker, through the browser session (Target.sendMessageToTarget). */
async function workerSession(cdp: CDPSession): Promise<(method: string, params?: object) => Promise<Record<string, number>>> {
  const { targetInfos } = await cdp.send('Target.getTargets');
  const worker = targetInfos.find((t) => t.type === 'worker');
  if (!worker) throw new Error('soak: no worker target');
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: worker.targetId, flatten: false });
  type Reply = { id?: number; result?: Record<string, number>; error?: { message: string } };
  const pending = new Map<number, (m: Reply) => void>();
  let next = 0;
  cdp.on('Target.receivedMessageFromTarget', (e) => {
    const m = JSON.parse(e.message) as Reply;
    if (m.id !== undefined) pending.get(m.id)?.(m);
  });
  return (method, params = {}) => new Promise((resolve, reject) => {
    const id = ++next;
    pending.set(id, (m) => {
      pending.delete(id);
      if (m.error) reject(new Error(`${method}: ${m.error.message}`));
      else resolve(m.result ?? {});
    });
    void cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) });
  });
}

/** Runs in the page: IN_FLIGHT reads at all times, each checked against nbdkit's pattern. */
function readForever([uri, size, disk, inFlight]: [string, number, number, number]): Promise<void> {
  type Api = { create(): { connectUri(u: string): Promise<void>; pread(b: Uint8Array, o: number): Promise<void> }; allocBuffer(n: number): Uint8Array };
  const w = (window as unknown as { webnbd: Api }).webnbd;
  const stats = { reads: 0, bytes: 0, errors: [] as string[], stop: false };
  (window as unknown as { soak: typeof stats }).soak = stats;
  const h = w.create();
  const loop = async (buf: Uint8Array, lane: number) => {
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    for (let i = lane; !stats.stop; i += inFlight) {
      const offset = ((Math.imul(i, 2654435761) >>> 0) % (disk / size)) * size;
      try {
        await h.pread(buf, offset);
      } catch (e) {
        stats.errors.push(`read at ${offset}: ${(e as Error).message}`);
        return;
      }
      // nbdkit's pattern plugin: each 8-byte big-endian word is its own offset.
      for (let j = 0; j < size; j += 8) {
        if (view.getBigUint64(j) !== BigInt(offset + j)) {
          stats.errors.push(`read at ${offset}: wrong data at +${j}`);
          return;
        }
      }
      stats.reads++;
      stats.bytes += size;
    }
  };
  return h.connectUri(uri).then(() => {
    for (let lane = 0; lane < inFlight; lane++) void loop(w.allocBuffer(size), lane);
  });
}

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const site = await serve(opts.dist);
  const bridge = await startBridge({ target: { command: ['nbdkit', 'pattern', String(DISK)] }, origins: [site.origin] });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    await page.goto(`${site.origin}/lab.html`);
    await page.waitForFunction(() => 'webnbd' in window && crossOriginIsolated);
    await page.evaluate(readForever, [bridge.uris[0]!, READ, DISK, IN_FLIGHT] as [string, number, number, number]);
    const send = await workerSession(await browser.newBrowserCDPSession());
    const samples: Sample[] = [];
    const t0 = Date.now();
    let state = { reads: 0, bytes: 0, errors: [] as string[] };
    for (let due = 0; due <= opts.seconds; due += opts.interval) {
      // A sample that came late (a busy machine) moves the schedule on rather than bunching up.
      due = Math.max(due, Math.floor((Date.now() - t0) / 1000 / opts.interval) * opts.interval);
      await new Promise((r) => setTimeout(r, Math.max(0, t0 + due * 1000 - Date.now())));
      await send('HeapProfiler.collectGarbage');
      const heap = await send('Runtime.getHeapUsage');
      state = await page.evaluate(() => {
        const s = (window as unknown as { soak: { reads: number; bytes: number; errors: string[] } }).soak;
        return { reads: s.reads, bytes: s.bytes, errors: s.errors };
      });
      const sample = { t: (Date.now() - t0) / 1000, used: heap.usedSize!, total: heap.totalSize!, reads: state.reads, bytes: state.bytes };
      samples.push(sample);
      opts.onSample?.(sample);
      if (state.errors.length) break;
    }
    await page.evaluate(() => { (window as unknown as { soak: { stop: boolean } }).soak.stop = true; });
    return { samples, ...state };
  } finally {
    await browser.close();
    await bridge.close();
    site.close();
  }
}

const mib = (n: number) => (n / 1048576).toFixed(2);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** The samples of the first and last window (a minute, or a quarter of a shorter run). */
export function windows(samples: Sample[]): [Sample[], Sample[]] {
  const end = samples.at(-1)?.t ?? 0;
  const w = end >= 120 ? 60 : end / 4;
  return [samples.filter((s) => s.t <= w), samples.filter((s) => s.t >= end - w)];
}

/**
 * Flat: the median heap of the last window is at most 10% (plus 256 KiB of noise) above that of the first.
 * A leak of even a few bytes per read shows up as steady growth over millions of reads.
 */
export function verdict(samples: Sample[]): { first: number; last: number; flat: boolean; text: string } {
  const [a, b] = windows(samples);
  const first = median(a.map((s) => s.used));
  const last = median(b.map((s) => s.used));
  const flat = last <= first * 1.1 + 262144;
  const growth = first ? ((last - first) / first) * 100 : 0;
  return { first, last, flat, text: `worker heap ${mib(first)} MiB (first window) -> ${mib(last)} MiB (last window), ${growth >= 0 ? '+' : ''}${growth.toFixed(1)}%: ${flat ? 'FLAT' : 'GROWING'}` };
}

/** One row per minute (per sample in runs under two minutes). */
export function table(r: SoakResult): string {
  const end = r.samples.at(-1)?.t ?? 0;
  const rows = end >= 120 ? r.samples.filter((s, i) => i === 0 || Math.floor(s.t / 60) !== Math.floor(r.samples[i - 1]!.t / 60)) : r.samples;
  const lines = ['     t   heap used  heap total       reads    MiB read   reads/s'];
  let prev: Sample | undefined;
  for (const s of rows) {
    const rate = prev ? (s.reads - prev.reads) / (s.t - prev.t) : 0;
    lines.push(`${s.t.toFixed(0).padStart(6)}s ${mib(s.used).padStart(7)} MiB ${mib(s.total).padStart(7)} MiB ${String(s.reads).padStart(11)} ${(s.bytes / 1048576).toFixed(0).padStart(11)} ${rate.toFixed(0).padStart(9)}`);
    prev = s;
  }
  return lines.join('\n');
}
