// EOF at every byte: a real session with the reference server is recorded, then replayed cut
// after each prefix length of the server's transcript (handshake, option replies, every reply
// and chunk) before the server hangs up. Whatever the cut, the handle dies with ENOTCONN,
// commands whose replies were complete succeed with the right data, the rest fail with ENOTCONN,
// everything settles exactly once and nothing is written outside the callers' buffers.
// In opt mode this covers CVE-2021-20286 (the server dying in the middle of the GO reply).

import { describe, expect, it } from 'vitest';
import { errno } from '../../web/core/errors.js';
import type { NbdHandle } from '../../web/core/handle.js';
import * as B from '../support/bytes.js';
import type { ConnHandler } from '../support/fake-conn.js';
import { serveDisk, type ServeDiskOptions } from '../support/fake-server.js';
import { Arena, Ledger, until, type Entry } from '../support/hostile.js';
import { recording, replay, transcriptLength } from '../support/hostile-replay.js';
import { memoryHandle } from '../support/memory.js';

const SIZE = 65536;
const DATA = Uint8Array.from({ length: 8192 }, (_, i) => (i * 13 + 1) & 0xff); // then holes

/** What the client does: connect (and options in opt mode), then a mix of commands at once. */
async function session(handler: ConnHandler, optMode: boolean, recording = false) {
  const { h } = memoryHandle(handler, 'whole');
  const ledger = new Ledger();
  const arena = new Arena(2048, 32);
  const reads: [Entry, Uint8Array, number][] = [];
  h.addMetaContext('base:allocation');
  h.setOptMode(optMode);
  // Each step starts as soon as the previous one settles, so the server's EOF may land anywhere.
  const step = (name: string, p: Promise<unknown>) => (ledger.promise(name, p), p.then(() => true, () => false));
  let ok = await step('connect', h.connectUri('nbd://fake/'));
  if (ok && optMode) {
    ok = await step('optList', h.optList(() => 0)) && await step('optInfo', h.optInfo());
    const go = ledger.aio('aioOptGo', (cb) => h.aioOptGo(cb), true, 'callback');
    ok = ok && await until(() => Ledger.settled(go)) && go.errno === 0;
  }
  if (ok) {
    const read = (name: string, off: number, n: number, retire: boolean) => {
      const buf = arena.take(n);
      reads.push([ledger.aio(name, (cb) => h.aioPread(buf, off, cb), retire), buf, off]);
    };
    read('read across data and hole', 8180, 24, true);
    if ((() => { try { return h.canMetaContext('base:allocation'); } catch { return true; } })()) ledger.aio('block status', (cb) => h.aioBlockStatus(SIZE, 0, () => 0, cb));
    ledger.aio('write', (cb) => h.aioPwrite(Uint8Array.of(1, 2, 3), 20000, cb), false);
    read('read kept for aioCommandCompleted', 100, 16, false);
    const buf = arena.take(12);
    reads.push([ledger.promise('pread', h.pread(buf, 4000)), buf, 4000]);
    ledger.promise('flush', h.flush());
    await until(() => ledger.entries.every(Ledger.settled));
  }
  // The recording run's server never hangs up: nothing to wait for there.
  if (!recording) await until(() => h.aioIsDead() || h.aioIsClosed());
  ledger.retire(h);
  return { h, ledger, arena, reads };
}

const disk = (x: number) => (x < DATA.length ? DATA[x]! : 0);

const SCENARIOS: [string, ServeDiskOptions, boolean?][] = [
  ['extended headers, chunked reads with holes', { readChunks: { size: 8 }, structuredSuccess: 'chunk' }],
  ['structured replies, compact headers', { readChunks: { size: 10 }, unsupported: [B.NBD_OPT_EXTENDED_HEADERS] }],
  ['simple replies only', { unsupported: [B.NBD_OPT_STRUCTURED_REPLY, B.NBD_OPT_EXTENDED_HEADERS] }],
  ['NBD_OPT_EXPORT_NAME fallback, with zeroes', { unsupported: [B.NBD_OPT_GO, B.NBD_OPT_INFO, B.NBD_OPT_EXTENDED_HEADERS], noZeroes: false }],
  ['oldstyle', { handshake: 'oldstyle' }],
  ['opt mode: list, info, go (CVE-2021-20286)', { exports: [{ name: '', size: SIZE, data: DATA }, { name: 'other', size: 512 }] }, true],
];

describe('EOF at every byte of a real transcript', () => {
  it.each(SCENARIOS)('%s', async (_name, opts, optMode = false) => {
    const rec = recording(serveDisk({ size: SIZE, data: DATA, ...opts }).handler);
    const full = await session(rec.handler, optMode, true);
    expect(full.ledger.entries.map((e) => [e.name, e.errno])).toEqual(full.ledger.entries.map((e) => [e.name, 0]));
    const total = transcriptLength(rec.turns);
    const names = full.ledger.entries.map((e) => e.name);
    let before = new Set<string>();
    // Sessions are independent: run them 16 at a time, check them in order.
    const cuts = Array.from({ length: total + 1 }, (_, i) => i);
    const sessions: Awaited<ReturnType<typeof session>>[] = [];
    for (let i = 0; i < cuts.length; i += 16) sessions.push(...await Promise.all(cuts.slice(i, i + 16).map((c) => session(replay(rec.turns, c), optMode))));
    for (const cut of cuts) {
      const s = sessions[cut]!;
      const at = `cut at ${cut} of ${total}`;
      expect(s.ledger.problems(), at).toEqual([]);
      expect(s.arena.intruders(), at).toEqual([]);
      expect(s.h.aioIsDead(), at).toBe(true);
      expect(await s.h.poll().then(() => 0, (e) => e.errno), at).toBe(errno.ENOTCONN);
      // Everything either succeeded or failed with ENOTCONN; successes only grow with the cut.
      const good = new Set(s.ledger.entries.filter((e) => e.errno === 0).map((e) => e.name));
      // A call made after the EOF already killed the handle is refused at once (local misuse).
      for (const e of s.ledger.entries) {
        if (e.errno === errno.EINVAL) expect(e.message, `${at}: ${e.name}`).toMatch(/invalid state: DEAD/);
        else expect([0, errno.ENOTCONN], `${at}: ${e.name} ${e.message}`).toContain(e.errno);
      }
      for (const n of before) expect(good.has(n), `${at}: ${n} succeeded with a shorter transcript`).toBe(true);
      for (const [e, buf, off] of s.reads) {
        if (e.errno === 0) expect([...buf], `${at}: ${e.name}`).toEqual(Array.from(buf, (_, i) => disk(off + i)));
      }
      before = good;
    }
    // With the whole transcript, every call succeeded: then the server hung up.
    expect([...before].sort()).toEqual([...names].sort());
  }, 120_000);
});
