// How fast the port's blocking calls are (Asyncify, and -pthread's Atomics.wait), against the same
// loops written in TypeScript on the core, in the same Chromium, and natively with libnbd:
// wasm/bench/bench.c. A short run checks
// it works; WEBNBD_BENCH=1 runs the full one and prints the table quoted in wasm/README.md.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { serve } from '../../web/cli/run-wasm.js';
import { launch, serveDist } from '../support/browser.js';
import { buildNative, buildWasm, runNative, runWasm, serveUnix } from '../support/wasm.js';

const FULL = process.env.WEBNBD_BENCH === '1';
const N512 = FULL ? 5000 : 50;
const N64K = FULL ? 2000 : 20;
const BENCH = 'wasm/bench/bench.c';

/** The same loops as bench.c, on NbdHandle in a module worker of a page served like run-wasm's. */
async function typescript(url: string): Promise<{ us: number; mibs: number }> {
  const { server, origin } = await serve('/nonexistent');
  const page = await (await launch()).newPage();
  try {
    await page.goto(`${origin}/`);
    return await page.evaluate(async ({ origin, url, n512, n64k }) => {
      const code = `
        import { NbdHandle } from '${origin}/webnbd/web/core/handle.js';
        import { browserTransports } from '${origin}/webnbd/web/browser/ws-transport.js';
        onmessage = async () => {
          const nbd = new NbdHandle({ transports: browserTransports });
          await nbd.connectWebsocket(${JSON.stringify(url)});
          const size = nbd.getSize();
          const buf = new Uint8Array(65536);
          for (let i = 0; i < 50; i++) await nbd.pread(buf.subarray(0, 512), 0);
          let t = performance.now();
          for (let i = 0; i < ${n512}; i++) await nbd.pread(buf.subarray(0, 512), BigInt(512 * i) % size);
          const us = (performance.now() - t) / ${n512} * 1000;
          t = performance.now();
          for (let i = 0; i < ${n64k}; i++) await nbd.pread(buf, BigInt(65536 * i) % size);
          const mibs = ${n64k} / 16 / ((performance.now() - t) / 1000);
          nbd.close();
          postMessage({ us, mibs });
        };`;
      const worker = new Worker(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })), { type: 'module' });
      const result = new Promise<{ us: number; mibs: number }>((resolve) => (worker.onmessage = (e) => resolve(e.data)));
      worker.postMessage(null);
      return result;
    }, { origin, url, n512: N512, n64k: N64K });
  } finally {
    await page.close();
    server.close();
  }
}

interface Row { us: number; mibs: number; sleep?: number; call?: number }

const parse = (out: string): Row => ({
  us: Number(/pread 512 B: ([\d.]+)/.exec(out)?.[1]),
  mibs: Number(/pread 64 KiB: ([\d.]+)/.exec(out)?.[1]),
  sleep: Number(/failing nbd_pread: ([\d.]+)/.exec(out)?.[1]),
  call: Number(/nbd_get_size: ([\d.]+)/.exec(out)?.[1]),
});

/** Best of the runs, taken in turn, since other work on the machine adds noise. */
const best = (a: Row, b: Row): Row => ({
  us: Math.min(a.us, b.us), mibs: Math.max(a.mibs, b.mibs),
  ...(a.sleep !== undefined ? { sleep: Math.min(a.sleep, b.sleep!), call: Math.min(a.call!, b.call!) } : {}),
});
const cell = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '' : v.toFixed(2));

/**
 * The alternative design's fixed cost: a worker that blocks in Atomics.wait while another
 * answers its postMessage, as a C program in its own worker would wait on the core's worker.
 * Needs a cross-origin isolated page.
 */
async function atomicsRoundTrip(n: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'webnbd-atomics-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>isolated</title>');
  const site = await serveDist(true, dir);
  const page = await (await launch()).newPage();
  try {
    await page.goto(`${site.origin}/index.html`);
    return await page.evaluate(async (n) => {
      if (!crossOriginIsolated) throw new Error('not isolated');
      const src = `onmessage = (e) => {
        const [sab, port, n] = e.data;
        const f = new Int32Array(sab);
        if (n === 0) { port.onmessage = () => { Atomics.store(f, 0, 1); Atomics.notify(f, 0); }; return; }
        const t = performance.now();
        for (let i = 0; i < n; i++) { Atomics.store(f, 0, 0); port.postMessage(i); Atomics.wait(f, 0, 0); }
        postMessage((performance.now() - t) / n * 1000);
      };`;
      const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
      const [a, b] = [new Worker(url), new Worker(url)];
      const sab = new SharedArrayBuffer(4);
      const { port1, port2 } = new MessageChannel();
      b.postMessage([sab, port2, 0], [port2]);
      const us = new Promise<number>((resolve) => (a.onmessage = (e) => resolve(e.data)));
      a.postMessage([sab, port1, n], [port1]);
      return us;
    }, n);
  } finally {
    await page.close();
    await site.close();
  }
}

describe('benchmark', () => {
  it('atomics-wait-round-trip-between-workers', async () => {
    const us = await atomicsRoundTrip(FULL ? 20000 : 500);
    console.log(`\nAtomics.wait + postMessage round trip between two workers: ${us.toFixed(2)} µs\n`);
    expect(us).toBeGreaterThan(0);
  });

  it('c-in-the-browser-against-typescript-and-native', async () => {
    const [native, wasm, growable, threaded] = await Promise.all([
      buildNative(BENCH), buildWasm(BENCH), buildWasm(BENCH, ['-sALLOW_MEMORY_GROWTH']), buildWasm(BENCH, ['-pthread']),
    ]);
    const { socket, url } = await serveUnix(['memory', '64M']);
    const args = [String(N512), String(N64K)];
    const runs: [string, () => Promise<Row>][] = [
      ['C, native libnbd (Unix socket)', async () => parse((await runNative(native, [socket, ...args])).stdout)],
      ['TypeScript core, worker (websockify)', () => typescript(url)],
      ['C, webnbd wasm, Asyncify (websockify)', async () => parse((await runWasm(wasm, 'bench', [url, ...args])).stdout)],
      ['C, same, -sALLOW_MEMORY_GROWTH', async () => parse((await runWasm(growable, 'bench', [url, ...args])).stdout)],
      ['C, -pthread: main in a pthread, Atomics.wait (websockify)', async () => parse((await runWasm(threaded, 'bench', [url, ...args])).stdout)],
    ];
    const rows: Record<string, Row> = {};
    for (let round = 0; round < (FULL ? 3 : 1); round++) {
      for (const [name, run] of runs) {
        const r = await run();
        rows[name] = rows[name] ? best(rows[name], r) : r;
      }
    }
    console.log(`\n| ${N512} × 512 B, ${N64K} × 64 KiB, one at a time | µs per 512 B pread | MiB/s, 64 KiB preads | µs per failing nbd_pread | µs per nbd_get_size |\n|---|---|---|---|---|\n${
      Object.entries(rows).map(([k, r]) => `| ${k} | ${cell(r.us)} | ${cell(r.mibs)} | ${cell(r.sleep)} | ${cell(r.call)} |`).join('\n')}\n`);
    for (const r of Object.values(rows)) {
      expect(r.us).toBeGreaterThan(0);
      expect(r.mibs).toBeGreaterThan(0);
    }
  }, 300_000);
});
