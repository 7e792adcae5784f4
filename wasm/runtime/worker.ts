// The Web Worker that runs one C program built against webnbd's libnbd.h: it loads the
// emscripten module, serves its libnbd calls with the core (runtime.ts, WebSocket transport),
// and relays stdout, stderr, stdin and the exit status to the page (run.ts).

import { browserTransports } from '../../web/browser/ws-transport.js';
import type { FromProgram, ToProgram } from './run.js';
import { Runtime, type EmModule } from './runtime.js';

interface Scope {
  postMessage(message: FromProgram, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (e: MessageEvent<ToProgram>) => void): void;
  addEventListener(type: 'unhandledrejection', listener: (e: PromiseRejectionEvent) => void): void;
  addEventListener(type: 'error', listener: (e: ErrorEvent) => void): void;
}
const scope = self as unknown as Scope;
const post = (m: FromProgram, transfer: Transferable[] = []) => scope.postMessage(m, transfer);

/** What the emscripten module adds to EmModule: the entry point of wasm/src/shim.c. */
interface Program extends EmModule {
  _webnbd_start(argc: number, argv: number): void;
  ENV: Record<string, string>;
}

let runtime: Runtime | null = null;
let program = '';
let exited = false;

function exit(status: number, message?: string): void {
  if (exited) return;
  exited = true;
  post(message === undefined ? { t: 'exit', status } : { t: 'exit', status, message });
}

/** emscripten ends a program by throwing ExitStatus (exit()) or 'unwind'; anything else is a crash. */
function ended(e: unknown): void {
  if (e === 'unwind') return;
  if (e && typeof e === 'object' && (e as { name?: unknown }).name === 'ExitStatus') {
    exit((e as { status: number }).status);
    return;
  }
  const text = e instanceof Error ? e.message : String(e);
  const why = reason(e);
  if (why !== text) exit(1, `cannot start ${program}: ${why}`);
  else exit(134, `the program crashed: ${text}`);
}

scope.addEventListener('unhandledrejection', (e) => {
  e.preventDefault();
  ended(e.reason);
});
scope.addEventListener('error', (e) => {
  e.preventDefault();
  ended(e.error ?? e.message);
});

/** Why a program could not load or start; a -pthread build needs shared memory, which needs isolation. */
function reason(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  if (/SharedArrayBuffer|shared/i.test(text) && !(self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated) {
    return 'it was compiled with -pthread, and threads need a cross-origin isolated page (serve it with '
      + "the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)";
  }
  return text;
}

/** Why a program that exited did: a signal's default action, or a wait that could never end. */
function why(rt: Runtime): string | undefined {
  const ev = rt.events;
  if (ev.killedBy) return `killed by signal ${ev.killedBy}${ev.killedBy === 14 ? ' (SIGALRM, Alarm clock)' : ''}`;
  return ev.stuck || undefined;
}

async function run(m: ToProgram & { t: 'run' }): Promise<void> {
  program = m.program;
  const rt = (runtime = new Runtime({
    transports: browserTransports,
    write: (fd, data) => post({ t: 'out', fd, data }, [data.buffer]),
    wantStdin: () => post({ t: 'stdin' }),
  }));
  const text = new TextEncoder();
  // emscripten's own messages (an abort's reason); the program's output comes through fd_write.
  const out = (fd: 1 | 2) => (s: string) => rt.write(fd, text.encode(`${s}\n`));
  let factory: (opts: object) => Promise<Program>;
  try {
    factory = ((await import(/* @vite-ignore */ m.program)) as { default: typeof factory }).default;
  } catch (e) {
    exit(1, `cannot load ${m.program}: ${reason(e)}`);
    return;
  }
  const opts: Record<string, unknown> = {
    webnbd: rt,
    noInitialRun: true,
    thisProgram: m.thisProgram,
    locateFile: (path: string) => new URL(path, m.program).href,
    print: out(1),
    printErr: out(2),
    onExit: (status: number) => exit(status, why(rt)),
    onAbort: (what: unknown) => exit(134, `the program aborted${what ? `: ${String(what)}` : ''}`),
  };
  opts.preRun = [() => Object.assign((opts as unknown as Program).ENV, m.env)];
  const mod = await factory(opts).catch((e: unknown) => {
    exit(1, `cannot start ${m.program}: ${reason(e)}`);
    return null;
  });
  if (!mod) return;
  // argv in C memory, for as long as the program runs.
  const argv = [m.thisProgram, ...m.args].map((a) => {
    const b = text.encode(`${a}\0`);
    const p = mod._malloc(b.length);
    mod.HEAPU8.set(b, p);
    return p;
  });
  const array = mod._malloc(4 * (argv.length + 1));
  argv.forEach((p, i) => (mod.HEAP32[(array >> 2) + i] = p));
  mod.HEAP32[(array >> 2) + argv.length] = 0;
  try {
    mod._webnbd_start(argv.length, array); // returns early when main sleeps in a blocking call
  } catch (e) {
    ended(e);
  }
}

scope.addEventListener('message', (ev) => {
  const m = ev.data;
  if (m.t === 'run') void run(m);
  else if (m.t === 'stdin') runtime?.events.stdin(m.data);
});
