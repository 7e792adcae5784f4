// `webnbd info` and `webnbd list`: nbdinfo --no-content and nbdinfo --list. The handle works in
// opt mode, as nbdinfo's does: NBD_OPT_INFO (or NBD_OPT_GO) per export, then the getters.

import type { NbdHandle } from '../node/index.js';
import type { CommandOptions } from '../core/types.js';
import { connectionInfo, describeExport, exportInfo } from '../core/facts.js';
import { formatInfo, formatList, type ExportInfo } from '../core/format/nbdinfo.js';
import { COLOUR_OPTIONS, oneUri, parse, wantColour } from './args.js';
import { TIMEOUT_OPTION, connect, parseTimeout, session, timeoutHelp } from './connect.js';
import type { Command, Io } from './io.js';

const OPTIONS = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, ...TIMEOUT_OPTION, ...COLOUR_OPTIONS } as const;

/**
 * nbdinfo's show_one_export: ask for the export's details and read them back. On failure the
 * error goes to stderr and the result is null (the other exports are still shown).
 */
async function queryExport(h: NbdHandle, io: Io, listed: { description: string } | null, limit: CommandOptions): Promise<ExportInfo | null> {
  try {
    await describeExport(h, limit);
  } catch (e) {
    // A server that stopped answering answers no other export either.
    if ((e as { code?: string }).code === 'ETIMEDOUT') throw e;
    const name = h.getExportName();
    io.err(`webnbd: ${(e as Error).message}${name === '' ? ' for the default export' : ` for export: ${name}`}`);
    if (!listed) io.err("webnbd: suggestion: to list all exports on the server, use 'webnbd list'");
    return null;
  }
  return exportInfo(h, listed, limit);
}

async function run(cmd: 'info' | 'list', argv: string[], io: Io): Promise<number> {
  const { values: v, positionals, tokens } = parse(cmd, argv, OPTIONS);
  if (v.help) return io.write(cmd === 'info' ? INFO_HELP : LIST_HELP).then(() => 0);
  const uri = oneUri(cmd, positionals);
  const opts = { json: v.json ?? false, colour: !v.json && wantColour(tokens, io.isTTY) };
  const limit = parseTimeout(cmd, v.timeout);
  const h = await connect(uri, limit, (h) => {
    h.setOptMode(true);
    h.setFullInfo(true);
  });
  let ok = true;
  const text = await session(h, limit, async () => {
    if (cmd === 'info') {
      const exp = await queryExport(h, io, null, limit);
      ok = exp !== null;
      return formatInfo(connectionInfo(h), exp, opts);
    } else {
      const listed: { name: string; description: string }[] = [];
      await h.optList((name, description) => { listed.push({ name, description }); }, limit);
      const conn = connectionInfo(h);
      const exports: (ExportInfo | null)[] = [];
      for (const e of listed) {
        h.setExportName(e.name);
        const exp = await queryExport(h, io, e, limit);
        ok &&= exp !== null;
        exports.push(exp);
      }
      return formatList(conn, exports, opts);
    }
  });
  // Like nbdinfo, print only once everything is known.
  await io.write(text);
  return ok ? 0 : 1;
}

const INFO_HELP = `Usage: webnbd info [--json] [--colour|--no-colour] [--timeout=SECONDS] NBD-URI

Show what the NBD server says about the export: its size, flags, block sizes and
metadata contexts, as nbdinfo --no-content does.

  --json                  print JSON instead of text
  --colour, --no-colour   ANSI colours (default: when stdout is a terminal)
${timeoutHelp()}  -h, --help              show this help
`;

const LIST_HELP = `Usage: webnbd list [--json] [--colour|--no-colour] [--timeout=SECONDS] NBD-URI

List every export of the NBD server with its details, as nbdinfo --list does.
The export name in the URI is ignored.

  --json                  print JSON instead of text
  --colour, --no-colour   ANSI colours (default: when stdout is a terminal)
${timeoutHelp()}  -h, --help              show this help
`;

export const info: Command = {
  summary: 'show information about an export (nbdinfo --no-content)',
  run: (argv, io) => run('info', argv, io),
};

export const list: Command = {
  summary: 'list the exports of a server (nbdinfo --list)',
  run: (argv, io) => run('list', argv, io),
};
