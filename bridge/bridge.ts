// `webnbd bridge`: websockify 0.10 in front of one NBD server, with safe defaults, so a web page
// (or webnbd in Node) can speak NBD over a WebSocket. startBridge() is the same for tests and `npm start`.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { parseArgs } from 'node:util';

/** Where the bridge forwards to. It is fixed by the operator: the client never chooses. */
export type BridgeTarget =
  | { unix: string }
  | { host: string; port: number }
  /** websockify's TokenFile: lines `token: host:port` or `token: unix_socket:/path`. */
  | { tokenFile: string }
  /** An NBD server the bridge runs on a private Unix socket, and stops when it stops. */
  | { command: string[] };

export interface BridgeOptions {
  target: BridgeTarget;
  /** Default 127.0.0.1; port 0 (the default) picks a free port. */
  listen?: { host?: string; port?: number };
  /** Page origins allowed to open WebSockets (exact match). Default: the bridge's own origin. */
  origins?: string[];
  /** PEM certificate (and key, unless in `cert`): wss:// only, plain ws:// is refused. */
  cert?: string;
  key?: string;
  /** A directory websockify serves over HTTP(S) on the same port. */
  web?: string;
  /** Output of websockify and of the NBD server once the bridge is up. Default: dropped. */
  log?: (from: 'websockify' | 'server', text: string) => void;
}

export interface Bridge {
  readonly host: string;
  readonly port: number;
  /** `ws://HOST:PORT/` or `wss://HOST:PORT/` */
  readonly url: string;
  /** What to give webnbd: `nbd+ws://HOST:PORT/` or `nbds+wss://…`, one per token with `?token=`. */
  readonly uris: string[];
  readonly origins: string[];
  /** The directory served over HTTP(S), if any. */
  readonly web?: string;
  /** websockify's PID, then the NBD server's if the bridge started one. */
  readonly pids: number[];
  /** Settles once the bridge has stopped: null after close(), else why it died. */
  readonly exited: Promise<string | null>;
  /** Stops websockify, then the NBD server the bridge started; removes its private socket. */
  close(): Promise<void>;
}

/** A startup failure, with a one-line message meant for the user. */
export class BridgeError extends Error {}

const PLACEHOLDER = '{socket}';
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);
const WILDCARD = new Set(['', '0.0.0.0', '::']);
// With a parent-death signal, children die with us even on SIGKILL. util-linux has it on Debian.
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

const fail = (message: string): never => {
  throw new BridgeError(message);
};
const bracket = (host: string): string => (host.includes(':') ? `[${host}]` : host);

/** A process in its own process group (so a terminal's Ctrl-C reaches only us), output collected. */
class Child {
  readonly proc: ChildProcess;
  readonly exited: Promise<string>;
  output = '';
  log?: (text: string) => void;

  constructor(readonly name: string, argv: string[], env?: NodeJS.ProcessEnv) {
    const [file, args] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'TERM', '--', ...argv]] : [argv[0]!, argv.slice(1)];
    this.proc = spawn(file, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    const take = (b: Buffer) => {
      if (this.log) this.log(b.toString('utf8'));
      else this.output = (this.output + b.toString('utf8')).slice(-65536);
    };
    this.proc.stdout!.on('data', take);
    this.proc.stderr!.on('data', take);
    this.exited = new Promise((res) => {
      this.proc.once('error', (e) => res(e.message));
      this.proc.once('exit', (code, signal) => res(signal ? `killed by ${signal}` : `exit status ${code}`));
    });
  }

  get gone(): boolean {
    return this.proc.exitCode !== null || this.proc.signalCode !== null || this.proc.pid === undefined;
  }

  /** The last line it printed, without Python's exception class or optparse's prefix. */
  lastLine(): string {
    const line = this.output.trim().split('\n').pop()?.trim() ?? '';
    return line.replace(/^(websockify: error|setpriv): /, '').replace(/^\w+(Error|Exception): /, '');
  }

  async stop(): Promise<void> {
    if (!this.gone) {
      this.proc.kill('SIGTERM');
      if (!(await within(this.exited, STOP_TIMEOUT_MS))) this.killGroup();
      await this.exited;
    }
    this.killGroup(); // websockify's per-connection processes, or whatever a server command forked
  }

  killGroup(): void {
    try {
      if (this.proc.pid) process.kill(-this.proc.pid, 'SIGKILL');
    } catch {
      // Nobody left in the group.
    }
  }
}

const within = (p: Promise<unknown>, ms: number): Promise<boolean> => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))])
    .finally(() => clearTimeout(timer));
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(host: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((res, rej) => server.once('error', rej).listen(0, host, res));
  const { port } = server.address() as AddressInfo;
  await new Promise((res) => server.close(res));
  return port;
}

/** The tokens of a TokenFile source (a file or a directory of files), parsed as websockify does. */
export function readTokens(source: string): string[] {
  const files = statSync(source).isDirectory() ? readdirSync(source).map((f) => join(source, f)) : [source];
  const tokens: string[] = [];
  for (const file of files) {
    readFileSync(file, 'utf8').split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith('#')) return;
      const parts = line.split(/:\s/); // websockify: re.split(':\s', line), exactly two parts
      if (parts.length !== 2) fail(`${file}:${i + 1}: expected "token: host:port" or "token: unix_socket:/path"`);
      const target = parts[1]!.trim();
      // websockify splits the target at its last ':', so a socket path cannot contain one.
      if (target.startsWith('unix_socket:') ? target.lastIndexOf(':') !== 11 : !/^.+:\d+$/.test(target)) {
        fail(`${file}:${i + 1}: websockify cannot use the target "${target}"`);
      }
      tokens.push(parts[0]!);
    });
  }
  if (tokens.length === 0) fail(`${source}: no tokens`);
  return tokens;
}

function normalizeOrigin(origin: string): string {
  let url: URL | undefined;
  try {
    url = new URL(origin);
  } catch {
    // reported below
  }
  if (!url || !/^https?:$/.test(url.protocol)) fail(`--origin ${origin}: not an http(s) URL`);
  return url!.origin;
}

/** The origins of a page that websockify itself serves (--web); on loopback, under any of its names. */
function ownOrigins(host: string, port: number, tls: boolean): string[] {
  if (WILDCARD.has(host)) fail(`listening on "${host}", the bridge has no origin of its own: give --origin URL`);
  const hosts = LOOPBACK.has(host) ? ['localhost', '127.0.0.1', '[::1]'] : [bracket(host)];
  return hosts.map((h) => new URL(`${tls ? 'https' : 'http'}://${h}:${port}`).origin);
}

/** Runs `command` on a private socket: `{socket}` is replaced by its path; nbdkit needs none. */
async function startServer(command: string[], dir: string): Promise<[Child, string]> {
  const sock = join(dir, 'nbd.sock');
  let argv: string[];
  if (command.some((a) => a.includes(PLACEHOLDER))) argv = command.map((a) => a.replaceAll(PLACEHOLDER, sock));
  else if (basename(command[0] ?? '') === 'nbdkit') argv = [command[0]!, '-U', sock, '-f', ...command.slice(1)];
  else return fail(`put ${PLACEHOLDER} where ${command[0] ?? 'the command'} takes its Unix socket path`);
  const server = new Child(basename(argv[0]!), argv);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!existsSync(sock) || !statSync(sock).isSocket()) {
    if (server.gone || Date.now() > deadline) {
      const why = server.gone ? await server.exited : 'no socket after 15 s';
      await server.stop();
      fail(`${server.name} did not start (${why})${server.lastLine() ? `: ${server.lastLine()}` : ''}`);
    }
    await sleep(20);
  }
  return [server, sock];
}

/** websockify, once it listens: it prints "proxying from" after bind() and listen(). */
async function startWebsockify(args: string[]): Promise<Child> {
  const ws = new Child('websockify', ['websockify', ...args], { PYTHONUNBUFFERED: '1' });
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!/proxying from/.test(ws.output)) {
    if (ws.gone || Date.now() > deadline) {
      if (!ws.gone) await ws.stop();
      fail(`websockify did not start: ${ws.lastLine() || (await ws.exited)}`);
    }
    await sleep(20);
  }
  return ws;
}

function check(opts: BridgeOptions): void {
  const files = { '--cert': opts.cert, '--key': opts.key, '--token-file': 'tokenFile' in opts.target ? opts.target.tokenFile : undefined };
  for (const [what, path] of Object.entries(files)) {
    if (path !== undefined && !existsSync(path)) fail(`${what} ${path}: no such file`);
  }
  if (opts.web !== undefined && !(existsSync(opts.web) && statSync(opts.web).isDirectory())) fail(`--web ${opts.web}: no such directory`);
  if (opts.key && !opts.cert) fail('--key needs --cert');
  if (opts.cert) {
    try {
      createSecureContext({ cert: readFileSync(opts.cert), key: readFileSync(opts.key ?? opts.cert) });
    } catch (e) {
      fail(`--cert ${opts.cert}${opts.key ? ` --key ${opts.key}` : ''}: ${(e as Error).message}`);
    }
  }
  if ('command' in opts.target && opts.target.command.length === 0) fail('no NBD server command after --');
}

/** Starts websockify (and the NBD server, for a command target). Throws BridgeError. */
export async function startBridge(opts: BridgeOptions): Promise<Bridge> {
  check(opts);
  const tls = opts.cert !== undefined;
  const host = opts.listen?.host ?? '127.0.0.1';
  const tokens = 'tokenFile' in opts.target ? readTokens(opts.target.tokenFile) : [];
  const allowed = opts.origins?.length ? opts.origins.map(normalizeOrigin) : undefined;
  if (!allowed) ownOrigins(host, 0, tls); // fails now, before any process starts, if there is none
  let server: Child | undefined;
  let dir: string | undefined;
  let to: string[];
  const t = opts.target;
  if ('command' in t) {
    dir = mkdtempSync(join(tmpdir(), 'webnbd-bridge-'));
    try {
      let sock: string;
      [server, sock] = await startServer(t.command, dir);
      to = ['--unix-target', sock];
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  } else if ('unix' in t) to = ['--unix-target', resolve(t.unix)];
  else if ('tokenFile' in t) to = ['--token-plugin', 'TokenFile', '--token-source', resolve(t.tokenFile)];
  else to = [`${bracket(t.host)}:${t.port}`];

  // websockify chdirs to --web, so every path it gets is absolute.
  const common = [
    ...(tls ? ['--cert', resolve(opts.cert!), ...(opts.key ? ['--key', resolve(opts.key)] : []), '--ssl-only'] : []),
    ...(opts.web !== undefined ? ['--web', resolve(opts.web)] : []),
  ];
  let ws: Child | undefined;
  let port = 0;
  let origins: string[] = [];
  try {
    // A free port can be taken before websockify binds it: then try another.
    for (let attempt = 1; !ws; attempt++) {
      port = opts.listen?.port || (await freePort(host));
      origins = allowed ?? ownOrigins(host, port, tls);
      const auth = ['--auth-plugin', 'ExpectOrigin', '--auth-source', origins.join(' ')];
      const listen = `${bracket(host)}:${port}`;
      const args = 'host' in t ? [...common, ...auth, listen, ...to] : [...common, ...auth, ...to, listen];
      try {
        ws = await startWebsockify(args);
      } catch (e) {
        if (opts.listen?.port || attempt >= 3 || !/Errno 98/.test(String(e))) throw e;
      }
    }
  } catch (e) {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  const websockify = ws;
  for (const [from, child] of [['websockify', websockify], ['server', server]] as const) {
    if (!child || !opts.log) continue;
    opts.log(from, child.output);
    child.log = (text) => opts.log!(from, text);
  }
  let closing: Promise<void> | undefined;
  const stopAll = () => (closing ??= (async () => {
    await websockify.stop();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  })());
  let closed = false;
  const exited = (async () => {
    const why = await Promise.race([
      websockify.exited.then((how) => `websockify stopped (${how})`),
      ...(server ? [server.exited.then((how) => `${server!.name} stopped (${how})`)] : []),
    ]);
    await stopAll();
    return closed ? null : why;
  })();

  const hostPart = bracket(WILDCARD.has(host) ? hostname() : host);
  const base = `${tls ? 'nbds+wss' : 'nbd+ws'}://${hostPart}:${port}/`;
  return {
    host,
    port,
    url: `${tls ? 'wss' : 'ws'}://${hostPart}:${port}/`,
    uris: tokens.length ? tokens.map((tok) => `${base}?token=${encodeURIComponent(tok)}`) : [base],
    origins,
    ...(opts.web !== undefined ? { web: resolve(opts.web) } : {}),
    pids: [websockify.proc.pid!, ...(server ? [server.proc.pid!] : [])],
    exited,
    async close() {
      closed = true;
      await stopAll();
    },
  };
}

// ---- The command ----

const USAGE = `Usage: webnbd bridge [OPTIONS] (--unix-target SOCK | --target HOST:PORT | --token-file FILE)
       webnbd bridge [OPTIONS] -- NBD-SERVER-COMMAND...

Runs websockify so that web pages can reach one NBD server, and prints the URI to use
(nbd+ws://HOST:PORT/, or nbds+wss:// with --cert). Stops on SIGINT or SIGTERM.

  --unix-target SOCK   forward to the NBD server on a Unix socket
  --target HOST:PORT   forward to the NBD server at HOST:PORT (TCP)
  --token-file FILE    forward by ?token=, with lines "token: host:port" or "token: unix_socket:/path"
  -- COMMAND...        run this NBD server on a private Unix socket: {socket} in an argument
                       becomes its path; nbdkit needs none (-U SOCK -f are added)
  --listen [HOST:]PORT where to listen (default 127.0.0.1 and a free port)
  --origin URL         a page origin allowed to connect (repeatable; default the bridge's own)
  --cert FILE          TLS certificate (PEM): wss:// only
  --key FILE           TLS key (PEM), unless it is in the --cert file
  --web DIR            also serve the files in DIR over HTTP(S)
  -v, --verbose        show websockify's log
  -h, --help           show this help
`;

function hostPort(s: string, what: string, hostOptional = false): { host?: string; port: number } {
  const m = /^(?:(?:\[([^\]]*)\]|([^:[\]]*)):)?(\d{1,5})$/.exec(s);
  if (!m || (!hostOptional && m[1] === undefined && m[2] === undefined) || Number(m[3]) > 65535) {
    fail(`${what} ${s}: expected ${hostOptional ? '[HOST:]PORT' : 'HOST:PORT'}`);
  }
  const host = m![1] ?? m![2];
  return { ...(host !== undefined ? { host } : {}), port: Number(m![3]) };
}

/** `webnbd bridge` options, or null for --help. Throws BridgeError. */
export function parseBridgeArgs(argv: string[]): (BridgeOptions & { verbose: boolean }) | null {
  const dashes = argv.indexOf('--');
  const command = dashes < 0 ? undefined : argv.slice(dashes + 1);
  let values;
  try {
    ({ values } = parseArgs({
      args: dashes < 0 ? argv : argv.slice(0, dashes),
      options: {
        'unix-target': { type: 'string' }, target: { type: 'string' }, 'token-file': { type: 'string' },
        listen: { type: 'string' }, origin: { type: 'string', multiple: true },
        cert: { type: 'string' }, key: { type: 'string' }, web: { type: 'string' },
        verbose: { type: 'boolean', short: 'v' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    return fail((e as Error).message.split('. ')[0]!);
  }
  if (values.help) return null;
  const targets: BridgeTarget[] = [
    ...(values['unix-target'] !== undefined ? [{ unix: values['unix-target'] }] : []),
    ...(values.target !== undefined ? [hostPort(values.target, '--target') as { host: string; port: number }] : []),
    ...(values['token-file'] !== undefined ? [{ tokenFile: values['token-file'] }] : []),
    ...(command ? [{ command }] : []),
  ];
  if (targets.length !== 1) fail('give exactly one of --unix-target, --target, --token-file or -- COMMAND (see --help)');
  return {
    target: targets[0]!,
    verbose: values.verbose ?? false,
    ...(values.listen !== undefined ? { listen: hostPort(values.listen, '--listen', true) } : {}),
    ...(values.origin ? { origins: values.origin } : {}),
    ...(values.cert !== undefined ? { cert: values.cert } : {}),
    ...(values.key !== undefined ? { key: values.key } : {}),
    ...(values.web !== undefined ? { web: values.web } : {}),
  };
}

/** `webnbd bridge ARGS…` (ARGS without the word `bridge`). Resolves to the exit status. */
export async function bridgeCommand(argv: string[]): Promise<number> {
  const say = (line: string) => process.stderr.write(`webnbd bridge: ${line}\n`);
  let bridge: Bridge;
  try {
    const opts = parseBridgeArgs(argv);
    if (!opts) {
      process.stdout.write(USAGE);
      return 0;
    }
    const { verbose, ...rest } = opts;
    bridge = await startBridge({
      ...rest,
      log: (from, text) => (from === 'server' || verbose) && process.stderr.write(text),
    });
  } catch (e) {
    say(e instanceof BridgeError ? e.message : String((e as Error).message ?? e).split('\n')[0]!);
    return 1;
  }
  for (const uri of bridge.uris) process.stdout.write(`${uri}\n`);
  const web = bridge.web ? `, serving ${bridge.web} at ${bridge.url.replace(/^ws/, 'http')}` : '';
  say(`listening on ${bridge.url}${web}; origins allowed: ${bridge.origins.join(' ')}; Ctrl-C stops it`);
  let onSignal = () => {};
  const signalled = new Promise<null>((res) => (onSignal = () => res(null)));
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const why = await Promise.race([bridge.exited, signalled]);
  process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  await bridge.close();
  if (why === null) return 0;
  say(why);
  return 1;
}
