// The engine behind NbdHandle: one connection's moving parts (transport, receiver, commands,
// waiters) around the pure handle state, and what every state shares: moving between states,
// sending, logging, dying. What each state does with the bytes it waited for is in states-*.ts;
// the calls that start things are in connect.ts, opt.ts, rw.ts and disconnect.ts.

import { request, type ReplyHeader } from '../codec.js';
import { Commands, callUser, type Command } from '../commands.js';
import type { Coverage } from '../coverage.js';
import { NbdError, errno } from '../errors.js';
import { NBD_CMD_DISC } from '../protocol.js';
import type { Next, State } from '../states.js';
import type { Transport, Transports } from '../transport.js';
import type * as T from '../types.js';
import { Receiver } from './recv.js';
import { deathOf, goto, newHandleState, publicState, toDead, type ExportInfo } from './state.js';
import { STEPS } from './steps.js';
import { NbdOverflow, Violation } from './violation.js';
import type { CallContext } from './wrappers.js';

/** A command on the wire: what the request said, and what the reply has covered so far. */
export interface WireCommand extends Command {
  flags: number;
  offset: bigint;
  count: bigint;
  coverage: Coverage | null;
  gotExtents: boolean;
  /** Cancelled or timed out: complete for the caller, its reply still to be read and dropped. */
  cancelled: boolean;
  /** Stop watching the command's signal and timer. */
  disarm: (() => void) | null;
}

/** An opt-mode call in flight (nbd_opt_*): settled when its options are done or the handle dies. */
export interface OptCall {
  resolve(value: number | undefined): void;
  reject(e: NbdError): void;
  /** The call's callback's free hook, which runs once however the call ends. */
  free?: (() => void) | undefined;
}

/** NBD_OPT_GO or NBD_OPT_INFO in progress: what its NBD_REP_INFO replies said so far. */
export interface GoReplies {
  option: number;
  info: ExportInfo;
  gotExport: boolean;
  unsupported: boolean;
  overflow: boolean;
  failure: NbdError | null;
}

/** NBD_OPT_LIST or NBD_OPT_LIST_META_CONTEXT in progress. */
export interface Listing {
  itemType: number;
  item(data: Uint8Array): void;
  count: number;
  failure: NbdError | null;
}

type Waiter = { resolve(progressed: number): void; reject(e: NbdError): void };

export class Engine implements CallContext {
  readonly s = newHandleState();
  readonly transports: Transports;
  transport: Transport | null = null;
  /** Identifies the live connection; events from an older or dropped one are ignored. */
  link: object | null = null;
  readonly rx = new Receiver(() => this.step());
  nest = 0;
  zeroed: Uint8Array | null = null;
  debugFn: T.DebugFn | null = null;

  // --- the handshake ---
  noZeroes = false;
  /** The NBD_OPT_* whose replies we are reading; null when none may come. */
  option: number | null = null;
  /** The type of the option reply whose payload is being read. */
  replyType = 0;
  /** NBD_OPT_GO or NBD_OPT_INFO, chosen before NBD_OPT_SET_META_CONTEXT goes first. */
  goOption = 0;
  go: GoReplies | null = null;
  listing: Listing | null = null;
  optCall: OptCall | null = null;
  connectWaiters: (() => void)[] = [];

  // --- transmission ---
  reply: ReplyHeader | null = null;
  cmd: WireCommand | null = null;
  chunkOffset = 0n;
  chunkLength = 0;
  readonly cmds = new Commands<WireCommand>((msg) => this.log(msg));
  /** Cancelled commands whose replies have not all arrived yet. */
  readonly zombies = new Map<number, WireCommand>();
  readonly waiters = new Set<Waiter>();

  constructor(transports: Transports) {
    this.transports = transports;
    if (transports.tls) {
      this.s.settings.tlsAvailable = true;
      this.s.settings.localUser = transports.tls.localUser();
    }
  }

  get state(): State {
    return this.s.conn.state;
  }

  /** Move along a legal edge (states.ts TRANSITIONS); DEAD and CLOSED go through die and close. */
  goto<F extends State>(from: F, to: Next<F>): void {
    goto(this.s, from, to);
    this.wake();
  }

  /** Wake everyone waiting for progress (nbd_poll) or for the handshake. */
  wake(): void {
    if (this.waiters.size) {
      const ws = [...this.waiters];
      this.waiters.clear();
      for (const w of ws) w.resolve(1);
    }
    if (this.connectWaiters.length) for (const w of this.connectWaiters.splice(0)) w();
  }

  /** Resolve once the state is one of `done`'s (checked now and after every change). */
  until(done: (s: State) => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => (done(this.state) ? resolve() : this.connectWaiters.push(check));
      check();
    });
  }

  send(bytes: Uint8Array, payload?: Uint8Array): void {
    const t = this.transport;
    if (!t) return;
    const c = this.s.conn;
    t.write(bytes);
    c.bytesSent += bytes.length;
    if (payload && payload.length) {
      t.write(payload);
      c.bytesSent += payload.length;
    }
    c.chunksSent++;
  }

  // ============================== receiving ==============================

  receive(chunk: Uint8Array): void {
    this.s.conn.bytesReceived += chunk.length;
    const rx = this.rx;
    let pos = 0;
    try {
      while (pos < chunk.length) {
        const s = this.s.conn.state;
        if (s === 'DEAD' || s === 'CLOSED') return;
        if (s === 'READY' && rx.sinkLeft === 0) {
          this.goto('READY', 'REPLY.RECV_REPLY');
          rx.need(4);
        }
        const next = rx.take(chunk, pos);
        if (next === pos) throw new Violation(`unexpected data from the server in state ${this.state}`);
        pos = next;
      }
    } catch (e) {
      this.violation(e);
    } finally {
      this.wake();
    }
  }

  /** The current read is complete: act on it according to the state. */
  step(): void {
    const step = STEPS[this.state];
    if (!step) throw new Violation(`unexpected data from the server in state ${this.state}`);
    step(this, this.rx.bytes);
  }

  // ============================== commands ==============================

  fail(cmd: WireCommand, err: number, message = ''): void {
    this.cmds.fail(cmd, err, message);
    if (err === errno.ESHUTDOWN) this.s.conn.serverShutdown = true;
  }

  complete(cmd: WireCommand): void {
    cmd.disarm?.();
    cmd.disarm = null;
    this.cmds.complete(cmd);
    const c = this.s.conn;
    if (c.serverShutdown && this.cmds.size === 0 && publicState(this.s) === 'ready' && !c.closing) {
      // The server is going away ("ESHUTDOWN"): disconnect softly now that nothing is in flight.
      this.log('server is shutting down: disconnecting');
      this.disconnect();
    }
  }

  /** NBD_CMD_DISC ("Terminating the transmission phase"), then close our side. */
  disconnect(): void {
    this.s.conn.closing = true;
    this.log('sending NBD_CMD_DISC');
    this.send(request(this.s.conn.extendedHeaders, 0, NBD_CMD_DISC, this.cmds.reserve(), 0n, 0n));
    this.transport?.end();
  }

  /** Settle the opt-mode call in flight: its callback's free hook first, then its promise. */
  settle(err: NbdError | null, value?: number): void {
    const call = this.optCall;
    if (!call) return;
    this.optCall = null;
    call.free?.();
    if (err) return call.reject(err);
    // The caller learns of success a microtask later, when the rest of this read has been taken:
    // if that killed the handle (junk after the option's last reply), the call fails with it.
    void Promise.resolve().then(() => {
      const s = this.state;
      if (s === 'DEAD' || s === 'CLOSED') call.reject(this.death('connection closed'));
      else call.resolve(value);
    });
  }

  // ============================== dying ==============================

  /** The transport ended. Expected after NBD_CMD_DISC or NBD_OPT_ABORT; otherwise the connection died. */
  onClose(error: NbdError | null): void {
    const c = this.s.conn;
    if (c.state === 'DEAD' || c.state === 'CLOSED') return;
    if (c.closing) {
      this.transport = null;
      this.link = null;
      this.cmds.failAll(errno.ENOTCONN, 'connection closed');
      this.zombies.clear();
      this.settle(new NbdError(errno.ENOTCONN, '', 'connection closed'));
      c.state = 'CLOSED';
      this.log('connection closed');
      this.wake();
      return;
    }
    const during = c.state === 'CONNECT' ? '' : publicState(this.s) === 'connecting' ? 'handshake: ' : 'recv: ';
    this.die(error ? new NbdError(error.errno, '', during + error.detail)
      : new NbdError(errno.ENOTCONN, '', `${during}server disconnected unexpectedly`));
  }

  violation(e: unknown): void {
    if (e instanceof NbdOverflow) return this.die(new NbdError(errno.EOVERFLOW, '', e.message));
    if (!(e instanceof Violation)) {
      // A bug of ours, or a user callback misbehaving in a way we did not catch: still never hang.
      return this.die(new NbdError(errno.EPROTO, '', `internal error: ${e instanceof Error ? e.message : String(e)}`));
    }
    this.die(new NbdError(errno.EPROTO, '', e.message), this.cmd);
  }

  /**
   * The connection is unusable: every command in flight fails (the one whose reply broke the
   * protocol with EPROTO, the rest with ENOTCONN), waiters are released, the transport dropped.
   */
  die(err: NbdError, culprit: WireCommand | null = null): void {
    const c = this.s.conn;
    if (c.state === 'DEAD' || c.state === 'CLOSED') return;
    this.log(`connection is dead: ${err.message}`);
    toDead(this.s, err);
    const t = this.transport;
    this.transport = null;
    this.link = null;
    // After NBD_OPT_ABORT, let it reach the server; otherwise drop the connection now.
    if (c.closing) t?.end();
    else t?.destroy();
    if (culprit) this.fail(culprit, errno.EPROTO, err.detail);
    this.cmds.failAll(errno.ENOTCONN, err.detail);
    this.zombies.clear();
    this.settle(err);
    for (const w of this.waiters) w.reject(err);
    this.waiters.clear();
    this.wake();
  }

  /** The death as an error, or ENOTCONN with `fallback`. */
  death(fallback: string): NbdError {
    return deathOf(this.s, fallback);
  }

  /** nbd_poll: resolve 1 once the connection makes progress, 0 after `timeout` ms (-1: no limit). */
  poll(timeout: number): Promise<number> {
    const s = publicState(this.s);
    if (s === 'dead') return Promise.reject(this.death('connection is dead'));
    if (s === 'created' || s === 'closed') {
      return Promise.reject(new NbdError(errno.EINVAL, '', `nothing to poll for in state ${this.state}`));
    }
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const w: Waiter = {
        resolve: (n) => { if (timer !== undefined) clearTimeout(timer); resolve(n); },
        reject: (e) => { if (timer !== undefined) clearTimeout(timer); reject(e); },
      };
      this.waiters.add(w);
      if (timeout >= 0) timer = setTimeout(() => { this.waiters.delete(w); resolve(0); }, timeout);
    });
  }

  // ============================== debugging ==============================

  log(msg: string): void {
    const st = this.s.settings;
    if (!st.debug) return;
    if (this.debugFn) this.callUser(() => this.debugFn!(st.handleName, msg));
    else console.error(`libnbd: debug: ${st.handleName}: ${msg}`);
  }

  callUser<R>(fn: () => R): R | undefined {
    return callUser((msg) => this.log(msg), fn);
  }
}
