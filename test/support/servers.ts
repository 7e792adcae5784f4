// Real NBD servers (nbdkit, qemu-nbd, nbd-server) and websockify on loopback, for tests.
// Every process started here is stopped when the test file ends (or this process exits).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const LOOPBACK = '127.0.0.1';
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 3_000;
const LOG_LIMIT = 64 * 1024;

/** A running server process. */
export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  /** What the server wrote to stdout and stderr (the last 64 KiB). */
  log(): string;
  /** Signals the server (not its helpers) and returns at once, e.g. to make it die mid-request. */
  kill(signal?: NodeJS.Signals): void;
  /**
   * SIGTERM to its whole process group (servers fork per client), SIGKILL to what is left
   * once it has exited or after 3 s; then removes its temporary files.
   */
  stop(): Promise<void>;
  /** Settles when the process has exited, for whatever reason. */
  readonly exited: Promise<void>;
}

/** An NBD server listening on 127.0.0.1:port, or on a Unix socket. */
export interface NbdServer extends ServerProcess {
  /** `nbd://127.0.0.1:PORT/EXPORT` or `nbd+unix:///EXPORT?socket=PATH` */
  readonly uri: string;
  /** Always 127.0.0.1 (meaningless for a Unix socket). */
  readonly host: string;
  readonly port?: number;
  readonly socket?: string;
  readonly exportName: string;
}

export interface WebsockifyServer extends ServerProcess {
  readonly port: number;
  /** `ws://127.0.0.1:PORT/`, or `wss://` with a certificate. */
  readonly url: string;
}

interface Listen {
  /** Listen on a Unix socket in a temporary directory instead of TCP. */
  unix?: boolean;
  /** Extra command-line arguments, placed before the others. */
  extraArgs?: string[];
}

export interface NbdkitOptions extends Listen {
  /** Oldstyle handshake (`-o`): no export names, no options. */
  oldstyle?: boolean;
  /** The export name to put in `uri`; most plugins accept any. */
  exportName?: string;
  /** `-v`: nbdkit logs every request to its log(). */
  verbose?: boolean;
}

export interface QemuNbdOptions extends Listen {
  format?: 'raw' | 'qcow2';
  readOnly?: boolean;
  exportName?: string;
  description?: string;
  /** `-t`, on unless false: without it qemu-nbd exits when its first client leaves. */
  persistent?: boolean;
  /** `-e`: how many clients at once (qemu-nbd's default is 1). */
  shared?: number;
}

export interface NbdServerOptions {
  unix?: boolean;
  /** The section name, which is the export name clients ask for. */
  exportName?: string;
  readOnly?: boolean;
  /** More `key = value` lines for the export section (see nbd-server(5)). */
  exportConfig?: Record<string, string | number | boolean>;
}

export type WebsockifyTarget =
  | { port: number; host?: string }
  | { socket: string }
  /** Target chosen per connection by `?token=`, e.g. `TokenFile` and a file of `name: host:port`. */
  | { tokenPlugin: string; tokenSource: string };

export interface WebsockifyOptions {
  /** PEM files for wss://; with only `cert`, it must hold the key too. */
  cert?: string;
  key?: string;
  extraArgs?: string[];
}

// ---- Process registry ----

const running = new Set<Managed>();

/** Stops every server still running. Test files get this as an afterAll hook. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop()));
}

if (process.env.VITEST) afterAll(stopAll);
// Last resort when a test file ends without the hook: kill synchronously. If this process is
// killed outright, the kernel kills the servers (setpriv --pdeathsig), all but nbd-server.
process.on('exit', () => {
  for (const s of running) s.killNow();
});

class Managed implements ServerProcess {
  #log = '';
  #gone = false;
  #exited: Promise<void>;
  #stopping: Promise<void> | undefined;

  /** Watches `child` if it is ours, else (a daemon) the PID through /proc. */
  constructor(
    readonly name: string,
    readonly pid: number,
    private readonly dir: string,
    child?: ChildProcess,
  ) {
    this.#exited = (child ? childExit(child) : pidExit(pid)).then(() => {
      this.#gone = true;
    });
    child?.stdout?.on('data', (d: Buffer) => this.appendLog(d.toString('utf8')));
    child?.stderr?.on('data', (d: Buffer) => this.appendLog(d.toString('utf8')));
    running.add(this);
  }

  appendLog(text: string): void {
    this.#log = (this.#log + text).slice(-LOG_LIMIT);
  }

  log(): string {
    return this.#log;
  }

  get exited(): Promise<void> {
    return this.#exited;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    // Once it is gone the PID may belong to someone else.
    if (!this.#gone) sendSignal(this.pid, signal);
  }

  /**
   * Every server leads its own process group (spawned detached, or nbd-server's setsid), which
   * holds its per-client children. The group's ID stays reserved while any of them lives.
   */
  #killGroup(signal: NodeJS.Signals): void {
    sendSignal(-this.pid, signal);
  }

  killNow(): void {
    this.#killGroup('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#killGroup('SIGTERM');
      const graceful = await settlesWithin(this.#exited, STOP_TIMEOUT_MS);
      // Also sweeps up per-client children that outlived the server.
      this.#killGroup('SIGKILL');
      if (!graceful) await this.#exited;
      running.delete(this);
      rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.#stopping;
  }
}

function sendSignal(pid: number, signal: NodeJS.Signals): void {
  if (Math.abs(pid) <= 1) return; // never our own process group, never every process
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

function childExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

async function pidExit(pid: number): Promise<void> {
  // Unref'd: watching a daemon must not keep this process alive.
  while (isAlive(pid)) await new Promise((resolve) => setTimeout(resolve, 25).unref());
}

/** False once the process is gone, or is a zombie waiting for init to reap it. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

// ---- Starting ----

type Where = { port: number } | { socket: string };

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function settlesWithin(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const done = await Promise.race([p.then(() => true), timeout]);
  clearTimeout(timer);
  return done;
}

/** A TCP port on 127.0.0.1 that nobody was listening on a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function accepts(where: Where): Promise<boolean> {
  return new Promise((resolve) => {
    const s = 'socket' in where ? connect(where.socket) : connect(where.port, LOOPBACK);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function pidFileWritten(path: string): boolean {
  return existsSync(path) && /^\d+\s*$/.test(readFileSync(path, 'utf8'));
}

function startupError(name: string, log: string, reason: string): Error {
  const tail = log.trimEnd().split('\n').slice(-30).join('\n');
  return new Error(`${name} did not start: ${reason}\n--- ${name} log ---\n${tail}`);
}

/** Polls `ready` until it holds; stops the server and throws with its log if it exits or times out. */
async function waitReady(server: Managed, ready: () => boolean | Promise<boolean>): Promise<void> {
  let gone = false;
  void server.exited.then(() => (gone = true));
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const reason = gone ? 'it exited' : Date.now() > deadline ? `not ready after ${START_TIMEOUT_MS} ms` : '';
    if (reason) {
      await server.stop();
      throw startupError(server.name, server.log(), reason);
    }
    if (await ready()) return;
    await sleep(20);
  }
}

/**
 * Starts a foreground server in its own process group, which the kernel kills if this process
 * dies. SIGKILL, because websockify 0.10 can miss a SIGTERM: one that lands while it is logging
 * is swallowed, and it ignores every later one.
 */
function launch(name: string, command: string, args: string[], dir: string): Managed {
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', command, ...args], {
    cwd: dir,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`${name}: cannot run setpriv (util-linux)`);
  return new Managed(name, child.pid, dir, child);
}

/** Retries on another port if someone took the free one in between: test files run in parallel. */
async function withPort<T>(start: (port: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (e) {
      if (attempt >= 3 || !/in use/i.test(String(e))) throw e;
    }
  }
}

/** A fresh temporary directory, and a Unix socket in it or a free TCP port. */
function listenOn<T>(unix: boolean | undefined, start: (dir: string, where: Where) => Promise<T>): Promise<T> {
  if (unix) {
    const dir = tempDir();
    return start(dir, { socket: join(dir, 'nbd.sock') });
  }
  return withPort((port) => start(tempDir(), { port }));
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'webnbd-'));
}

function nbdServer(server: Managed, exportName: string, where: Where): NbdServer {
  const name = encodeURIComponent(exportName);
  const uri = 'socket' in where
    ? `nbd+unix:///${name}?socket=${encodeURIComponent(where.socket)}`
    : `nbd://${LOOPBACK}:${where.port}/${name}`;
  return Object.assign(server, { uri, host: LOOPBACK, exportName, ...where });
}

// ---- The servers ----

/**
 * nbdkit in the foreground. `args` are filters, the plugin and its parameters, e.g.
 * `['--filter=delay', 'memory', '1M', 'delay-read=1']`.
 */
export function startNbdkit(args: string[], opts: NbdkitOptions = {}): Promise<NbdServer> {
  return listenOn(opts.unix, async (dir, where) => {
    const pidFile = join(dir, 'nbdkit.pid');
    const listen = 'socket' in where ? ['-U', where.socket] : ['-i', LOOPBACK, '-p', String(where.port)];
    const server = launch('nbdkit', 'nbdkit', [
      ...(opts.extraArgs ?? []), '-f', '--exit-with-parent', '-P', pidFile, ...listen,
      ...(opts.oldstyle ? ['-o'] : []), ...(opts.verbose ? ['-v'] : []), ...args,
    ], dir);
    // nbdkit writes its PID file once it accepts connections.
    await waitReady(server, () => pidFileWritten(pidFile));
    return nbdServer(server, opts.exportName ?? '', where);
  });
}

/** qemu-nbd serving `file`, persistent unless `persistent: false`. */
export function startQemuNbd(file: string, opts: QemuNbdOptions = {}): Promise<NbdServer> {
  const exportName = opts.exportName ?? '';
  return listenOn(opts.unix, async (dir, where) => {
    const pidFile = join(dir, 'qemu-nbd.pid');
    const listen = 'socket' in where ? ['--socket', where.socket] : ['--bind', LOOPBACK, '--port', String(where.port)];
    const server = launch('qemu-nbd', 'qemu-nbd', [
      ...(opts.extraArgs ?? []), '--pid-file', pidFile, ...listen, '-f', opts.format ?? 'raw',
      ...(opts.persistent === false ? [] : ['-t']), ...(opts.readOnly ? ['-r'] : []),
      ...(opts.shared ? ['-e', String(opts.shared)] : []), '-x', exportName,
      ...(opts.description !== undefined ? ['-D', opts.description] : []), file,
    ], dir);
    // qemu-nbd writes its PID file once it listens. A probe connection instead would be its
    // first client, and a non-persistent qemu-nbd exits when that one leaves.
    await waitReady(server, () => pidFileWritten(pidFile));
    return nbdServer(server, exportName, where);
  });
}

/**
 * Debian's nbd-server 3.24 serving `file`, configured by a file. With `-d` (no fork) it serves
 * one client and exits, so it runs as the daemon it is meant to be, found by its PID file.
 * Once daemonized it logs only to syslog: log() holds just what it said before that.
 */
export function startNbdServer(file: string, opts: NbdServerOptions = {}): Promise<NbdServer> {
  const exportName = opts.exportName ?? 'export';
  return listenOn(opts.unix, async (dir, where) => {
    const config = join(dir, 'config');
    const pidFile = join(dir, 'nbd-server.pid');
    const exportLines = { exportname: file, readonly: opts.readOnly ?? false, ...opts.exportConfig };
    writeFileSync(config, [
      '[generic]',
      ...('socket' in where ? [`unixsock = ${where.socket}`] : [`listenaddr = ${LOOPBACK}`, `port = ${where.port}`]),
      'allowlist = true',
      `[${exportName}]`,
      ...Object.entries(exportLines).map(([k, v]) => `${k} = ${String(v)}`),
      '',
    ].join('\n'));
    // No setpriv here: the daemon's fork drops the parent-death signal anyway.
    const { code, output } = await runToExit('nbd-server', ['-C', config, '-p', pidFile], dir);
    // The parent exits as soon as it has forked; the daemon writes the PID file a moment later.
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (code === 0 && !pidFileWritten(pidFile) && Date.now() < deadline) await sleep(10);
    if (!pidFileWritten(pidFile)) {
      const reason = `exit ${code}, no PID file; its config was:\n${readFileSync(config, 'utf8')}`;
      rmSync(dir, { recursive: true, force: true });
      throw startupError('nbd-server', output, reason);
    }
    const server = new Managed('nbd-server', Number(readFileSync(pidFile, 'utf8')), dir);
    server.appendLog(`${output}(nbd-server ${server.pid} logs to syslog from here on)\n`);
    // The PID file comes before the listening socket. nbd-server forks per client, so a probe is harmless.
    await waitReady(server, () => accepts(where));
    return nbdServer(server, exportName, where);
  });
}

function runToExit(command: string, args: string[], cwd: string): Promise<{ code: number | string; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child.once('error', (e) => resolve({ code: e.message, output }));
    child.once('close', (code, signal) => resolve({ code: code ?? signal ?? 'unknown', output }));
  });
}

/** websockify 0.10 on 127.0.0.1, forwarding WebSocket connections to a TCP port or Unix socket. */
export function startWebsockify(target: WebsockifyTarget, opts: WebsockifyOptions = {}): Promise<WebsockifyServer> {
  const to = 'socket' in target ? [`--unix-target=${target.socket}`]
    : 'tokenPlugin' in target ? [`--token-plugin=${target.tokenPlugin}`, `--token-source=${target.tokenSource}`]
    : [];
  const tls = [...(opts.cert ? [`--cert=${opts.cert}`] : []), ...(opts.key ? [`--key=${opts.key}`] : [])];
  return withPort(async (port) => {
    const dir = tempDir();
    const targetAddress = 'port' in target ? [`${target.host ?? LOOPBACK}:${target.port}`] : [];
    const server = launch('websockify', 'websockify',
      [...(opts.extraArgs ?? []), ...tls, ...to, `${LOOPBACK}:${port}`, ...targetAddress], dir);
    await waitReady(server, () => accepts({ port }));
    return Object.assign(server, { port, url: `${opts.cert ? 'wss' : 'ws'}://${LOOPBACK}:${port}/` });
  });
}
