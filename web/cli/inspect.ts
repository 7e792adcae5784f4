// `webnbd inspect DISK|URI`: the disk inspector on your own disk in one command. Starts the NBD
// server (nbdkit for raw images and block devices, qemu-nbd for qcow2 and other formats, nbdkit's
// nbd plugin in front of an nbd:// or nbd+unix:// server), `webnbd bridge` in front of it, and a
// server for the inspector's pages (dist/, with COOP/COEP) on loopback; prints the URL, opens it
// where there is a display, and stops everything on SIGINT, SIGTERM or SIGHUP.

import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { BridgeError, startBridge, type Bridge } from '../../bridge/bridge.js';
import { parse, UsageError } from './args.js';
import { ROOT } from './cc.js';
import { TIMEOUT_OPTION, connect, disconnect, parseTimeout, timeoutHelp } from './connect.js';
import type { Command, Io } from './io.js';

/** The inspector's pages: `npm run build` in a checkout; the package ships them built. */
export const PAGES = join(ROOT, 'dist');

const OPTIONS = {
  rw: { type: 'boolean' },
  format: { type: 'string' },
  port: { type: 'string' },
  'no-open': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  ...TIMEOUT_OPTION,
} as const;

const HELP = `Usage: webnbd inspect [OPTIONS] DISK
       webnbd inspect [OPTIONS] nbd://HOST[:PORT]/EXPORT | nbd+unix:///EXPORT?socket=PATH

Open webnbd's disk inspector (partitions, filesystems, allocation map, hexdump) on DISK: a raw
image or a block device (served by nbdkit), a qcow2 image (by qemu-nbd), or an NBD server
(through nbdkit's nbd plugin). Starts what it needs on 127.0.0.1: the NBD server, a webnbd
bridge, and the inspector's pages on one origin, which the bridge admits. Prints the inspector's
URL and opens it where there is a display. Read-only unless --rw. Ctrl-C (SIGINT), SIGTERM or
SIGHUP stops everything it started.

  --rw            allow writes (the default is read-only)
  --format FMT    the image's format for qemu-nbd (qcow2, vmdk, vhdx, …); raw uses nbdkit.
                  Default: qcow2 when the image starts with qcow2's magic, else raw
  --port PORT     port of the pages (default: a free one)
  --no-open       only print the URL
${timeoutHelp(18)}  -h, --help      show this help
`;

/** The NBD server to run behind the bridge, and how to describe it. */
export interface Serving {
  command: string[];
  what: string;
}

const isNbdUri = (arg: string): boolean => /^nbd(\+unix)?:\/\//i.test(arg);

const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]); // "QFI\xfb"

function startsWithQcow2Magic(file: string): boolean {
  const head = Buffer.alloc(4);
  const fd = openSync(file, 'r');
  try {
    return readSync(fd, head, 0, 4, 0) === 4 && head.equals(QCOW2_MAGIC);
  } finally {
    closeSync(fd);
  }
}

/** What serves `arg`: a URI or a file, read-only unless `rw`. Throws UsageError. */
export function serving(arg: string, rw: boolean, format?: string): Serving {
  const ro = rw ? [] : ['-r'];
  const mode = rw ? 'read-write' : 'read-only';
  if (isNbdUri(arg)) {
    if (format !== undefined) throw new UsageError('inspect: --format is for image files, not NBD URIs');
    return { command: ['nbdkit', ...ro, 'nbd', `uri=${arg}`], what: `${arg} (through nbdkit's nbd plugin, ${mode})` };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(arg)) {
    throw new UsageError(`inspect: ${arg}: give a file, a block device, or an nbd:// or nbd+unix:// URI`);
  }
  if (!existsSync(arg)) throw new UsageError(`inspect: ${arg}: no such file`);
  const st = statSync(arg);
  if (!st.isFile() && !st.isBlockDevice()) throw new UsageError(`inspect: ${arg}: not a file or a block device`);
  const file = resolve(arg);
  let fmt: string;
  try {
    fmt = format ?? (st.isFile() && startsWithQcow2Magic(file) ? 'qcow2' : 'raw');
  } catch (e) {
    throw new UsageError(`inspect: ${arg}: ${(e as NodeJS.ErrnoException).code === 'EACCES' ? 'permission denied' : (e as Error).message}`);
  }
  if (fmt === 'raw') return { command: ['nbdkit', ...ro, 'file', file], what: `${arg} (nbdkit file, ${mode})` };
  if (!/^[a-z0-9]+$/.test(fmt)) throw new UsageError(`inspect: --format ${fmt}: not a format name`);
  // -t: qemu-nbd would otherwise exit when the bridge's check of its socket disconnects.
  return {
    command: ['qemu-nbd', ...(rw ? [] : ['--read-only']), '-t', '-f', fmt, '--socket={socket}', file],
    what: `${arg} (qemu-nbd, ${fmt}, ${mode})`,
  };
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
  '.map': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml',
};

/**
 * The pages, on 127.0.0.1: cross-origin isolated (reads land in SharedArrayBuffers), and
 * embeddable in other sites' iframes, also isolated ones (CORP cross-origin).
 */
export function servePages(dir: string, port: number): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      path = '\0';
    }
    const file = resolve(dir, `.${path === '/' ? '/index.html' : path}`);
    if ((req.method !== 'GET' && req.method !== 'HEAD') || path.includes('\0') || !file.startsWith(dir + sep)) {
      res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 404 : 405).end();
      return;
    }
    readFile(file).then((data) => {
      res.writeHead(200, {
        'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
        'Cross-Origin-Resource-Policy': 'cross-origin',
        'X-Content-Type-Options': 'nosniff',
        'Cache-Control': 'no-cache',
      });
      res.end(req.method === 'HEAD' ? undefined : data);
    }, () => res.writeHead(404).end());
  });
  return new Promise((done, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) => fail(new UsageError(`inspect: cannot listen on 127.0.0.1:${port}: ${e.code === 'EADDRINUSE' ? 'address in use' : e.message}`)));
    server.listen(port, '127.0.0.1', () => done({ server, origin: `http://127.0.0.1:${(server.address() as { port: number }).port}` }));
  });
}

/** Open `url` in the desktop's browser, where there is a desktop. */
export function openUrl(url: string): void {
  if (!process.env['DISPLAY'] && !process.env['WAYLAND_DISPLAY']) return;
  spawn('xdg-open', [url], { stdio: 'ignore', detached: true }).on('error', () => {}).unref();
}

/** Resolves when one of the signals that mean "stop" arrives. */
export function stopSignal(): { signalled: Promise<void>; off(): void } {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  let on = () => {};
  const signalled = new Promise<void>((r) => (on = () => r()));
  for (const s of signals) process.once(s, on);
  return { signalled, off: () => { for (const s of signals) process.off(s, on); } };
}

async function runInspect(argv: string[], io: Io): Promise<number> {
  const { values: v, positionals } = parse('inspect', argv, OPTIONS);
  if (v.help) return io.write(HELP).then(() => 0);
  if (positionals.length !== 1) {
    throw new UsageError(`inspect: ${positionals.length ? 'too many arguments' : 'missing DISK or NBD URI'} (see 'webnbd inspect --help')`);
  }
  const arg = positionals[0]!;
  const port = v.port === undefined ? 0 : Number(v.port);
  if (!/^\d{1,5}$/.test(v.port ?? '0') || port > 65535) throw new UsageError(`inspect: --port ${v.port}: not a port number`);
  const target = serving(arg, v.rw ?? false, v.format);
  if (!existsSync(join(PAGES, 'index.html'))) throw new UsageError("inspect: the inspector's pages are not built: run 'npm run build' in the webnbd checkout");
  // Fail now, with libnbd's words, rather than when the page connects.
  if (isNbdUri(arg)) {
    const limit = parseTimeout('inspect', v.timeout);
    await disconnect(await connect(arg, limit), limit);
  }

  // From here on a signal stops what has started (a signal during start-up, once it has).
  const stop = stopSignal();
  try {
    const { server, origin } = await servePages(PAGES, port);
    const closePages = () => new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
    let bridge: Bridge;
    try {
      bridge = await startBridge({
        target: { command: target.command },
        origins: [origin, origin.replace('127.0.0.1', 'localhost')],
        // The server's output, and the bridge's lines on limits and restarts (not each admitted client).
        log: (from, text) => { if (from === 'server' || !/: admitted$/m.test(text)) process.stderr.write(text); },
      });
    } catch (e) {
      await closePages();
      if (e instanceof BridgeError) throw new UsageError(`inspect: ${e.message}`);
      throw e;
    }
    const uri = bridge.uris[0]!;
    const url = `${origin}/?src=${encodeURIComponent(uri)}`;
    await io.write(`webnbd: ${target.what} at ${uri}\nwebnbd: inspector at ${url}\nwebnbd: press Ctrl-C to stop\n`);
    if (!v['no-open']) openUrl(url);
    const why = await Promise.race([bridge.exited, stop.signalled.then(() => null)]);
    await Promise.allSettled([bridge.close(), closePages()]);
    if (why === null) return 0;
    io.err(`webnbd: inspect: ${why}`);
    return 1;
  } finally {
    stop.off();
  }
}

export const inspect: Command = { summary: 'open the disk inspector on a disk image, a block device or an NBD server', run: runInspect };
