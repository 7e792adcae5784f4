// Bugs from libnbd's history, replayed against webnbd with the scene's invariants (sentinel
// buffers, exactly-once settlement). Elsewhere: the 2019 offset wrap and nbdkit CVE-2021-3716
// in hostile-replies, CVE-2021-20286 in hostile-eof, CVE-2023-5215 in handle-api (GO, oldstyle,
// EXPORT_NAME) and hostile-handshake (opt mode).

import { describe, expect, it } from 'vitest';
import { errno } from '../../web/core/errors.js';
import type { NbdHandle } from '../../web/core/handle.js';
import * as T from '../../web/core/types.js';
import * as B from '../support/bytes.js';
import type { Reply } from '../support/fake-server.js';
import { SENTINEL } from '../support/hostile.js';
import { DATA, VICTIM_LEN, VICTIM_OFFSET, check, stage, type SceneOptions } from '../support/hostile-scene.js';

const DONE = B.NBD_REPLY_FLAG_DONE;
const START = BigInt(VICTIM_OFFSET);
const HALF = VICTIM_LEN / 2;
const chunk = (type: number, payload: Uint8Array, flags = DONE): Reply => ({ kind: 'chunk', flags, type, payload });

describe('CVE-2022-0485: a read the server failed is never reported as a success', () => {
  // How the server fails the read, per negotiated reply kind. 'half': data for the first half,
  // then an error at the second half (the data must land; the rest must not look read).
  const FAILURES: [string, Partial<SceneOptions>, () => Reply[], boolean][] = [
    ['simple error reply', { server: { unsupported: [B.NBD_OPT_STRUCTURED_REPLY, B.NBD_OPT_EXTENDED_HEADERS] } }, () => [{ kind: 'simple', error: B.NBD_EIO }], false],
    ['error chunk', { setup: (h) => h.setRequestExtendedHeaders(false) }, () => [chunk(B.NBD_REPLY_TYPE_ERROR, B.errorChunkPayload(B.NBD_EIO, 'media'))], false],
    ['data then error at offset', { setup: (h) => h.setRequestExtendedHeaders(false) }, () => [
      chunk(B.NBD_REPLY_TYPE_OFFSET_DATA, B.offsetData(START, DATA.slice(VICTIM_OFFSET, VICTIM_OFFSET + HALF)), 0),
      chunk(B.NBD_REPLY_TYPE_ERROR_OFFSET, B.errorChunkPayload(B.NBD_EIO, 'media', START + BigInt(HALF))),
    ], true],
    ['extended: error at offset then data', {}, () => [
      chunk(B.NBD_REPLY_TYPE_ERROR_OFFSET, B.errorChunkPayload(B.NBD_EIO, 'media', START + BigInt(HALF)), 0),
      chunk(B.NBD_REPLY_TYPE_OFFSET_DATA, B.offsetData(START, DATA.slice(VICTIM_OFFSET, VICTIM_OFFSET + HALF))),
    ], true],
  ];
  const seen: string[] = [];
  // The chunk callback tries its best to hide the error: clears it and returns 0.
  const hiding: T.ChunkFn = (sub, off, status, err) => { seen.push(`${status}@${off}+${sub.length}:${err.value}`); err.value = 0; return 0; };
  const CALLS: [string, SceneOptions['victim']][] = [
    ['pread', (h, buf) => h.pread(buf, VICTIM_OFFSET)],
    ['aioPread', (h, buf, cb) => h.aioPread(buf, VICTIM_OFFSET, cb)],
    ['preadStructured', (h, buf) => h.preadStructured(buf, VICTIM_OFFSET, hiding)],
    ['aioPreadStructured', (h, buf, cb) => h.aioPreadStructured(buf, VICTIM_OFFSET, hiding, cb)],
  ];
  for (const [how, scene, reply, half] of FAILURES) {
    for (const [call, victim] of CALLS) {
      for (const init of [true, false]) {
        it(`${how}, ${call}, pread_initialize ${init}`, async () => {
          seen.length = 0;
          const setup = (h: NbdHandle) => { scene.setup?.(h); h.setPreadInitialize(init); };
          const s = await stage({ ...scene, setup, victim, reply });
          await check(s, { victim: 'EIO', dead: false });
          // What the server sent landed; the rest is zero (initialized) or untouched.
          const got = [...s.victimBuf];
          const sent = half ? [...DATA.subarray(VICTIM_OFFSET, VICTIM_OFFSET + HALF)] : [];
          expect(got.slice(0, sent.length)).toEqual(sent);
          expect(new Set(got.slice(sent.length))).toEqual(new Set([init ? 0 : SENTINEL]));
          if (call.includes('Structured') && half) {
            // Each chunk once, the error at its offset with the server's errno (data chunks see
            // the error so far). Whether a generic error is also reported as READ_ERROR: see
            // nbd_pread_structured(3); libnbd does not, webnbd does, at the request's offset.
            const err = `${T.READ_ERROR}@${START + BigInt(HALF)}+0:${errno.EIO}`;
            expect(seen.map((x) => (x.startsWith(`${T.READ_ERROR}@`) ? x : x.replace(/:\d+$/, ''))).sort()).toEqual([`${T.READ_DATA}@${START}+${HALF}`, err].sort());
          }
          if (call.includes('Structured') && !half) expect(seen.filter((x) => !x.startsWith(`${T.READ_ERROR}@`))).toEqual([]);
        });
      }
    }
  }

  it('a completion callback cannot clear the error either', async () => {
    // It sees EIO, clears it and keeps the command; retiring it (Ledger.retire) still throws EIO.
    const s = await stage({
      setup: (h) => h.setRequestExtendedHeaders(false),
      victim: (h, buf, cb) => h.aioPread(buf, VICTIM_OFFSET, { callback: (err) => { cb.callback(err); err.value = 0; return 0; }, free: cb.free! }),
      reply: () => [chunk(B.NBD_REPLY_TYPE_ERROR, B.errorChunkPayload(B.NBD_EIO, 'media'))],
    });
    await check(s, { victim: 'EIO', dead: false });
    expect(s.victim.retired).toBe(errno.EIO);
  });
});

describe('a read that succeeds tells the chunk callback, in every reply mode', () => {
  // nbd_pread_structured(3): "you are guaranteed that the callback was called at least once if
  // the overall read succeeds"; with simple replies, once with the whole buffer.
  const MODES: [string, Partial<SceneOptions>][] = [
    ['simple replies', { server: { unsupported: [B.NBD_OPT_STRUCTURED_REPLY, B.NBD_OPT_EXTENDED_HEADERS] } }],
    ['structured replies', { setup: (h) => h.setRequestExtendedHeaders(false) }],
    ['extended headers', {}],
  ];
  it.each(MODES)('%s', async (_name, scene) => {
    const calls: string[] = [];
    let buf: Uint8Array | null = null;
    const s = await stage({
      ...scene,
      victim: (h, b, cb) => { buf = b; return h.aioPreadStructured(b, VICTIM_OFFSET, (sub, off, status) => {
        calls.push(`${status}@${off}+${sub.length}`);
        expect(sub.buffer === buf!.buffer && sub.byteOffset === buf!.byteOffset + Number(off - START)).toBe(true);
        expect([...sub]).toEqual([...DATA.subarray(Number(off), Number(off) + sub.length)]);
      }, cb); },
    });
    await check(s, { victim: 'OK', dead: false });
    expect(calls).toEqual([`${T.READ_DATA}@${START}+${VICTIM_LEN}`]);
  });
});

describe('CVE-2023-5871: 64-bit block status flags', () => {
  const FLAGS = (1n << 32n) + 3n;
  const ext = (list: B.Extent[]) => () => [chunk(B.NBD_REPLY_TYPE_BLOCK_STATUS_EXT, B.blockStatusExt(1, list))];
  let got: unknown[] = [];
  const bs32: SceneOptions['victim'] = (h, _b, cb) => h.aioBlockStatus(VICTIM_LEN, VICTIM_OFFSET, (_c, _o, e) => void got.push(...e), cb);
  const bs64: SceneOptions['victim'] = (h, _b, cb) => h.aioBlockStatus64(VICTIM_LEN, VICTIM_OFFSET, (_c, _o, e) => void got.push(...e), cb);

  it('flags above 2^32 through the 32-bit callback fail the command with EOVERFLOW, never truncated', async () => {
    got = [];
    await check(await stage({ victim: bs32, reply: ext([[VICTIM_LEN, FLAGS]]) }), { victim: 'EOVERFLOW', dead: false });
    got = [];
    await check(await stage({ victim: bs32, reply: ext([[256, 1], [256, 1n << 63n]]) }), { victim: 'EOVERFLOW', dead: false });
    expect(got).toEqual([]);
  });

  it('through blockStatus64 they arrive intact', async () => {
    got = [];
    await check(await stage({ victim: bs64, reply: ext([[256, FLAGS], [256, (1n << 64n) - 1n]]) }), { victim: 'OK', dead: false, read: false });
    expect(got).toEqual([{ length: 256n, flags: FLAGS }, { length: 256n, flags: (1n << 64n) - 1n }]);
  });

  it('a length above 2^32 through the 32-bit callback is clamped, not wrapped', async () => {
    got = [];
    const s = await stage({ server: { size: 1n << 40n }, victim: bs32, reply: ext([[(1n << 33n) + 5n, 1]]) });
    await check(s, { victim: 'OK', dead: false, read: false });
    expect(got).toEqual([0xffffffff, 1]);
  });
});
