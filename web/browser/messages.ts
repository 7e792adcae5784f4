// The messages between a page and the worker that hosts its handles. Nothing large travels here:
// read data lands in a SharedArrayBuffer the page owns, or, on pages that cannot be
// cross-origin isolated, in an ArrayBuffer that is transferred (moved, not copied).

import type { ArgKind } from '../core/api.js';
import type { NbdErrorData } from '../core/errors.js';
import type { Connection } from '../core/handle/state.js';
import type { Extent64 } from '../core/types.js';

/**
 * Where read data goes: a region of the page's SharedArrayBuffer (which the worker keeps under
 * `id` for reads through the ring, until told 'unbuffer'), or a fresh buffer to transfer back.
 */
export type Dest = { sab: SharedArrayBuffer; offset: number; length: number; id: number } | { length: number } | null;

/** Stand-ins, in argument lists, for what cannot cross postMessage: the buffer and callbacks. */
export type Marker = { $buf: true } | { $cb: ArgKind };

/** What the page says, numbered (`s`) in the order it said it, whether posted or put in the read ring. */
export type ToWorker = Told & { s: number };

export type Told =
  | { t: 'create'; h: number }
  /** A call that returns a value (settings, connect, opt_*, shutdown, poll): answered by 'result'. */
  | { t: 'call'; h: number; id: number; name: string; args: unknown[]; signal?: true; aborted?: { name: string; message: string } }
  /** The page's signal of call `id` fired: fire the worker's (connect and opt calls). */
  | { t: 'abort'; h: number; id: number; reason: { name: string; message: string } }
  /** An aio command with a page-chosen cookie: answered by 'done' (and 'chunk'/'extent' before it). */
  | { t: 'cmd'; h: number; cookie: number; name: string; args: unknown[]; dest: Dest; src: Uint8Array | null }
  /** Cancel a command (its AbortSignal fired or its time ran out): ECANCELED or ETIMEDOUT. */
  | { t: 'cancel'; h: number; cookie: number; error: number; why?: string }
  | { t: 'close'; h: number }
  /** The rings (ring.ts), first thing on isolated pages: plain completions and reads go through them. */
  | { t: 'ring'; done: SharedArrayBuffer; reads: SharedArrayBuffer | null }
  /** The page's SharedArrayBuffer `id` is gone: the worker drops it too. */
  | { t: 'unbuffer'; id: number };

/** What the worker says, numbered (`s`) in the order it said it, whether posted or put in the ring. */
export type FromWorker = Said & { s: number };

export type Said =
  /** The handle's connection state changed (web/core/handle/state.ts): the page holds a copy. */
  | { t: 'state'; h: number; conn: Connection; exportName: string }
  | { t: 'result'; h: number; id: number; value?: unknown; error?: NbdErrorData }
  | { t: 'done'; h: number; cookie: number; error: number; message: string; data?: ArrayBuffer }
  | { t: 'chunk'; h: number; cookie: number; rel: number; length: number; offset: bigint; status: number; error: number }
  | { t: 'extent'; h: number; cookie: number; context: string; offset: bigint; entries: number[] | Extent64[] }
  | { t: 'event'; h: number; id: number; args: string[] }
  | { t: 'debug'; h: number; context: string; msg: string };
