// `webnbd bridge`: a WebSocket server in front of one NBD server, so a web page (or webnbd in Node)
// can speak NBD over a WebSocket. It admits nobody without its secret token and an allowed Origin,
// bounds what each client may hold, and shields the server from clients that vanish mid-reply.
// startBridge() is the same for tests, `npm start` and `webnbd inspect`.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { listen, sameSecret, type Endpoint, type Limits, type Listener } from './listener.js';
import { fail, serverArgv, superviseServer, type Supervised } from './server-process.js';

export { BridgeError } from './server-process.js';
export { bridgeCommand, parseBridgeArgs } from './command.js';
export type { Limits } from './listener.js';

/** Where the bridge forwards to. It is fixed by the operator: the client never chooses. */
export type BridgeTarget =
  | { unix: string }
  | { host: string; port: number }
  /** websockify's TokenFile format: lines `token: host:port` or `token: unix_socket:/path`; each token is a secret. */
  | { tokenFile: string }
  /** An NBD server the bridge runs on a private Unix socket, restarts if it dies, and stops when it stops. */
  | { command: string[] };

export interface BridgeOptions {
  target: BridgeTarget;
  /** Default 127.0.0.1; port 0 (the default) picks a free port. */
  listen?: { host?: string; port?: number };
  /** Page origins allowed to open WebSockets (exact match). Default: the bridge's own origin. */
  origins?: string[];
  /** The secret clients give as `?token=`. Default: 192 random bits. Not with a tokenFile target. */
  token?: string;
  /** A file of secrets, one per line, each admitting a client (instead of `token`). */
  secretFile?: string;
  /** PEM certificate (and key, unless in `cert`): wss:// only, plain ws:// is refused. */
  cert?: string;
  key?: string;
  /** PEM CA: only clients with a certificate it signed may connect (needs `cert`). */
  clientCa?: string;
  /** A directory the bridge serves over HTTP(S) on the same port. */
  web?: string;
  /** Bounds on each client; each has a default (DEFAULT_LIMITS). */
  limits?: Partial<Limits>;
  /** The first wait before restarting a server command that died (default 0.5 s; it doubles up to 30 s). */
  restartMs?: number;
  /** The bridge's log lines and the NBD server's output, as they come. Default: dropped. */
  log?: (from: 'bridge' | 'server', text: string) => void;
}

export const DEFAULT_LIMITS: Limits = {
  upgradeMs: 10_000,
  handshakeMs: 15_000,
  idleMs: 15 * 60_000,
  drainMs: 30_000,
  connections: 256,
  perAddress: 64,
  unreadBytes: 8 << 20,
  maxPayload: (64 << 20) + 32, // webnbd's largest request: a 64 MiB write and its header
};

export interface Bridge {
  readonly host: string;
  readonly port: number;
  /** `ws://HOST:PORT/` or `wss://HOST:PORT/`, without the token. */
  readonly url: string;
  /** What to give webnbd: `nbd+ws://HOST:PORT/?token=…` (or nbds+wss://), one per token of a token file. */
  readonly uris: string[];
  /** The secret, unless the bridge was given a token file or a secrets file. */
  readonly token?: string;
  readonly origins: string[];
  /** The directory served over HTTP(S), if any. */
  readonly web?: string;
  /** The PID of the NBD server the bridge runs (it changes when the server is restarted). */
  serverPid(): number | undefined;
  /** Settles once the bridge has stopped: null after close(), else why it gave up. */
  readonly exited: Promise<string | null>;
  /** Stops listening, ends every connection, stops the NBD server it runs, removes its directory. */
  close(): Promise<void>;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1']);
const bracket = (host: string): string => (host.includes(':') ? `[${host}]` : host);
const isWildcard = (address: string) => address === '0.0.0.0' || address === '::';
const isLoopback = (address: string) => address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
const STRERROR: Record<string, string> = {
  EADDRINUSE: 'Address already in use', EADDRNOTAVAIL: 'Cannot assign requested address', EACCES: 'Permission denied',
  ENOTFOUND: 'Name or service not known',
};

/** The lines of a token file (a file or a directory of files), as websockify's TokenFile reads them. */
function tokenLines(source: string): { token: string; target: string; where: string }[] {
  const files = statSync(source).isDirectory() ? readdirSync(source).map((f) => join(source, f)) : [source];
  return files.flatMap((file) => readFileSync(file, 'utf8').split('\n').flatMap((raw, i) => {
    const line = raw.trim();
    return !line || line.startsWith('#') ? [] : [{ line, where: `${file}:${i + 1}` }];
  }).map(({ line, where }) => {
    const parts = line.split(/:\s/); // websockify: re.split(':\s', line), exactly two parts
    if (parts.length !== 2) fail(`${where}: expected "token: host:port" or "token: unix_socket:/path"`);
    return { token: parts[0]!, target: parts[1]!.trim(), where };
  }));
}

function endpointOf(target: string, where: string): Endpoint {
  if (target.startsWith('unix_socket:')) {
    if (target.lastIndexOf(':') !== 11) fail(`${where}: a socket path cannot contain ':' (websockify's format splits there)`);
    return { unix: target.slice(12) };
  }
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(target);
  if (!m) return fail(`${where}: the target "${target}" is not host:port or unix_socket:/path`);
  return { host: m[1] ?? m[2]!, port: Number(m[3]) };
}

/** The tokens of a token file, checked as the bridge will use them. Throws BridgeError. */
export function readTokens(source: string): string[] {
  const lines = tokenLines(source);
  for (const l of lines) endpointOf(l.target, l.where);
  if (lines.length === 0) fail(`${source}: no tokens`);
  return lines.map((l) => l.token);
}

/** Secrets, one per line (blank lines and # comments skipped). */
function readSecrets(file: string): string[] {
  const secrets = readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  if (secrets.length === 0) fail(`--token-file ${file}: no tokens`);
  return secrets;
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

function check(opts: BridgeOptions): void {
  const files = {
    '--cert': opts.cert, '--key': opts.key, '--client-ca': opts.clientCa, '--token-file': opts.secretFile,
    '--token-file ': 'tokenFile' in opts.target ? opts.target.tokenFile : undefined,
  };
  for (const [what, path] of Object.entries(files)) {
    if (path !== undefined && !existsSync(path)) fail(`${what.trim()} ${path}: no such file`);
  }
  if (opts.web !== undefined && !(existsSync(opts.web) && statSync(opts.web).isDirectory())) fail(`--web ${opts.web}: no such directory`);
  if (opts.key && !opts.cert) fail('--key needs --cert');
  if (opts.clientCa && !opts.cert) fail('--client-ca needs --cert');
  if (opts.token !== undefined && opts.token.length === 0) fail('--token: empty');
  if ('tokenFile' in opts.target && (opts.token !== undefined || opts.secretFile)) fail('a token file of targets carries its own tokens: no --token');
  if (opts.cert) {
    try {
      createSecureContext({ cert: readFileSync(opts.cert), key: readFileSync(opts.key ?? opts.cert) });
    } catch (e) {
      fail(`--cert ${opts.cert}${opts.key ? ` --key ${opts.key}` : ''}: ${(e as Error).message}`);
    }
  }
  if ('command' in opts.target) serverArgv(opts.target.command, PLACEHOLDER_CHECK);
}
const PLACEHOLDER_CHECK = '/nonexistent/nbd.sock';

/** Listens, then starts the NBD server for a command target. Throws BridgeError. */
export async function startBridge(opts: BridgeOptions): Promise<Bridge> {
  check(opts);
  const tls = opts.cert !== undefined;
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const say = (line: string) => opts.log?.('bridge', `webnbd bridge: ${line}\n`);
  const t = opts.target;
  const tokenFile = 'tokenFile' in t ? resolve(t.tokenFile) : undefined;
  const fileTokens = tokenFile ? readTokens(tokenFile) : [];
  const secrets = opts.secretFile ? readSecrets(opts.secretFile) : undefined;
  const token = tokenFile || secrets ? undefined : (opts.token ?? randomBytes(24).toString('base64url'));
  const allowed = opts.origins?.length ? opts.origins.map(normalizeOrigin) : undefined;
  const dir = 'command' in t ? mkdtempSync(join(tmpdir(), 'webnbd-bridge-')) : undefined;
  const fixed: Endpoint | undefined = 'unix' in t ? { unix: resolve(t.unix) } : 'host' in t ? { host: t.host, port: t.port }
    : dir ? { unix: join(dir, 'nbd.sock') } : undefined;

  const admit = (given: string | null): Endpoint | null => {
    if (given === null) return null;
    if (tokenFile) {
      let found: Endpoint | null = null;
      try {
        // Read for every connection, as websockify does: lines can be added while the bridge runs.
        for (const l of tokenLines(tokenFile)) if (sameSecret(l.token, given) && !found) found = endpointOf(l.target, l.where);
      } catch (e) {
        say(`${(e as Error).message}; refused`);
        return null;
      }
      return found;
    }
    let ok = false;
    for (const s of secrets ?? [token!]) ok = sameSecret(s, given) || ok; // every one compared: no early exit
    return ok ? fixed! : null;
  };

  let origins: string[] = [];
  const host = opts.listen?.host ?? '127.0.0.1';
  let listener: Listener;
  try {
    listener = await listen({
      host, port: opts.listen?.port ?? 0, admit, origins: () => origins, limits, log: say,
      ...(opts.web !== undefined ? { web: resolve(opts.web) } : {}),
      ...(tls ? { tls: {
        cert: readFileSync(opts.cert!), key: readFileSync(opts.key ?? opts.cert!),
        ...(opts.clientCa ? { ca: readFileSync(opts.clientCa) } : {}),
      } } : {}),
    });
  } catch (e) {
    if (dir) rmSync(dir, { recursive: true, force: true });
    const err = e as NodeJS.ErrnoException;
    return fail(`cannot listen on ${bracket(host)}:${opts.listen?.port ?? 0}: ${STRERROR[err.code ?? ''] ?? err.message}`);
  }
  const { port, address } = listener;
  // Decided by the address actually bound, however it was spelled (0, 0.0.0.00, [::0], …).
  if (!allowed && isWildcard(address)) {
    await listener.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    fail(`listening on "${host}" (every address), the bridge has no origin of its own: give --origin URL`);
  }
  const scheme = tls ? 'https' : 'http';
  origins = allowed ?? [...new Set((isLoopback(address) || LOOPBACK_NAMES.has(host) ? ['localhost', '127.0.0.1', '[::1]'] : [bracket(host), bracket(address)])
    .map((h) => new URL(`${scheme}://${h}:${port}`).origin))];

  let server: Supervised | undefined;
  if ('command' in t) {
    try {
      server = await superviseServer(t.command, dir!, say, (text) => opts.log?.('server', text), opts.restartMs);
    } catch (e) {
      await listener.close();
      rmSync(dir!, { recursive: true, force: true });
      throw e;
    }
  }

  let closing: Promise<void> | undefined;
  const stopAll = () => (closing ??= (async () => {
    await listener.close();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  })());
  let closed = false;
  let onClose!: (v: null) => void;
  const closedSignal = new Promise<null>((r) => (onClose = r));
  const exited = (async () => {
    const why = server ? await Promise.race([server.gaveUp, closedSignal]) : await closedSignal;
    await stopAll();
    return closed ? null : why;
  })();

  const hostPart = bracket(isWildcard(address) ? hostname() : host);
  const base = `${tls ? 'nbds+wss' : 'nbd+ws'}://${hostPart}:${port}/`;
  const withToken = (tok: string) => `${base}?token=${encodeURIComponent(tok)}`;
  return {
    host,
    port,
    url: `${tls ? 'wss' : 'ws'}://${hostPart}:${port}/`,
    uris: tokenFile ? fileTokens.map(withToken) : secrets ? secrets.map(withToken) : [withToken(token!)],
    ...(token !== undefined ? { token } : {}),
    origins,
    ...(opts.web !== undefined ? { web: resolve(opts.web) } : {}),
    serverPid: () => server?.pid(),
    exited,
    async close() {
      closed = true;
      onClose(null);
      await stopAll();
    },
  };
}
