// `webnbd copy SRC DST`: nbdcopy, with its option names and decisions (copy/main.c): NBD URIs,
// local files and block devices, `-` (pipes) and null:; multi-conn when both ends allow it; a
// destination file is emptied first so zero runs need not be written; pipes are copied in order.

import { NbdError } from '../core/errors.js';
import { UsageError, parse } from './args.js';
import { isNbdUri, openLocal, openNbd, openNull, truncateFile, type End } from './copy-ends.js';
import { CopyError, parallelCopy, synchronousCopy } from './copy-loop.js';
import type { Command, Io } from './io.js';
import type { CommandOptions } from '../core/types.js';
import { TIMEOUT_OPTION, parseTimeout } from './connect.js';

const OPTIONS = {
  allocated: { type: 'boolean' },
  connections: { type: 'string', short: 'C' },
  'destination-is-zero': { type: 'boolean' },
  'target-is-zero': { type: 'boolean' },
  flush: { type: 'boolean' },
  'no-extents': { type: 'boolean' },
  progress: { type: 'string' },
  'queue-size': { type: 'string' },
  'request-size': { type: 'string' },
  requests: { type: 'string', short: 'R' },
  sparse: { type: 'string', short: 'S' },
  synchronous: { type: 'boolean' },
  threads: { type: 'string', short: 'T' },
  help: { type: 'boolean', short: 'h' },
  ...TIMEOUT_OPTION,
} as const;

const MIN_REQUEST_SIZE = 4096;
const MAX_REQUEST_SIZE = 32 << 20;

/** sscanf("%u"): leading digits (after blanks), the rest ignored; null when there are none. */
function scanU(s: string): number | null {
  const m = /^\s*\+?(\d+)/.exec(s);
  return m ? Number(BigInt(m[1]!) % (1n << 32n)) : null;
}

const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

/** nbdcopy's --progress has an optional value: `-p` and `--progress` alone mean the bar. */
function splitProgress(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return out.concat(argv.slice(i));
    if (a === '--progress' || a === '-p') out.push('--progress=');
    else out.push(a);
  }
  return out;
}

interface Settings {
  connections: number;
  requests: number;
  requestSize: number;
  queueSize: number;
  sparse: number;
  threads: number;
  progressFd: number | null;
  progress: boolean;
}

function settings(v: Record<string, string | boolean | undefined>): Settings {
  const num = (name: string, dflt: number, ok: (n: number) => boolean = () => true): number => {
    const s = v[name] as string | undefined;
    if (s === undefined) return dflt;
    const n = scanU(s);
    if (n === null || !ok(n)) throw new UsageError(`copy: --${name}: could not parse: ${s}`);
    return n;
  };
  const requestSize = num('request-size', 2 << 20);
  if (requestSize < MIN_REQUEST_SIZE || requestSize > MAX_REQUEST_SIZE || !isPow2(requestSize)) {
    throw new UsageError(`copy: --request-size: must be a power of 2 within ${MIN_REQUEST_SIZE}-${MAX_REQUEST_SIZE}`);
  }
  const sparse = num('sparse', 4096);
  if (sparse !== 0 && (sparse < 512 || !isPow2(sparse))) throw new UsageError('copy: --sparse: must be a power of 2 and >= 512');
  let progressFd: number | null = null;
  const p = v.progress as string | undefined;
  if (p !== undefined && p !== '') {
    const m = /^\s*([+-]?\d+)/.exec(p);
    progressFd = m ? Number(m[1]) : -1;
    if (progressFd < 0) throw new UsageError(`copy: --progress: could not parse: ${p}`);
  }
  return {
    connections: num('connections', 4, (n) => n > 0),
    requests: num('requests', 64, (n) => n > 0),
    requestSize,
    queueSize: num('queue-size', 32 << 20),
    sparse,
    threads: num('threads', 0),
    progressFd,
    progress: p !== undefined,
  };
}

/** nbdcopy's progress bar: on stderr, or "N/100" lines on a file descriptor. */
async function progressBar(s: Settings): Promise<(pos: bigint, size: bigint) => void> {
  if (!s.progress) return () => {};
  const { writeSync } = await import('node:fs');
  const spinner = ['▝', '▐', '▗', '▃', '▖', '▍', '▘', '▀'];
  let spin = 0;
  let finished = false;
  return (pos, size) => {
    if (size === 0n || finished) return;
    const frac = Math.min(1, Math.max(0, Number(pos) / Number(size)));
    let msg: string;
    if (s.progressFd !== null) msg = frac === 1 ? '100/100\n' : `${Math.trunc(100 * frac)}/100\n`;
    else if (frac === 1) {
      msg = `█ 100% [${'*'.repeat(40)}]\n`;
      finished = true;
    } else {
      const stars = Math.ceil(40 * frac);
      msg = `${spinner[spin]} ${String(Math.trunc(100 * frac)).padStart(3)}% [${'*'.repeat(stars)}${'-'.repeat(40 - stars)}]\r`;
      spin = (spin + 1) % spinner.length;
    }
    try { writeSync(s.progressFd ?? 2, msg); } catch { /* as nbdcopy: the bar is not worth failing for */ }
  };
}

async function open(name: string, writing: boolean, io: Io, limit: CommandOptions): Promise<End> {
  if (writing && name === 'null:') return openNull(name);
  return isNbdUri(name) ? openNbd(name, writing, limit) : openLocal(name, writing, io);
}

/** The message of a failure, nbdcopy's way: "END: what at offset N: error". */
function message(e: unknown, side: string): string {
  if (e instanceof CopyError) return e.message;
  if (e instanceof NbdError) return e.context === 'copy' ? e.message.slice('copy: '.length) : `${side}: ${e.message}`;
  return `${side}: ${e instanceof Error ? e.message : String(e)}`;
}

async function run(argv: string[], io: Io): Promise<number> {
  const { values: v, positionals } = parse('copy', splitProgress(argv), OPTIONS);
  if (v.help) return io.write(HELP).then(() => 0);
  // Only the handshake is bounded: a copy's reads and writes are as nbdcopy's, without a deadline.
  const limit = parseTimeout('copy', v.timeout);
  if (positionals.length !== 2) {
    throw new UsageError(`copy: ${positionals.length < 2 ? 'missing SOURCE or DESTINATION' : 'too many arguments'} (see 'webnbd copy --help')`);
  }
  const [srcName, dstName] = positionals as [string, string];
  if (srcName === 'null:') throw new UsageError("copy: null: can only be the destination (see 'webnbd copy --help')");
  const s = settings(v);
  const progress = await progressBar(s);
  const ac = new AbortController();
  let src: End | null = null;
  let dst: End | null = null;
  let side = srcName;
  let done = 0n;
  const interrupted = () => {
    io.err(`webnbd copy: interrupted${src?.size ? ` after ${done} of ${src.size} bytes` : ''}: ${dstName} is incomplete`);
    process.removeListener('SIGINT', interrupted);
    process.kill(process.pid, 'SIGINT');
  };
  process.on('SIGINT', interrupted);
  try {
    src = await open(srcName, false, io, limit);
    side = dstName;
    dst = await open(dstName, true, io, limit);
    if (dst.readOnly) throw new NbdError(0, 'copy', `${dstName}: the destination is read-only, cannot write to it`);
    const synchronous = v.synchronous === true || src.kind === 'pipe' || dst.kind === 'pipe';
    let connections = src.multiConn && dst.multiConn ? s.connections : 1;
    if (s.threads > 0 && s.threads < connections) connections = s.threads;
    if (synchronous) connections = 1;
    let destinationIsZero = v['destination-is-zero'] === true || v['target-is-zero'] === true;
    if (dst.kind === 'file') {
      // As nbdcopy's file_truncate: emptied, then the source's size, so all zeroes already. From
      // a pipe (size unknown) just emptied, where nbdcopy 1.14 fails (ftruncate to -1).
      await truncateFile(dstName, dst, src.size ?? 0n);
      destinationIsZero = true;
    }
    if (src.size !== null && dst.size !== null && src.size > dst.size) {
      throw new NbdError(0, 'copy', 'error: destination size is smaller than source size');
    }
    side = srcName;
    await src.extend(connections);
    side = dstName;
    await dst.extend(connections);
    side = srcName;
    // As nbdcopy: requests at least the preferred block size of both ends, and zero detection
    // in blocks no smaller than the destination's; beyond nbdcopy, no larger than an end takes.
    let requestSize = Math.max(s.requestSize, src.preferred, dst.preferred);
    while (requestSize > Math.min(src.maximum, dst.maximum) && requestSize > MIN_REQUEST_SIZE) requestSize /= 2;
    const sparse = s.sparse > 0 ? Math.max(s.sparse, dst.preferred) : 0;
    const perConnection = Math.max(1, Math.min(s.requests, Math.floor(Math.max(s.queueSize, requestSize) / requestSize)));
    const o = {
      requestSize,
      inFlight: perConnection * connections,
      allocated: v.allocated === true,
      destinationIsZero,
      sparse,
      progress: (pos: bigint, size: bigint) => { done = pos; progress(pos, size); },
      signal: ac.signal,
    };
    if (v['no-extents']) src.extents = async () => null;
    o.progress(0n, src.size ?? 0n);
    if (synchronous) await synchronousCopy(src, dst, o);
    else await parallelCopy(src, dst, o);
    o.progress(src.size ?? 0n, src.size ?? 0n);
    if (v.flush) {
      side = dstName;
      await dst.flush();
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
    io.err(`webnbd copy: ${message(e, side)}`);
    return 1;
  } finally {
    process.removeListener('SIGINT', interrupted);
    await Promise.all([src?.close(), dst?.close()].map((p) => p?.catch(() => {})));
  }
  return 0;
}

const HELP = `Usage: webnbd copy [--allocated] [-C N|--connections=N]
            [--destination-is-zero|--target-is-zero] [--flush]
            [--no-extents] [-p|--progress|--progress=FD]
            [--queue-size=N] [--request-size=N] [-R N|--requests=N]
            [-S N|--sparse=N] [--synchronous] [-T N|--threads=N]
            SOURCE DESTINATION

  SOURCE, DESTINATION := - | FILE | DEVICE | NBD-URI
  DESTINATION += null:

Copy to and from an NBD server, as nbdcopy does. NBD-URI is nbd://, nbd+unix://,
or nbd+ws:// and nbds+wss:// through a websockify bridge. Runs that the source
reports as zeroes are not read, and are zeroed at the destination (skipped when
it is known to be zero: --destination-is-zero, or a file, which is emptied
first); blocks of zeroes in the data are zeroed rather than written.

  --allocated             write zeroes that allocate space, never holes
  -C, --connections=N     NBD connections when both ends allow multi-conn (4)
  --destination-is-zero   the destination is zero already: skip zero runs
  --flush                 flush the destination at the end
  --no-extents            do not ask the source which runs are zeroes
  -p, --progress          progress bar on stderr
  --progress=FD           "N/100" lines on file descriptor FD
  --queue-size=N          bytes in flight per connection (32 MiB)
  --request-size=N        bytes per request, a power of 2 (2 MiB)
  -R, --requests=N        requests in flight per connection (64)
  -S, --sparse=N          block size for finding zeroes in data, 0: off (4096)
  --synchronous           one request at a time, in order
  -T, --threads=N         at most N connections
  --timeout=SECONDS       give up when a server does not finish the handshake in
                          SECONDS (default: 30; 0: wait for ever)
  -h, --help              show this help
`;

export const copy: Command = {
  summary: 'copy between NBD exports, files, block devices and pipes (nbdcopy)',
  run,
};
