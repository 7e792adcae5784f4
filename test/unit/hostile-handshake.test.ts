// Bad input from a server during the handshake (proto.md "Handshake", "Option reply types",
// "NBD_OPT_INFO and NBD_OPT_GO"): wrong magics, replies to options never sent, absurd lengths
// (refused on the header, with no allocation behind them), malformed NBD_REP_* payloads, in
// normal and in opt mode; and what the spec lets a client ignore. Every call settles once.

import { describe, expect, it } from 'vitest';
import { errno, type ErrnoName, type NbdError } from '../../web/core/errors.js';
import type { NbdHandle } from '../../web/core/handle.js';
import * as T from '../../web/core/types.js';
import * as B from '../support/bytes.js';
import { serveDisk, type Substitute, type ServeDiskOptions } from '../support/fake-server.js';
import { Ledger, spyAllocations, until } from '../support/hostile.js';
import { memoryHandle } from '../support/memory.js';

const { NBD_OPT_EXTENDED_HEADERS: EXT, NBD_OPT_GO: GO, NBD_OPT_INFO: INFO, NBD_OPT_SET_META_CONTEXT: SET_META } = B;

/** Replace the server's replies to one option (the first time it comes). */
const replace = (option: number, sub: (replies: Uint8Array[]) => Substitute): ServeDiskOptions => {
  let done = false;
  return { hooks: { onOptionReply: (o, replies) => (o.option === option && !done ? ((done = true), sub(replies)) : undefined) } };
};
/** An option reply header announcing `length` bytes that never come. */
const headerOnly = (option: number, type: number, length: number) =>
  B.bytes().u64(B.NBD_REP_MAGIC).u32(option).u32(type).u32(length).build();

interface Want {
  errno: ErrnoName | 'OK';
  /** The handle is dead, or was left negotiating (opt mode) or ready. */
  dead: boolean;
  why?: RegExp;
}

/** Connect (and in opt mode run `act`) against a server with hostile handshake replies. */
async function shake(server: ServeDiskOptions, setup?: (h: NbdHandle) => void, act?: (h: NbdHandle, l: Ledger) => void) {
  const { h } = memoryHandle(serveDisk({ size: 4096, ...server }).handler, 'whole');
  h.addMetaContext('base:allocation');
  setup?.(h);
  const ledger = new Ledger();
  const { largest } = await spyAllocations(async () => {
    const c = ledger.promise('connect', h.connectUri('nbd://fake/'));
    await until(() => c.settlements > 0);
    if (c.errno === 0 && act) act(h, ledger);
    await until(() => ledger.entries.every(Ledger.settled));
  });
  const last = ledger.entries.at(-1)!;
  return { h, ledger, largest, result: last };
}

async function expectShake(s: Awaited<ReturnType<typeof shake>>, want: Want): Promise<void> {
  expect(s.ledger.problems(), 'settled exactly once').toEqual([]);
  expect(s.largest, 'allocation driven by the server').toBeLessThan(1 << 20);
  expect(s.result.errno, s.result.message).toBe(want.errno === 'OK' ? 0 : errno[want.errno]);
  if (want.why) expect(s.result.message).toMatch(want.why);
  expect(s.h.aioIsDead()).toBe(want.dead);
  if (want.dead) expect(() => s.h.aioPread(new Uint8Array(1), 0)).toThrow(/invalid state: DEAD/);
}

type Case = [name: string, server: ServeDiskOptions, want: Want, setup?: (h: NbdHandle) => void];

describe('handshake: the connection dies on a violation, settling connect once', () => {
  const cases: Case[] = [
    ['errors-bad-nbdmagic', { hooks: { onGreeting: (g) => B.concat(Uint8Array.of(0), g.subarray(1)) } }, { errno: 'EPROTO', dead: true, why: /did not send expected NBD magic/ }],
    ['errors-bad-style-magic', { hooks: { onGreeting: (g) => B.concat(g.subarray(0, 8), B.bytes().u64(0x1122334455667788n).build(), g.subarray(16)) } }, { errno: 'EPROTO', dead: true, why: /not either an oldstyle or fixed newstyle/ }],
    ['errors-option-reply-bad-magic', replace(EXT, () => B.bytes().u64(0x1234n).u32(EXT).u32(B.NBD_REP_ACK).u32(0).build()), { errno: 'EPROTO', dead: true, why: /invalid option reply magic/ }],
    ['errors-option-reply-to-another-option', replace(EXT, () => B.optReply(99, B.NBD_REP_ACK)), { errno: 'EPROTO', dead: true, why: /reply to option 99 when none was sent/ }],
    ['errors-option-reply-unexpected-type', replace(EXT, () => B.optReply(EXT, 77)), { errno: 'EPROTO', dead: true, why: /unexpected reply type 77/ }],
    // Absurd lengths: the header alone arrives and the connection stays open.
    ['errors-option-reply-length-2^32-1', replace(GO, () => headerOnly(GO, B.NBD_REP_INFO, 0xffffffff)), { errno: 'EPROTO', dead: true, why: /option reply length 4294967295 is too large/ }],
    ['errors-option-reply-length-8197', replace(GO, () => headerOnly(GO, B.NBD_REP_INFO, 8197)), { errno: 'EPROTO', dead: true, why: /option reply length 8197 is too large/ }],
    ['errors-error-reply-length-2^32-1', replace(EXT, () => headerOnly(EXT, B.NBD_REP_ERR_UNSUP, 0xffffffff)), { errno: 'EPROTO', dead: true, why: /too large/ }],
    ['errors-info-reply-too-short', replace(GO, () => B.optReply(GO, B.NBD_REP_INFO, Uint8Array.of(0))), { errno: 'EPROTO', dead: true, why: /NBD_REP_INFO reply too short/ }],
    ['errors-info-export-wrong-length', replace(GO, () => [B.optReply(GO, B.NBD_REP_INFO, B.infoExport(4096, 1).subarray(0, 11)), B.optReply(GO, B.NBD_REP_ACK)]), { errno: 'EPROTO', dead: true, why: /invalid NBD_INFO_EXPORT length/ }],
    ['errors-info-block-size-wrong-length', replace(GO, () => B.optReply(GO, B.NBD_REP_INFO, B.concat(B.infoBlockSize(1, 4096, 65536), Uint8Array.of(0)))), { errno: 'EPROTO', dead: true, why: /invalid NBD_INFO_BLOCK_SIZE length/ }],
    ['errors-go-ack-without-info-export', replace(GO, () => B.optReply(GO, B.NBD_REP_ACK)), { errno: 'EPROTO', dead: true, why: /did not send NBD_INFO_EXPORT/ }],
    ['errors-meta-context-reply-too-short', replace(SET_META, () => B.optReply(SET_META, B.NBD_REP_META_CONTEXT, Uint8Array.of(0, 0, 1))), { errno: 'EPROTO', dead: true, why: /NBD_REP_META_CONTEXT reply too short/ }],
    ['errors-export-name-reply-size-above-2^63', { unsupported: [GO, INFO, EXT], size: 2n ** 63n }, { errno: 'EOVERFLOW', dead: true }],
    ['rep-err-shutdown-ends-the-handshake', replace(EXT, () => B.optReply(EXT, B.NBD_REP_ERR_SHUTDOWN)), { errno: 'ESHUTDOWN', dead: true }],
  ];
  it.each(cases)('%s', async (_name, server, want, setup) => expectShake(await shake(server, setup), want));
});

describe('handshake: what the spec lets a client ignore', () => {
  it('an unknown NBD_INFO type is skipped', async () => {
    const s = await shake(replace(GO, (r) => [B.optReply(GO, B.NBD_REP_INFO, B.bytes().u16(99).str('future').build()), ...r]));
    await expectShake(s, { errno: 'OK', dead: false });
    expect(s.h.getSize()).toBe(4096n);
  });

  it('invalid block sizes are ignored, not trusted', async () => {
    const s = await shake(replace(GO, (r) => [B.optReply(GO, B.NBD_REP_INFO, B.infoBlockSize(3, 5, 7)), ...r.filter((x) => !(x.length === 34 && x[21] === B.NBD_INFO_BLOCK_SIZE))]));
    await expectShake(s, { errno: 'OK', dead: false });
    expect(s.h.getBlockSize(T.SIZE_MINIMUM)).toBe(0);
  });

  it('an error reply to NBD_OPT_SET_META_CONTEXT leaves no contexts', async () => {
    const s = await shake(replace(SET_META, () => B.optReply(SET_META, B.NBD_REP_ERR_POLICY)));
    await expectShake(s, { errno: 'OK', dead: false });
    expect(s.h.canMetaContext('base:allocation')).toBe(false);
  });
});

describe('opt mode: a violation during an option fails that option once and kills the handle', () => {
  const optMode = (h: NbdHandle) => h.setOptMode(true);
  // The list callback's free hook must run once too.
  const list = (h: NbdHandle, l: Ledger) => void l.promise('optList', h.optList({ callback: () => 0, free: l.freeHook('optList callback') }));
  const cases: [string, ServeDiskOptions, (h: NbdHandle, l: Ledger) => void, Want][] = [
    ['errors-rep-server-name-longer-than-reply', replace(B.NBD_OPT_LIST, () => B.optReply(B.NBD_OPT_LIST, B.NBD_REP_SERVER, B.bytes().u32(100).str('x').build())), list, { errno: 'EPROTO', dead: true, why: /invalid NBD_REP_SERVER reply/ }],
    ['errors-rep-server-unexpected-type', replace(B.NBD_OPT_LIST, () => B.optReply(B.NBD_OPT_LIST, B.NBD_REP_INFO, new Uint8Array(12))), list, { errno: 'EPROTO', dead: true, why: /unexpected reply type 3/ }],
    ['errors-list-meta-context-reply-too-short', replace(B.NBD_OPT_LIST_META_CONTEXT, () => B.optReply(B.NBD_OPT_LIST_META_CONTEXT, B.NBD_REP_META_CONTEXT, Uint8Array.of(1))),
      (h, l) => void l.promise('optListMetaContext', h.optListMetaContext(() => 0)), { errno: 'EPROTO', dead: true, why: /too short/ }],
    ['errors-opt-info-export-wrong-length', replace(INFO, () => B.optReply(INFO, B.NBD_REP_INFO, new Uint8Array(13))),
      (h, l) => void l.promise('optInfo', h.optInfo()), { errno: 'EPROTO', dead: true, why: /invalid NBD_INFO_EXPORT length/ }],
    ['errors-aio-opt-go-ack-without-info', replace(GO, () => B.optReply(GO, B.NBD_REP_ACK)),
      (h, l) => h.aioOptGo(l.completion('aioOptGo', true, 'callback').cb), { errno: 'EPROTO', dead: true }],
    // CVE-2023-5215: NBD_OPT_INFO may report it and leave the client negotiating; GO may not.
    ['opt-info-size-above-2^63-stays-negotiating', { size: 2n ** 63n }, (h, l) => void l.promise('optInfo', h.optInfo()), { errno: 'EOVERFLOW', dead: false }],
    ['errors-opt-go-size-above-2^63', { size: 2n ** 64n - 1n }, (h, l) => void l.promise('optGo', h.optGo()), { errno: 'EOVERFLOW', dead: true }],
  ];
  it.each(cases)('%s', async (_name, server, act, want) => {
    const s = await shake(server, optMode, act);
    await expectShake(s, want);
    if (!want.dead) expect(s.h.aioIsNegotiating()).toBe(true);
  });
});

describe('opt mode: the server breaks the connection in the same read as an option\'s last reply', () => {
  // The option's continuation runs a microtask later, on a dead handle: it must fail with the
  // death's cause, never an internal error, and never wait for a reply that cannot come.
  const junk = B.bytes().u64(B.NBD_REP_MAGIC).u32(99).u32(B.NBD_REP_ACK).u32(0).build();
  const then = (option: number) => replace(option, (r) => B.concat(...r, junk));
  const cases: [string, ServeDiskOptions, (h: NbdHandle, l: Ledger) => void][] = [
    ['errors-junk-after-list-ack', then(B.NBD_OPT_LIST), (h, l) => void l.promise('optList', h.optList(() => 0))],
    ['errors-junk-after-set-meta-context-ack', then(SET_META), (h, l) => void l.promise('optGo', h.optGo())],
    ['errors-junk-after-info-ack', then(INFO), (h, l) => void l.promise('optInfo', h.optInfo())],
  ];
  it.each(cases)('%s', async (_name, server, act) => {
    const s = await shake(server, (h) => h.setOptMode(true), act);
    await expectShake(s, { errno: 'EPROTO', dead: true, why: /reply to option 99 when none was sent/ });
  });
});

describe('errors carry the server\'s words, and say whose fault it is', () => {
  it('a refused option names the option and quotes the server', async () => {
    const s = await shake({ ...replace(GO, () => B.optReply(GO, B.NBD_REP_ERR_POLICY, new TextEncoder().encode('not you'))) });
    // Not in opt mode, a refused NBD_OPT_GO ends the handle (after a polite NBD_OPT_ABORT).
    await expectShake(s, { errno: 'EPERM', dead: true, why: /opt_go request \(server: not you\)/ });
    expect(s.result.message).toMatch(/^nbd_connect_uri: /);
    expect((await s.h.poll().catch((e: NbdError) => e) as NbdError).code).toBe('EPERM');
  });
});
