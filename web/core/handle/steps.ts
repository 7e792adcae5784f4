// Every state that waits for the server, and its step: what it does once the bytes it asked for
// are in (libnbd generates the same dispatch from generator/states-*.c).

import type { State } from '../states.js';
import type { Engine } from './engine.js';
import { MAGIC } from './states-magic.js';
import { NEWSTYLE } from './states-newstyle.js';
import { OPT_EXPORT_NAME } from './states-newstyle-opt-export-name.js';
import { OPT_EXTENDED_HEADERS } from './states-newstyle-opt-extended-headers.js';
import { OPT_GO } from './states-newstyle-opt-go.js';
import { OPT_LIST } from './states-newstyle-opt-list.js';
import { OPT_META_CONTEXT } from './states-newstyle-opt-meta-context.js';
import { OPT_STARTTLS } from './states-newstyle-opt-starttls.js';
import { OPT_STRUCTURED_REPLY } from './states-newstyle-opt-structured-reply.js';
import { OLDSTYLE } from './states-oldstyle.js';
import { REPLY } from './states-reply.js';
import { REPLY_CHUNK } from './states-reply-chunk.js';
import { REPLY_SIMPLE } from './states-reply-simple.js';

export type Step = (e: Engine, bytes: Uint8Array) => void;
export type Steps = Partial<Record<State, Step>>;

/** States that read nothing: before the transport opens, READY (a reply starts there), the ends. */
type Quiet = 'START' | 'CONNECT' | 'READY' | 'DEAD' | 'CLOSED' | 'NEWSTYLE.OPT_STARTTLS.TLS_HANDSHAKE';

export const STEPS: Steps = {
  ...MAGIC, ...OLDSTYLE, ...NEWSTYLE, ...OPT_STARTTLS, ...OPT_EXTENDED_HEADERS, ...OPT_STRUCTURED_REPLY, ...OPT_META_CONTEXT,
  ...OPT_GO, ...OPT_LIST, ...OPT_EXPORT_NAME, ...REPLY, ...REPLY_SIMPLE, ...REPLY_CHUNK,
} satisfies Record<Exclude<State, Quiet>, Step>;
