// Attacks on `webnbd bridge` (run as the command, in a child process, in front of nbdkit pattern
// 1G) while well-behaved clients read and check every byte. Each scene returns its figures; the
// short version runs in `npm test` (test/servers/bridge-attack.test.ts), the long one in
// `npm run bridge-attack` (figures in docs/reliability.md).
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import type { Socket } from 'node:net';
import type WebSocket from 'ws';
import { dropper, goodReader, idleClient, neverReads, oversizedFrame, rss, slowHeader, wsUrl, type ReaderResult } from './attackers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = 1 << 20;

export interface RunningBridge {
  uri: string;
  pid: number;
  /** nbdkit's PID (a restart would change it). */
  serverPid(): number | undefined;
  log(): string;
  stop(): Promise<void>;
}

/** `webnbd bridge ARGS -- nbdkit pattern 1G` from the built command (`tsc -b`). */
export async function runBridge(root: string, args: string[] = []): Promise<RunningBridge> {
  const p: ChildProcess = spawn(process.execPath, [resolve(root, 'build/web/cli/main.js'), 'bridge', ...args, '--', 'nbdkit', 'pattern', '1G'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout!.on('data', (d) => (out += d));
  p.stderr!.on('data', (d) => (err = (err + d).slice(-1 << 20)));
  const deadline = Date.now() + 20_000;
  while (!out.includes('\n')) {
    if (p.exitCode !== null || Date.now() > deadline) throw new Error(`bridge did not start: ${err}`);
    await sleep(20);
  }
  const { readFileSync, readdirSync } = await import('node:fs');
  const serverPid = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).find((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === p.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('nbdkit');
    } catch {
      return false;
    }
  });
  return {
    uri: out.split('\n')[0]!, pid: p.pid!, serverPid, log: () => err,
    async stop() {
      if (p.exitCode === null) p.kill('SIGTERM');
      await new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)));
    },
  };
}

const sum = (rs: ReaderResult[]) => ({
  reads: rs.reduce((a, r) => a + r.reads, 0),
  bytes: rs.reduce((a, r) => a + r.bytes, 0),
  errors: rs.flatMap((r) => r.errors),
});

/** Readers keep reading while `droppers` clients (`parallel` at a time) each send 20 reads of 32 MiB and vanish. */
export async function readersVsDroppers(b: RunningBridge, readers: number, droppers: number, parallel: number) {
  const pid = b.serverPid();
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const t0 = Date.now();
  const rs = Array.from({ length: readers }, () => goodReader(b.uri, stopped));
  let dropped = 0;
  const dropErrors: string[] = [];
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (dropped < droppers) {
      dropped++;
      await dropper(b.uri).catch((e: Error) => dropErrors.push(e.message));
    }
  }));
  await sleep(2000);
  stop();
  const r = sum(await Promise.all(rs));
  return { ...r, seconds: (Date.now() - t0) / 1000, droppers: dropped, dropErrors, sameServer: b.serverPid() === pid && pid !== undefined };
}

/** `clients` connect at once, each reads 1 MiB and checks it. */
export async function manyAtOnce(b: RunningBridge, clients: number) {
  const t0 = Date.now();
  // All connect at once; each reads once.
  const rs = Array.from({ length: clients }, () => goodReader(b.uri, Promise.resolve()));
  const r = sum(await Promise.all(rs));
  return { ...r, clients, seconds: (Date.now() - t0) / 1000 };
}

/** From 127.0.0.2: slow headers, idle WebSockets and one oversized frame, while `good` clients read from 127.0.0.1 for `seconds`. */
export async function attackersVsReaders(b: RunningBridge, o: { slow: number; idle: number; good: number; seconds: number }) {
  const port = Number(new URL(wsUrl(b.uri)).port);
  const slow: Socket[] = [];
  for (let i = 0; i < o.slow; i++) slow.push(slowHeader(port, '127.0.0.2'));
  const idle: WebSocket[] = [];
  for (let i = 0; i < o.idle; i++) idle.push(idleClient(b.uri, '127.0.0.3'));
  const frame = oversizedFrame(b.uri, '127.0.0.4');
  const openIdle = () => idle.filter((ws) => ws.readyState === 1).length;
  await sleep(500);
  const stopped = sleep(o.seconds * 1000);
  const rs = Array.from({ length: o.good }, () => goodReader(b.uri, stopped));
  const r = sum(await Promise.all(rs));
  const result = {
    ...r, good: o.good, seconds: o.seconds,
    slowStillOpen: slow.filter((s) => !s.destroyed && s.readyState === 'open').length,
    idleStillOpen: openIdle(),
    frame: await Promise.race([frame, sleep(5000).then(() => 'still open')]),
    refusedLines: (b.log().match(/the limit; refused/g) ?? []).length,
    upgradeTimeouts: (b.log().match(/no WebSocket upgrade within/g) ?? []).length,
  };
  for (const s of slow) s.destroy();
  for (const ws of idle) ws.terminate();
  return result;
}

/** The bridge's resident memory while a client asks for `reads` reads of 32 MiB and never reads. */
export async function neverReader(b: RunningBridge, reads: number, seconds: number) {
  await goodReader(b.uri, Promise.resolve());
  const before = await rss(b.pid);
  const s = await neverReads(b.uri, reads, 32 * MiB);
  let peak = before;
  const stopped = sleep(seconds * 1000);
  const reader = goodReader(b.uri, stopped);
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    await sleep(200);
    peak = Math.max(peak, await rss(b.pid));
  }
  const r = await reader;
  s.destroy();
  return { before, peak, asked: reads * 32 * MiB, reads: r.reads, errors: r.errors };
}
