// The handle against real servers — nbdkit (plugins, filters, --no-sr, oldstyle), qemu-nbd and
// nbd-server — over TCP, a Unix socket and websockify. What it reads is compared with what
// libnbd's own tools read from the same export (nbdcopy, nbdinfo --json, nbdinfo --map).

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { create, type NbdHandle, NbdError } from '../../web/node/index.js';
import * as T from '../../web/core/types.js';
import { startNbdkit, startNbdServer, startQemuNbd, startWebsockify, type NbdServer } from '../support/servers.js';

/** Run a command; resolve its stdout (async, so servers in this process keep running). */
function run(cmd: string, args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (b: Buffer) => out.push(b));
    p.stderr.on('data', (b: Buffer) => err.push(b));
    p.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${cmd} ${args.join(' ')}: ${Buffer.concat(err)}`))));
  });
}

const tmp = mkdtempSync(join(tmpdir(), 'webnbd-servers-'));
const imageFile = (name: string, size: number): string => {
  const f = join(tmp, name);
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i += 512) b.write(`sector ${i / 512} of ${name}`, i);
  writeFileSync(f, b);
  return f;
};

type Transport = 'tcp' | 'unix' | 'ws';

interface Case {
  name: string;
  start(unix: boolean): Promise<NbdServer>;
  /** Read-write exports get writes read back. */
  writable?: boolean;
  /** What nbdinfo may not know (nbd-server reports size 0 to NBD_OPT_INFO). */
  skipInfo?: boolean;
  /**
   * nbdkit 1.32 in oldstyle advertises flush, trim and zero but refuses them with EINVAL
   * (libnbd's nbd_flush fails the same way): only reads and writes are exercised there.
   */
  refusesAdvertised?: boolean;
  check?(h: NbdHandle): Promise<void>;
}

const nbdkit = (args: string[], extra: { oldstyle?: boolean } = {}) => (unix: boolean) => startNbdkit(args, { unix, ...extra });

const CASES: Case[] = [
  { name: 'nbdkit pattern', start: nbdkit(['pattern', 'size=3M']) },
  { name: 'nbdkit memory', start: nbdkit(['memory', 'size=4M']), writable: true },
  { name: 'nbdkit data', start: nbdkit(['data', '1 2 3 @0x1fe 0x55 0xaa @4096 "hello" @8190 0xff', 'size=70000']) },
  { name: 'nbdkit sparse-random', start: nbdkit(['sparse-random', 'size=16M', 'seed=42']) },
  { name: 'nbdkit null', start: nbdkit(['null', 'size=1M']) },
  { name: 'nbdkit --no-sr', start: nbdkit(['--no-sr', 'memory', 'size=1M']), writable: true,
    async check(h) {
      expect(h.getStructuredRepliesNegotiated()).toBe(false);
      await expect(h.blockStatus(512, 0, () => 0)).rejects.toMatchObject({ code: 'ENOTSUP', message: expect.stringMatching(/^nbd_block_status: server does not support structured replies/) });
    } },
  { name: 'nbdkit oldstyle (-o)', start: nbdkit(['memory', 'size=1M'], { oldstyle: true }), writable: true, refusesAdvertised: true,
    async check(h) { expect(h.getProtocol()).toBe('oldstyle'); } },
  { name: 'nbdkit blocksize-policy', start: nbdkit(['--filter=blocksize-policy', 'memory', 'size=1M', 'blocksize-minimum=4096', 'blocksize-preferred=65536', 'blocksize-maximum=1M']), writable: true,
    async check(h) {
      expect([h.getBlockSize(T.SIZE_MINIMUM), h.getBlockSize(T.SIZE_PREFERRED), h.getBlockSize(T.SIZE_MAXIMUM)]).toEqual([4096, 65536, 1048576]);
      await expect(h.pread(new Uint8Array(512), 0)).rejects.toMatchObject({ code: 'EINVAL', message: 'nbd_pread: request is unaligned: Invalid argument' });
    } },
  { name: 'nbdkit error filter', start: nbdkit(['--filter=error', 'memory', 'size=1M', 'error-pread=EIO', 'error-pread-rate=100%']),
    async check(h) {
      await expect(h.pread(new Uint8Array(512), 0)).rejects.toMatchObject({ code: 'EIO', message: expect.stringMatching(/^nbd_pread: read: command failed/) });
      // A failed command fails alone: the handle lives on.
      expect(h.aioIsReady()).toBe(true);
      await h.flush();
    } },
  { name: 'nbdkit delay filter', start: nbdkit(['--filter=delay', 'pattern', 'size=1M', 'rdelay=40ms']),
    async check(h) {
      const bufs = Array.from({ length: 32 }, () => new Uint8Array(4096));
      const t0 = Date.now();
      await Promise.all(bufs.map((b, i) => h.pread(b, i * 4096)));
      expect(Date.now() - t0).toBeGreaterThanOrEqual(40);
      bufs.forEach((b, i) => expect(new DataView(b.buffer).getBigUint64(8)).toBe(BigInt(i * 4096 + 8)));
    } },
  { name: 'nbdkit noextents', start: nbdkit(['--filter=noextents', 'sparse-random', 'size=4M', 'seed=1']) },
  { name: 'nbdkit nozero', start: nbdkit(['--filter=nozero', 'memory', 'size=1M']), writable: true,
    async check(h) {
      expect(h.canZero()).toBe(false);
      await expect(h.zero(512, 0)).rejects.toMatchObject({ code: 'EINVAL', message: 'nbd_zero: server does not support zero operations: Invalid argument' });
    } },
  // -e 4: qemu-nbd serves one client at a time by default, and libnbd's tools connect alongside.
  { name: 'qemu-nbd raw', start: (unix) => startQemuNbd(imageFile('qemu.raw', 2 << 20), { unix, format: 'raw', shared: 4 }), writable: true },
  { name: 'qemu-nbd read-only', start: (unix) => startQemuNbd(imageFile('qemu-ro.raw', 1 << 20), { unix, format: 'raw', readOnly: true, shared: 4 }),
    async check(h) {
      expect(h.isReadOnly()).toBe(true);
      await expect(h.pwrite(new Uint8Array(512), 0)).rejects.toMatchObject({ code: 'EPERM' });
    } },
  { name: 'nbd-server', start: (unix) => startNbdServer(imageFile(`nbd-server-${unix}.img`, 2 << 20), { unix }), writable: true, skipInfo: true },
];

/** Connect webnbd to the server over the given transport. */
async function open(server: NbdServer, transport: Transport): Promise<NbdHandle> {
  const h = create();
  h.addMetaContext('base:allocation');
  if (transport === 'ws') {
    const ws = await startWebsockify(server.socket ? { socket: server.socket } : { port: server.port! });
    await h.connectUri(`nbd+ws://127.0.0.1:${ws.port}/${encodeURIComponent(server.exportName)}`);
  } else {
    await h.connectUri(server.uri);
  }
  return h;
}

/** Read `length` bytes from 0 in 64 KiB pieces, 16 in flight. */
async function readAll(h: NbdHandle, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  const piece = 65536;
  let next = 0;
  const worker = async () => {
    while (next < length) {
      const at = next;
      next += piece;
      await h.pread(out.subarray(at, Math.min(at + piece, length)), at);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return out;
}

const FLAGS = ['is_read_only', 'can_flush', 'can_fua', 'can_trim', 'can_zero', 'can_fast_zero', 'can_df', 'can_multi_conn', 'can_cache', 'is_rotational'] as const;
const getters: Record<(typeof FLAGS)[number], (h: NbdHandle) => boolean> = {
  is_read_only: (h) => h.isReadOnly(), can_flush: (h) => h.canFlush(), can_fua: (h) => h.canFua(),
  can_trim: (h) => h.canTrim(), can_zero: (h) => h.canZero(), can_fast_zero: (h) => h.canFastZero(),
  can_df: (h) => h.canDf(), can_multi_conn: (h) => h.canMultiConn(), can_cache: (h) => h.canCache(),
  is_rotational: (h) => h.isRotational(),
};

describe.each(['tcp', 'unix', 'ws'] as Transport[])('real servers over %s', (transport) => {
  it.each(CASES)('$name', async (c) => {
    const server = await c.start(transport === 'unix');
    const h = await open(server, transport);
    try {
      const size = h.getSize();
      // What libnbd itself sees.
      if (!c.skipInfo) {
        const info = JSON.parse((await run('nbdinfo', ['--json', server.uri])).toString());
        const e = info.exports[0];
        expect(size).toBe(BigInt(e['export-size']));
        for (const f of FLAGS) if (f in e) expect(getters[f](h), f).toBe(e[f]);
        expect(h.getProtocol()).toBe(info.protocol);
      }
      if (c.check) await c.check(h);
      if (c.name === 'nbdkit error filter') return;
      const n = Number(size < 16n << 20n ? size : 16n << 20n);
      const got = await readAll(h, n);
      const want = await run('nbdcopy', [server.uri, '-']);
      expect(Buffer.from(got).equals(want.subarray(0, n)), 'webnbd reads what nbdcopy reads').toBe(true);
      // Block status matches nbdinfo --map.
      if (h.canMetaContext('base:allocation')) {
        const map = JSON.parse((await run('nbdinfo', ['--map', '--json', server.uri])).toString()) as { offset: number; length: number; type: number }[];
        const mine: { offset: number; length: number; type: number }[] = [];
        let at = 0n;
        while (at < size) {
          await h.blockStatus(size - at > 0x7fffffffn ? 0x7fffffffn : size - at, at, (_ctx, off, entries) => {
            let o = Number(off);
            for (let i = 0; i < entries.length; i += 2) {
              const last = mine[mine.length - 1];
              if (last && last.type === entries[i + 1] && last.offset + last.length === o) last.length += entries[i]!;
              else mine.push({ offset: o, length: entries[i]!, type: entries[i + 1]! });
              o += entries[i]!;
            }
            at = BigInt(o);
          });
        }
        if (mine.length) mine[mine.length - 1]!.length -= Number(at - size);
        expect(mine).toEqual(map.map(({ offset, length, type }) => ({ offset, length, type })));
      }
      if (c.writable) {
        // Aligned to 4 KiB, the largest minimum block size among the cases.
        const data = Uint8Array.from({ length: 12288 }, (_, i) => (i * 31 + 7) & 0xff);
        await h.pwrite(data, 4096);
        if (h.canFlush() && !c.refusesAdvertised) await h.flush();
        const back = new Uint8Array(12288);
        await h.pread(back, 4096);
        expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
        if (h.canZero() && !c.refusesAdvertised) {
          await h.zero(4096, 8192);
          const z = new Uint8Array(4096);
          await h.pread(z, 8192);
          expect(z.every((b) => b === 0)).toBe(true);
        }
        if (h.canTrim() && !c.refusesAdvertised) await h.trim(4096, 65536);
        // libnbd sees our writes too.
        const after = await run('nbdcopy', [server.uri, '-']);
        expect(Buffer.from(after.subarray(4096, 8192)).equals(Buffer.from(data.subarray(0, 4096)))).toBe(true);
      }
    } finally {
      await h.shutdown().catch((e: unknown) => { if (!(e instanceof NbdError)) throw e; });
      h.close();
    }
  });
});
