// `webnbd cc FILE.c [-o OUT.js] [EMCC-OPTIONS…]`: compile a libnbd C program with emscripten
// against webnbd's port (wasm/): OUT.js and OUT.wasm, plus OUT.html, a small page that runs it,
// and webnbd/, the runtime that page loads. Builds are cached by content hash (run-wasm uses
// them too). emcc is Debian's 3.1.6, which needs Debian's node modules on NODE_PATH.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from './args.js';
import type { Command, Io } from './io.js';

/** The repository (or installed package): this file is web/cli/cc.ts, or build/web/cli/cc.js. */
const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = existsSync(join(HERE, '../../package.json')) ? resolve(HERE, '../..') : resolve(HERE, '../../..');
const WASM = join(ROOT, 'wasm');
/** The runtime's modules, as tsc emits them (`tsc -b`; the package ships them built). */
export const RUNTIME = join(ROOT, 'build');

/** The port's C files, compiled once per version of them into the cache (portObjects). */
const PORT_SOURCES = ['shim.c', 'calls.c', 'events.c'];

/** What every program is compiled and linked with; see wasm/README.md for why each is there. */
export const EMCC_FLAGS = [
  '-I', join(WASM, 'include'),
  '--js-library', join(WASM, 'src/library.js'),
  '-sASYNCIFY', '-sASYNCIFY_IMPORTS=["webnbd_js_call_async","webnbd_js_resume","webnbd_js_wait","wasi_snapshot_preview1.fd_read"]',
  '-sASYNCIFY_STACK_SIZE=65536',
  '-sMODULARIZE', '-sEXPORT_ES6', '-sEXPORT_NAME=webnbdProgram', '-sENVIRONMENT=web,worker',
  '-sEXIT_RUNTIME', '-sEXPORTED_FUNCTIONS=["_webnbd_start","_main","_malloc","_free"]',
  '-sEXPORTED_RUNTIME_METHODS=["ENV"]', '-sDEFAULT_LIBRARY_FUNCS_TO_INCLUDE=["$ENV"]', '-sINITIAL_MEMORY=134217728',
];

/** -pthread among the options: a threaded build, without Asyncify (wasm/README.md, "Threads"). */
export const threaded = (extra: readonly string[]): boolean => extra.some((a) => a === '-pthread' || /^-sUSE_PTHREADS(=1)?$/.test(a));

/** The flags for a build with these extra options. */
const flagsFor = (extra: readonly string[]): string[] =>
  threaded(extra) ? EMCC_FLAGS.filter((f) => !f.startsWith('-sASYNCIFY')) : [...EMCC_FLAGS];

export interface Built {
  /** The program's .js; its .wasm is beside it. */
  js: string;
  /** Whether it came from the cache. */
  cached: boolean;
}

export class CompileError extends Error {
  override readonly name = 'CompileError';
  constructor(message: string, readonly output: string) {
    super(message);
  }
}

/** The cache: $WEBNBD_CACHE, else $XDG_CACHE_HOME/webnbd, else ~/.cache/webnbd. */
export function cacheDir(): string {
  const base = process.env.WEBNBD_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'webnbd');
  return join(base, 'wasm');
}

/** The source and the headers it includes with "…" (recursively), then the port's own files. */
function inputs(source: string | null, extra: string[]): Buffer[] {
  const seen = new Set<string>();
  const out: Buffer[] = [];
  const walk = (file: string) => {
    if (seen.has(file) || !existsSync(file)) return;
    seen.add(file);
    const text = readFileSync(file);
    out.push(Buffer.from(file), text);
    for (const m of text.toString('latin1').matchAll(/^\s*#\s*include\s*"([^"]+)"/gm)) walk(resolve(dirname(file), m[1]!));
  };
  if (source !== null) walk(resolve(source));
  for (const dir of [join(WASM, 'src'), join(WASM, 'include')]) {
    for (const f of readdirSync(dir).sort()) out.push(Buffer.from(f), readFileSync(join(dir, f)));
  }
  out.push(Buffer.from(JSON.stringify([...flagsFor(extra), ...extra])));
  return out;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (e) => reject(new CompileError(`cannot run ${cmd}: ${e.message} (install Debian's emscripten package)`, '')));
    child.on('close', (code) => resolveRun({ code: code ?? 1, output }));
  });
}

const EMCC_ENV = () => ({ ...process.env, NODE_PATH: '/usr/share/nodejs', EM_CACHE: process.env.EM_CACHE ?? '/usr/share/emscripten/cache' });

/** Build a cache entry in a directory beside it, then rename: a concurrent run never sees half of one. */
async function cached(dir: string, build: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  mkdirSync(tmp, { recursive: true });
  try {
    await build(tmp);
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(dir)) throw e; // else another run got there first
  }
}

/** The port's C files as objects: the same for every program, so compiled once (twice with -pthread). */
async function portObjects(threads: boolean): Promise<string[]> {
  const hash = createHash('sha256');
  const opts = threads ? ['-pthread'] : [];
  for (const b of inputs(null, opts)) hash.update(b);
  const dir = join(cacheDir(), `port-${hash.digest('hex').slice(0, 24)}`);
  const objects = PORT_SOURCES.map((f) => join(dir, f.replace(/\.c$/, '.o')));
  if (!existsSync(dir)) {
    await cached(dir, async (tmp) => {
      const results = await Promise.all(PORT_SOURCES.map((f) =>
        run('emcc', ['-O2', ...opts, '-c', '-I', join(WASM, 'include'), join(WASM, 'src', f), '-o', join(tmp, f.replace(/\.c$/, '.o'))], EMCC_ENV())));
      const failed = results.find((r) => r.code !== 0);
      if (failed) throw new CompileError('cc: emcc failed on the port itself (wasm/src)', failed.output);
    });
  }
  return objects;
}

/**
 * Compile `source` into the cache (unless it is there already) and return the .js. `extra` are
 * more emcc options (-O3, -DNAME, -sALLOW_MEMORY_GROWTH…).
 */
export async function compile(source: string, extra: string[] = []): Promise<Built> {
  if (!existsSync(source)) throw new UsageError(`cc: ${source}: no such file`);
  const hash = createHash('sha256');
  for (const b of inputs(source, extra)) hash.update(b);
  const key = hash.digest('hex').slice(0, 24);
  const name = basename(source).replace(/\.[^.]*$/, '') || 'program';
  const dir = join(cacheDir(), key);
  const js = join(dir, `${name}.js`);
  if (existsSync(js)) return { js, cached: true };
  const objects = await portObjects(threaded(extra));
  await cached(dir, async (tmp) => {
    const { code, output } = await run('emcc', ['-O2', resolve(source), ...objects, ...flagsFor(extra), ...extra, '-o', join(tmp, `${name}.js`)], EMCC_ENV());
    if (code !== 0) throw new CompileError(`cc: emcc failed on ${source}`, output);
  });
  return { js, cached: false };
}

/** The runtime files a page needs, relative to RUNTIME (build/). */
export function runtimeFiles(): string[] {
  const list = (sub: string) => readdirSync(join(RUNTIME, sub)).filter((f) => f.endsWith('.js')).map((f) => `${sub}/${f}`);
  if (!existsSync(join(RUNTIME, 'wasm/runtime/worker.js'))) throw new UsageError("cc: the runtime is not built: run 'npx tsc -b' in the webnbd checkout");
  return [...list('web/core'), ...list('web/core/format'), ...list('web/core/handle'), 'web/browser/ws-transport.js', ...['capi', 'events', 'run', 'runtime', 'worker'].map((f) => `wasm/runtime/${f}.js`)];
}

/** A page that runs the program: ?arg=…&arg=… become its arguments. */
export function loaderPage(name: string, runtime: string): string {
  return `<!doctype html>
<meta charset="utf-8">
<title>${name}</title>
<!-- ${name}, a libnbd program compiled by webnbd cc. Serve this folder over HTTP and open this
     page with ?arg=ws://HOST:PORT/ (a websockify bridge) for each argument of the program. -->
<pre id="out"></pre>
<script type="module">
  import { runProgram } from '${runtime}/wasm/runtime/run.js';
  const out = document.getElementById('out');
  const text = new TextDecoder();
  const show = (bytes) => out.append(text.decode(bytes, { stream: true }));
  const args = new URLSearchParams(location.search).getAll('arg');
  const worker = new Worker('${runtime}/wasm/runtime/worker.js', { type: 'module' });
  runProgram(worker, { program: './${name}.js', args, stdout: show, stderr: show }).then(({ status, message }) => {
    out.append(\`\\n[\${message ? message + ', ' : ''}exit status \${status}]\\n\`);
    worker.terminate();
  });
</script>
`;
}

const HELP = `Usage: webnbd cc FILE.c [-o OUT.js] [EMCC-OPTIONS…]

Compile a C program written for libnbd with emscripten against webnbd's port, so it runs in a
browser's Web Worker. Writes OUT.js and OUT.wasm (default: FILE.js beside FILE.c), OUT.html, a
page that runs the program (its ?arg=… are the program's arguments), and webnbd/, the runtime
that page loads. Serve the folder over HTTP; no special headers are needed, except with
-pthread (threads): then the page must be cross-origin isolated (Cross-Origin-Opener-Policy:
same-origin, Cross-Origin-Embedder-Policy: require-corp).

In the browser, nbd_connect_unix takes the ws:// URL of a websockify bridge to the socket
(websockify --unix-target=SOCKET, or webnbd bridge). Other options go to emcc (-O3, -DNAME=…).
See wasm/README.md.
`;

async function runCc(argv: string[], io: Io): Promise<number> {
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) return io.write(HELP).then(() => (argv.length ? 0 : 1));
  let out: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '-o') {
      out = argv[++i];
      if (out === undefined) throw new UsageError("cc: -o needs a file name (see 'webnbd cc --help')");
    } else rest.push(argv[i]!);
  }
  const sources = rest.filter((a) => /\.c$/.test(a) && !a.startsWith('-'));
  if (sources.length !== 1) throw new UsageError(`cc: give exactly one .c file (see 'webnbd cc --help')`);
  const source = sources[0]!;
  const target = resolve(out ?? source.replace(/\.c$/, '.js'));
  if (!/\.m?js$/.test(target)) throw new UsageError('cc: the output must be a .js file');
  const files = runtimeFiles();
  let built: Built;
  try {
    built = await compile(source, rest.filter((a) => a !== source));
  } catch (e) {
    if (e instanceof CompileError) {
      io.err(e.output.trimEnd());
      io.err(`webnbd: ${e.message}`);
      return 1;
    }
    throw e;
  }
  const name = basename(target).replace(/\.m?js$/, '');
  const dir = dirname(target);
  const from = built.js.replace(/\.js$/, '');
  mkdirSync(dir, { recursive: true });
  // emcc names the .wasm inside the .js after the file it wrote; keep that name.
  const js = readFileSync(`${from}.js`, 'utf8').replaceAll(`${basename(from)}.wasm`, `${name}.wasm`).replaceAll(`${basename(from)}.worker.js`, `${name}.worker.js`);
  writeFileSync(target, js);
  cpSync(`${from}.wasm`, join(dir, `${name}.wasm`));
  if (existsSync(`${from}.worker.js`)) cpSync(`${from}.worker.js`, join(dir, `${name}.worker.js`)); // -pthread's
  for (const f of files) cpSync(join(RUNTIME, f), join(dir, 'webnbd', f));
  writeFileSync(join(dir, `${name}.html`), loaderPage(name, './webnbd'));
  return 0;
}

export const cc: Command = { summary: 'compile a libnbd C program to run in the browser', run: runCc };
