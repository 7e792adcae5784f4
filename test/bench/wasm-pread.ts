// C programs in the browser against the page API, in the same Chromium and run: the port's
// sequential 64 KiB nbd_pread loop (wasm/bench/bench.c, built by `webnbd cc`, run as run-wasm runs
// it) and the same loop written in TypeScript on the lab page's handle (window.webnbd). bench.c
// also times a failing nbd_pread (one Asyncify unwind and rewind, no I/O) and nbd_get_size (one
// call into the runtime and back): the port's own cost per call.

import { basename, dirname, resolve } from 'node:path';
import { compile } from '../../web/cli/cc.js';
import { serve } from '../../web/cli/run-wasm.js';
import type { Chromium, Evaluator } from './chromium.js';

const BENCH_C = resolve(import.meta.dirname, '../../wasm/bench/bench.c');
const BLOCK = 65536;

export interface WasmPread {
  /** The C loop's MiB/s, and its µs per failing nbd_pread and per nbd_get_size. */
  wasm_mibps: number;
  asyncify_us: number;
  call_us: number;
}

/** bench.c in the browser: `reads` 64 KiB preads, one at a time, from offset 0 on. */
export async function wasmPread(chromium: Chromium, wsUrl: string, reads: number, attach = true): Promise<WasmPread> {
  const { js } = await compile(BENCH_C);
  const { server, origin } = await serve(dirname(js));
  try {
    const page = await chromium.page(`${origin}/`, "'webnbdRun' in window", { workers: attach });
    const out = await page.evaluate(async (cfg) => {
      let text = '';
      Object.assign(window, {
        webnbdOutput: async (batch: [number, string][]) => { for (const [fd, s] of batch) if (fd === 1) text += s; },
        webnbdStdin: async () => null,
      });
      const run = (window as unknown as { webnbdRun(c: unknown): Promise<{ status: number; message?: string }> }).webnbdRun;
      const exit = await run(cfg);
      return { text, exit };
    }, { program: `${origin}/program/${basename(js)}`, args: [wsUrl, '200', String(reads)], thisProgram: 'bench', env: {} });
    await page.close();
    if (out.exit.status !== 0) throw new Error(`bench.c in the browser exited ${out.exit.status}: ${out.exit.message ?? ''}`);
    const num = (re: RegExp) => Number(re.exec(out.text)?.[1]);
    return { wasm_mibps: num(/pread 64 KiB: ([\d.]+)/), asyncify_us: num(/failing nbd_pread: ([\d.]+)/), call_us: num(/nbd_get_size: ([\d.]+)/) };
  } finally {
    server.close();
  }
}

/** The same loop on the lab page: `reads` 64 KiB preads through the page API, one at a time; MiB/s. */
export function pageSeqPread(page: Evaluator, uri: string, reads: number, completions: 'default' | 'ring' | 'postMessage' = 'default'): Promise<number> {
  return page.evaluate(async ([u, n, block, how]) => {
    const w = window.webnbd;
    const h = (how === 'default' ? w.defaultWorker() : new w.WorkerClient(undefined, { completions: how })).create();
    await h.connectUri(u);
    const size = h.getSize();
    const buf = w.allocBuffer(block);
    for (let i = 0; i < 50; i++) await h.pread(buf.subarray(0, 512), 0);
    const t = performance.now();
    for (let i = 0; i < n; i++) await h.pread(buf, BigInt(block * i) % size);
    const mibps = n / 16 / ((performance.now() - t) / 1000);
    await h.shutdown();
    h.close();
    return mibps;
  }, [uri, reads, BLOCK, completions] as const);
}
