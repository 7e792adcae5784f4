// What runs inside Chromium: the bare-WebSocket baselines (a flood into a worker, an echo from the
// page) and webnbd's own reads and 512-byte latencies on the lab page (window.webnbd). Functions
// passed to evaluate are self-contained: their source is sent to the page.

import type { Evaluator } from './chromium.js';
import type {} from '../support/browser.js'; // window.webnbd

export interface BrowserPlan {
  request: number;
  depth: number;
}

/** Requests of 1 MiB, 8 in flight: larger or deeper did no better (see docs/performance.md). */
export const BROWSER_PLAN: BrowserPlan = { request: 1 << 20, depth: 8 };

/**
 * A bare WebSocket in a Web Worker receiving `bytes` from the flood server: the most any code in
 * a worker can get through this bridge. Timed from the request to the last byte. With `copy`,
 * the worker also copies each message into a SharedArrayBuffer, as any client that lands the
 * bytes in the page's memory must (webnbd does exactly that one copy).
 */
export function ceiling(page: Evaluator, url: string, bytes: number, copy = false): Promise<number> {
  return page.evaluate(async ([u, total, withCopy]) => {
    const code = `onmessage = (e) => {
      const [url, total, copy] = e.data;
      // Touched first, as webnbd's destination is after its first pass: no page faults timed.
      const dest = copy ? new Uint8Array(new SharedArrayBuffer(total)).fill(1) : null;
      const ws = new WebSocket(url, ['binary']);
      ws.binaryType = 'arraybuffer';
      let got = 0, t0 = 0;
      ws.onopen = () => { t0 = performance.now(); ws.send(new Float64Array([total])); };
      ws.onmessage = (m) => {
        if (dest) dest.set(new Uint8Array(m.data), got);
        got += m.data.byteLength;
        if (got >= total) { postMessage(performance.now() - t0); ws.close(); }
      };
      ws.onclose = () => { if (got < total) postMessage(-1); };
    };`;
    const w = new Worker(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })));
    const ms = await new Promise<number>((resolve) => {
      w.onmessage = (e: MessageEvent<number>) => resolve(e.data);
      w.postMessage([u, total, withCopy]);
    });
    w.terminate();
    if (ms < 0) throw new Error('the flood ended early');
    return ms;
  }, [url, bytes, copy] as const);
}

/** Connect a handle on the page and allocate the destination (SharedArrayBuffer when isolated). */
export async function prepareRead(page: Evaluator, uri: string, bytes: number): Promise<{ shared: boolean }> {
  return page.evaluate(async ([u, n]) => {
    const w = window.webnbd;
    const h = w.create();
    await h.connectUri(u);
    const buf = w.allocBuffer(n);
    Object.assign(window, { benchHandle: h, benchBuf: buf });
    return { shared: typeof SharedArrayBuffer !== 'undefined' && buf.buffer instanceof SharedArrayBuffer };
  }, [uri, bytes] as const);
}

/** One sequential pass over the prepared buffer: `plan.depth` reads of `plan.request` in flight. */
export function readPass(page: Evaluator, plan: BrowserPlan): Promise<number> {
  return page.evaluate(async ([request, depth]) => {
    const { benchHandle: h, benchBuf: buf } = window as unknown as { benchHandle: ReturnType<typeof window.webnbd.create>; benchBuf: Uint8Array };
    const size = buf.length;
    let next = 0;
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      let inFlight = 0;
      const issue = () => {
        while (inFlight < depth && next < size) {
          const n = Math.min(request, size - next);
          h.pread(buf.subarray(next, next + n), next).then(() => {
            inFlight--;
            if (next >= size && inFlight === 0) resolve();
            else issue();
          }, reject);
          inFlight++;
          next += n;
        }
      };
      issue();
    });
    return performance.now() - t0;
  }, [plan.request, plan.depth] as const);
}

export function closeRead(page: Evaluator): Promise<void> {
  return page.evaluate(async () => {
    const { benchHandle: h } = window as unknown as { benchHandle: ReturnType<typeof window.webnbd.create> };
    await h.shutdown();
    h.close();
  }, null);
}

/**
 * Microseconds of `n` sequential 512-byte preads from the page (through the worker) and of `n`
 * round trips of a 512-byte message through the echo bridge, taking turns (after 50 of each for
 * warm-up) so that both see the same machine. Each list sorted.
 */
export function latencies(page: Evaluator, uri: string, echoUrl: string, n: number): Promise<{ pread: number[]; echo: number[] }> {
  return page.evaluate(async ([u, e, count]) => {
    const w = window.webnbd;
    const h = w.create();
    await h.connectUri(u);
    const buf = w.allocBuffer(512);
    const size = Number(h.getSize());
    const ws = new WebSocket(e, ['binary']);
    ws.binaryType = 'arraybuffer';
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
    let got = 0;
    let echoed: () => void = () => {};
    ws.onmessage = (m: MessageEvent<ArrayBuffer>) => {
      got += m.data.byteLength;
      if (got >= 512) { got -= 512; echoed(); }
    };
    const msg = new Uint8Array(512).fill(7);
    const pread: number[] = [];
    const echo: number[] = [];
    for (let i = -50; i < count; i++) {
      let t0 = performance.now();
      await h.pread(buf, ((Math.abs(i) * 7919) * 4096) % (size - 512));
      if (i >= 0) pread.push((performance.now() - t0) * 1000);
      t0 = performance.now();
      await new Promise<void>((resolve) => { echoed = resolve; ws.send(msg); });
      if (i >= 0) echo.push((performance.now() - t0) * 1000);
    }
    ws.close();
    await h.shutdown();
    h.close();
    return { pread: pread.sort((a, b) => a - b), echo: echo.sort((a, b) => a - b) };
  }, [uri, echoUrl, n] as const);
}

/** The q-quantile of sorted values. */
export const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
