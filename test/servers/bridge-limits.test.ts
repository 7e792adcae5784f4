// Every bound on what a client controls fires, says so in the log, and leaves the others served:
// time to upgrade, to finish the NBD handshake, idle time, connections in total and per address,
// frame size, and replies left unread (the server is no longer read, so the bridge's memory stays
// flat). The bridge runs as `webnbd bridge` in a child process, so its memory can be measured.
// The nginx recipe renders the same kind of bounds, and nginx accepts it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { goodReader, idleClient, neverReads, oversizedFrame, rss, slowHeader, wsUrl } from '../soak/attackers.js';

const root = resolve(import.meta.dirname, '../..');
const procs: ChildProcess[] = [];
afterAll(async () => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `webnbd bridge ARGS -- nbdkit pattern 1G`; its URI and everything it logs. */
async function bridgeCli(args: string[]): Promise<{ uri: string; pid: number; log: () => string }> {
  const p = spawn(process.execPath, [join('build/web/cli/main.js'), 'bridge', ...args, '--', 'nbdkit', 'pattern', '1G'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(p);
  let out = '';
  let err = '';
  p.stdout!.on('data', (d) => (out += d));
  p.stderr!.on('data', (d) => (err += d));
  const deadline = Date.now() + 15_000;
  while (!out.includes('\n')) {
    if (p.exitCode !== null || Date.now() > deadline) throw new Error(`bridge did not start: ${err}`);
    await sleep(20);
  }
  return { uri: out.split('\n')[0]!, pid: p.pid!, log: () => err };
}
const join = (...a: string[]) => resolve(root, ...a);

async function until(what: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(25);
  }
}

/** The bridge logged a line matching `re`: a client can see its connection end before the line crosses the pipe. */
async function logged(b: { log: () => string }, re: RegExp): Promise<void> {
  await until(() => re.test(b.log()), 5_000).catch(() => {});
  expect(b.log()).toMatch(re);
}

/** How a WebSocket ends: its close code, or 'HTTP n', or 'dropped'. */
function ending(ws: WebSocket): Promise<string> {
  return new Promise((done) => {
    ws.on('close', (code) => done(String(code)));
    ws.on('unexpected-response', (_q, r) => done(`HTTP ${r.statusCode}`));
    ws.on('error', () => done('dropped'));
  });
}

describe('bridge limits', () => {
  it('slow-headers-silent-handshakes-and-idle-clients-are-closed-and-logged', async () => {
    const b = await bridgeCli(['--upgrade-timeout', '0.5', '--handshake-timeout', '0.8', '--idle-timeout', '1.2']);
    const slow = slowHeader(Number(new URL(wsUrl(b.uri)).port));
    const slowClosed = new Promise((r) => slow.once('close', r));
    const silent = idleClient(b.uri); // never sends its NBD client flags
    const silentEnd = ending(silent);
    // A client that finishes the handshake, then says nothing.
    const h = (await import('../../web/node/index.js')).create();
    await h.connectUri(b.uri);
    await slowClosed;
    expect(await silentEnd).toBe('1008');
    await until(() => /idle for \d+ s; closed/.test(b.log()));
    await logged(b, /127\.0\.0\.1: no WebSocket upgrade within 0\.5 s; closed\n/);
    await logged(b, /127\.0\.0\.1: NBD handshake not finished within 0\.8 s; closed\n/);
    await logged(b, /127\.0\.0\.1: idle for [12] s; closed\n/);
    h.close();
    // Good clients are still served.
    expect((await goodReader(b.uri, Promise.resolve())).errors).toEqual([]);
  });

  it('connections-are-limited-in-total-and-per-address', async () => {
    const b = await bridgeCli(['--max-per-address', '3', '--max-connections', '5']);
    const held = [1, 2, 3].map(() => idleClient(b.uri));
    await Promise.all(held.map((ws) => new Promise((r) => ws.once('open', r))));
    // A fourth from the same address is dropped; another loopback address still gets in.
    expect(await ending(idleClient(b.uri))).toBe('dropped');
    const other = [idleClient(b.uri, '127.0.0.2'), idleClient(b.uri, '127.0.0.3')];
    await Promise.all(other.map((ws) => new Promise((r) => ws.once('open', r))));
    expect(await ending(idleClient(b.uri, '127.0.0.4'))).toBe('dropped'); // five in all
    await logged(b, /127\.0\.0\.1: 3 connections from this address, the limit; refused\n/);
    await logged(b, /127\.0\.0\.4: 5 connections open, the limit; refused\n/);
    for (const ws of [...held, ...other]) ws.terminate();
    await sleep(200);
    expect((await goodReader(b.uri, Promise.resolve())).errors).toEqual([]);
  });

  it('a-frame-over-the-limit-is-refused-before-it-is-read', async () => {
    const b = await bridgeCli(['--max-frame', '1M']);
    expect(await oversizedFrame(b.uri)).toBe('closed 1009');
    await logged(b, /127\.0\.0\.1: a frame over 1048576 bytes; closed\n/);
  });

  it('a-client-that-never-reads-holds-the-server-back-not-the-bridge-memory', async () => {
    const b = await bridgeCli(['--max-unread', '4M', '--idle-timeout', '4']);
    await goodReader(b.uri, Promise.resolve()); // warm up
    const before = await rss(b.pid);
    const s = await neverReads(b.uri, 40, 32 << 20); // 1.25 GiB of replies asked for, none read
    let peak = before;
    const stop = sleep(2500).then(() => true);
    const reader = goodReader(b.uri, stop); // served meanwhile
    for (let i = 0; i < 10; i++) {
      await sleep(250);
      peak = Math.max(peak, await rss(b.pid));
    }
    const r = await reader;
    expect(r.errors).toEqual([]);
    expect(r.reads).toBeGreaterThan(0);
    expect(peak - before).toBeLessThan(64 << 20);
    // It is closed once idle, and what the server still owed is read and dropped.
    await until(() => /idle for \d+ s; closed/.test(b.log()), 15_000);
    s.destroy();
  }, 30_000);

  it('the-nginx-recipe-bounds-each-address-and-can-add-basic-auth', () => {
    const dir = mkdtempSync(resolve(tmpdir(), 'webnbd-nginx-'));
    try {
      const f = (n: string) => resolve(dir, n);
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('key.pem'), '-out', f('cert.pem'),
        '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
      writeFileSync(f('htpasswd'), `user:${execFileSync('openssl', ['passwd', '-apr1', 'secret']).toString().trim()}\n`);
      mkdirSync(f('root'));
      const render = (...extra: string[]) => execFileSync('sh', [join('bridge/nginx/configure.sh'), '--server-name', '127.0.0.1',
        '--listen', '127.0.0.1:8443', '--cert', f('cert.pem'), '--key', f('key.pem'), '--bridge', '127.0.0.1:8001', '--root', f('root'), ...extra]).toString();
      const site = render();
      for (const d of ['limit_conn webnbd_conn 64;', 'limit_req zone=webnbd_req burst=40 nodelay;', 'client_header_timeout 10s;',
        'proxy_read_timeout 15m;', 'proxy_connect_timeout 5s;']) expect(site).toContain(d);
      expect(site).not.toMatch(/^\s*auth_basic /m);
      render('--htpasswd', f('htpasswd'), '--prefix', f('p'));
      expect(readFileSync(f('p/webnbd-site.conf'), 'utf8')).toContain(`auth_basic "webnbd"; auth_basic_user_file ${f('htpasswd')};`);
      // nginx itself accepts the whole configuration.
      execFileSync('nginx', ['-t', '-q', '-p', f('p'), '-c', 'nginx.conf', '-e', 'stderr'], { stdio: 'pipe' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
