// `webnbd run-wasm FILE.c [ARGS…]`: compile a libnbd C program against webnbd's emscripten port
// (cached, cc.ts) and run main(ARGS) in a Web Worker in headless Chromium. The program's stdout
// and stderr are printed as they come, it reads this command's stdin, and its exit status is
// this command's. Emscripten 3.1.6 output fetches its .wasm, which Node 20 cannot do: hence a browser.

import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { basename, dirname, extname, join, normalize } from 'node:path';
import type { Browser } from 'playwright-core';
import { UsageError } from './args.js';
import { CompileError, RUNTIME, compile, runtimeFiles } from './cc.js';
import type { Command, Io } from './io.js';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };

/** The page: runs the program and hands its output to the functions Node exposes. */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<script type="module">
  import { runProgram } from '/webnbd/wasm/runtime/run.js';
  const latin1 = (b) => { let s = ''; for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192)); return s; };
  const bytes = (s) => Uint8Array.from(s, (c) => c.charCodeAt(0));
  // Output goes to Node in order, batched while the previous batch is on its way.
  let batch = [], sending = Promise.resolve();
  const send = () => { const b = batch; batch = []; return b.length ? webnbdOutput(b) : Promise.resolve(); };
  const out = (fd) => (data) => { if (batch.push([fd, latin1(data)]) === 1) sending = sending.then(send); };
  window.webnbdRun = async (o) => {
    const worker = new Worker('/webnbd/wasm/runtime/worker.js', { type: 'module' });
    const exit = await runProgram(worker, { ...o, stdout: out(1), stderr: out(2),
      stdin: async () => { const s = await webnbdStdin(); return s === null ? null : bytes(s); } });
    await sending.then(send);
    worker.terminate();
    return exit;
  };
</script>
`;

/** Serve the page, the runtime (build/) and the compiled program on 127.0.0.1. */
export function serve(programDir: string): Promise<{ server: Server; origin: string }> {
  const allowed = new Set(runtimeFiles().map((f) => `/webnbd/${f}`));
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    const file = path === '/' ? null
      : allowed.has(path) ? join(RUNTIME, path.slice('/webnbd/'.length))
      : path.startsWith('/program/') && !path.includes('..') ? join(programDir, path.slice('/program/'.length))
      : undefined;
    if (file === undefined) {
      res.statusCode = 404;
      res.end();
      return;
    }
    // Cross-origin isolated, so that programs built with -pthread get SharedArrayBuffer.
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    (file === null ? Promise.resolve(Buffer.from(PAGE)) : readFile(file)).then((data) => {
      res.setHeader('Content-Type', TYPES[file === null ? '.html' : extname(file)] ?? 'application/octet-stream');
      res.end(data);
    }, () => {
      res.statusCode = 404;
      res.end();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ server, origin: `http://127.0.0.1:${(server.address() as { port: number }).port}` });
  }));
}

/** Hands out this process's stdin a chunk at a time, only once the program reads it. */
function stdinReader(): () => Promise<string | null> {
  const chunks: (Buffer | null)[] = [];
  const waiters: (() => void)[] = [];
  let started = false;
  const start = () => {
    started = true;
    process.stdin.on('data', (d: Buffer) => { chunks.push(d); waiters.splice(0).forEach((w) => w()); });
    process.stdin.on('end', () => { chunks.push(null); waiters.splice(0).forEach((w) => w()); });
    process.stdin.on('error', () => { chunks.push(null); waiters.splice(0).forEach((w) => w()); });
  };
  return async () => {
    if (!started) start();
    while (chunks.length === 0) await new Promise<void>((r) => waiters.push(r));
    const c = chunks.shift()!;
    if (c === null) chunks.unshift(null); // stays at its end
    return c === null ? null : c.toString('latin1');
  };
}

export interface RunWasmOptions {
  args: string[];
  env?: Record<string, string>;
  stdout(b: Buffer): void | Promise<void>;
  stderr(b: Buffer): void;
  stdin?: () => Promise<string | null>;
}

/** playwright-core drives Chromium: an optional peer dependency of the package, only needed here. */
async function playwright(): Promise<typeof import('playwright-core')> {
  try {
    return await import('playwright-core');
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw e;
    throw new UsageError("run-wasm: needs playwright-core to drive Chromium: run 'npm install playwright-core'");
  }
}

/**
 * Run a compiled program (its .js) in headless Chromium, a new one unless `shared` is given;
 * resolves to its exit status.
 */
export async function runInBrowser(js: string, thisProgram: string, o: RunWasmOptions, shared?: Browser): Promise<{ status: number; message?: string }> {
  const { server, origin } = await serve(dirname(js));
  const browser = shared ?? await (await playwright()).chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const page = await browser.newPage();
  try {
    let writing = Promise.resolve();
    await page.exposeFunction('webnbdOutput', (batch: [number, string][]) => {
      for (const [fd, s] of batch) {
        const b = Buffer.from(s, 'latin1');
        if (fd === 1) writing = writing.then(() => o.stdout(b));
        else o.stderr(b);
      }
      return writing;
    });
    await page.exposeFunction('webnbdStdin', o.stdin ?? (() => Promise.resolve(null)));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => 'webnbdRun' in globalThis);
    const exit = await page.evaluate((cfg) => (globalThis as unknown as { webnbdRun(c: unknown): Promise<{ status: number; message?: string }> }).webnbdRun(cfg),
      { program: `${origin}/program/${basename(js)}`, args: o.args, thisProgram, env: o.env ?? {} });
    await writing;
    return exit;
  } finally {
    if (shared) await page.close();
    else await browser.close();
    server.close();
  }
}

const HELP = `Usage: webnbd run-wasm FILE.c [ARGS…]

Compile FILE.c, a C program written for libnbd, against webnbd's emscripten port and run it
with ARGS in a Web Worker in headless Chromium. Its output is printed as it comes, it reads this
command's standard input, and it exits with the program's status. Builds are cached.

In the browser there are no Unix sockets: where the program takes a socket (nbd_connect_unix),
give the ws:// URL of a websockify bridge to it (websockify --unix-target=SOCKET). LIBNBD_DEBUG
is passed on. Options before FILE.c: --emcc=OPTION (repeatable) goes to emcc; --emcc=-pthread
builds a program with threads (the page is cross-origin isolated).
`;

async function runWasm(argv: string[], io: Io): Promise<number> {
  const emcc: string[] = [];
  let i = 0;
  for (; i < argv.length && argv[i]!.startsWith('-'); i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') return io.write(HELP).then(() => 0);
    if (a.startsWith('--emcc=')) emcc.push(a.slice('--emcc='.length));
    else throw new UsageError(`run-wasm: unknown option '${a}' (see 'webnbd run-wasm --help')`);
  }
  const source = argv[i];
  if (source === undefined) throw new UsageError("run-wasm: missing FILE.c (see 'webnbd run-wasm --help')");
  await playwright(); // before a compile that would be wasted without it
  let js: string;
  try {
    js = (await compile(source, emcc)).js;
  } catch (e) {
    if (e instanceof CompileError) {
      if (e.output) process.stderr.write(e.output.endsWith('\n') ? e.output : `${e.output}\n`);
      throw new UsageError(e.message.replace(/^cc:/, 'run-wasm:'));
    }
    throw e;
  }
  const env: Record<string, string> = {};
  if (process.env.LIBNBD_DEBUG !== undefined) env.LIBNBD_DEBUG = process.env.LIBNBD_DEBUG;
  const exit = await runInBrowser(js, basename(source).replace(/\.c$/, ''), {
    args: argv.slice(i + 1), env,
    stdout: (b) => io.write(b),
    stderr: (b) => void process.stderr.write(b),
    stdin: stdinReader(),
  });
  if (exit.message) io.err(`webnbd: run-wasm: ${exit.message}`);
  return exit.status;
}

export const runWasmCommand: Command = { summary: 'compile a libnbd C program and run it in a browser', run: runWasm };
