// The Chrome DevTools Protocol on a page's Web Worker (Playwright only opens sessions on pages):
// attach through the browser's session, then heap usage after a GC, and CPU profiles.

import type { Browser, CDPSession } from 'playwright-core';

type Reply = { id: number; result?: Record<string, unknown>; error?: { message: string } };

export class WorkerDevtools {
  #next = 0;
  readonly #waiting = new Map<number, (r: Reply) => void>();

  private constructor(private readonly cdp: CDPSession, private readonly sessionId: string) {
    cdp.on('Target.receivedMessageFromTarget', (e: { sessionId: string; message: string }) => {
      if (e.sessionId !== this.sessionId) return;
      const m = JSON.parse(e.message) as Reply;
      this.#waiting.get(m.id)?.(m);
      this.#waiting.delete(m.id);
    });
  }

  /** Attach to the one worker whose URL `match` accepts (waits up to 5 s for it to start). */
  static async attach(browser: Browser, match: (url: string) => boolean): Promise<WorkerDevtools> {
    const cdp = await browser.newBrowserCDPSession();
    for (const deadline = Date.now() + 5000; ;) {
      const { targetInfos } = await cdp.send('Target.getTargets');
      const t = targetInfos.find((i) => i.type === 'worker' && match(i.url));
      if (t) {
        const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: t.targetId, flatten: false });
        return new WorkerDevtools(cdp, sessionId);
      }
      if (Date.now() > deadline) throw new Error('no such worker');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = ++this.#next;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, (r) => (r.error ? reject(new Error(`${method}: ${r.error.message}`)) : resolve(r.result ?? {})));
      void this.cdp.send('Target.sendMessageToTarget', { sessionId: this.sessionId, message: JSON.stringify({ id, method, params }) });
    });
  }

  /** The worker's used JS heap after a full GC, in bytes. */
  async heapUsed(): Promise<number> {
    await this.send('HeapProfiler.collectGarbage');
    const u = await this.send('Runtime.getHeapUsage');
    return u.usedSize as number;
  }

  async startProfile(): Promise<void> {
    await this.send('Profiler.enable');
    await this.send('Profiler.setSamplingInterval', { interval: 200 });
    await this.send('Profiler.start');
  }

  /** The profile, as a .cpuprofile file's JSON. */
  async stopProfile(): Promise<unknown> {
    return (await this.send('Profiler.stop')).profile;
  }

  async detach(): Promise<void> {
    await this.cdp.detach();
  }
}
