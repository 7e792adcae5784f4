// The handle against the reference fake server in memory, with every server message split at
// every byte boundary (and delivered one byte at a time): the results must never change.
// Covers fixed newstyle, plain newstyle, oldstyle, the EXPORT_NAME fallback, opt mode,
// structured and extended replies.

import { describe, expect, it } from 'vitest';
import { serveDisk, type ServeDiskOptions } from '../support/fake-server.js';
import { memoryHandle, type Split } from '../support/memory.js';
import * as T from '../../web/core/types.js';
import { NBD_OPT_GO, NBD_OPT_INFO } from '../../web/core/protocol.js';

const pattern = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed * 13 + (i >> 8)) & 0xff);

/** What a client observes in one session, as a comparable transcript. */
async function session(opts: ServeDiskOptions, split: Split, optMode = false): Promise<string[]> {
  const server = serveDisk(opts);
  const { h } = memoryHandle(server.handler, split);
  const out: string[] = [];
  h.addMetaContext('base:allocation');
  if (optMode) {
    h.setOptMode(true);
    await h.connectUri('nbd://fake/');
    out.push(`negotiating=${h.aioIsNegotiating()}`);
    const names: string[] = [];
    out.push(`list=${await h.optList((n, d) => void names.push(`${n}:${d}`))} ${names.join(',')}`);
    const ctxs: string[] = [];
    out.push(`contexts=${await h.optListMetaContext((n) => void ctxs.push(n))} ${ctxs.join(',')}`);
    h.setExportName('second');
    await h.optInfo();
    out.push(`info second size=${h.getSize()}`);
    h.setExportName('');
    await h.optGo();
  } else {
    await h.connectUri('nbd://fake/');
  }
  out.push(`protocol=${h.getProtocol()} sr=${h.getStructuredRepliesNegotiated()} ext=${h.getExtendedHeadersNegotiated()}`);
  out.push(`size=${h.getSize()} ro=${h.isReadOnly()} flush=${h.canFlush()} trim=${h.canTrim()} zero=${h.canZero()}`);
  out.push(`block=${h.getBlockSize(T.SIZE_MINIMUM)}/${h.getBlockSize(T.SIZE_PREFERRED)}/${h.getBlockSize(T.SIZE_MAXIMUM)}`);
  const buf = new Uint8Array(96);
  await h.pread(buf, 1000);
  out.push(`read@1000 ${Buffer.from(buf).toString('hex')}`);
  if (!h.isReadOnly()) {
    await h.pwrite(pattern(40, 9), 5000);
    await h.zero(8, 5010);
    const back = new Uint8Array(48);
    await h.pread(back, 4996);
    out.push(`readback ${Buffer.from(back).toString('hex')}`);
  }
  if (h.canMetaContext('base:allocation')) {
    const ext: string[] = [];
    await h.blockStatus(h.getSize(), 0, (ctx, off, entries) => void ext.push(`${ctx}@${off}:${entries.join(',')}`));
    out.push(`extents ${ext.join(' ')}`);
  }
  // Several reads in flight at once, answered in whatever order the server likes.
  const bufs = [0, 1, 2, 3].map(() => new Uint8Array(64));
  const done: number[] = [];
  bufs.forEach((b, i) => h.aioPread(b, i * 3000 + 7, () => { done.push(i); return 1; }));
  while (h.aioInFlight() > 0) await h.poll();
  out.push(`parallel ${done.length} ${bufs.map((b) => Buffer.from(b.subarray(0, 8)).toString('hex')).join(' ')}`);
  await h.shutdown();
  out.push(`closed=${h.aioIsClosed()}`);
  return out;
}

const disk = (): Uint8Array => {
  const d = new Uint8Array(16384);
  d.set(pattern(3000), 900);
  d.set(pattern(500, 5), 9000);
  return d;
};

const SCENARIOS: [string, ServeDiskOptions, boolean?][] = [
  ['fixed newstyle, structured replies, holes, chunks in reverse', {
    data: disk(), size: 16384, blockSize: { minimum: 1, preferred: 4096, maximum: 1 << 20 },
    readChunks: { size: 24, holes: true, order: 'reverse' }, unsupported: [11],
  }],
  ['extended headers', { data: disk(), size: 16384, readChunks: { size: 40 }, structuredSuccess: 'chunk' }],
  ['no structured replies (simple replies only)', { data: disk(), size: 16384, unsupported: [8, 11] }],
  ['NBD_OPT_GO unsupported: NBD_OPT_EXPORT_NAME fallback', { data: disk(), size: 16384, unsupported: [NBD_OPT_GO, NBD_OPT_INFO, 11], noZeroes: false }],
  ['plain newstyle', { data: disk(), size: 16384, handshake: 'newstyle' }],
  ['oldstyle', { data: disk(), size: 16384, handshake: 'oldstyle' }],
  ['opt mode: list, list meta contexts, info, go', {
    exports: [{ name: '', description: 'the default', data: disk(), size: 16384 }, { name: 'second', description: 'two', size: 12345 }],
  }, true],
];

describe('handle: every server message split at every byte boundary', () => {
  for (const [name, opts, optMode] of SCENARIOS) {
    it(name, async () => {
      const want = await session(opts, 'whole', optMode);
      expect(await session(opts, 'bytes', optMode)).toEqual(want);
      // Longest message the scenario sends is well under 200 bytes except read data; splitting each
      // write at every k up to there covers every boundary of every handshake and reply header.
      for (let k = 1; k <= 200; k++) expect(await session(opts, k, optMode), `split at ${k}`).toEqual(want);
    }, 120_000);
  }

  it('reports what the server holds (the transcripts are not trivially equal)', async () => {
    const t = await session(SCENARIOS[0]![1], 'bytes');
    const d = disk();
    expect(t).toContain(`read@1000 ${Buffer.from(d.subarray(1000, 1096)).toString('hex')}`);
    const expected = d.slice(4996, 5044);
    expected.set(pattern(40, 9), 4);
    expected.fill(0, 14, 22);
    expect(t).toContain(`readback ${Buffer.from(expected).toString('hex')}`);
    expect(t).toContain('protocol=newstyle-fixed sr=true ext=false');
    expect((await session(SCENARIOS[1]![1], 7)).join('\n')).toContain('ext=true');
    expect((await session(SCENARIOS[5]![1], 3)).join('\n')).toContain('protocol=oldstyle sr=false');
  });
});
