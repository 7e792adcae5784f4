// The scripted server's handshake (proto.md "Handshake", "Option types", "Option reply types"):
// greetings, client flags and every option serveDisk answers, with its hooks applied.

import {
  NBD_FLAG_BLOCK_STAT_PAYLOAD,
  NBD_FLAG_CAN_MULTI_CONN,
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_HAS_FLAGS,
  NBD_FLAG_NO_ZEROES,
  NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_CACHE,
  NBD_FLAG_SEND_DF,
  NBD_FLAG_SEND_FAST_ZERO,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_FUA,
  NBD_FLAG_SEND_TRIM,
  NBD_FLAG_SEND_WRITE_ZEROES,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_NAME,
  NBD_OPT_ABORT,
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_EXTENDED_HEADERS,
  NBD_OPT_GO,
  NBD_OPT_INFO,
  NBD_OPT_LIST,
  NBD_OPT_LIST_META_CONTEXT,
  NBD_OPT_SET_META_CONTEXT,
  NBD_OPT_STARTTLS,
  NBD_OPT_STRUCTURED_REPLY,
  NBD_REP_ACK,
  NBD_REP_ERR_BLOCK_SIZE_REQD,
  NBD_REP_ERR_EXT_HEADER_REQD,
  NBD_REP_ERR_INVALID,
  NBD_REP_ERR_POLICY,
  NBD_REP_ERR_UNKNOWN,
  NBD_REP_ERR_UNSUP,
  NBD_REP_INFO,
  NBD_REP_META_CONTEXT,
  NBD_REP_SERVER,
  exportNameReply,
  infoBlockSize,
  infoDescription,
  infoExport,
  infoName,
  newstyleGreeting,
  oldstyleGreeting,
  optReply,
  reader,
  repMetaContext,
  repServer,
} from './bytes.js';
import { type FakeConn, type NbdOption, HardDisconnect } from './fake-conn.js';
import type { BlockSizes, DiskExport, DiskSession, ServeDiskOptions, Substitute } from './fake-server.js';

const DEFAULT_BLOCK_SIZES: BlockSizes = { minimum: 1, preferred: 4096, maximum: 0xffffffff };

/** Send a substitute; false once the connection has been dropped. */
async function sendAll(conn: FakeConn, out: Substitute): Promise<boolean> {
  const items = out instanceof Uint8Array || out === 'drop' ? [out] : out;
  for (const item of items) {
    if (item === 'drop') {
      conn.destroy();
      return false;
    }
    await conn.write(item);
  }
  return true;
}

/** proto.md "Transmission flags": what this export advertises to this session. */
function transmissionFlags(exp: DiskExport, s: DiskSession, opt?: number): number {
  if (exp.spec.flags !== undefined) return exp.spec.flags;
  let f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_CACHE | NBD_FLAG_CAN_MULTI_CONN;
  if (exp.spec.readOnly) f |= NBD_FLAG_READ_ONLY;
  else f |= NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
  // NBD_FLAG_SEND_DF: MUST be clear unless structured replies were negotiated.
  if (s.structured) f |= NBD_FLAG_SEND_DF;
  // As qemu: payloads on BLOCK_STATUS are only useful once contexts exist (always for INFO).
  if (s.extended && (s.contexts.length > 0 || opt === NBD_OPT_INFO)) f |= NBD_FLAG_BLOCK_STAT_PAYLOAD;
  return f;
}

/** Run the handshake; true when transmission should begin. */
export async function handshake(s: DiskSession, exports: DiskExport[], opts: ServeDiskOptions): Promise<boolean> {
  const { conn } = s;
  const hooks = opts.hooks ?? {};
  const noZeroesOffered = opts.noZeroes !== false;

  if (s.style === 'oldstyle') {
    // proto.md "Oldstyle negotiation": no options, the default export at once.
    const exp = exports[0]!;
    s.export = exp;
    s.transmissionFlags = transmissionFlags(exp, s);
    const greeting = oldstyleGreeting(exp.size, s.transmissionFlags);
    return sendAll(conn, hooks.onGreeting?.(greeting, s) ?? greeting);
  }

  const fixed = s.style === 'fixed-newstyle';
  const gflags = (fixed ? NBD_FLAG_FIXED_NEWSTYLE : 0) | (noZeroesOffered ? NBD_FLAG_NO_ZEROES : 0);
  const greeting = newstyleGreeting(gflags);
  if (!(await sendAll(conn, hooks.onGreeting?.(greeting, s) ?? greeting))) return false;

  // proto.md "Client flags": the server MUST drop the connection on unknown flags or on a
  // flag not matching something advertised.
  s.clientFlags = await conn.readClientFlags();
  const known = NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES;
  if (s.clientFlags & ~known) throw new HardDisconnect(`unknown client flags 0x${s.clientFlags.toString(16)}`);
  if (s.clientFlags & NBD_FLAG_C_FIXED_NEWSTYLE && !fixed) {
    throw new HardDisconnect('client set NBD_FLAG_C_FIXED_NEWSTYLE, which the server did not advertise');
  }
  if (s.clientFlags & NBD_FLAG_C_NO_ZEROES && !noZeroesOffered) {
    throw new HardDisconnect('client set NBD_FLAG_C_NO_ZEROES, which the server did not advertise');
  }
  s.noZeroes = (s.clientFlags & NBD_FLAG_C_NO_ZEROES) !== 0;
  // As qemu: a client that does not confirm fixed newstyle gets plain newstyle.
  const fixedMode = fixed && (s.clientFlags & NBD_FLAG_C_FIXED_NEWSTYLE) !== 0;

  for (;;) {
    const opt = await conn.readOption();
    s.options.push(opt);
    const seen = await hooks.onOption?.(opt, s);
    if (seen !== undefined) {
      if (!(await sendAll(conn, seen))) return false;
      continue;
    }

    if (!fixedMode && opt.option !== NBD_OPT_EXPORT_NAME) {
      // proto.md "NBD_OPT_EXPORT_NAME": the only valid option in non-fixed newstyle.
      throw new HardDisconnect(`option ${opt.option} in non-fixed newstyle negotiation`);
    }

    const outcome =
      opt.option === NBD_OPT_EXPORT_NAME
        ? handleExportName(s, exports, opt, opts)
        : (opts.unsupported ?? []).includes(opt.option)
          ? optError(opt.option, NBD_REP_ERR_UNSUP, `option ${opt.option} unsupported`)
          : handleOption(s, exports, opt);

    const replaced = await hooks.onOptionReply?.(opt, outcome.replies, s);
    if (!(await sendAll(conn, replaced ?? outcome.replies))) return false;
    if (outcome.next === 'transmission') return true;
    if (outcome.next === 'close') return false;
  }
}

type OptionOutcome = { replies: Uint8Array[]; next: 'continue' | 'transmission' | 'close' };

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** An error reply with a message for the user ("All error replies MAY have some data set"). */
function optError(opt: number, type: number, message: string): OptionOutcome {
  return { replies: [optReply(opt, type, utf8(message))], next: 'continue' };
}

function handleExportName(
  s: DiskSession,
  exports: DiskExport[],
  opt: NbdOption,
  opts: ServeDiskOptions,
): OptionOutcome {
  // proto.md "NBD_OPT_EXPORT_NAME": no way to report errors, so failures hang up. A client
  // that negotiated extended headers MUST NOT use it; qemu's server hangs up, and so do we.
  if ((opts.unsupported ?? []).includes(NBD_OPT_EXPORT_NAME)) throw new HardDisconnect('NBD_OPT_EXPORT_NAME refused');
  if (s.extended) throw new HardDisconnect('NBD_OPT_EXPORT_NAME after extended headers were negotiated');
  const name = decodeString(opt.data);
  const exp = name === undefined ? undefined : exports.find((e) => e.name === name);
  if (!exp) throw new HardDisconnect(`NBD_OPT_EXPORT_NAME: no export named ${JSON.stringify(name)}`);
  if (s.metaExport !== exp.name) s.contexts = [];
  s.export = exp;
  s.transmissionFlags = transmissionFlags(exp, s);
  return { replies: [exportNameReply(exp.size, s.transmissionFlags, s.noZeroes)], next: 'transmission' };
}

function decodeString(b: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    return undefined;
  }
}

function handleOption(s: DiskSession, exports: DiskExport[], opt: NbdOption): OptionOutcome {
  const o = opt.option;
  const reply = (type: number, payload?: Uint8Array): Uint8Array => optReply(o, type, payload);
  const error = (type: number, message: string): OptionOutcome => optError(o, type, message);
  const ack: OptionOutcome = { replies: [reply(NBD_REP_ACK)], next: 'continue' };

  switch (o) {
    case NBD_OPT_ABORT:
      // MUST reply with NBD_REP_ACK; SHOULD ignore any data.
      return { replies: [reply(NBD_REP_ACK)], next: 'close' };

    case NBD_OPT_LIST:
      // Zero or more NBD_REP_SERVER then NBD_REP_ACK; data SHOULD be rejected.
      if (opt.data.length) return error(NBD_REP_ERR_INVALID, 'NBD_OPT_LIST takes no data');
      return {
        replies: [
          ...exports.map((e) => reply(NBD_REP_SERVER, repServer(e.name, e.description ?? ''))),
          reply(NBD_REP_ACK),
        ],
        next: 'continue',
      };

    case NBD_OPT_STARTTLS:
      // "NOTLS mode": MUST answer NBD_REP_ERR_POLICY or NBD_REP_ERR_UNSUP.
      return error(NBD_REP_ERR_POLICY, 'TLS not configured');

    case NBD_OPT_STRUCTURED_REPLY:
      if (opt.data.length) return error(NBD_REP_ERR_INVALID, 'NBD_OPT_STRUCTURED_REPLY takes no data');
      if (s.extended) return error(NBD_REP_ERR_EXT_HEADER_REQD, 'extended headers already negotiated');
      if (s.structured) return error(NBD_REP_ERR_INVALID, 'structured replies already negotiated');
      s.structured = true;
      return ack;

    case NBD_OPT_EXTENDED_HEADERS:
      // Implies structured replies; as qemu, a repeat is NBD_REP_ERR_INVALID.
      if (opt.data.length) return error(NBD_REP_ERR_INVALID, 'NBD_OPT_EXTENDED_HEADERS takes no data');
      if (s.extended) return error(NBD_REP_ERR_INVALID, 'extended headers already negotiated');
      s.extended = true;
      s.structured = true;
      s.conn.extendedHeaders = true;
      return ack;

    case NBD_OPT_INFO:
    case NBD_OPT_GO:
      return handleInfo(s, exports, opt);

    case NBD_OPT_LIST_META_CONTEXT:
    case NBD_OPT_SET_META_CONTEXT:
      return handleMetaContext(s, exports, opt);

    default:
      return error(NBD_REP_ERR_UNSUP, `option ${o} unknown`);
  }
}

/** proto.md "NBD_OPT_INFO (6) and NBD_OPT_GO (7)". */
function handleInfo(s: DiskSession, exports: DiskExport[], opt: NbdOption): OptionOutcome {
  const o = opt.option;
  const reply = (type: number, payload?: Uint8Array): Uint8Array => optReply(o, type, payload);
  const invalid = optError(o, NBD_REP_ERR_INVALID, 'malformed request');
  let name: string;
  const infos: number[] = [];
  try {
    const r = reader(opt.data);
    const nameLen = r.u32();
    if (nameLen > opt.data.length - 6) return invalid; // MUST be no larger than length - 6
    name = r.str(nameLen);
    const n = r.u16();
    for (let i = 0; i < n; i++) infos.push(r.u16());
    if (r.remaining) return invalid;
  } catch {
    return invalid;
  }
  const exp = exports.find((e) => e.name === name);
  if (!exp) return optError(o, NBD_REP_ERR_UNKNOWN, `export ${JSON.stringify(name)} not present`);

  // Metadata contexts only survive NBD_OPT_GO to the export they were selected for.
  if (o === NBD_OPT_GO && s.metaExport !== exp.name) s.contexts = [];
  const wantsBlockSize = infos.includes(NBD_INFO_BLOCK_SIZE);
  const replies: Uint8Array[] = [];
  if (infos.includes(NBD_INFO_NAME)) replies.push(reply(NBD_REP_INFO, infoName(exp.name)));
  if (exp.description !== undefined) replies.push(reply(NBD_REP_INFO, infoDescription(exp.description)));
  if (wantsBlockSize || exp.spec.blockSize) {
    const b = exp.spec.blockSize ?? DEFAULT_BLOCK_SIZES;
    replies.push(reply(NBD_REP_INFO, infoBlockSize(b.minimum, b.preferred, b.maximum)));
  }
  const flags = transmissionFlags(exp, s, o);
  replies.push(reply(NBD_REP_INFO, infoExport(exp.size, flags)));
  if (exp.spec.requireBlockSize && !wantsBlockSize) {
    replies.push(reply(NBD_REP_ERR_BLOCK_SIZE_REQD, utf8('request NBD_INFO_BLOCK_SIZE to use this export')));
    return { replies, next: 'continue' };
  }
  replies.push(reply(NBD_REP_ACK));
  if (o === NBD_OPT_INFO) return { replies, next: 'continue' };
  s.export = exp;
  s.transmissionFlags = flags;
  s.blockSizeAgreed = wantsBlockSize;
  return { replies, next: 'transmission' };
}

/** proto.md "NBD_OPT_LIST_META_CONTEXT (9)", "NBD_OPT_SET_META_CONTEXT (10)". */
function handleMetaContext(s: DiskSession, exports: DiskExport[], opt: NbdOption): OptionOutcome {
  const o = opt.option;
  const set = o === NBD_OPT_SET_META_CONTEXT;
  const reply = (type: number, payload?: Uint8Array): Uint8Array => optReply(o, type, payload);
  const error = (type: number, message: string): OptionOutcome => optError(o, type, message);
  // SET replaces all previous contexts, even when it fails.
  if (set) {
    s.contexts = [];
    s.metaExport = undefined;
  }
  // SET "MUST NOT be requested unless structured replies have been negotiated".
  if (set && !s.structured) return error(NBD_REP_ERR_INVALID, 'structured replies not negotiated');

  let name: string;
  const queries: string[] = [];
  try {
    const r = reader(opt.data);
    name = r.str(r.u32());
    const n = r.u32();
    for (let i = 0; i < n; i++) queries.push(r.str(r.u32()));
    if (r.remaining) return error(NBD_REP_ERR_INVALID, 'trailing data');
  } catch {
    return error(NBD_REP_ERR_INVALID, 'malformed request');
  }
  const exp = exports.find((e) => e.name === name);
  if (!exp) return error(NBD_REP_ERR_UNKNOWN, `export ${JSON.stringify(name)} not present`);

  // Zero queries: LIST returns everything, SET selects nothing. A namespace-only query
  // ("base:") is a wildcard for LIST and MUST be ignored by SET. Unknown names are ignored.
  const selected = exp.contexts.filter((c) =>
    queries.length === 0
      ? !set
      : queries.some((q) => q === c.name || (!set && q.endsWith(':') && c.name.startsWith(q))),
  );
  const replies = selected.map((c) => reply(NBD_REP_META_CONTEXT, repMetaContext(set ? c.id : 0, c.name)));
  replies.push(reply(NBD_REP_ACK));
  if (set) {
    s.contexts = selected;
    s.metaExport = exp.name;
  }
  return { replies, next: 'continue' };
}
