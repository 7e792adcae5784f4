// <nbd-hexdump> and the inspector in Chromium when the connection goes: nbdkit behind websockify
// is killed with a read in flight and started again on its port; the element and the inspector
// say they are reconnecting, connect again by themselves and show the right bytes (the read is
// sent again). Without a server they give up after their bound, saying so. A WebSocket that never
// answers, and one that never speaks NBD, end "Connecting…" with a timeout naming the bridge.

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labPage, launch, serveDist, type Site } from '../support/browser.js';
import { FakeServer, type FakeServerHandle } from '../support/fake-conn.js';
import * as B from '../support/bytes.js';
import { stall, stallingServer, startDiskServer } from '../support/fake-server.js';
import { hexdump, work } from '../support/inspector-fixtures.js';
import { freePort, startWebsockify, type WebsockifyServer } from '../support/servers.js';

/** What nbdkit's pattern plugin serves: each 8-byte word is its own offset, big-endian. */
const PATTERN = join(work, 'pattern.img');
{
  const b = Buffer.alloc(2 << 20);
  for (let o = 0; o < b.length; o += 8) b.writeBigUInt64BE(BigInt(o), o);
  writeFileSync(PATTERN, b);
}

const accepts = (port: number): Promise<boolean> => new Promise((resolve) => {
  const s = connect(port, '127.0.0.1');
  s.once('connect', () => { s.destroy(); resolve(true); }).once('error', () => resolve(false));
});

/** nbdkit on a fixed port, which can be killed and started again there. */
class Restartable {
  child: ChildProcess | null = null;
  constructor(readonly port: number, readonly args: string[]) {}
  async start(): Promise<void> {
    this.child = spawn('nbdkit', ['-f', '-i', '127.0.0.1', '-p', String(this.port), ...this.args], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !(await accepts(this.port)); i++) await new Promise((r) => setTimeout(r, 50));
  }
  kill(): void {
    this.child?.kill('SIGKILL');
    this.child = null;
  }
}

let site: Site;
const cleanup: (() => unknown)[] = [];
beforeAll(async () => { site = await serveDist(true); });
afterAll(async () => {
  await (await launch()).close();
  for (const c of cleanup) await c();
  await site.close();
});

/** nbdkit (1 s per read) behind websockify, which connects to it afresh for every WebSocket. */
async function restartableServer(): Promise<{ nbd: Restartable; ws: WebsockifyServer; uri: string }> {
  const nbd = new Restartable(await freePort(), ['--filter=delay', 'pattern', '64M', 'rdelay=1']);
  await nbd.start();
  cleanup.push(() => nbd.kill());
  const ws = await startWebsockify({ port: nbd.port });
  cleanup.push(() => ws.stop());
  return { nbd, ws, uri: `nbd+ws://127.0.0.1:${ws.port}/` };
}

const state = (page: Page) => page.evaluate(() => {
  const el = document.querySelector('nbd-hexdump')!;
  return { state: el.dataset['state'], status: el.shadowRoot!.querySelector('[part=status]')!.textContent };
});

async function embed(query: Record<string, string>): Promise<Page> {
  const page = await (await launch()).newPage();
  await page.goto(`${site.origin}/embed.html?${new URLSearchParams(query)}`);
  await page.waitForSelector('nbd-hexdump', { state: 'attached' });
  return page;
}

describe('reconnect-browser', () => {
  it('the element and the inspector reconnect after the server restarts, and the read in flight is sent again', async () => {
    const { nbd, uri } = await restartableServer();
    const page = await embed({ src: uri, offset: '0', length: '512' });
    await page.waitForFunction(() => document.querySelector('nbd-hexdump')!.dataset['state'] === 'loaded', null, { timeout: 20_000 });
    expect(await page.evaluate(() => document.querySelector('nbd-hexdump')!.text)).toBe(hexdump(PATTERN, 0, 512));
    const inspector = await (await launch()).newPage();
    await inspector.goto(`${site.origin}/index.html?src=${encodeURIComponent(uri)}`);
    await inspector.waitForFunction(() => document.querySelector('nbd-hexdump')?.dataset['state'] === 'loaded', null, { timeout: 30_000 });

    // A new range: its read takes nbdkit a second, and nbdkit dies while it is in flight.
    await page.evaluate(() => document.querySelector('nbd-hexdump')!.setAttribute('offset', String(1 << 20)));
    await new Promise((r) => setTimeout(r, 300));
    nbd.kill();
    await page.waitForFunction(() => document.querySelector('nbd-hexdump')!.dataset['state'] === 'reconnecting', null, { timeout: 10_000 });
    expect((await state(page)).status).toMatch(/^Connection lost; reconnecting \(attempt \d of 6\)…$/);
    await inspector.waitForFunction(() => /was lost; reconnecting \(attempt \d of 6\)…/.test(document.querySelector('#error')!.textContent ?? ''), null, { timeout: 10_000 });

    await new Promise((r) => setTimeout(r, 1000));
    await nbd.start();
    await page.waitForFunction(() => document.querySelector('nbd-hexdump')!.dataset['state'] === 'loaded', null, { timeout: 30_000 });
    expect(await page.evaluate(() => document.querySelector('nbd-hexdump')!.text)).toBe(hexdump(PATTERN, 1 << 20, 512));
    expect(await state(page)).toEqual({ state: 'loaded', status: '' });
    expect(await page.evaluate(() => document.querySelector('nbd-hexdump')!.disk!.stats.reconnects)).toBe(1);
    // The inspector took its connection back too, and says nothing is wrong any more.
    await inspector.waitForFunction(() => document.querySelector<HTMLElement>('#error')!.hidden, null, { timeout: 30_000 });
    // Its hexdump scrolls on to bytes not read before, and shows them.
    const line = hexdump(PATTERN, 1 << 20, 16).split('\n')[0]!;
    await inspector.evaluate(() => { document.querySelector('nbd-hexdump')!.position = 1 << 20; });
    await inspector.waitForFunction((want) => document.querySelector('nbd-hexdump')!.text.includes(want), line, { timeout: 20_000 });
    expect(await inspector.evaluate(() => document.querySelector('nbd-hexdump')!.dataset['state'])).toBe('loaded');
    await Promise.all([page.close(), inspector.close()]);
  });

  it('without a server it gives up after its bound, saying so', async () => {
    const { nbd, uri } = await restartableServer();
    const page = await embed({ src: uri, offset: '0', length: '512' });
    await page.waitForFunction(() => document.querySelector('nbd-hexdump')!.dataset['state'] === 'loaded', null, { timeout: 20_000 });
    const t0 = Date.now();
    nbd.kill();
    await page.evaluate(() => document.querySelector('nbd-hexdump')!.setAttribute('offset', '8192'));
    await page.waitForFunction(() => document.querySelector('nbd-hexdump')!.dataset['state'] === 'error', null, { timeout: 60_000 });
    const seconds = (Date.now() - t0) / 1000;
    expect(seconds).toBeGreaterThan(15);
    expect(seconds).toBeLessThan(45);
    expect((await state(page)).status).toMatch(/^webnbd: .*; reconnecting failed \(6 attempts over 15\.8 s\): nbd_connect_uri: .*$/);
    await page.close();
  });
});

describe('connect-timeout-browser', () => {
  let silent: Server;
  const sockets: Socket[] = [];
  let mute: FakeServerHandle;
  let muteWs: WebsockifyServer;
  let optStall: FakeServerHandle;
  let optStallWs: WebsockifyServer;
  beforeAll(async () => {
    // Takes the connection and never answers the WebSocket upgrade (as a dev server's port may).
    silent = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    // A WebSocket that opens, to a TCP server that never speaks NBD.
    mute = await FakeServer.start(stallingServer);
    muteWs = await startWebsockify({ port: mute.port! });
    // A server that greets, then never answers NBD_OPT_LIST or NBD_OPT_INFO.
    optStall = await startDiskServer({ size: 4096, hooks: { onOption: (o, s) => ([B.NBD_OPT_LIST, B.NBD_OPT_INFO].includes(o.option) ? stall(s.conn) : undefined) } });
    optStallWs = await startWebsockify({ port: optStall.port! });
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
    await Promise.all([muteWs.stop(), optStallWs.stop()]);
    await Promise.all([mute.close(), optStall.close()]);
  });

  it('"Connecting…" ends with a timeout that names the bridge', async () => {
    const port = (silent.address() as { port: number }).port;
    const t0 = Date.now();
    const [a, b] = await Promise.all([
      embed({ src: `nbd+ws://127.0.0.1:${port}/` }),
      embed({ src: `nbd+ws://127.0.0.1:${muteWs.port}/` }),
    ]);
    expect((await state(a)).status).toBe('Connecting…');
    for (const p of [a, b]) await p.waitForFunction(() => document.querySelector('nbd-hexdump')!.dataset['state'] === 'error', null, { timeout: 40_000 });
    expect((Date.now() - t0) / 1000).toBeLessThan(30);
    expect(await state(a)).toEqual({ state: 'error', status: 'nbd_connect_uri: timed out after 15 s connecting to the bridge (is it a webnbd bridge?): Connection timed out' });
    expect(await state(b)).toEqual({ state: 'error', status: "nbd_connect_uri: timed out after 15 s waiting for the server's greeting (is it a webnbd bridge?): Connection timed out" });
    await Promise.all([a.close(), b.close()]);
  });

  it('the inspector does not stay on "Connecting…" either', async () => {
    const port = (silent.address() as { port: number }).port;
    const page = await (await launch()).newPage();
    await page.goto(`${site.origin}/index.html?src=${encodeURIComponent(`nbd+ws://127.0.0.1:${port}/`)}`);
    await page.waitForFunction(() => !document.querySelector<HTMLElement>('#error')!.hidden, null, { timeout: 40_000 });
    expect(await page.textContent('#error')).toMatch(/^No webnbd bridge answered to nbd\+ws:\/\/127\.0\.0\.1:\d+\/ in time: is that address a bridge, or a web server's own port\? \(nbd_connect_uri: timed out after 15 s connecting to the bridge \(is it a webnbd bridge\?\): Connection timed out\)$/);
    await page.waitForFunction(() => document.querySelector('#exports .note')!.textContent === 'Not connected.', null, { timeout: 10_000 });
    expect(await page.evaluate(() => document.querySelector('nbd-hexdump')!.dataset['state'])).toBe('error');
    await page.close();
  });

  it('a page handle\'s signal and timeout reach the worker: connect and opt calls end as asked', async () => {
    const { page, errors } = await labPage(site);
    const r = await page.evaluate(async (uri) => {
      const w = window.webnbd;
      const outcome = async (run: (h: ReturnType<typeof w.create>) => Promise<unknown>) => {
        const h = w.create();
        const t0 = performance.now();
        try {
          await run(h);
          return { ok: true };
        } catch (e) {
          return { code: (e as { code: string }).code, message: (e as Error).message, ms: performance.now() - t0, dead: h.aioIsDead() };
        }
      };
      const aborted = (ms: number) => {
        const ac = new AbortController();
        setTimeout(() => ac.abort('the user went away'), ms);
        return ac.signal;
      };
      return {
        timeout: await outcome((h) => h.connectUri(uri, { timeout: 300 })),
        abort: await outcome((h) => h.connectUri(uri, { signal: aborted(200) })),
        before: await outcome((h) => h.connectUri(uri, { signal: AbortSignal.abort('no') })),
        signalTimeout: await outcome((h) => h.connectUri(uri, { signal: AbortSignal.timeout(200) })),
        aio: await outcome(async (h) => {
          h.aioConnectUri(uri, { timeout: 200 });
          for (let i = 0; i < 100 && !h.aioIsDead(); i++) await new Promise((res) => setTimeout(res, 20));
          throw Object.assign(new Error(h.aioIsDead() ? 'dead' : 'alive'), { code: h.aioIsDead() ? 'DEAD' : 'ALIVE' });
        }),
      };
    }, `nbd+ws://127.0.0.1:${muteWs.port}/`);
    const opt = await page.evaluate(async (uri) => {
      const w = window.webnbd;
      const h = w.create();
      h.setOptMode(true);
      await h.connectUri(uri, { timeout: 5000 });
      const list = await h.optList(() => {}, { timeout: 300 }).then(() => 'listed', (e: Error) => e.message);
      const g = w.create();
      g.setOptMode(true);
      await g.connectUri(uri, { timeout: 5000 });
      const ac = new AbortController();
      const info = new Promise<number>((resolve) => g.aioOptInfo((err: { value: number }) => { resolve(err.value); return 1; }, { signal: ac.signal }));
      setTimeout(() => ac.abort('enough'), 200);
      return { list, listDead: h.aioIsDead(), info: await info, infoDead: g.aioIsDead() };
    }, `nbd+ws://127.0.0.1:${optStallWs.port}/`);
    expect(opt).toEqual({
      list: "nbd_opt_list: timed out after 300 ms waiting for the server's reply to NBD_OPT_LIST: Connection timed out",
      listDead: true, info: 125, infoDead: true,
    });
    expect(r.timeout).toMatchObject({ code: 'ETIMEDOUT', dead: true, message: "nbd_connect_uri: timed out after 300 ms waiting for the server's greeting (is it a webnbd bridge?): Connection timed out" });
    expect(r.abort).toMatchObject({ code: 'ECANCELED', dead: true, message: expect.stringMatching(/^nbd_connect_uri: cancelled (connecting to the bridge|waiting for the server's greeting) \(the user went away\): Operation canceled$/) });
    expect(r.before).toMatchObject({ code: 'ECANCELED', message: 'nbd_connect_uri: cancelled connecting to the bridge (no): Operation canceled', dead: false });
    expect(r.signalTimeout).toMatchObject({ code: 'ETIMEDOUT', dead: true });
    expect(r.aio).toMatchObject({ code: 'DEAD' });
    expect(errors).toEqual([]);
    await page.close();
  });
});
