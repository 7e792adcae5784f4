// Chromium driven over the bare DevTools protocol, for measuring. Playwright enables the Network
// domain on every page and worker it attaches to, and Chromium then base64-encodes every WebSocket
// frame for it: in a flood that costs more CPU than the data itself (docs/performance.md).
// Here only Runtime (evaluate) and, on request, HeapProfiler and Profiler are used.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { CHROMIUM_ARGS } from '../support/browser.js';

type Message = { id?: number; method?: string; params?: Record<string, unknown>; sessionId?: string; result?: Record<string, unknown>; error?: { message: string } };

/** What the measuring code needs of a page (Playwright's Page has the same shape). */
export interface Evaluator {
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
}

export class Chromium {
  #next = 0;
  readonly #waiting = new Map<number, { resolve(r: Record<string, unknown>): void; reject(e: Error): void }>();
  /** Workers of our pages, as auto-attach reports them (until they end): their URL and session. */
  readonly #workers: { url: string; sessionId: string }[] = [];

  private constructor(private readonly proc: ChildProcess, private readonly ws: WebSocket, private readonly dir: string) {
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString('utf8')) as Message;
      if (m.method === 'Target.attachedToTarget') {
        const { sessionId, targetInfo } = m.params as { sessionId: string; targetInfo: { type: string; url: string } };
        if (targetInfo.type === 'worker') this.#workers.push({ url: targetInfo.url, sessionId });
      }
      if (m.method === 'Target.detachedFromTarget') {
        const { sessionId } = m.params as { sessionId: string };
        const i = this.#workers.findIndex((w) => w.sessionId === sessionId);
        if (i >= 0) this.#workers.splice(i, 1);
      }
      const w = m.id !== undefined ? this.#waiting.get(m.id) : undefined;
      if (!w) return;
      this.#waiting.delete(m.id!);
      if (m.error) w.reject(new Error(m.error.message));
      else w.resolve(m.result ?? {});
    });
  }

  static async launch(): Promise<Chromium> {
    const dir = mkdtempSync(join(tmpdir(), 'webnbd-bench-chromium-'));
    // setpriv: the kernel kills it if this process dies first (as test/support/servers.ts does).
    const proc = spawn('setpriv', ['--pdeathsig', 'KILL', '--', '/usr/bin/chromium', '--headless', '--remote-debugging-port=0', `--user-data-dir=${dir}`, ...CHROMIUM_ARGS, 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    const url = await new Promise<string>((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`chromium did not start:\n${err}`)), 15_000);
      proc.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /DevTools listening on (ws:\S+)/.exec(err);
        if (m) { clearTimeout(timer); resolve(m[1]!); }
      });
      proc.on('exit', () => reject(new Error(`chromium exited:\n${err}`)));
    });
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    return new Chromium(proc, ws, dir);
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = ++this.#next;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  /** A new page at `url`, once loaded and `ready` (an expression) is true. */
  /** A new page at `url`, once `ready` (an expression) is true; `workers: false` leaves its workers unattached. */
  async page(url: string, ready = 'true', { workers = true } = {}): Promise<CdpPage> {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' }) as { targetId: string };
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true }) as { sessionId: string };
    const page = new CdpPage(this, targetId, sessionId);
    // A dedicated worker is no target of its own: the page's session reports it when it starts.
    if (workers) await this.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: true }, sessionId);
    await this.send('Page.navigate', { url }, sessionId);
    for (const deadline = Date.now() + 15_000; !(await page.evaluate((e) => document.readyState === 'complete' && (0, eval)(e) === true, ready));) {
      if (Date.now() > deadline) throw new Error(`${url}: not ready`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return page;
  }

  /** A session on the (latest) worker of our pages whose URL `match` accepts, for HeapProfiler and Profiler. */
  async worker(match: (url: string) => boolean): Promise<(method: string, params?: Record<string, unknown>) => Promise<Record<string, unknown>>> {
    for (const deadline = Date.now() + 5000; ;) {
      const w = [...this.#workers].reverse().find((i) => match(i.url));
      if (w) return (method, params = {}) => this.send(method, params, w.sessionId);
      if (Date.now() > deadline) throw new Error('no such worker');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Sessions on every worker of our pages whose URL `match` accepts (at least one). */
  async workers(match: (url: string) => boolean): Promise<((method: string, params?: Record<string, unknown>) => Promise<Record<string, unknown>>)[]> {
    await this.worker(match);
    return [...this.#workers].filter((i) => match(i.url)).map((w) => (method: string, params: Record<string, unknown> = {}) => this.send(method, params, w.sessionId));
  }

  async close(): Promise<void> {
    this.ws.close();
    // Chromium and its helpers (zygote, renderers, GPU and network services) share the process
    // group `detached` gave them; the profile is only quiet once every one of them has gone.
    const group = -this.proc.pid!;
    const signal = (s: NodeJS.Signals | 0): boolean => {
      try { process.kill(group, s); return true; } catch { return false; }
    };
    signal('SIGTERM');
    for (let waited = 0; signal(0); waited += 50) {
      if (waited === 3000) signal('SIGKILL');
      if (waited > 10_000) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    rmSync(this.dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  }
}

export class CdpPage implements Evaluator {
  constructor(private readonly browser: Chromium, private readonly targetId: string, private readonly sessionId: string) {}

  /** Run `fn(arg)` in the page (its source is sent, as Playwright does); resolves to its JSON value. */
  async evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R> {
    const expression = `(${fn.toString()})(${JSON.stringify(arg)})`;
    const r = await this.browser.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, this.sessionId) as {
      result: { value?: R }; exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails) throw new Error(r.exceptionDetails.exception?.description ?? r.exceptionDetails.text);
    return r.result.value as R;
  }

  /** A DevTools command on this page's session (Profiler, HeapProfiler, ...). */
  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.browser.send(method, params, this.sessionId);
  }

  async close(): Promise<void> {
    await this.browser.send('Target.closeTarget', { targetId: this.targetId });
  }
}
