// The benchmark of issue #7: every measurement in one run, one after another (never two at once:
// this machine has two cores), against the same exports. bench.ts runs it at full size and
// writes results.json; smoke.test.ts runs it tiny, to prove it still works.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { Session } from 'node:inspector/promises';
import { serveDist, type Site } from '../support/browser.js';
import { Chromium } from './chromium.js';
import { startFixtures, type Fixtures } from './fixtures.js';
import { BROWSER_PLAN, ceiling, closeRead, latencies, prepareRead, quantile, readPass } from './in-browser.js';
import { nodeRead } from './node-read.js';
import { copyPhase, type CopyResults } from './copy.js';
import { downloadPhase } from './download.js';
import { pageSeqPread, wasmPread } from './wasm-pread.js';
import { WEBNBD, capture, median, medianMs, mibps, run } from './tools.js';

export interface BenchConfig {
  /** Size of the export (random bytes). */
  exportBytes: number;
  /** Bytes copied by `webnbd copy` and nbdcopy (their own export). */
  copyBytes: number;
  /** Bytes for hexdump -C, xxd and `webnbd dump -C` (the export's head). */
  hexBytes: number;
  /** Passes over the export in the browser: the heap is measured over all of them. */
  browserPasses: number;
  /** Bytes of each bare-WebSocket flood (two before each pass: bare, and copying into shared memory). */
  ceilingBytes: number;
  latencySamples: number;
  /** Size of the export the browser downloads to a file (download.ts), and its passes. */
  downloadBytes: number;
  downloadPasses: number;
  /** Fresh pages timed by first-sector.ts. */
  firstSectorRuns: number;
  /** Timed runs of the quick measurements (the median is reported). */
  runs: number;
  /** Where the built pages are (vite build). */
  site: string;
  /** Write CPU profiles to build/bench-profiles. */
  profile: boolean;
  /** Only these phases (node, dumps, browser, first-sector); the others' figures are NaN. */
  only?: string[];
  log: (line: string) => void;
}

export interface Results extends CopyResults {
  browser_ceiling_mibps: number;
  /** Not a target: the same flood, each message copied into a SharedArrayBuffer by the worker. */
  browser_ceiling_copy_mibps: number;
  /** Not a target: four bare sockets at once (null if the export is not can_multi_conn). */
  browser_ceiling_4_sockets_mibps: number | null;
  /** The same four sockets, each copying its messages into a SharedArrayBuffer (webnbd's one copy); not a target. */
  browser_ceiling_4_sockets_copy_mibps: number | null;
  /** webnbd reading with four connections: the page's pool (web/browser/multi.ts), a worker each. */
  browser_read_multiconn_mibps: number | null;
  browser_read_mibps: number;
  browser_read_fallback_mibps: number;
  /** The isolated page with completions posted (the plain pages' way) rather than through the ring. */
  browser_read_postmessage_mibps: number;
  native_mibps: number;
  node_tcp_mibps: number;
  node_ws_mibps: number;
  dump_mibps: number;
  nbddump_mibps: number;
  dump_C_mibps: number;
  hexdump_C_mibps: number;
  xxd_mibps: number;
  browser_p50_us: number;
  browser_p99_us: number;
  echo_p50_us: number;
  /** The same 512-byte reads with completions posted, and the echo measured beside them. */
  browser_p50_postmessage_us: number;
  echo_p50_postmessage_us: number;
  first_sector_ms: number | null;
  /** Where the median first-sector run's milliseconds went (first-sector.ts, breakdown()). */
  first_sector_breakdown_ms: Record<string, number> | null;
  heap_growth_mib: number;
  /** webnbd/browser's download() of a pattern export into the origin-private file system, four connections (download.ts). */
  browser_download_mibps: number;
  /** The page's (and its worker's) memory above its start during those downloads. */
  browser_download_memory_mib: number;
  /** Four bare sockets' bytes written to the same kind of file, taking turns with downloads (in-browser.ts, ceiling() with `file`). */
  browser_ceiling_4_sockets_file_mibps: number;
  /** A C program's sequential 64 KiB nbd_pread loop in the browser (wasm/bench/bench.c, Asyncify). */
  wasm_pread_mibps: number;
  /** The same loop in TypeScript through the page API (the lab page's handle), same run. */
  browser_seq_pread_mibps: number;
  /** bench.c's µs per failing nbd_pread (an Asyncify unwind and rewind, no I/O) and per nbd_get_size (a call into the runtime). */
  wasm_asyncify_us: number;
  wasm_call_us: number;
  /** `webnbd dump` and nbddump printed the same bytes (SHA-256 of the whole output). */
  dump_identical: boolean;
  /** `webnbd dump -C` and hexdump -C printed the same bytes for the hexdump range. */
  dump_C_identical: boolean;
  machine: Record<string, string | number>;
  /** Load average before and after: other work on the machine skews everything. */
  load: [number, number];
}

const MiB = 1 << 20;
const MULTI_CONN = 4;
const PROFILES = resolve(import.meta.dirname, '../../build/bench-profiles');

function saveProfile(name: string, profile: unknown): void {
  mkdirSync(PROFILES, { recursive: true });
  writeFileSync(join(PROFILES, `${name}.cpuprofile`), JSON.stringify(profile));
}

async function machine(): Promise<Record<string, string | number>> {
  const first = (s: string) => s.split('\n')[0]!;
  const deb = (pkg: string) => capture(['dpkg-query', '-W', '-f=${Version}', pkg]);
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    chromium: await deb('chromium'),
    nbdkit: first(await capture(['nbdkit', '--version'])),
    libnbd: (await capture(['nbdcopy', '--version'])).split('\n').find((l) => l.startsWith('libnbd')) ?? 'unknown',
    websockify: await deb('websockify'),
  };
}

/** Node: nbdcopy, webnbd over TCP and webnbd through websockify, taking turns (medians of cfg.runs). */
async function nodePhase(fx: Fixtures, cfg: BenchConfig): Promise<Pick<Results, 'native_mibps' | 'node_tcp_mibps' | 'node_ws_mibps'>> {
  const native: number[] = [];
  const tcp: number[] = [];
  const ws: number[] = [];
  for (let i = 0; i < cfg.runs; i++) {
    native.push((await run(['nbdcopy', '--connections=1', fx.tcpUri, 'null:'])).ms);
    tcp.push((await nodeRead(fx.tcpUri)).ms);
    ws.push((await nodeRead(fx.wsUri)).ms);
  }
  if (cfg.profile) {
    for (const [name, uri] of [['node-tcp', fx.tcpUri], ['node-ws', fx.wsUri]] as const) {
      const s = new Session();
      s.connect();
      await s.post('Profiler.enable');
      await s.post('Profiler.start');
      await nodeRead(uri);
      saveProfile(name, (await s.post('Profiler.stop')).profile);
      s.disconnect();
    }
  }
  const [n, t, w] = [median(native), median(tcp), median(ws)];
  cfg.log(`node: nbdcopy ${n.toFixed(0)} ms, webnbd tcp ${t.toFixed(0)} ms, ws ${w.toFixed(0)} ms (medians of ${cfg.runs})`);
  return { native_mibps: mibps(fx.size, n), node_tcp_mibps: mibps(fx.size, t), node_ws_mibps: mibps(fx.size, w) };
}

type DumpResults = Pick<Results, 'dump_mibps' | 'nbddump_mibps' | 'dump_C_mibps' | 'hexdump_C_mibps' | 'xxd_mibps' | 'dump_identical' | 'dump_C_identical'>;

/** The dumps: timed with output to /dev/null; compared, untimed, through SHA-256. */
async function dumpPhase(fx: Fixtures, cfg: BenchConfig): Promise<DumpResults> {
  const hexLen = String(cfg.hexBytes);
  const dumpCmd = [...WEBNBD, 'dump', fx.tcpUri];
  const dumpC = [...WEBNBD, 'dump', '-C', '-n', hexLen, fx.tcpUri];
  const nbddump = (await run(['nbddump', fx.tcpUri])).ms;
  const dump = await medianMs(dumpCmd, cfg.runs);
  const hexdump = (await run(['hexdump', '-C', fx.hexFile])).ms;
  const xxd = await medianMs(['xxd', fx.hexFile], cfg.runs);
  const dumpCms = await medianMs(dumpC, cfg.runs);
  cfg.log(`dump: nbddump ${nbddump.toFixed(0)} ms, webnbd dump ${dump.toFixed(0)} ms; hexdump -C ${hexdump.toFixed(0)} ms, xxd ${xxd.toFixed(0)} ms, webnbd dump -C ${dumpCms.toFixed(0)} ms`);
  if (cfg.profile) {
    await run([process.execPath, '--cpu-prof', `--cpu-prof-dir=${PROFILES}`, ...WEBNBD.slice(1), 'dump', fx.tcpUri]);
  }
  // Same output? The whole dump; for -C, the first MiB (hexdump -C is slow, and this is a check).
  const [a, b] = [await run(['nbddump', fx.tcpUri], { hash: true }), await run(dumpCmd, { hash: true })];
  const head = String(Math.min(cfg.hexBytes, MiB));
  const [c, d] = [await run(['hexdump', '-C', '-n', head, fx.hexFile], { hash: true }), await run([...WEBNBD, 'dump', '-C', '-n', head, fx.tcpUri], { hash: true })];
  return {
    nbddump_mibps: mibps(fx.size, nbddump),
    dump_mibps: mibps(fx.size, dump),
    hexdump_C_mibps: mibps(cfg.hexBytes, hexdump),
    xxd_mibps: mibps(cfg.hexBytes, xxd),
    dump_C_mibps: mibps(cfg.hexBytes, dumpCms),
    dump_identical: a.sha256 === b.sha256 && a.outBytes === b.outBytes,
    dump_C_identical: c.sha256 === d.sha256,
  };
}

type BrowserResults = Pick<Results, 'browser_ceiling_mibps' | 'browser_ceiling_copy_mibps' | 'browser_ceiling_4_sockets_mibps' | 'browser_ceiling_4_sockets_copy_mibps' | 'browser_read_multiconn_mibps' | 'browser_read_mibps' | 'browser_read_fallback_mibps' | 'browser_read_postmessage_mibps' | 'browser_p50_us' | 'browser_p99_us' | 'echo_p50_us' | 'browser_p50_postmessage_us' | 'echo_p50_postmessage_us' | 'heap_growth_mib' | 'wasm_pread_mibps' | 'browser_seq_pread_mibps' | 'wasm_asyncify_us' | 'wasm_call_us'>;

/** The lab page's worker (Vite names it assets/worker-HASH.js). */
const labWorker = (url: string) => /\/assets\/worker[-.][^/]*\.js$/.test(url);

async function browserPhase(chromium: Chromium, fx: Fixtures, cfg: BenchConfig, isolated: Site, plain: Site): Promise<BrowserResults> {
  const open = (site: Site) => chromium.page(`${site.origin}/lab.html`, "'webnbd' in window");
  let page = await open(isolated);

  // Isolated page: passes over the export into one SharedArrayBuffer, each after a bare flood
  // (taking turns, so both see the same machine); the worker's heap is measured after a GC
  // before the first pass and after the last.
  const { shared } = await prepareRead(page, fx.wsUri, fx.size);
  if (!shared) throw new Error('the isolated page did not get a SharedArrayBuffer');
  const worker = await chromium.worker(labWorker);
  const heapUsed = async () => {
    await worker('HeapProfiler.collectGarbage');
    return (await worker('Runtime.getHeapUsage')).usedSize as number;
  };
  const heap0 = await heapUsed();
  const floods: number[] = [];
  const copies: number[] = [];
  const passes: number[] = [];
  for (let i = 0; i < cfg.browserPasses; i++) {
    floods.push(await ceiling(page, fx.floodUrl, cfg.ceilingBytes));
    copies.push(await ceiling(page, fx.floodUrl, cfg.ceilingBytes, true));
    if (cfg.profile && i === 0) {
      await worker('Profiler.enable');
      await worker('Profiler.start');
    }
    passes.push(await readPass(page, BROWSER_PLAN));
    if (cfg.profile && i === 0) saveProfile('browser-worker-read', (await worker('Profiler.stop')).profile);
  }
  const heap1 = await heapUsed();
  await closeRead(page);

  // The same page, completions posted instead of put in the ring (a worker of its own).
  const posted: number[] = [];
  await prepareRead(page, fx.wsUri, fx.size, 1, 'postMessage');
  for (let i = 0; i < Math.min(2, cfg.browserPasses); i++) posted.push(await readPass(page, BROWSER_PLAN));
  await closeRead(page);

  // nbdcopy's way where the server allows it (can_multi_conn): four connections, the page's pool
  // (a worker each), against four bare sockets in four workers (each websockify connection is a
  // Python process of its own).
  const multi = await prepareRead(page, fx.wsUri, fx.size, MULTI_CONN);
  const multiFloods: number[] = [];
  const multiCopies: number[] = [];
  const multiPasses: number[] = [];
  if (multi.multiConn) {
    for (let i = 0; i < 2; i++) {
      multiFloods.push(await ceiling(page, fx.floodUrl, cfg.ceilingBytes, false, MULTI_CONN));
      multiCopies.push(await ceiling(page, fx.floodUrl, cfg.ceilingBytes, true, MULTI_CONN));
      multiPasses.push(await readPass(page, BROWSER_PLAN));
    }
  }
  await closeRead(page);
  const lat = await latencies(page, fx.wsUri, fx.echoUrl, cfg.latencySamples);
  const latPosted = await latencies(page, fx.wsUri, fx.echoUrl, cfg.latencySamples, 'postMessage');
  // C in the browser against the page API: the same sequential 64 KiB loop, taking turns.
  const seqReads = Math.min(1024, fx.size / 65536);
  const seq: number[] = [];
  const wasm: Awaited<ReturnType<typeof wasmPread>>[] = [];
  for (let i = 0; i < 4; i++) {
    seq.push(await pageSeqPread(page, fx.wsUri, seqReads));
    wasm.push(await wasmPread(chromium, fx.wsUrl, seqReads));
  }
  await page.close();

  // A page that is not isolated: reads come back as transferred ArrayBuffers.
  page = await open(plain);
  const { shared: plainShared } = await prepareRead(page, fx.wsUri, fx.size);
  if (plainShared) throw new Error('the plain page got a SharedArrayBuffer');
  const fallbackMs = await readPass(page, BROWSER_PLAN);
  await closeRead(page);
  await page.close();

  const ms = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' ');
  cfg.log(`browser: floods ${ms(floods)} ms, with a copy ${ms(copies)} ms, passes ${ms(passes)} ms, completions posted ${ms(posted)} ms, fallback ${fallbackMs.toFixed(0)} ms; 64 KiB one at a time: page ${seq.map((x) => x.toFixed(1)).join(' ')} MiB/s, C ${wasm.map((x) => x.wasm_mibps.toFixed(1)).join(' ')} MiB/s; ${MULTI_CONN} sockets ${ms(multiFloods)} ms, with a copy ${ms(multiCopies)} ms, ${MULTI_CONN} connections ${ms(multiPasses)} ms`);
  return {
    browser_ceiling_mibps: mibps(cfg.ceilingBytes, median(floods)),
    browser_ceiling_copy_mibps: mibps(cfg.ceilingBytes, median(copies)),
    browser_ceiling_4_sockets_mibps: multiFloods.length ? mibps(cfg.ceilingBytes, median(multiFloods)) : null,
    browser_ceiling_4_sockets_copy_mibps: multiCopies.length ? mibps(cfg.ceilingBytes, median(multiCopies)) : null,
    browser_read_multiconn_mibps: multiPasses.length ? mibps(fx.size, median(multiPasses)) : null,
    browser_read_mibps: mibps(fx.size, median(passes)),
    browser_read_fallback_mibps: mibps(fx.size, fallbackMs),
    browser_read_postmessage_mibps: mibps(fx.size, median(posted)),
    browser_p50_us: quantile(lat.pread, 0.5),
    browser_p99_us: quantile(lat.pread, 0.99),
    echo_p50_us: quantile(lat.echo, 0.5),
    browser_p50_postmessage_us: quantile(latPosted.pread, 0.5),
    echo_p50_postmessage_us: quantile(latPosted.echo, 0.5),
    heap_growth_mib: (heap1 - heap0) / MiB,
    wasm_pread_mibps: median(wasm.map((w) => w.wasm_mibps)),
    browser_seq_pread_mibps: median(seq),
    wasm_asyncify_us: median(wasm.map((w) => w.asyncify_us)),
    wasm_call_us: median(wasm.map((w) => w.call_us)),
  };
}

/** Issue #5's figure, from test/bench/first-sector.ts (the inspector's side): its median of `runs` fresh pages, and where its time went. */
async function firstSectorMs(cfg: BenchConfig): Promise<{ ms: number; breakdown: Record<string, number> } | null> {
  if (!existsSync(resolve(import.meta.dirname, 'first-sector.ts'))) return null;
  const { firstSectorDetail } = await import('./first-sector.js');
  return firstSectorDetail({ site: cfg.site, runs: cfg.firstSectorRuns });
}

export async function runBench(cfg: BenchConfig): Promise<Results> {
  const load0 = loadavg()[0]!;
  const fx = await startFixtures(cfg.exportBytes, cfg.hexBytes);
  const isolated = await serveDist(true, cfg.site);
  const plain = await serveDist(false, cfg.site);
  try {
    const runs = (phase: string) => !cfg.only || cfg.only.includes(phase);
    // First, on a machine not yet writing back the gigabytes the copy and download phases write
    // (the fixtures' files are written back before it starts).
    if (runs('first-sector')) execFileSync('sync');
    const first = runs('first-sector') ? await firstSectorMs(cfg) : null;
    const skipped = <T extends object>(keys: (keyof T)[]): T => Object.fromEntries(keys.map((k) => [k, Number.NaN])) as T;
    const node = runs('node') ? await nodePhase(fx, cfg) : skipped<Awaited<ReturnType<typeof nodePhase>>>(['native_mibps', 'node_tcp_mibps', 'node_ws_mibps']);
    const dumps = runs('dumps') ? await dumpPhase(fx, cfg) : { ...skipped<DumpResults>(['dump_mibps', 'nbddump_mibps', 'dump_C_mibps', 'hexdump_C_mibps', 'xxd_mibps']), dump_identical: false, dump_C_identical: false };
    const copies = runs('copy') ? await copyPhase(cfg.copyBytes, cfg.log) : { ...skipped<CopyResults>(['copy_mibps', 'nbdcopy_mibps', 'copy_file_mibps', 'nbdcopy_file_mibps']), copy_identical: false };
    let downloads = skipped<Pick<Results, 'browser_download_mibps' | 'browser_download_memory_mib' | 'browser_ceiling_4_sockets_file_mibps'>>(['browser_download_mibps', 'browser_download_memory_mib', 'browser_ceiling_4_sockets_file_mibps']);
    let inBrowser = skipped<BrowserResults>(['browser_ceiling_mibps', 'browser_ceiling_copy_mibps', 'browser_ceiling_4_sockets_mibps', 'browser_ceiling_4_sockets_copy_mibps', 'browser_read_multiconn_mibps', 'browser_read_mibps', 'browser_read_fallback_mibps', 'browser_read_postmessage_mibps', 'browser_p50_us', 'browser_p99_us', 'echo_p50_us', 'browser_p50_postmessage_us', 'echo_p50_postmessage_us', 'heap_growth_mib', 'wasm_pread_mibps', 'browser_seq_pread_mibps', 'wasm_asyncify_us', 'wasm_call_us']);
    if (runs('browser')) {
      const chromium = await Chromium.launch();
      try {
        inBrowser = await browserPhase(chromium, fx, cfg, isolated, plain);
        if (runs('download')) downloads = await downloadPhase(chromium, isolated, fx.floodUrl, cfg.downloadBytes, cfg.downloadPasses, cfg.log);
      } finally {
        await chromium.close();
      }
    }
    cfg.log(first === null ? 'first_sector_ms: test/bench/first-sector.ts is not there: null' : `first sector: ${first.ms.toFixed(0)} ms (median of ${cfg.firstSectorRuns}): ${Object.entries(first.breakdown).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);
    // In the order of the issue's list.
    return {
      browser_ceiling_mibps: inBrowser.browser_ceiling_mibps,
      browser_ceiling_copy_mibps: inBrowser.browser_ceiling_copy_mibps,
      browser_read_mibps: inBrowser.browser_read_mibps,
      browser_read_fallback_mibps: inBrowser.browser_read_fallback_mibps,
      browser_read_postmessage_mibps: inBrowser.browser_read_postmessage_mibps,
      browser_ceiling_4_sockets_mibps: inBrowser.browser_ceiling_4_sockets_mibps,
      browser_ceiling_4_sockets_copy_mibps: inBrowser.browser_ceiling_4_sockets_copy_mibps,
      browser_read_multiconn_mibps: inBrowser.browser_read_multiconn_mibps,
      ...node,
      dump_mibps: dumps.dump_mibps,
      nbddump_mibps: dumps.nbddump_mibps,
      dump_C_mibps: dumps.dump_C_mibps,
      hexdump_C_mibps: dumps.hexdump_C_mibps,
      xxd_mibps: dumps.xxd_mibps,
      browser_p50_us: inBrowser.browser_p50_us,
      browser_p99_us: inBrowser.browser_p99_us,
      echo_p50_us: inBrowser.echo_p50_us,
      browser_p50_postmessage_us: inBrowser.browser_p50_postmessage_us,
      echo_p50_postmessage_us: inBrowser.echo_p50_postmessage_us,
      first_sector_ms: first?.ms ?? null,
      first_sector_breakdown_ms: first?.breakdown ?? null,
      heap_growth_mib: inBrowser.heap_growth_mib,
      ...copies,
      ...downloads,
      wasm_pread_mibps: inBrowser.wasm_pread_mibps,
      browser_seq_pread_mibps: inBrowser.browser_seq_pread_mibps,
      wasm_asyncify_us: inBrowser.wasm_asyncify_us,
      wasm_call_us: inBrowser.wasm_call_us,
      dump_identical: dumps.dump_identical,
      dump_C_identical: dumps.dump_C_identical,
      machine: await machine(),
      load: [load0, loadavg()[0]!],
    };
  } finally {
    await Promise.all([isolated.close(), plain.close()]);
    await fx.close();
  }
}
