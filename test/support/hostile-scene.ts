// One hostile reply, staged: the reference server (serveDisk, in memory) answers every request
// correctly except the victim's, whose replies a test replaces. Two bystander reads are in
// flight when the bad reply lands; all buffers are views of a sentinel Arena; a Ledger counts
// completions, free hooks and promise settlements; allocations are spied on meanwhile.

import { expect } from 'vitest';
import { errno, type ErrnoName, type NbdError } from '../../web/core/errors.js';
import type { NbdHandle } from '../../web/core/handle.js';
import type * as T from '../../web/core/types.js';
import { Arena, Ledger, spyAllocations, until, type Entry } from './hostile.js';
import type { NbdRequest } from './fake-conn.js';
import { serveDisk, type DiskHooks, type Reply, type ServeDiskOptions } from './fake-server.js';
import { memoryHandle } from './memory.js';

export const SIZE = 65536;
/** Disk contents: byte i is (i * 7 + 3) & 0xff, so any misplaced byte shows. */
export const DATA = Uint8Array.from({ length: SIZE }, (_, i) => (i * 7 + 3) & 0xff);
/** Where the victim's request lies (a read of VICTIM_LEN bytes, or block status of that span). */
export const VICTIM_OFFSET = 4096;
export const VICTIM_LEN = 512;
const BYSTANDERS = [16384, 20480];

export type OnReply = (req: NbdRequest) => Reply[] | Uint8Array;

export interface SceneOptions {
  /** Server options on top of size and data; e.g. unsupported: [8, 11] for simple replies only. */
  server?: ServeDiskOptions;
  setup?: (h: NbdHandle) => void;
  /**
   * Issue the victim command (at VICTIM_OFFSET) with this completion and return its cookie, or
   * ignore the completion and return the promise of a sync-style call.
   */
  victim?: (h: NbdHandle, buf: Uint8Array, completion: Completion) => number | Promise<unknown>;
  /** The victim's replies, replacing the server's own (which it gets when this is absent). */
  reply?: OnReply;
}

export interface Scene {
  h: NbdHandle;
  victim: Entry;
  victimBuf: Uint8Array;
  bystanders: Entry[];
  arena: Arena;
  ledger: Ledger;
  /** Largest Uint8Array/ArrayBuffer allocated once the victim was issued. */
  largest: number;
  /** The error the handle died with, if it did. */
  death: NbdError | null;
}

type Completion = T.WithFree<T.CompletionFn>;
const read = (h: NbdHandle, buf: Uint8Array, cb: Completion) => h.aioPread(buf, VICTIM_OFFSET, cb);

export async function stage(o: SceneOptions): Promise<Scene> {
  let victimSeen = false;
  const hooks: DiskHooks = {
    onReply: (req) => (o.reply && req.offset === BigInt(VICTIM_OFFSET) && !victimSeen ? ((victimSeen = true), o.reply(req)) : undefined),
    delayReply: (req) => (req.offset >= BigInt(BYSTANDERS[0]!) ? 30 : 0),
  };
  const server = serveDisk({ size: SIZE, data: DATA, ...o.server, hooks: { ...hooks, ...o.server?.hooks } });
  const { h } = memoryHandle(server.handler, 'whole');
  h.addMetaContext('base:allocation');
  o.setup?.(h);
  await h.connectUri('nbd://fake/');

  const arena = new Arena();
  const ledger = new Ledger();
  const by = BYSTANDERS.map(() => arena.take(VICTIM_LEN));
  const victimBuf = arena.take(VICTIM_LEN);
  // One bystander through aio (retired by hand: its free hook runs then), one through a promise.
  const b0 = ledger.completion('bystander aio', false);
  b0.entry.cookie = h.aioPread(by[0]!, BYSTANDERS[0]!, b0.cb);
  const b1 = ledger.promise('bystander pread', h.pread(by[1]!, BYSTANDERS[1]!));
  const { result: victim, largest } = await spyAllocations(async () => {
    const v = ledger.completion('victim');
    const issued = (o.victim ?? read)(h, victimBuf, v.cb);
    let entry = v.entry;
    if (typeof issued === 'number') entry.cookie = issued;
    else entry = ledger.swap(entry, issued);
    await settle(h, ledger);
    return entry;
  });
  ledger.retire(h);
  const death = h.aioIsDead() ? await h.poll().then(() => null, (e: NbdError) => e) : null;
  // The bystanders' data, when they succeeded, is the disk's.
  BYSTANDERS.forEach((off, i) => {
    const e = [b0.entry, b1][i]!;
    if (e.errno === 0) expect([...by[i]!]).toEqual([...DATA.subarray(off, off + VICTIM_LEN)]);
  });
  return { h, victim, victimBuf, bystanders: [b0.entry, b1], arena, ledger, largest, death };
}

/** Wait until nothing is in flight and every promise in the ledger settled (or 10 s passed). */
async function settle(h: NbdHandle, ledger: Ledger): Promise<void> {
  await until(() => h.aioInFlight() === 0 && ledger.entries.every((e) => e.kind !== 'promise' || e.settlements > 0));
}

export interface Expect {
  /** errno of the victim, or OK when it succeeded. */
  victim: ErrnoName | 'OK';
  /** The handle is dead (and the bystanders failed with ENOTCONN), or it carries on. */
  dead: boolean;
  /** What the death says. */
  why?: RegExp;
  /** On success, the victim's buffer holds the disk's data (false for block status). */
  read?: boolean;
}

/** The invariants every hostile scene must keep, and the outcome the case expects. */
export async function check(s: Scene, want: Expect): Promise<void> {
  expect(s.arena.intruders(), 'bytes written outside the caller\'s buffers').toEqual([]);
  expect(s.ledger.problems(), 'settled exactly once').toEqual([]);
  expect(s.largest, 'allocation driven by the server').toBeLessThan(1 << 20);
  expect(s.victim.errno, `victim errno (death: ${s.death?.message})`).toBe(want.victim === 'OK' ? 0 : errno[want.victim]);
  if (want.victim === 'OK' && want.read !== false) expect([...s.victimBuf]).toEqual([...DATA.subarray(VICTIM_OFFSET, VICTIM_OFFSET + VICTIM_LEN)]);
  if (want.dead) {
    expect(s.h.aioIsDead()).toBe(true);
    if (want.why) expect(s.death?.message).toMatch(want.why);
    expect(s.bystanders.map((b) => b.errno)).toEqual([errno.ENOTCONN, errno.ENOTCONN]);
    expect(() => s.h.aioPread(new Uint8Array(1), 0)).toThrow(/invalid state: DEAD/);
  } else {
    expect(s.death).toBeNull();
    expect(s.h.aioIsReady()).toBe(true);
    expect(s.bystanders.map((b) => b.errno)).toEqual([0, 0]);
    const again = new Uint8Array(16);
    await s.h.pread(again, 100);
    expect([...again]).toEqual([...DATA.subarray(100, 116)]);
  }
}
