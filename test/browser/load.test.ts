// Load, in the shape of libnbd's tests/aio-parallel.c: 8 connections × 64 commands in flight ×
// 16 KiB random reads and writes for 10 s on nbdkit's memory plugin, every byte verified. Each
// connection owns a disjoint region and keeps a shadow copy of it: a write updates the shadow, a
// read is checked against it, and at the end the whole region is read back. The same function
// runs in Node (TCP; the compiled library in a child process, as users run it, not through
// Vitest's module runner) and in Chromium (the page's worker, through websockify).

import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NbdHandle } from '../../web/node/index.js';
import { labPage, serveDist, type Site } from '../support/browser.js';
import { startNbdkit, startWebsockify } from '../support/servers.js';

/** A copy of dist/ that stays put while other test runs rebuild dist/. */
const pages = join(mkdtempSync(join(tmpdir(), 'webnbd-pages-')), 'dist');
cpSync('dist', pages, { recursive: true });

interface Params { uri: string; connections: number; inFlight: number; size: number; region: number; seconds: number }
interface Result { ops: number; reads: number; writes: number; seconds: number; bytesVerified: number; problems: string[] }
type Api = { create(): Pick<NbdHandle, 'connectUri' | 'aioPread' | 'aioPwrite' | 'pread' | 'shutdown'>; allocBuffer?(n: number): Uint8Array };

/** Self-contained (no outside references): it is also serialized into the page by page.evaluate. */
async function aioParallel(p: Params, api?: Api): Promise<Result> {
  const w = api ?? (globalThis as unknown as { webnbd: Api }).webnbd;
  const alloc = (n: number) => (w.allocBuffer ? w.allocBuffer(n) : new Uint8Array(n));
  const problems: string[] = [];
  const problem = (s: string) => { if (problems.length < 10) problems.push(s); };
  const same = (a: Uint8Array, b: Uint8Array) => {
    const x = new Uint32Array(a.buffer, a.byteOffset, a.length / 4);
    const y = new Uint32Array(b.buffer, b.byteOffset, b.length / 4);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  };
  let ops = 0, reads = 0, writes = 0, bytesVerified = 0;
  const t0 = Date.now();
  const deadline = t0 + p.seconds * 1000;
  let elapsed = 0;

  const connection = async (n: number) => {
    const h = w.create();
    await h.connectUri(p.uri);
    const base = n * p.region;
    const shadow = new Uint8Array(p.region); // nbdkit's memory plugin starts out zeroed
    const slots = p.region / p.size;
    const busy = new Uint8Array(slots);
    let seed = 0x9e3779b9 ^ (n + 1) * 0x85ebca6b;
    const rand = () => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return seed >>> 0; };
    let outstanding = 0;
    let drained!: () => void;
    const done = new Promise<void>((r) => (drained = r));

    const issue = (buf: Uint8Array) => {
      let slot = rand() % slots;
      while (busy[slot]) slot = (slot + 1) % slots; // slots in flight never overlap
      busy[slot] = 1;
      const at = slot * p.size;
      const expected = shadow.subarray(at, at + p.size);
      const write = (rand() & 1) === 1;
      if (write) {
        const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length / 4);
        for (let i = 0; i < words.length; i++) words[i] = rand();
        expected.set(buf);
      }
      outstanding++;
      const completion = (err: { value: number }) => {
        if (err.value) problem(`connection ${n}: ${write ? 'write' : 'read'} at ${base + at} failed: errno ${err.value}`);
        else if (!write && !same(buf, expected)) problem(`connection ${n}: read at ${base + at} differs from what was written`);
        if (write) writes++;
        else { reads++; bytesVerified += p.size; }
        ops++;
        busy[slot] = 0;
        outstanding--;
        if (Date.now() < deadline && problems.length === 0) issue(buf);
        else if (outstanding === 0) drained();
        return 1;
      };
      if (write) h.aioPwrite(buf, base + at, completion);
      else h.aioPread(buf, base + at, completion);
    };
    for (let i = 0; i < p.inFlight; i++) issue(alloc(p.size));
    await done;
    elapsed = Math.max(elapsed, (Date.now() - t0) / 1000);
    // Read the whole region back.
    const chunk = alloc(262144);
    for (let at = 0; at < p.region; at += chunk.length) {
      await h.pread(chunk, base + at);
      if (!same(chunk, shadow.subarray(at, at + chunk.length))) problem(`connection ${n}: final read at ${base + at} differs`);
      bytesVerified += chunk.length;
    }
    await h.shutdown();
  };
  await Promise.all(Array.from({ length: p.connections }, (_, n) => connection(n)));
  return { ops, reads, writes, seconds: elapsed, bytesVerified, problems };
}

const PARAMS = { connections: 8, inFlight: 64, size: 16384, region: 8 << 20, seconds: 10 };
const MEMORY = String(PARAMS.connections * PARAMS.region);

function report(where: string, r: Result): void {
  console.log(`load (${where}): ${r.ops} ops (${r.reads} reads, ${r.writes} writes) in ${r.seconds.toFixed(1)} s = ${(r.ops / r.seconds).toFixed(0)} ops/s; ` +
    `${(r.bytesVerified / 1048576).toFixed(0)} MiB verified`);
  expect(r.problems).toEqual([]);
  expect(r.reads).toBeGreaterThan(0);
  expect(r.writes).toBeGreaterThan(0);
  // Every read during the run, then every region in full.
  expect(r.bytesVerified).toBe(r.reads * PARAMS.size + PARAMS.connections * PARAMS.region);
}

describe('aio-parallel load on nbdkit memory', () => {
  it('node-tcp-8-connections-64-in-flight-10-s-every-byte-verified', async () => {
    const nbd = await startNbdkit(['memory', MEMORY]);
    // aioParallel is self-contained, so its source runs as is in the child.
    const script = `const { create } = await import(process.argv[1]); const aioParallel = ${aioParallel.toString()};
      console.log(JSON.stringify(await aioParallel(JSON.parse(process.argv[2]), { create })));`;
    const lib = join(resolve(import.meta.dirname, '../..'), 'build/web/node/index.js');
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, lib, JSON.stringify({ uri: nbd.uri, ...PARAMS })]);
    report('Node, TCP', JSON.parse(stdout) as Result);
  });

  describe('browser', () => {
    let site: Site;
    beforeAll(async () => { site = await serveDist(true, pages); });
    afterAll(() => site.close());

    it('browser-worker-through-websockify-8-connections-64-in-flight-10-s-every-byte-verified', async () => {
      const nbd = await startNbdkit(['memory', MEMORY]);
      const ws = await startWebsockify({ port: nbd.port! });
      const { page, errors } = await labPage(site);
      report('Chromium worker, websockify', await page.evaluate(aioParallel, { uri: `nbd+ws://127.0.0.1:${ws.port}/`, ...PARAMS }));
      expect(errors).toEqual([]);
    });
  });
});
