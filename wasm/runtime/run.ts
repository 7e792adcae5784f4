// Run a C program compiled against webnbd's libnbd.h (`webnbd cc`, or emcc with the flags in
// wasm/README.md) in a Web Worker: its stdout and stderr come back as they are written, stdin is
// asked for when it reads, and the Promise settles with its exit status. Needs no cross-origin
// isolation: the program and its handles share one worker (Asyncify, see wasm/README.md).

/** Page → worker. */
export type ToProgram =
  | { t: 'run'; program: string; args: string[]; thisProgram: string; env: Record<string, string> }
  | { t: 'stdin'; data: Uint8Array | null };

/** Worker → page. */
export type FromProgram =
  | { t: 'out'; fd: 1 | 2; data: Uint8Array }
  | { t: 'stdin' }
  | { t: 'exit'; status: number; message?: string };

export interface RunOptions {
  /** URL of the program's .js file (its .wasm sits beside it). */
  program: string | URL;
  /** argv[1...]. */
  args?: string[];
  /** argv[0]; the program's file name without .js by default. */
  thisProgram?: string;
  /** Environment variables (getenv), e.g. LIBNBD_DEBUG=1. */
  env?: Record<string, string>;
  stdout?(bytes: Uint8Array): void;
  stderr?(bytes: Uint8Array): void;
  /** The next piece of stdin, or null at its end. Without it, stdin is empty. */
  stdin?(): Promise<Uint8Array | null>;
}

export interface ProgramExit {
  status: number;
  /** Why, when the program did not exit by itself (abort, crash, could not load). */
  message?: string;
}

/** Run the program in `worker`, an instance of wasm/runtime/worker.ts, which is used up by it. */
export function runProgram(worker: Worker, o: RunOptions): Promise<ProgramExit> {
  const program = new URL(o.program, typeof location === 'undefined' ? undefined : location.href).href;
  const thisProgram = o.thisProgram ?? program.replace(/^.*\//, '').replace(/\.m?js$/, '');
  const post = (m: ToProgram) => worker.postMessage(m);
  return new Promise((resolve) => {
    worker.addEventListener('message', (ev: MessageEvent<FromProgram>) => {
      const m = ev.data;
      if (m.t === 'out') (m.fd === 1 ? o.stdout : o.stderr)?.(m.data);
      else if (m.t === 'stdin') {
        const next = o.stdin ? o.stdin() : Promise.resolve(null);
        next.then((data) => post({ t: 'stdin', data }), () => post({ t: 'stdin', data: null }));
      } else if (m.t === 'exit') {
        resolve(m.message === undefined ? { status: m.status } : { status: m.status, message: m.message });
      }
    });
    worker.addEventListener('error', (ev: ErrorEvent) => resolve({ status: 1, message: `the program's worker failed: ${ev.message || 'could not load it'}` }));
    post({ t: 'run', program, args: o.args ?? [], thisProgram, env: o.env ?? {} });
  });
}
