// The rings between a page and its worker (web/browser/ring.ts), here between two Node threads'
// worth of code on one SharedArrayBuffer: records come out as they went in, a full ring refuses
// (its writer then posts), a waiting reader is woken, and InOrder takes ring records and messages
// in the order of their sequence numbers, however they arrive.

import { describe, expect, it } from 'vitest';
import { InOrder, Ring } from '../../web/browser/ring.js';

type M = { s: number; what: string };

describe('ring', () => {
  it('ring-records-come-out-in-order-and-a-full-ring-refuses', () => {
    const w = Ring.create(3, 4);
    const r = new Ring(w.sab, 3);
    for (let k = 0; k < 4; k++) expect(w.push(k, 10 + k, -k)).toBe(true);
    expect(w.push(4, 14, -4)).toBe(false);
    expect(r.peek()).toBe(0);
    expect([...r.shift()]).toEqual([0, 10, 0]);
    expect(w.push(4, 14, -4)).toBe(true);
    const out: number[][] = [];
    while (r.peek() >= 0) out.push([...r.shift()]);
    expect(out).toEqual([[1, 11, -1], [2, 12, -2], [3, 13, -3], [4, 14, -4]]);
    expect(r.peek()).toBe(-1);
  });

  it('ring-wakes-a-waiting-reader-for-each-batch', async () => {
    const w = Ring.create(2, 8);
    const r = new Ring(w.sab, 2);
    const got: number[] = [];
    let woken!: () => void;
    const stop = r.watch(() => {
      while (r.peek() >= 0) got.push(r.shift()[1]!);
      woken?.();
    });
    for (let k = 0; k < 20; k++) {
      const next = new Promise<void>((resolve) => { woken = resolve; });
      w.push(k, k * 7);
      await next;
    }
    stop();
    expect(got).toEqual(Array.from({ length: 20 }, (_, k) => k * 7));
  });

  it('in-order-takes-messages-and-ring-records-by-sequence-number', () => {
    const w = Ring.create(2);
    const taken: string[] = [];
    const io = new InOrder<M>(new Ring(w.sab, 2), (rec) => ({ s: rec[0]!, what: `ring ${rec[1]}` }), (m) => taken.push(m.what));
    // Said in order 0 (message), 1 (ring), 2 (ring), 3 (message), 4 (ring); arriving out of it.
    w.push(1, 1);
    w.push(2, 2);
    io.deliver();
    expect(taken).toEqual([]);
    io.posted({ s: 3, what: 'message 3' });
    expect(taken).toEqual([]);
    io.posted({ s: 0, what: 'message 0' });
    expect(taken).toEqual(['message 0', 'ring 1', 'ring 2', 'message 3']);
    w.push(4, 4);
    io.deliver();
    expect(taken).toEqual(['message 0', 'ring 1', 'ring 2', 'message 3', 'ring 4']);
  });
});
