// What runs inside Chromium: the bare-WebSocket baselines (a flood into a worker, an echo from the
// page) and webnbd's own reads and 512-byte latencies on the lab page (window.webnbd). Functions
// passed to evaluate are self-contained: their source is sent to the page.

import type { Evaluator } from './chromium.js';
import type {} from '../support/browser.js'; // window.webnbd

export interface BrowserPlan {
  request: number;
  depth: number;
}

/** Requests of 1 MiB, 8 in flight: larger or deeper did no better (docs/performance.md). */
export const BROWSER_PLAN: BrowserPlan = { request: 1 << 20, depth: 8 };

/**
 * A bare WebSocket in a Web Worker receiving `bytes` from the flood server: the most any code in
 * a worker can get through this bridge. Timed from the request to the last byte. With `copy`,
 * the worker also copies each message into a SharedArrayBuffer, as any client that lands the
 * bytes in the page's memory must (webnbd does exactly that one copy). With `sockets` > 1,
 * that many workers share the bytes, each with its own socket (and websockify process).
 * With `file` (copying implied), the bytes are also written to a file as a download writes them:
 * each worker copies into one shared buffer and tells the page of every whole MiB, as a
 * completion would; the page hands each MiB, uncopied, to the lab page's privateFile() stream
 * (the OPFS writer worker), and the clock stops when the file is closed.
 */
export function ceiling(page: Evaluator, url: string, bytes: number, copy = false, sockets = 1, file = false): Promise<number> {
  return page.evaluate(async ([u, total, withCopy, n, toFile]) => {
    const code = `onmessage = (e) => {
      const [url, total, copy, shared, base] = e.data;
      // Touched first, as webnbd's destination is after its first pass: no page faults timed.
      const dest = shared ? new Uint8Array(shared, base, total) : copy ? new Uint8Array(new SharedArrayBuffer(total)).fill(1) : null;
      const ws = new WebSocket(url, ['binary']);
      ws.binaryType = 'arraybuffer';
      let got = 0, told = 0;
      ws.onopen = () => postMessage('open');
      ws.onmessage = (m) => {
        if (dest) dest.set(new Uint8Array(m.data), got);
        got += m.data.byteLength;
        // Writing to a file: each whole MiB (and the rest at the end) to the page.
        while (shared && (got - told >= 1048576 || (got >= total && told < total))) {
          const len = Math.min(1048576, got - told);
          postMessage({ at: base + told, len });
          told += len;
        }
        if (got >= total) { postMessage('done'); ws.close(); }
      };
      ws.onclose = () => { if (got < total) postMessage('short'); };
      onmessage = () => ws.send(new Float64Array([total]));
    };`;
    const name = 'bench-ceiling.img';
    const lab = window.webnbd;
    if (toFile) await lab.removePrivateFile(name);
    const writer = toFile ? (await lab.privateFile(name)).stream.getWriter() : null;
    const shared = toFile ? new SharedArrayBuffer(total) : null;
    if (shared) new Uint8Array(shared).fill(1);
    const writes: Promise<void>[] = [];
    // One worker per socket, all connected before the clock starts.
    const url = URL.createObjectURL(new Blob([code], { type: 'text/javascript' }));
    const workers = Array.from({ length: n }, () => new Worker(url));
    const next = (w: Worker) => new Promise<string>((resolve) => {
      w.onmessage = (e: MessageEvent<string | { at: number; len: number }>) => {
        const m = e.data;
        if (typeof m === 'string') resolve(m);
        else writes.push(writer!.write({ type: 'write', position: m.at, data: new Uint8Array(shared!, m.at, m.len) }));
      };
    });
    const per = total / n;
    await Promise.all(workers.map((w, i) => { const p = next(w); w.postMessage([u, per, withCopy, shared, i * per]); return p; }));
    const t0 = performance.now();
    const ends = await Promise.all(workers.map((w) => { const p = next(w); w.postMessage('go'); return p; }));
    await Promise.all(writes);
    await writer?.close();
    const ms = performance.now() - t0;
    for (const w of workers) w.terminate();
    if (toFile) await lab.removePrivateFile(name);
    if (ends.some((e) => e !== 'done')) throw new Error('the flood ended early');
    return ms;
  }, [url, bytes, copy, sockets, file] as const);
}

/**
 * Connect to the export (`connections` > 1: the page's pool, several connections only where the
 * server advertises can_multi_conn, as nbdcopy decides) and allocate the destination (a
 * SharedArrayBuffer when the page is isolated).
 */
export async function prepareRead(page: Evaluator, uri: string, bytes: number, connections = 1, completions: Completions = 'default'): Promise<{ shared: boolean; multiConn: boolean }> {
  return page.evaluate(async ([u, n, conns, how]) => {
    const w = window.webnbd;
    const client = how === 'default' ? w.defaultWorker() : new w.WorkerClient(undefined, { completions: how });
    const handles = [];
    // Several connections: the page's pool (multi.ts), each connection in a worker of its own.
    const pool = conns > 1 ? await w.openPool(u, { connections: conns }) : null;
    if (pool) handles.push(...pool.handles);
    else {
      const h = client.create();
      await h.connectUri(u);
      handles.push(h);
    }
    Object.assign(window, { benchPool: pool });
    const old = (window as unknown as { benchBuf?: Uint8Array }).benchBuf;
    const buf = old?.length === n ? old : w.allocBuffer(n);
    Object.assign(window, { benchHandles: handles, benchBuf: buf });
    return { shared: typeof SharedArrayBuffer !== 'undefined' && buf.buffer instanceof SharedArrayBuffer, multiConn: handles[0]!.canMultiConn() };
  }, [uri, bytes, connections, completions] as const);
}

/** How the page learns of completions: its default (the ring where isolated), or a client told which. */
export type Completions = 'default' | 'ring' | 'postMessage';

/**
 * One sequential pass over the prepared buffer: requests of `plan.request` in offset order,
 * `plan.depth` in flight per connection, through the pool (each to the connection with the fewest
 * in flight) where there are several.
 */
export function readPass(page: Evaluator, plan: BrowserPlan): Promise<number> {
  return page.evaluate(async ([request, depth]) => {
    const { benchHandles: hs, benchBuf: buf, benchPool: pool } = window as unknown as {
      benchHandles: ReturnType<typeof window.webnbd.create>[]; benchBuf: Uint8Array;
      benchPool: { pread(b: Uint8Array, o: number): Promise<void> } | null;
    };
    const size = buf.length;
    const most = depth * hs.length;
    let next = 0;
    let k = 0;
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      let inFlight = 0;
      const issue = () => {
        while (inFlight < most && next < size) {
          const n = Math.min(request, size - next);
          (pool ?? hs[k++ % hs.length]!).pread(buf.subarray(next, next + n), next).then(() => {
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
    const { benchHandles: hs } = window as unknown as { benchHandles: ReturnType<typeof window.webnbd.create>[] };
    for (const h of hs) {
      await h.shutdown();
      h.close();
    }
  }, null);
}

/**
 * Microseconds of `n` sequential 512-byte preads from the page (through the worker) and of `n`
 * round trips of a 512-byte message through the echo bridge, taking turns (after 50 of each for
 * warm-up) so that both see the same machine. Each list sorted.
 */
export function latencies(page: Evaluator, uri: string, echoUrl: string, n: number, completions: Completions = 'default'): Promise<{ pread: number[]; echo: number[] }> {
  return page.evaluate(async ([u, e, count, how]) => {
    const w = window.webnbd;
    const h = (how === 'default' ? w.defaultWorker() : new w.WorkerClient(undefined, { completions: how })).create();
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
  }, [uri, echoUrl, n, completions] as const);
}

/** The q-quantile of sorted values. */
export const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
