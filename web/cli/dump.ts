// `webnbd dump`: nbddump's output, or with -C hexdump -C's, of an export. Zeroes that block
// status reports are not read; the rest is read with several reads in flight and formatted by
// the SIMD kernel straight into its memory, or, where there is no kernel (or with --threads),
// on several cores (pool.ts) while the main thread reads and writes.

import { availableParallelism } from 'node:os';
import { HexdumpC } from '../core/format/hexdump.js';
import type { LineFormatter } from '../core/format/lines.js';
import { getKernel } from '../core/format/kernel.js';
import { NbdDump } from '../core/format/nbddump.js';
import { COLOUR_OPTIONS, UsageError, oneUri, parse, parseScnu64, parseSize, wantColour } from './args.js';
import { attempt } from '../core/facts.js';
import { TIMEOUT_OPTION, connect, parseTimeout, session, timeoutHelp } from './connect.js';
import type { Command, Io } from './io.js';
import { Buffers } from './buffers.js';
import { FormatPool, type FormatterSpec } from './pool.js';
import { readSegments, type Segment } from './reader.js';
import { NbdPool } from '../core/pool.js';
import type { NbdHandle } from '../node/index.js';

const OPTIONS = {
  length: { type: 'string', short: 'n' },
  limit: { type: 'string' },
  canonical: { type: 'boolean', short: 'C' },
  skip: { type: 'string', short: 's' },
  threads: { type: 'string' },
  connections: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  ...TIMEOUT_OPTION,
  ...COLOUR_OPTIONS,
} as const;

/** Connections through a websockify bridge, where each one is a process of its own (when the server allows multi-conn). */
const BRIDGE_CONNECTIONS = 4;
/** Dumps at least this big are formatted in worker threads. */
const POOL_MIN = 32n << 20n;
/** Kernel memory for the outputs in flight (a few chunks' worth). */
const KERNEL_RESERVE = 64 << 20;
/** Chunks smaller than this are formatted on the main thread. */
const JOB_MIN = 256 << 10;

async function run(argv: string[], io: Io): Promise<number> {
  const { values: v, positionals, tokens } = parse('dump', argv, OPTIONS);
  if (v.help) return io.write(HELP).then(() => 0);
  const uri = oneUri('dump', positionals);
  const hex = v.canonical ?? false;
  const lengthArg = v.length ?? v.limit;
  if (v.skip !== undefined && !hex) throw new UsageError("dump: -s/--skip goes with -C (see 'webnbd dump --help')");
  // nbddump reads -n with sscanf; hexdump -C with util-linux's size parser.
  const limit = lengthArg === undefined ? null : hex ? parseSize(lengthArg) : parseScnu64(lengthArg);
  if (lengthArg !== undefined && limit === null) {
    throw new UsageError(hex ? `dump: failed to parse length: '${lengthArg}'` : `dump: could not parse --length option: ${lengthArg}`);
  }
  const skip = v.skip === undefined ? 0n : parseSize(v.skip);
  if (skip === null) throw new UsageError(`dump: failed to parse offset: '${v.skip}'`);
  const threads = v.threads === undefined ? null : Number(v.threads);
  if (threads !== null && !(Number.isInteger(threads) && threads >= 0 && threads <= 64)) {
    throw new UsageError(`dump: --threads must be a number from 0 to 64: ${v.threads}`);
  }
  const wait = parseTimeout('dump', v.timeout);
  const connections = v.connections === undefined ? (/^nbds?\+wss?:/.test(uri) ? BRIDGE_CONNECTIONS : 1) : Number(v.connections);
  if (!(Number.isInteger(connections) && connections >= 1 && connections <= 16)) {
    throw new UsageError(`dump: --connections must be a number from 1 to 16: ${v.connections}`);
  }
  // hexdump -n 0 prints nothing at all, not even an offset.
  if (hex && limit === 0n) return 0;

  const setup = (h: NbdHandle) => {
    h.addMetaContext('base:allocation');
    h.setPreadInitialize(false);
  };
  const h = await connect(uri, wait, setup);
  // More connections when the server allows multi-conn: reads are spread over them.
  const conns = connections > 1 ? await NbdPool.open(() => connect(uri, wait, setup), { connections, first: h }).catch((e: unknown) => {
    h.close();
    throw e;
  }) : null;
  let pool: FormatPool | null = null;
  const inputs = new Buffers();
  let outputs = new Buffers();
  const dumpAll = async (): Promise<void> => {
    const size = h.getSize();
    // -s past the end: hexdump of a file stops at the end (and prints its size).
    const start = hex ? (skip < size ? skip : size) : 0n;
    const rest = size - start;
    const count = limit !== null && limit < rest ? limit : rest;
    const f: LineFormatter = hex
      ? new HexdumpC({ start, alloc: (n) => outputs.get(n) })
      : new NbdDump({ size, colour: wantColour(tokens, io.isTTY), alloc: (n) => outputs.get(n) });
    const spec: FormatterSpec = hex ? { kind: 'hexdump' } : { kind: 'nbddump', size, colour: wantColour(tokens, io.isTTY) };
    // With the SIMD kernel one thread formats faster than the socket delivers; without it, big
    // dumps are formatted on every core.
    const kernel = getKernel();
    const n = threads ?? (count >= POOL_MIN && !kernel ? Math.min(4, availableParallelism()) : 0);
    if (n > 0) pool = new FormatPool(spec, n, inputs, outputs);
    else if (kernel) {
      kernel.reserve(KERNEL_RESERVE);
      outputs = new Buffers(16, kernel);
    }
    const extents = attempt(() => h.canMetaContext('base:allocation')) ?? false;
    const source = conns ? { getSize: () => size, getBlockSize: (t: number) => h.getBlockSize(t), pread: conns.pread.bind(conns), blockStatus: conns.blockStatus.bind(conns) } : h;
    const reads = readSegments(source, start, count, { extents, alloc: (n) => inputs.get(n), inFlight: 8 * (conns?.connections ?? 1), limit: wait });
    await pipeline(f, pool, reads, io, n, inputs, outputs);
  };
  // After a failure every connection is closed at once (session() does so for `h`): a stalled
  // server would not answer a shutdown either.
  await session(h, wait, async () => {
    let ok = false;
    try {
      await dumpAll();
      ok = true;
    } finally {
      await pool?.close();
      if (ok) await conns?.close();
      else conns?.handles.forEach((c) => c.close());
    }
  });
  return 0;
}

/** Format the segments in order and write them out; at most a few chunks are in the air. */
async function pipeline(
  f: LineFormatter, pool: FormatPool | null, segments: AsyncIterable<Segment>, io: Io, threads: number,
  inputs: Buffers, outputs: Buffers,
): Promise<void> {
  // Outputs in order; their memory is reused once written.
  const queue: Promise<Uint8Array>[] = [];
  const most = 2 * threads + 2;
  const writeOne = async () => {
    const bytes = await queue.shift()!;
    await io.write(bytes);
    outputs.put(bytes);
  };
  const emit = async (out: Uint8Array | Promise<Uint8Array>) => {
    const p = Promise.resolve(out);
    p.catch(() => {}); // awaited in turn by writeOne
    queue.push(p);
    while (queue.length > most) await writeOne();
  };
  for await (const seg of segments) {
    if (io.closed) return;
    if ('zeros' in seg) {
      await emit(f.pushZeros(seg.zeros));
      continue;
    }
    const data = seg.data;
    if (!pool || data.length < JOB_MIN) {
      await emit(f.push(data));
      inputs.put(data);
      continue;
    }
    // The main formatter takes the bytes up to a line boundary and the short tail; the
    // whole lines between go to a worker, which starts from the state before them.
    const head = f.pending ? Math.min(16 - f.pending, data.length) : 0;
    const whole = (data.length - head) & ~15;
    await emit(f.push(data.subarray(0, head)));
    const lines = data.subarray(head, head + whole);
    const state = f.state();
    f.skip(lines);
    await emit(f.push(data.subarray(head + whole)));
    await emit(pool.format(state, lines));
  }
  while (queue.length) await writeOne();
  await io.write(f.end());
}

const HELP = `Usage: webnbd dump [-n N] [--colour|--no-colour] [--timeout=SECONDS] NBD-URI
       webnbd dump -C [-s OFFSET] [-n LENGTH] [--timeout=SECONDS] NBD-URI

Print the content of the export in hex, as nbddump does; with -C, as hexdump -C
does. Ranges that the server reports as zeroes are not read.

  -n, --length=N          dump only the first N bytes (with -C: N bytes from OFFSET)
  --colour, --no-colour   ANSI colours (default: when stdout is a terminal)
  -C, --canonical         hexdump -C's format
  -s, --skip=OFFSET       with -C: start at OFFSET (0x.. hex, 0.. octal, suffixes
                          K M G T P E for powers of 1024, KB MB ... of 1000)
  --threads=N             format in N threads (default: one per core for big dumps)
  --connections=N         read over N connections when the server allows multi-conn
                          (default: 4 through a bridge, nbd+ws://, else 1)
${timeoutHelp()}  -h, --help              show this help
`;

export const dump: Command = {
  summary: 'hexdump the content of an export (nbddump, or hexdump -C with -C)',
  run,
};
