// What a C program waits on besides libnbd's blocking calls: the descriptors nbd_aio_get_fd
// returns, poll()/select()/sleep() timeouts (wasm/src/events.c), and SIGALRM from alarm() and
// setitimer(), and stdin. Waiting is an Asyncify sleep (with -pthread, the calling thread's
// Atomics.wait), so the core keeps reading the WebSocket meanwhile; a signal that comes due
// interrupts the wait, and C runs its handler before going on.

import type { NbdHandle } from '../../web/core/handle.js';

/** nbd_aio_get_fd's descriptors: this plus the handle's id (below FD_SETSIZE for select). */
export const FD_BASE = 512;

/** <poll.h>'s bits, as emscripten's musl numbers them (the same as Linux). */
const POLLIN = 0x1;
const POLLOUT = 0x4;
const POLLHUP = 0x10;
const POLLNVAL = 0x20;
const SIGALRM = 14;
/** Not a poll bit: events.c's WEBNBD_LIVE. */
const LIVE = 0x10000;
/** webnbd_js_wait's flags (webnbd.h). */
const WAIT_STDIN = 1;
const WAIT_HANDLES = 2;

/** libnbd's LIBNBD_AIO_DIRECTION_READ. */
const DIRECTION_READ = 1;

/** What the runtime shares with this file. */
export interface EventsHost {
  handle(id: number): NbdHandle | undefined;
  handles(): Iterable<NbdHandle>;
  /** The program wants stdin: the host answers with stdin(). */
  wantStdin(): void;
}

type Progress = { bytes: bigint; state: string };

const publicState = (n: NbdHandle): string =>
  n.aioIsCreated() ? 'created' : n.aioIsConnecting() ? 'connecting' : n.aioIsNegotiating() ? 'negotiating'
    : n.aioIsReady() ? 'ready' : n.aioIsProcessing() ? 'processing' : n.aioIsDead() ? 'dead' : 'closed';

export class Events {
  readonly #host: EventsHost;
  /** Per handle, what nbd_aio_notify_read last saw: the fd is readable once the core moved on. */
  #seen = new Map<number, Progress>();
  #pending: number[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #due = 0;
  #interval = 0;
  #wakers = new Set<() => void>();
  #watching = new Map<NbdHandle, Set<() => void>>();
  /** Per thread, the libnbd call it waits on while a signal handler runs. */
  #calls = new Map<number, Promise<number>>();
  #stdin: Uint8Array[] = [];
  #stdinEnded = false;
  #stdinWaiters: (() => void)[] = [];
  #stdinAsked = false;
  /** The signal that ended the program by its default action. */
  killedBy = 0;
  /** Why the program was stopped: it would have waited for ever on nothing. */
  stuck = '';

  constructor(host: EventsHost) {
    this.#host = host;
  }

  // ---- descriptors ----

  #progress(n: NbdHandle): Progress {
    return { bytes: n.statsBytesReceived(), state: publicState(n) };
  }

  /** nbd_aio_get_direction: READ while the core expects the server (connecting, commands), else 0. */
  direction(id: number): number {
    const n = this.#host.handle(id);
    const s = n ? publicState(n) : 'closed';
    return s === 'connecting' || s === 'ready' || s === 'processing' ? DIRECTION_READ : 0;
  }

  /** nbd_aio_notify_read: what the core has done so far is now seen. */
  notify(id: number): void {
    const n = this.#host.handle(id);
    if (n) this.#seen.set(id, this.#progress(n));
  }

  forget(id: number): void {
    this.#seen.delete(id);
  }

  /** revents of one pollfd, plus LIVE when waiting may still make it ready. */
  ready(fd: number, events: number): number {
    if (fd === 0) {
      const live = events & POLLIN && !this.stdinEnded() ? LIVE : 0;
      return live | (events & POLLIN && this.stdinReady() ? POLLIN : 0);
    }
    if (fd === 1 || fd === 2) return events & POLLOUT;
    const id = fd - FD_BASE;
    const n = id > 0 ? this.#host.handle(id) : undefined;
    if (!n) return POLLNVAL;
    const now = this.#progress(n);
    if (now.state === 'dead' || now.state === 'closed') return POLLHUP | (events & POLLIN);
    const seen = this.#seen.get(id) ?? { bytes: 0n, state: 'created' };
    const readable = now.bytes !== seen.bytes || now.state !== seen.state;
    return (events & (POLLIN | POLLOUT) ? LIVE : 0) | (readable ? events & POLLIN : 0) | (events & POLLOUT);
  }

  /**
   * Sleep until `ms` pass (-1: no limit), a signal comes due, and with `flags` WAIT_HANDLES any
   * handle makes progress, with WAIT_STDIN stdin arrives. C checks afterwards what changed.
   */
  wait(ms: number, flags: number): Promise<number> {
    if (this.#pending.length) return Promise.resolve(0);
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const watched: Set<() => void>[] = [];
      const done = () => {
        if (timer !== undefined) clearTimeout(timer);
        this.#wakers.delete(done);
        for (const w of watched) w.delete(done);
        resolve(0);
      };
      this.#wakers.add(done);
      if (ms >= 0) timer = setTimeout(done, ms);
      if (flags & WAIT_HANDLES) {
        for (const n of this.#host.handles()) {
          const s = publicState(n);
          if (s !== 'created' && s !== 'dead' && s !== 'closed') watched.push(this.#watch(n).add(done));
        }
      }
      if (flags & WAIT_STDIN && !this.stdinEnded()) void this.waitStdin().then(done);
    });
  }

  /** One nbd_poll per handle at a time, however many waits share it: who to wake when it ends. */
  #watch(n: NbdHandle): Set<() => void> {
    let waiting = this.#watching.get(n);
    if (!waiting) {
      const w = (waiting = new Set());
      this.#watching.set(n, w);
      const wake = () => {
        this.#watching.delete(n);
        for (const f of [...w]) f();
      };
      n.poll(-1).then(wake, wake);
    }
    return waiting;
  }

  // ---- libnbd's blocking calls, interruptible by signals ----

  /** Wait for `call`; 2 when a signal came due first (C runs its handler, then resume()). */
  interruptible(call: Promise<number>, thread = 0): Promise<number> {
    // Only a timer raises signals: without one, the call is all there is to wait for.
    if (this.#timer === undefined && !this.#pending.length) return call;
    this.#calls.set(thread, call);
    return this.resume(thread);
  }

  resume(thread = 0): Promise<number> {
    const call = this.#calls.get(thread)!;
    if (this.#pending.length) return Promise.resolve(2);
    return new Promise((resolve) => {
      const interrupt = () => { this.#wakers.delete(interrupt); resolve(2); };
      this.#wakers.add(interrupt);
      call.then((v) => {
        if (!this.#wakers.has(interrupt)) return;
        this.#wakers.delete(interrupt);
        this.#calls.delete(thread);
        resolve(v);
      });
    });
  }

  // ---- SIGALRM ----

  /** setitimer(ITIMER_REAL): arm (ms > 0) or disarm; returns the old timer's [left, interval] in ms. */
  setTimer(ms: number, interval: number): [number, number] {
    const old = this.getTimer();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#interval = interval;
    if (ms > 0) this.#arm(ms);
    return old;
  }

  getTimer(): [number, number] {
    if (this.#timer === undefined) return [0, 0];
    return [Math.max(1, this.#due - performance.now()), this.#interval];
  }

  #arm(ms: number): void {
    this.#due = performance.now() + ms;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#interval > 0) this.#arm(this.#interval);
      this.raise(SIGALRM);
    }, ms);
    // The timer as a whole number of ms: setTimeout never fires early, so neither does SIGALRM.
  }

  /** A signal is due: it is delivered when C next blocks or calls libnbd. */
  raise(sig: number): void {
    if (!this.#pending.includes(sig)) this.#pending.push(sig);
    for (const w of [...this.#wakers]) w();
  }

  /** The next signal due, or 0. A timer past due fires now, also when the program never slept. */
  take(): number {
    if (this.#timer !== undefined && performance.now() >= this.#due) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      if (this.#interval > 0) this.#arm(this.#interval);
      this.raise(SIGALRM);
    }
    return this.#pending.shift() ?? 0;
  }

  // ---- stdin, read only when the program reads it ----

  /** More of stdin from the host; null at its end. */
  stdin(chunk: Uint8Array | null): void {
    if (chunk === null) this.#stdinEnded = true;
    else if (chunk.length) this.#stdin.push(chunk);
    this.#stdinAsked = false;
    for (const w of this.#stdinWaiters.splice(0)) w();
  }

  stdinReady(): boolean {
    return this.#stdin.length > 0 || this.#stdinEnded;
  }

  stdinEnded(): boolean {
    return this.#stdinEnded && this.#stdin.length === 0;
  }

  waitStdin(): Promise<void> {
    if (this.stdinReady()) return Promise.resolve();
    if (!this.#stdinAsked) {
      this.#stdinAsked = true;
      this.#host.wantStdin();
    }
    return new Promise((resolve) => this.#stdinWaiters.push(resolve));
  }

  /** Copy what stdin has into `dest`; 0 only at the end of stdin. */
  readStdin(dest: Uint8Array): number {
    let n = 0;
    while (n < dest.length && this.#stdin.length) {
      const c = this.#stdin[0]!;
      const k = Math.min(c.length, dest.length - n);
      dest.set(c.subarray(0, k), n);
      n += k;
      if (k === c.length) this.#stdin.shift();
      else this.#stdin[0] = c.subarray(k);
    }
    return n;
  }
}
