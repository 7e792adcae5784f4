// Faults with real servers, in Node: nbdkit or websockify killed with 64 reads in flight (over
// TCP, a Unix socket and websockify); nbdkit's error filter injecting EIO into 10% of 10,000
// reads, checked against nbdkit's own log; ESHUTDOWN leading to a soft disconnect; and a slow
// server (rate filter) against per-command timeouts and AbortSignals.

import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NbdHandle } from '../../web/core/handle.js';
import { create } from '../../web/node/index.js';
import { startNbdkit, startWebsockify, type NbdServer, type ServerProcess } from '../support/servers.js';

const dir = mkdtempSync(join(tmpdir(), 'webnbd-faults-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** nbdkit's pattern plugin: each 8-byte big-endian word holds its own offset. */
function isPattern(buf: Uint8Array, offset: number): boolean {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = 0; i < buf.length; i += 8) if (view.getBigUint64(i) !== BigInt(offset + i)) return false;
  return true;
}

/**
 * 64 reads in flight, each with a completion callback and a free hook that count their calls.
 * `all` settles when every completion callback has run.
 */
function readsInFlight(h: NbdHandle, n = 64) {
  const completions = new Map<number, number[]>();
  const frees = new Map<number, number>();
  let finish!: () => void;
  const all = new Promise<void>((r) => (finish = r));
  let completed = 0;
  for (let i = 0; i < n; i++) {
    let cookie = 0;
    cookie = h.aioPread(new Uint8Array(4096), i * 4096, {
      callback: (err) => {
        completions.set(cookie, [...(completions.get(cookie) ?? []), err.value]);
        if (++completed === n) finish();
        return 1;
      },
      free: () => void frees.set(cookie, (frees.get(cookie) ?? 0) + 1),
    });
  }
  return { completions, frees, all };
}

/** Kill something while 64 reads are held in flight by the delay filter; check how they end. */
async function killMidRead(connect: () => Promise<{ uri: string; victim: () => void }>) {
  const { uri, victim } = await connect();
  const h = create();
  await h.connectUri(uri);
  const r = readsInFlight(h);
  expect(h.aioInFlight()).toBe(64);
  await sleep(300); // let the requests reach nbdkit
  const t0 = Date.now();
  victim();
  await r.all;
  const elapsed = Date.now() - t0;
  await sleep(300); // anything running twice would have by now
  return { h, elapsed, ...r };
}

function expectAllFailedOnce(via: string, r: Awaited<ReturnType<typeof killMidRead>>): void {
  const codes = new Set([...r.completions.values()].flat());
  console.log(`${via}: 64 reads failed ${r.elapsed} ms after the kill, errno ${[...codes].join(', ')}`);
  expect(r.elapsed).toBeLessThan(1000);
  expect(r.completions.size).toBe(64);
  for (const [cookie, errs] of r.completions) {
    expect(errs, `cookie ${cookie}`).toHaveLength(1);
    expect(errs[0]).toBeGreaterThan(0);
    expect(r.frees.get(cookie)).toBe(1);
  }
  expect(r.h.aioIsDead()).toBe(true);
  expect(r.h.aioInFlight()).toBe(0);
  expect(() => r.h.aioPread(new Uint8Array(1), 0)).toThrow(/invalid state: DEAD/);
}

const slowNbdkit = (unix = false) => startNbdkit(['--filter=delay', 'pattern', '64M', 'rdelay=10'], { unix });
/** SIGKILL to websockify and its per-connection processes: the whole process group. */
const killGroup = (p: ServerProcess) => () => process.kill(-p.pid, 'SIGKILL');

describe('nbdkit SIGKILLed with 64 reads in flight: all fail within 1 s, the handle is dead, no callback runs twice', () => {
  it.each([
    ['tcp', async () => { const n = await slowNbdkit(); return { uri: n.uri, victim: () => n.kill('SIGKILL') }; }],
    ['unix', async () => { const n = await slowNbdkit(true); return { uri: n.uri, victim: () => n.kill('SIGKILL') }; }],
    ['websockify', async () => {
      const n = await slowNbdkit();
      const ws = await startWebsockify({ port: n.port! });
      return { uri: `nbd+ws://127.0.0.1:${ws.port}/`, victim: () => n.kill('SIGKILL') };
    }],
  ])('server-killed-mid-read-%s', async (via, connect) => {
    expectAllFailedOnce(`nbdkit killed, ${via}`, await killMidRead(connect));
  });

  it('websockify-killed-mid-read', async () => {
    expectAllFailedOnce('websockify killed', await killMidRead(async () => {
      const n = await slowNbdkit();
      const ws = await startWebsockify({ port: n.port! });
      return { uri: `nbd+ws://127.0.0.1:${ws.port}/`, victim: killGroup(ws) };
    }));
  });
});

/** nbdkit's log filter: the offsets of the reads that returned an error, from its own log. */
function failedReadsInLog(log: string): { reads: number; failed: Map<number, string> } {
  const offsets = new Map<string, number>();
  const failed = new Map<number, string>();
  let reads = 0;
  for (const line of log.split('\n')) {
    const start = / connection=(\d+) Read id=(\d+) offset=(0x[0-9a-f]+) count=/.exec(line);
    if (start) {
      reads++;
      offsets.set(`${start[1]}/${start[2]}`, Number(start[3]));
    }
    const end = / connection=(\d+) \.\.\.Read id=(\d+) return=-1 error=(\w+)/.exec(line);
    if (end) failed.set(offsets.get(`${end[1]}/${end[2]}`)!, end[3]!);
  }
  return { reads, failed };
}

describe('nbdkit error filter at 10% over 10,000 reads', () => {
  it('exactly-the-injected-errors-fail-and-every-success-has-the-right-data', async () => {
    const N = 10_000;
    const SIZE = 4096;
    const logfile = join(dir, 'error-filter.log');
    const nbd = await startNbdkit(['--filter=log', '--filter=error', 'pattern', '64M', 'error-pread-rate=10%', `logfile=${logfile}`]);
    const h = create();
    await h.connectUri(nbd.uri);
    const failed = new Map<number, number>();
    const wrong: number[] = [];
    let next = 0;
    // 64 reads in flight; each at its own offset, so nbdkit's log names each one.
    const lane = async () => {
      const buf = new Uint8Array(SIZE);
      for (let i = next++; i < N; i = next++) {
        buf.fill(0xee);
        try {
          await h.pread(buf, i * SIZE);
          if (!isPattern(buf, i * SIZE)) wrong.push(i);
        } catch (e) {
          failed.set(i * SIZE, (e as { errno: number }).errno);
          // pread_initialize: a failed read shows zeros, never what was there before.
          if (!buf.every((b) => b === 0)) wrong.push(i);
        }
      }
    };
    await Promise.all(Array.from({ length: 64 }, lane));
    await h.shutdown();
    for (let t = 0; !/ Disconnect /.test(existsSync(logfile) ? readFileSync(logfile, 'utf8') : '') && t < 100; t++) await sleep(50);
    const log = failedReadsInLog(readFileSync(logfile, 'utf8'));
    expect(log.reads).toBe(N);
    expect(wrong).toEqual([]);
    expect([...failed.keys()].sort((a, b) => a - b)).toEqual([...log.failed.keys()].sort((a, b) => a - b));
    expect(new Set(log.failed.values())).toEqual(new Set(['EIO']));
    expect(new Set(failed.values())).toEqual(new Set([5])); // EIO
    // 10% of 10,000: the binomial spread is ±30, so this cannot fail by chance.
    expect(failed.size).toBeGreaterThan(700);
    expect(failed.size).toBeLessThan(1300);
    console.log(`error filter: ${failed.size} of ${N} reads failed with EIO, the same ${log.failed.size} that nbdkit's log shows; ${N - failed.size} verified`);
  });
});

describe('the server says ESHUTDOWN', () => {
  it('eshutdown-from-nbdkit-error-filter-makes-the-client-send-NBD_CMD_DISC', async () => {
    const inject = join(dir, 'shutdown');
    const nbd: NbdServer = await startNbdkit(['--filter=error', 'pattern', '1M', 'error=ESHUTDOWN', 'error-pread-rate=100%', `error-pread-file=${inject}`], { verbose: true });
    const h = create();
    await h.connectUri(nbd.uri);
    const buf = new Uint8Array(4096);
    await h.pread(buf, 8192);
    expect(isPattern(buf, 8192)).toBe(true);
    writeFileSync(inject, '');
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => h.pread(new Uint8Array(512), i * 512)));
    expect(results.map((r) => (r.status === 'rejected' ? (r.reason as { code: string }).code : 'ok'))).toEqual(Array(8).fill('ESHUTDOWN'));
    expect(() => h.aioPread(new Uint8Array(1), 0)).toThrow(/ESHUTDOWN|shutting down|disconnecting/);
    for (let t = 0; !h.aioIsClosed() && !h.aioIsDead() && t < 100; t++) await sleep(20);
    expect(h.aioIsClosed()).toBe(true);
    // nbdkit -v says how the client left: it sent NBD_CMD_DISC, no hard close.
    for (let t = 0; !/closing connection/.test(nbd.log()) && t < 100; t++) await sleep(20);
    expect(nbd.log()).toMatch(/client sent NBD_CMD_DISC, closing connection/);
  });

  it('a-hard-close-is-not-mistaken-for-a-soft-disconnect', async () => {
    // The control for the test above: nbdkit's log tells the two apart.
    const nbd = await startNbdkit(['pattern', '1M'], { verbose: true });
    const h = create();
    await h.connectUri(nbd.uri);
    await h.pread(new Uint8Array(512), 0);
    h.close();
    for (let t = 0; !/(closing connection|client closed input)/i.test(nbd.log()) && t < 100; t++) await sleep(20);
    expect(nbd.log()).not.toMatch(/client sent NBD_CMD_DISC/);
  });
});

describe('a slow server (nbdkit rate filter): timeouts and AbortSignal', () => {
  it('slow-reads-time-out-or-are-aborted-and-the-connection-stays-usable', async () => {
    // 8 Mbit/s per connection: once the 2 s burst is spent, a 1 MiB read takes about a second.
    const nbd = await startNbdkit(['--filter=rate', 'pattern', '64M', 'connection-rate=8M']);
    const h = create();
    await h.connectUri(nbd.uri);
    const big = new Uint8Array(1 << 20);
    await h.pread(big, 0);
    await h.pread(big, 1 << 20);
    expect(isPattern(big, 1 << 20)).toBe(true);

    /** Issue a 1 MiB read that ends early with `code`; its reply must still be read and dropped. */
    const endsEarly = async (opts: { timeout?: number; signal?: AbortSignal }, code: string) => {
      const buf = new Uint8Array(1 << 20).fill(0xee);
      const before = h.statsBytesReceived();
      await expect(h.pread(buf, 4 << 20, 0, opts)).rejects.toMatchObject({ code });
      expect(buf.every((b) => b === 0)).toBe(true); // zeroed when issued, never written since
      buf.fill(0xee);
      // Wait until the reply has come (its megabyte counted), then check it did not land in buf.
      for (let t = 0; h.statsBytesReceived() - before < 1n << 20n && t < 300; t++) await sleep(20);
      expect(h.statsBytesReceived() - before).toBeGreaterThanOrEqual(1n << 20n);
      expect(buf.every((b) => b === 0xee)).toBe(true);
    };
    await endsEarly({ timeout: 100 }, 'ETIMEDOUT');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    await endsEarly({ signal: ac.signal }, 'ECANCELED');

    // Usable afterwards: nothing left in flight, and reads return the right data.
    expect(h.aioIsReady()).toBe(true);
    expect(h.aioInFlight()).toBe(0);
    const small = new Uint8Array(65536);
    await h.pread(small, 12345 * 8);
    expect(isPattern(small, 12345 * 8)).toBe(true);
    await h.shutdown();
    expect(h.aioIsClosed()).toBe(true);
  });
});
