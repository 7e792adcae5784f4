// The page's client holds the handle's state as the worker sends it (web/browser/client.ts): it
// answers getters, names the state, and refuses a bad command from it, in Chromium, without
// posting anything to the worker. The server is the scripted one because it speaks extended
// headers and NBD_FLAG_BLOCK_STAT_PAYLOAD, which no server installed here does.

import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labPage, serveDist, type Site } from '../support/browser.js';
import { FakeServer, type FakeServerHandle } from '../support/fake-conn.js';
import { serveDisk } from '../support/fake-server.js';
import { startWebsockify, type WebsockifyServer } from '../support/servers.js';

/** A copy of dist/ that stays put while other test runs rebuild dist/. */
const pages = join(mkdtempSync(join(tmpdir(), 'webnbd-pages-')), 'dist');
cpSync('dist', pages, { recursive: true });

describe('the page client answers from the handle state the worker sends', () => {
  let site: Site;
  let fake: FakeServerHandle;
  let ws: WebsockifyServer;
  beforeAll(async () => {
    site = await serveDist(true, pages);
    fake = await FakeServer.start(serveDisk({ size: 1 << 20, description: 'scripted' }).handler);
    ws = await startWebsockify({ port: fake.port! });
  });
  afterAll(async () => {
    await ws.stop();
    await fake.close();
    await site.close();
  });

  it('page-getters-and-strict-checks-post-nothing-to-the-worker', async () => {
    const { page, errors } = await labPage(site);
    const r = await page.evaluate(async (uri) => {
      // Count what the page posts to its worker, by message type.
      const posted: string[] = [];
      const post = Worker.prototype.postMessage as (this: Worker, m: unknown, transfer?: Transferable[]) => void;
      Worker.prototype.postMessage = function (this: Worker, m: { t: string; name?: string }, transfer?: Transferable[]) {
        posted.push(m.name ? `${m.t}:${m.name}` : m.t);
        post.call(this, m, transfer ?? []);
      } as typeof Worker.prototype.postMessage;
      const w = window.webnbd;
      const h = w.create();
      h.addMetaContext('base:allocation');
      h.setOptMode(true);
      await h.connectUri(uri);
      const negotiating = h.connectionState();
      await h.optGo();
      const before = posted.length;
      const facts = {
        state: h.connectionState(), ready: h.aioIsReady(), size: String(h.getSize()), ext: h.getExtendedHeadersNegotiated(),
        payload: h.canBlockStatusPayload(), meta: h.canMetaContext('base:allocation'), protocol: h.getProtocol(),
        uri: h.getUri(), exportName: h.getExportName(),
      };
      const refused = await h.pread(w.allocBuffer(512), 1 << 20).catch((e: Error) => e.message);
      const quiet = posted.slice(before);
      await h.shutdown();
      h.close();
      return { negotiating, facts, refused, quiet, posted };
    }, `nbd+ws://127.0.0.1:${ws.port}/`);
    expect(r.negotiating).toMatch(/^NEGOTIATING: /);
    expect(r.facts).toEqual({
      state: 'READY: Connection is ready to process NBD commands', ready: true, size: String(1 << 20), ext: true,
      payload: true, meta: true, protocol: 'newstyle-fixed', uri: `nbd+ws://127.0.0.1:${ws.port}/`, exportName: '',
    });
    expect(r.refused).toBe('nbd_pread: request out of bounds: Invalid argument');
    expect(r.quiet).toEqual([]);
    // What did go to the worker: the completion ring (the lab page is isolated), the settings that
    // run there too, the blocking calls, the end.
    expect(r.posted).toEqual(['ring', 'create', 'call:addMetaContext', 'call:setOptMode', 'call:connectUri', 'call:optGo', 'call:shutdown', 'close']);
    expect(errors).toEqual([]);
  });
});
