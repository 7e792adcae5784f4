// lab.html: the browser library on `window.webnbd`, for the console and for browser tests.
import * as client from '../browser/client.js';
import * as transfer from '../browser/transfer.js';
import * as sinks from '../browser/sinks.js';
import * as multi from '../browser/multi.js';
import { acquire, release } from '../browser/connections.js';
import * as core from '../core/index.js';
import { hexdumpC } from '../core/format/hexdump.js';

const webnbd = { ...core, ...client, ...transfer, ...sinks, ...multi, acquire, release, hexdumpC };
(globalThis as unknown as { webnbd: typeof webnbd }).webnbd = webnbd;
document.querySelector('#status')!.textContent = `Ready. crossOriginIsolated: ${String(globalThis.crossOriginIsolated)}`;

/** The type of window.webnbd, for code that drives the lab (the browser tests). */
export type Webnbd = typeof webnbd;
