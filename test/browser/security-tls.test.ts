// TLS, tested with a throwaway certificate: wss:// to `webnbd bridge` from Chromium, which trusts
// exactly that key (--ignore-certificate-errors-spki-list, not "ignore all errors"); and the
// deployment recipe bridge/nginx/: Debian's nginx terminating TLS and proxying the WebSocket to the
// bridge, run unprivileged in the foreground with its own prefix, reached from Node and Chromium.

import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { chownSync, cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBridge, type Bridge } from '../../bridge/bridge.js';
import { CHROMIUM_ARGS, labPage, serveDist, type Site } from '../support/browser.js';
import { freePort } from '../support/servers.js';

/** A copy of dist/ that stays put while other test runs rebuild dist/. */
const pages = join(mkdtempSync(join(tmpdir(), 'webnbd-pages-')), 'dist');
cpSync('dist', pages, { recursive: true });

const root = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'webnbd-tls-'));
const cert = join(dir, 'cert.pem');
const key = join(dir, 'key.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
  '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
/** base64(SHA-256(SubjectPublicKeyInfo)): the form Chromium's SPKI allowlist takes. */
const spki = createHash('sha256').update(new X509Certificate(readFileSync(cert)).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');

const bridges: Bridge[] = [];
let trusting: Browser;
let site: Site;
beforeAll(async () => {
  trusting = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${spki}`] });
  site = await serveDist(true, pages);
});
afterAll(async () => {
  await trusting?.close();
  await site?.close();
  await Promise.all(bridges.map((b) => b.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function bridge(opts: Parameters<typeof startBridge>[0]): Promise<Bridge> {
  const b = await startBridge(opts);
  bridges.push(b);
  return b;
}

/** In a page: connect, read 64 KiB at 1 MiB and check nbdkit's pattern there. */
const readPattern = (uri: string) => async () => {
  const page = await (await trusting.newContext()).newPage();
  return { page, run: () => page.evaluate(async (u) => {
    const w = window.webnbd;
    const h = w.create();
    await h.connectUri(u);
    const buf = w.allocBuffer(65536);
    await h.pread(buf, 1 << 20);
    const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const ok = Array.from({ length: 8192 }, (_, i) => v.getBigUint64(i * 8) === BigInt((1 << 20) + i * 8)).every(Boolean);
    await h.shutdown();
    return { ok, shared: buf.buffer instanceof SharedArrayBuffer, size: String(h.getSize()) };
  }, uri).catch((e: Error) => e.message) };
};

describe('wss:// in Chromium', () => {
  it('wss-bridge-with-a-test-certificate-trusted-by-its-spki-hash', async () => {
    const b = await bridge({ target: { command: ['nbdkit', 'pattern', '8M'] }, cert, key, origins: [site.origin] });
    expect(b.uris[0]).toMatch(/^nbds\+wss:\/\//);
    const { page, run } = await readPattern(b.uris[0]!)();
    await page.goto(`${site.origin}/lab.html`);
    expect(await run()).toEqual({ ok: true, shared: true, size: String(8 << 20) });
    // The control: a Chromium that does not trust the key cannot connect.
    const { page: plain } = await labPage(site);
    const refused = await plain.evaluate((u) => window.webnbd.create().connectUri(u).then(() => 'connected', (e: { code: string }) => e.code), b.uris[0]!);
    expect(refused).toBe('ECONNREFUSED');
  });
});

/** nginx in the foreground from a prefix written by bridge/nginx/configure.sh; unprivileged. */
async function startNginx(port: number, bridgeAt: string): Promise<{ proc: ChildProcess; stop(): Promise<void> }> {
  const prefix = join(dir, `nginx-${port}`);
  // The pages inside the prefix, which nginx (as nobody) can read.
  cpSync(pages, join(prefix, 'html'), { recursive: true });
  execFileSync('sh', [join(root, 'bridge/nginx/configure.sh'), '--server-name', '127.0.0.1', '--listen', `127.0.0.1:${port}`,
    '--cert', cert, '--key', key, '--bridge', bridgeAt, '--root', join(prefix, 'html'), '--prefix', prefix]);
  // As root (CI), drop to nobody: nginx then needs to read its prefix (and the certificate in it).
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    for (const f of [dir, prefix, ...readdirSync(prefix, { recursive: true }).map((p) => join(prefix, String(p))), cert, key]) chownSync(f, 65534, 65534);
  }
  const drop = asRoot ? ['--reuid', '65534', '--regid', '65534', '--clear-groups'] : [];
  const proc = spawn('setpriv', [...drop, '--pdeathsig', 'KILL', '--', 'nginx', '-p', prefix, '-c', 'nginx.conf', '-e', 'stderr', '-g', 'daemon off;'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.on('data', (d: Buffer) => (log += d));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  for (let t = 0; !/start worker process/.test(log); t++) {
    if (proc.exitCode !== null || t > 300) throw new Error(`nginx did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { proc, stop: async () => { proc.kill('SIGTERM'); await exited; } };
}

describe('deployment recipe: nginx terminates TLS in front of webnbd bridge', () => {
  it('nginx-proxies-wss-to-the-bridge-for-node-and-chromium', async () => {
    const bridgePort = await freePort();
    const nginxPort = await freePort();
    const origin = `https://127.0.0.1:${nginxPort}`;
    // The bridge stays on loopback, plain ws://, and admits only the public https origin.
    const b = await bridge({ target: { command: ['nbdkit', 'pattern', '8M'] }, listen: { port: bridgePort }, origins: [origin] });
    const nginx = await startNginx(nginxPort, `127.0.0.1:${bridgePort}`);
    try {
      const uri = `nbds+wss://127.0.0.1:${nginxPort}/?token=${b.token}`;
      // Node trusts the test certificate through NODE_EXTRA_CA_CERTS, read at startup: a child process.
      const script = `const { create } = await import(process.argv[1]); const h = create(); await h.connectUri(process.argv[2]);
        const buf = new Uint8Array(16); await h.pread(buf, 4096); await h.shutdown();
        console.log(String(h.getSize()), Buffer.from(buf).toString('hex'));`;
      // Asynchronously: the bridge runs in this process.
      const { stdout: out } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, join(root, 'build/web/node/index.js'), uri],
        { env: { ...process.env, NODE_EXTRA_CA_CERTS: cert }, encoding: 'utf8' });
      expect(out.trim()).toBe(`${8 << 20} 00000000000010000000000000001008`);

      // Chromium loads the pages from nginx (isolated, under its CSP) and reads through it.
      const { page, run } = await readPattern(uri)();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      await page.goto(`${origin}/lab.html`);
      await page.waitForFunction(() => 'webnbd' in window);
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
      expect(await run()).toEqual({ ok: true, shared: true, size: String(8 << 20) });
      expect(errors).toEqual([]);

      // The Origin passes through nginx unchanged, so the bridge still refuses foreign pages.
      const status = await new Promise<string>((done) => {
        const ws = new WebSocket(`wss://127.0.0.1:${nginxPort}/?token=${b.token}`, ['binary'], { origin: 'https://evil.example', ca: readFileSync(cert) });
        ws.on('unexpected-response', (_q, res) => { done(`HTTP ${res.statusCode}`); ws.terminate(); });
        ws.on('open', () => { done('open'); ws.terminate(); });
        ws.on('error', () => done('error'));
      });
      expect(status).toBe('HTTP 403');
    } finally {
      await nginx.stop();
    }
  });
});
