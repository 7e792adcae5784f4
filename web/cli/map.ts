// `webnbd map`: nbdinfo --map[=CONTEXT] [--totals]. Block status from offset 0 to the end of the
// export, in requests of up to 4 GiB as nbdinfo makes them, printed once all is known.

import type { NbdHandle } from '../node/index.js';
import { formatMap, formatMapTotals, type MapExtent } from '../core/format/nbdinfo.js';
import { SIZE_MINIMUM, type CommandOptions } from '../core/types.js';
import { COLOUR_OPTIONS, UsageError, oneUri, parse, wantColour } from './args.js';
import { TIMEOUT_OPTION, connect, parseTimeout, session, timeoutHelp } from './connect.js';
import type { Command, Io } from './io.js';

const OPTIONS = {
  json: { type: 'boolean' },
  totals: { type: 'boolean' },
  total: { type: 'boolean' },
  context: { type: 'string', short: 'x' },
  help: { type: 'boolean', short: 'h' },
  ...TIMEOUT_OPTION,
  ...COLOUR_OPTIONS,
} as const;

/** A failure nbdinfo reports in its own words (not an NbdError). */
class MapError extends Error {}

/** Every extent of `context`, from offset 0 to `size`. */
export async function fetchExtents(h: NbdHandle, context: string, size: bigint, limit?: CommandOptions): Promise<MapExtent[]> {
  const align = BigInt(h.getBlockSize(SIZE_MINIMUM) || 512);
  const maxLen = 0xffffffffn - align + 1n;
  const extents: MapExtent[] = [];
  for (let offset = 0n; offset < size;) {
    const before = extents.length;
    const count = size - offset < maxLen ? size - offset : maxLen;
    await h.blockStatus(count, offset, (name, _off, entries) => {
      if (name !== context) return 0;
      for (let i = 0; i + 1 < entries.length; i += 2) extents.push({ length: entries[i]!, type: entries[i + 1]! });
      return 0;
    }, 0, limit);
    if (extents.length === before) throw new MapError('--map: server did not return any extents');
    for (let i = before; i < extents.length; i++) offset += BigInt(extents[i]!.length);
  }
  return extents;
}

async function run(argv: string[], io: Io): Promise<number> {
  // nbdinfo spells the context --map=CONTEXT.
  argv = argv.map((a) => a.replace(/^--map=/, '--context='));
  const { values: v, positionals, tokens } = parse('map', argv, OPTIONS);
  if (v.help) return io.write(HELP).then(() => 0);
  const uri = oneUri('map', positionals);
  const context = v.context ?? 'base:allocation';
  if (context === '') throw new UsageError("map: --context needs a metadata context name (see 'webnbd map --help')");
  const opts = { json: v.json ?? false, colour: !v.json && wantColour(tokens, io.isTTY), context };
  const wait = parseTimeout('map', v.timeout);
  const h = await connect(uri, wait, (h) => h.addMetaContext(context));
  let text: string;
  try {
    text = await session(h, wait, async () => {
      if (!h.canMetaContext(context)) throw new MapError(`--map: server does not support metadata context "${context}"`);
      const size = h.getSize();
      const extents = await fetchExtents(h, context, size, wait);
      return v.totals || v.total ? formatMapTotals(extents, size, opts) : formatMap(extents, opts);
    });
  } catch (e) {
    if (e instanceof MapError) {
      io.err(`webnbd: ${e.message}`);
      return 1;
    }
    throw e;
  }
  await io.write(text);
  return 0;
}

const HELP = `Usage: webnbd map [--json] [--totals] [-x CONTEXT] [--colour|--no-colour] [--timeout=SECONDS] NBD-URI

Show which parts of the export are data, holes or zeroes (or another metadata
context), as nbdinfo --map does: offset, length, type and its description.

  --totals                total bytes and percentage of the export per type
  --json                  print JSON instead of text
  -x, --context=CONTEXT   the metadata context to map (default: base:allocation),
                          e.g. qemu:dirty-bitmap:NAME or qemu:allocation-depth;
                          --map=CONTEXT, as nbdinfo spells it, works too
  --colour, --no-colour   ANSI colours (default: when stdout is a terminal)
${timeoutHelp()}  -h, --help              show this help
`;

export const map: Command = {
  summary: 'show the allocation map of an export (nbdinfo --map)',
  run,
};
