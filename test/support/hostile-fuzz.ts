// One fuzz case: a handle on a ScriptLink is fed a server byte stream (handshake segments, then
// reply segments after its commands are issued), the stream ends (EOF, reset, or close()), and
// runCase lists every broken invariant: a throw escaping into the transport, an unhandled
// rejection, a call or callback not settled exactly once, a write outside a caller's buffer or
// into a cancelled command's buffer, a chunk callback that lies about where its bytes are, a read
// reported as a success without its data, an errno nobody could have meant, an internal error.

import { NbdError, errno, errnoName } from '../../web/core/errors.js';
import type { NbdHandle } from '../../web/core/handle.js';
import * as T from '../../web/core/types.js';
import { Arena, Ledger, ScriptLink, tick, type Entry } from './hostile.js';

export type CmdKind = 'pread' | 'preadStructured' | 'pwrite' | 'flush' | 'trim' | 'zero' | 'cache' | 'blockStatus' | 'blockStatus64';

export interface Cmd {
  kind: CmdKind;
  offset: number;
  count: number;
  flags: number;
  /** aio retired by its completion, aio retired by aioCommandCompleted, or the sync-style promise. */
  style: 'aio' | 'aio-keep' | 'promise';
}

export interface ClientConfig {
  sr: boolean;
  ext: boolean;
  meta: boolean;
  preadInit: boolean;
  strict: number;
}

/** An opt-mode call: nbd_opt_list, nbd_opt_list_meta_context, nbd_opt_info, nbd_opt_go, nbd_aio_opt_go. */
export type OptKind = 'list' | 'listMeta' | 'info' | 'go' | 'aioGo';

export interface FuzzCase {
  /** Which generator made it. */
  label: string;
  client: ClientConfig;
  /** Server bytes, one segment per turn, before commands are issued. */
  handshake: Uint8Array[];
  /** Opt mode: after the handshake, each call is made, then its reply segments are fed. */
  opt?: { calls: OptKind[]; replies: Uint8Array[][] };
  commands: Cmd[];
  /** Server bytes after the commands, one segment per turn. */
  replies: Uint8Array[];
  /** Cancel aio command `cmd` just before reply segment `before`. */
  cancels: { cmd: number; before: number }[];
  end: 'eof' | 'reset' | 'close';
}

/** Every errno a call may end with: server errors, death, cancellation, refusal. */
const ALLOWED = new Set<number>([0, ...(['EPERM', 'EIO', 'ENOMEM', 'EINVAL', 'ENOSPC', 'EOVERFLOW', 'ENOTSUP', 'ESHUTDOWN',
  'EPROTO', 'ENOTCONN', 'ECONNRESET', 'ECANCELED', 'ERANGE', 'ENOENT'] as const).map((n) => errno[n])]);

interface Tracked {
  cmd: Cmd;
  entry: Entry;
  buf: Uint8Array | null;
  /** Chunk or extent callback calls, as problems found at call time. */
  calls: { status: number; start: number; end: number }[];
  extents: number;
  cancelledCopy: Uint8Array | null;
}

/** What one case found: broken invariants, and how deep it got (to tell a blind fuzzer). */
export interface Outcome {
  problems: string[];
  connected: boolean;
  /** Commands that succeeded. */
  succeeded: number;
}

export async function runCase(c: FuzzCase): Promise<Outcome> {
  const problems: string[] = [];
  const rejections: unknown[] = [];
  const onRejection = (e: unknown) => void rejections.push(e);
  process.on('unhandledRejection', onRejection);
  const link = new ScriptLink();
  const h = link.handle();
  const ledger = new Ledger();
  const arena = new Arena(8192, 16);
  const tracked: Tracked[] = [];
  try {
    h.setRequestStructuredReplies(c.client.sr);
    h.setRequestExtendedHeaders(c.client.ext);
    h.setPreadInitialize(c.client.preadInit);
    h.setStrictMode(c.client.strict);
    if (c.client.meta) h.addMetaContext('base:allocation');
    h.setOptMode(c.opt !== undefined);
    const connect = ledger.promise('connect', h.connectUri('nbd://fuzz/'));
    await tick();
    for (const seg of c.handshake) {
      link.feed(seg);
      await tick();
    }
    if (connect.settlements === 0 && !h.aioIsConnecting()) problems.push('connect did not settle once the handshake was over');
    for (const [i, kind] of (c.opt?.calls ?? []).entries()) {
      optCall(h, ledger, kind, i);
      for (const seg of c.opt!.replies[i] ?? []) {
        link.feed(seg);
        await tick();
      }
    }
    c.commands.forEach((cmd, i) => tracked.push(issue(h, ledger, arena, cmd, i, problems)));
    for (let j = 0; j <= c.replies.length; j++) {
      for (const k of c.cancels) {
        const t = tracked[k.cmd % Math.max(1, tracked.length)];
        if (k.before === j && t?.entry.cookie && t.buf && h.cancelCommand(t.entry.cookie)) t.cancelledCopy = t.buf.slice();
      }
      if (j === c.replies.length) break;
      link.feed(c.replies[j]!);
      await tick();
    }
    if (c.end === 'close') {
      for (const e of ledger.entries) if (e.kind === 'aio' && !Ledger.settled(e)) e.refused = -2; // abandoned: free only
      h.close();
    } else {
      link.eof(c.end === 'reset' ? new NbdError(errno.ECONNRESET, '', 'connection reset by peer') : null);
    }
    await tick();
    await tick();
    ledger.retire(h);
  } catch (e) {
    problems.push(`the test harness caught: ${e instanceof Error ? e.stack : String(e)}`);
  } finally {
    process.off('unhandledRejection', onRejection);
  }
  await check(h, link, ledger, arena, tracked, rejections, problems);
  const connected = ledger.entries[0]?.errno === 0;
  return { problems, connected, succeeded: tracked.filter((t) => t.entry.errno === 0).length };
}

/** Make one opt-mode call; its list callback's free hook is counted too. */
function optCall(h: NbdHandle, ledger: Ledger, kind: OptKind, i: number): void {
  const name = `opt #${i} ${kind}`;
  switch (kind) {
    case 'list': ledger.promise(name, h.optList({ callback: () => 0, free: ledger.freeHook(`${name} callback`) })); break;
    case 'listMeta': ledger.promise(name, h.optListMetaContext({ callback: () => 0, free: ledger.freeHook(`${name} callback`) })); break;
    case 'info': ledger.promise(name, h.optInfo()); break;
    case 'go': ledger.promise(name, h.optGo()); break;
    case 'aioGo': ledger.aio(name, (cb) => h.aioOptGo(cb), true, 'callback'); break;
  }
}

/** Issue one command through its API style, with callbacks that check what they are told. */
function issue(h: NbdHandle, ledger: Ledger, arena: Arena, cmd: Cmd, i: number, problems: string[]): Tracked {
  const name = `#${i} ${cmd.kind}(${cmd.count}@${cmd.offset}, flags ${cmd.flags}, ${cmd.style})`;
  const buf = cmd.kind === 'pread' || cmd.kind === 'preadStructured' || cmd.kind === 'pwrite' ? arena.take(cmd.count) : null;
  if (cmd.kind === 'pwrite') buf!.fill(0x5a);
  const t: Tracked = { cmd, entry: null as unknown as Entry, buf, calls: [], extents: 0, cancelledCopy: null };
  const late = (what: string) => {
    if (Ledger.settled(t.entry)) problems.push(`${name}: ${what} after the command completed`);
    if (t.cancelledCopy) problems.push(`${name}: ${what} after the command was cancelled`);
  };
  const chunk: T.ChunkFn = (sub, off, status) => {
    late('chunk callback');
    const start = Number(off - BigInt(cmd.offset));
    if (sub.buffer !== buf!.buffer || sub.byteOffset !== buf!.byteOffset + start || start < 0 || start + sub.length > cmd.count) {
      problems.push(`${name}: chunk callback's subbuf is not the caller's buffer at offset ${off}`);
    }
    if (status === T.READ_HOLE && sub.some((b) => b !== 0)) problems.push(`${name}: a hole that is not zero`);
    if (status === T.READ_ERROR && sub.length !== 0) problems.push(`${name}: READ_ERROR with data`);
    t.calls.push({ status, start, end: start + sub.length });
  };
  const extent = (entries: readonly unknown[], ok: (e: unknown) => boolean) => {
    late('extent callback');
    t.extents++;
    if (entries.length === 0 || !entries.every(ok)) problems.push(`${name}: bad extents ${String(entries)}`);
  };
  const u32 = (x: unknown) => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffffffff;
  const ext32: T.ExtentFn = (_m, off, e) => { if (off !== BigInt(cmd.offset)) problems.push(`${name}: extent offset ${off}`); extent(e, u32); if (e.length % 2 || e.some((x, k) => k % 2 === 0 && x === 0)) problems.push(`${name}: bad 32-bit extent list`); };
  const ext64: T.Extent64Fn = (_m, off, e) => { if (off !== BigInt(cmd.offset)) problems.push(`${name}: extent offset ${off}`); extent(e, (x) => (x as T.Extent64).length > 0n); };
  const call = (cb: T.Callback<T.CompletionFn> | undefined, opts?: undefined): number => {
    const { offset: o, count: n, flags: f } = cmd;
    switch (cmd.kind) {
      case 'pread': return h.aioPread(buf!, o, cb, f, opts);
      case 'preadStructured': return h.aioPreadStructured(buf!, o, chunk, cb, f, opts);
      case 'pwrite': return h.aioPwrite(buf!, o, cb, f, opts);
      case 'flush': return h.aioFlush(cb, f, opts);
      case 'trim': return h.aioTrim(n, o, cb, f, opts);
      case 'zero': return h.aioZero(n, o, cb, f, opts);
      case 'cache': return h.aioCache(n, o, cb, f, opts);
      case 'blockStatus': return h.aioBlockStatus(n, o, ext32, cb, f, opts);
      case 'blockStatus64': return h.aioBlockStatus64(n, o, ext64, cb, f, opts);
    }
  };
  if (cmd.style === 'promise') {
    // The sync-style call is the aio call plus a wait; its own code path (#wait) is what we test.
    const sync = (): Promise<void> => {
      const { offset: o, count: n, flags: f } = cmd;
      switch (cmd.kind) {
        case 'pread': return h.pread(buf!, o, f);
        case 'preadStructured': return h.preadStructured(buf!, o, chunk, f);
        case 'pwrite': return h.pwrite(buf!, o, f);
        case 'flush': return h.flush(f);
        case 'trim': return h.trim(n, o, f);
        case 'zero': return h.zero(n, o, f);
        case 'cache': return h.cache(n, o, f);
        case 'blockStatus': return h.blockStatus(n, o, ext32, f);
        case 'blockStatus64': return h.blockStatus64(n, o, ext64, f);
      }
    };
    t.entry = ledger.promise(name, sync());
  } else {
    t.entry = ledger.aio(name, (cb) => call(cb), cmd.style === 'aio');
  }
  return t;
}

async function check(h: NbdHandle, link: ScriptLink, ledger: Ledger, arena: Arena, tracked: Tracked[], rejections: unknown[], problems: string[]): Promise<void> {
  for (const e of link.escaped) problems.push(`threw into the transport: ${e instanceof Error ? e.stack : String(e)}`);
  for (const e of rejections) problems.push(`unhandled rejection: ${e instanceof Error ? e.stack : String(e)}`);
  problems.push(...ledger.problems());
  const out = arena.intruders();
  if (out.length) problems.push(`bytes written outside the callers' buffers at arena offsets ${out.slice(0, 8).join(', ')}`);
  if (!h.aioIsDead() && !h.aioIsClosed()) problems.push(`the stream ended but the handle is ${h.connectionState()}`);
  if (h.aioInFlight() !== 0) problems.push(`${h.aioInFlight()} commands still in flight`);
  for (const e of ledger.entries) {
    if (e.errno !== null && !ALLOWED.has(e.errno)) problems.push(`${e.name}: unexpected errno ${e.errno} (${errnoName(e.errno)}): ${e.message}`);
    if (/internal error/.test(e.message)) problems.push(`${e.name}: ${e.message}`);
  }
  await h.poll(0).catch((e: unknown) => {
    if (!(e instanceof NbdError)) problems.push(`poll rejected with a non-NbdError: ${String(e)}`);
    else if (/internal error/.test(e.message)) problems.push(`the handle died of ${e.message}`);
  });
  for (const t of tracked) {
    const { cmd, entry } = t;
    if (t.cancelledCopy && t.buf && t.buf.some((b, i) => b !== t.cancelledCopy![i])) problems.push(`${entry.name}: buffer written after it was cancelled`);
    if (entry.errno !== 0) continue;
    // Success: a structured read's chunks tile the request exactly, with no error among them.
    if (cmd.kind === 'preadStructured') {
      if (t.calls.some((x) => x.status === T.READ_ERROR)) problems.push(`${entry.name}: succeeded after a READ_ERROR chunk`);
      const spans = t.calls.filter((x) => x.status !== T.READ_ERROR).sort((a, b) => a.start - b.start);
      let at = 0;
      for (const s of spans) if (s.start === at) at = s.end; else at = -1;
      if (at !== cmd.count) problems.push(`${entry.name}: succeeded but its chunks do not tile the buffer: ${JSON.stringify(spans)}`);
    }
    if ((cmd.kind === 'blockStatus' || cmd.kind === 'blockStatus64') && t.extents === 0) problems.push(`${entry.name}: succeeded without extents`);
  }
}
