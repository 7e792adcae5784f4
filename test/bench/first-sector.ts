// Issue #5's figure: milliseconds from connecting to sector 0 on screen, for a 1 TiB sparse export
// (nbdkit sparse-random size=1T) through `webnbd bridge` on loopback. Each run is a fresh page:
// the worker starts, the WebSocket opens, NBD negotiates, block status and the first read go out
// together, and the clock stops at the first frame painted after <nbd-hexdump> fires nbd-load.
// `npm run bench` calls firstSectorDetail() (the median run and where its time went); run it alone
// with `npx vitest run --config test/bench/first-sector.config.ts` (RUNS=n; TRACE=1 prints the marks).

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { startBridge } from '../../bridge/bridge.js';

export interface FirstSectorOptions {
  /** The built pages (default: dist/, as `npm run build` makes it). */
  site?: string;
  /** Fresh pages to time; the median is returned (default 9). */
  runs?: number;
  /** A browser to use (default: Debian's Chromium, launched and closed here). */
  browser?: Browser;
  /** Where a line per run goes. */
  log?: (line: string) => void;
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };

/** The pages on 127.0.0.1, cross-origin isolated (the SharedArrayBuffer path, as `npm start` serves them). */
async function servePages(root: string): Promise<{ origin: string; close(): void }> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    readFile(join(root, path)).then((data) => {
      res.setHeader('Content-Type', TYPES[extname(path)] ?? 'application/octet-stream');
      res.end(data);
    }, () => { res.statusCode = 404; res.end(); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { origin: `http://127.0.0.1:${port}`, close: () => { server.closeAllConnections(); server.close(); } };
}

/** A worker's `webnbd:` mark (web/browser/worker.ts): what, when (ms since the epoch), the bytes' head. */
interface Mark { name: string; at: number; head?: number[] }

const OPT_NAMES: Record<number, string> = { 1: 'export_name', 2: 'abort', 3: 'list', 5: 'starttls', 6: 'info', 7: 'go', 8: 'structured_reply', 9: 'list_meta_context', 10: 'set_meta_context', 11: 'extended_headers' };
const CMD_NAMES: Record<number, string> = { 0: 'read', 1: 'write', 2: 'disc', 3: 'flush', 4: 'trim', 5: 'cache', 6: 'write_zeroes', 7: 'block_status' };
const be32 = (b: number[], at: number) => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;

/** What a message the client sent was, from its first bytes. */
function sent(head: number[]): string {
  if (head.length >= 12 && String.fromCharCode(...head.slice(0, 8)) === 'IHAVEOPT') return `opt_${OPT_NAMES[be32(head, 8)] ?? be32(head, 8)}`;
  const magic = be32(head, 0);
  if (magic === 0x25609513 || magic === 0x21e41c71) return CMD_NAMES[(head[6]! << 8) | head[7]!] ?? 'command';
  return head.length === 4 ? 'client_flags' : 'message';
}

/**
 * Where one run's milliseconds went, from setting src (t0) to the frame painted: the worker's
 * start, the WebSocket's upgrade through the bridge, the server's greeting, each option's round
 * trip (named after the option; several options sent at once share one), the first commands
 * (block status and the read of sector 0), the client's own work between them, and the page's
 * layout and paint after the last reply.
 */
export function breakdown(t0: number, marks: Mark[], loaded: number, painted: number): Record<string, number> {
  const out: Record<string, number> = {};
  const add = (k: string, ms: number) => { out[k] = (out[k] ?? 0) + ms; };
  const at = (n: string) => marks.find((m) => m.name === n)?.at;
  const [worker, connect, open] = [at('webnbd:worker'), at('webnbd:connect'), at('webnbd:open')];
  if (worker === undefined || connect === undefined || open === undefined) return out;
  // The worker usually started with the page (nbd-hexdump-define starts it): then only what is left of its start counts.
  add('worker_start', Math.max(0, worker - t0));
  add('until_connect', connect - Math.max(worker, t0));
  add('ws_upgrade', open - connect);
  let last = open;
  let label = 'greeting';
  let waiting = true; // from open, the client waits for the server's greeting
  for (const m of marks.filter((x) => x.name === 'webnbd:rx' || x.name === 'webnbd:tx')) {
    if (m.at > loaded) break;
    if (m.name === 'webnbd:tx') {
      // Sent while still waiting: pipelined with what went before, one round trip for both.
      const what = sent(m.head ?? []);
      add(waiting && label !== 'client_flags' ? label : 'client', m.at - last);
      label = waiting && label !== 'greeting' && label !== 'client_flags' ? `${label}+${what}` : what;
      waiting = true;
    } else {
      add(label, m.at - last);
      waiting = false;
    }
    last = m.at;
  }
  add('layout', loaded - last);
  add('paint', painted - loaded);
  return out;
}

export interface FirstSectorResult {
  /** The median run's milliseconds. */
  ms: number;
  /** Where the median run's time went (see breakdown()). */
  breakdown: Record<string, number>;
}

/** The median time, in milliseconds, from setting src to sector 0 painted. */
export async function firstSector(opts: FirstSectorOptions = {}): Promise<number> {
  return (await firstSectorDetail(opts)).ms;
}

/** The median run, with its breakdown. */
export async function firstSectorDetail(opts: FirstSectorOptions = {}): Promise<FirstSectorResult> {
  const runs = opts.runs ?? 9;
  const site = await servePages(resolve(opts.site ?? 'dist'));
  const bridge = await startBridge({ target: { command: ['nbdkit', '-r', 'sparse-random', 'size=1T', 'seed=1'] }, origins: [site.origin] });
  const browser = opts.browser ?? await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
  const times: FirstSectorResult[] = [];
  try {
    // One page first, untimed: the browser's first page pays for starting its processes.
    for (let i = -1; i < runs; i++) {
      const page = await browser.newPage();
      await page.goto(`${site.origin}/embed.html`);
      await page.waitForFunction(() => customElements.get('nbd-hexdump') !== undefined);
      const r = await page.evaluate(async (src) => {
        const el = document.createElement('nbd-hexdump');
        el.setAttribute('length', 'all');
        const t0 = performance.now();
        let loaded = 0;
        const shown = new Promise<number>((res, rej) => {
          el.addEventListener('nbd-load', () => { loaded = performance.now(); requestAnimationFrame(() => setTimeout(() => res(performance.now() - t0))); }, { once: true });
          el.addEventListener('nbd-error', (e) => rej(new Error((e as Event & { message: string }).message)), { once: true });
        });
        el.src = src;
        document.body.replaceChildren(el);
        const ms = await shown;
        const origin = performance.timeOrigin;
        return { ms, t0: origin + t0, loaded: origin + loaded, first: el.text.split('\n')[0] ?? '' };
      }, bridge.uris[0]!);
      if (!r.first.startsWith('00000000  ')) throw new Error(`sector 0 not shown: ${r.first}`);
      if (i < 0) {
        await page.close();
        continue;
      }
      const marks: Mark[] = [];
      for (const w of page.workers()) {
        marks.push(...await w.evaluate(() => performance.getEntriesByType('mark').filter((m) => m.name.startsWith('webnbd:'))
          .map((m) => ({ name: m.name, at: performance.timeOrigin + m.startTime, head: ((m as PerformanceMark).detail as { head?: number[] } | null)?.head }))));
      }
      marks.sort((a, b) => a.at - b.at);
      if (process.env.TRACE) for (const m of marks) opts.log?.(`  ${(m.at - r.t0).toFixed(1)} ${m.name} ${m.head ? sent(m.head) : ''}`);
      const parts = breakdown(r.t0, marks, r.loaded, r.t0 + r.ms);
      times.push({ ms: r.ms, breakdown: parts });
      const shownParts = Object.entries(parts).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
      opts.log?.(`first sector, run ${i + 1}: ${r.ms.toFixed(1)} ms (${shownParts})`);
      await page.close();
    }
  } finally {
    if (!opts.browser) await browser.close();
    await bridge.close();
    site.close();
  }
  times.sort((a, b) => a.ms - b.ms);
  return times[Math.floor(times.length / 2)]!;
}
