// `webnbd info` and `webnbd list`: nbdinfo --no-content and nbdinfo --list. The handle works in
// opt mode, as nbdinfo's does: NBD_OPT_INFO (or NBD_OPT_GO) per export, then the getters.

import type { NbdHandle } from '../node/index.js';
import type { CommandOptions } from '../core/types.js';
import { connectionInfo, describeExport, exportInfo } from '../core/facts.js';
import { formatInfo, formatList, type ExportInfo } from '../core/format/nbdinfo.js';
import { COLOUR_OPTIONS, UsageError, oneUri, parse, wantColour } from './args.js';
import { TIMEOUT_OPTION, connect, disconnect, parseTimeout, session, timeoutHelp } from './connect.js';
import type { Command, Io } from './io.js';
import { runQuery, wantsQuery, type Query } from './info-query.js';

const OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  content: { type: 'boolean' },
  'no-content': { type: 'boolean' },
  size: { type: 'boolean' },
  uri: { type: 'boolean' },
  is: { type: 'string' },
  isnt: { type: 'string' },
  can: { type: 'string' },
  cannot: { type: 'string' },
  has: { type: 'string' },
  hasnt: { type: 'string' },
  ...TIMEOUT_OPTION,
  ...COLOUR_OPTIONS,
} as const;

type Values = ReturnType<typeof parse<typeof OPTIONS>>['values'];

/** The one-question modes asked for (the last --is/--can/... given wins, as getopt's). */
function query(v: Values): Query {
  const can = v.is ?? v.can;
  const cannot = v.isnt ?? v.cannot;
  return {
    size: v.size ?? false,
    uri: v.uri ?? false,
    can: can !== undefined ? { want: true, what: can } : cannot !== undefined ? { want: false, what: cannot } : null,
    has: v.has !== undefined ? { want: true, context: v.has } : v.hasnt !== undefined ? { want: false, context: v.hasnt } : null,
  };
}

/**
 * nbdinfo's get_content: what `file -b` says of the first 8 KiB (after NBD_OPT_GO, so last).
 * Without file(1), or when the read fails, there is no content line.
 */
async function content(h: NbdHandle, size: bigint): Promise<string | undefined> {
  const [{ execFile }, { mkdtemp, rm, writeFile }, { tmpdir }, { join }] = await Promise.all([
    import('node:child_process'), import('node:fs/promises'), import('node:os'), import('node:path'),
  ]);
  try {
    if (h.aioIsNegotiating()) await h.optGo();
    const buf = new Uint8Array(Number(size < 8192n ? size : 8192n));
    if (buf.length) await h.pread(buf, 0);
    const dir = await mkdtemp(join(tmpdir(), 'webnbd-'));
    try {
      await writeFile(join(dir, 'first-sectors'), buf);
      const out = await new Promise<string>((resolve) => {
        execFile('file', ['-b', join(dir, 'first-sectors')], (e, stdout) => resolve(e ? '' : stdout));
      });
      const line = out.split('\n')[0];
      return out === '' ? undefined : line;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  } catch {
    return undefined;
  }
}

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
  const limit = parseTimeout(cmd, v.timeout);
  if (v.content && v['no-content']) throw new UsageError('you cannot use --content and --no-content together.');
  if (wantsQuery(query(v))) {
    if (cmd === 'list') throw new UsageError('you cannot use --list, --map and --size together.');
    return runQuery(uri, query(v), io, limit);
  }
  const probe = v.content === true;
  const opts = { json: v.json ?? false, colour: !v.json && wantColour(tokens, io.isTTY) };
  const h = await connect(uri, limit, (h) => {
    h.setOptMode(true);
    h.setFullInfo(true);
  });
  let ok = true;
  const text = await session(h, limit, async () => {
    if (cmd === 'info') {
      const exp = await queryExport(h, io, null, limit);
      ok = exp !== null;
      if (exp && probe) exp.content = await content(h, exp.size);
      return formatInfo(connectionInfo(h), exp, opts);
    } else {
      const listed: { name: string; description: string }[] = [];
      await h.optList((name, description) => { listed.push({ name, description }); }, limit);
      const conn = connectionInfo(h);
      const exports: (ExportInfo | null)[] = [];
      if (probe) {
        // As nbdinfo: reading content ends negotiation, so each export gets a connection of its
        // own, opened once this one is gone (a server may take one client at a time).
        await disconnect(h, limit);
      }
      for (const e of listed) {
        const h2 = probe ? await connect(uri, limit, (x) => { x.setOptMode(true); x.setFullInfo(true); }) : h;
        try {
          h2.setExportName(e.name);
          const exp = await queryExport(h2, io, e, limit);
          if (exp && probe) exp.content = await content(h2, exp.size);
          ok &&= exp !== null;
          exports.push(exp);
        } finally {
          if (probe) await disconnect(h2, limit);
        }
      }
      return formatList(conn, exports, opts);
    }
  });
  // Like nbdinfo, print only once everything is known.
  await io.write(text);
  return ok ? 0 : 1;
}

const INFO_HELP = `Usage: webnbd info [--json] [--content] [--colour|--no-colour] [--timeout=SECONDS] NBD-URI
       webnbd info --size|--uri NBD-URI
       webnbd info --is|--isnt read-only|rotational|tls|... NBD-URI
       webnbd info --can|--cannot cache|connect|flush|fua|multi-conn|trim|zero|... NBD-URI
       webnbd info --has|--hasnt META-CONTEXT NBD-URI

Show what the NBD server says about the export: its size, flags, block sizes and
metadata contexts, as nbdinfo --no-content does; or answer one question, as
nbdinfo --size, --is, --can and --has do (the answer is the exit status: 0 yes,
2 no).

  --json                  print JSON instead of text
  --content               add what file(1) says of the first sectors
  --no-content            do not (the default)
  --size                  print the size in bytes
  --uri                   print the URI of the connection
  --is, --can WHAT        exit status 0 if so, 2 if not (--isnt, --cannot: the opposite)
  --has CONTEXT           exit status 0 if the server has that metadata context (--hasnt)
  --colour, --no-colour   ANSI colours (default: when stdout is a terminal)
${timeoutHelp()}  -h, --help              show this help
`;

const LIST_HELP = `Usage: webnbd list [--json] [--content] [--colour|--no-colour] [--timeout=SECONDS] NBD-URI

List every export of the NBD server with its details, as nbdinfo --list does.
The export name in the URI is ignored.

  --json                  print JSON instead of text
  --content               add what file(1) says of each export's first sectors
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
