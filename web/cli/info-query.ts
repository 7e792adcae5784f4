// nbdinfo's one-question modes: --size, --uri, --is/--isnt, --can/--cannot (info/can.c) and
// --has/--hasnt (libnbd 1.20 and later). The handle connects fully, as nbdinfo's does in these
// modes; the answer is a line on stdout, or the exit status: 0 yes, 2 no.

import type { NbdHandle } from '../node/index.js';
import { UsageError } from './args.js';
import type { CommandOptions } from '../core/types.js';
import { connect, session } from './connect.js';
import type { Io } from './io.js';

export interface Query {
  size: boolean;
  uri: boolean;
  /** --is/--can (true) or --isnt/--cannot (false), and the property. */
  can: { want: boolean; what: string } | null;
  /** --has/--hasnt: a metadata context. */
  has: { want: boolean; context: string } | null;
}

const any = (s: string, names: string[]) => names.some((n) => n.toLowerCase() === s.toLowerCase());
const spellings = (base: string) => [base, base.replace(/-/g, ' '), base.replace(/-/g, '_'), base.replace(/-/g, '')];

/** info/can.c's table, with strcasecmp's spellings; libnbd 1.24 adds block status payload and extended headers. */
function property(h: NbdHandle, what: string): boolean {
  if (any(what, ['connect', 'read'])) return true;
  if (any(what, ['tls'])) return h.getTlsNegotiated();
  if (any(what, ['sr', 'structured', ...spellings('structured-reply'), ...spellings('structured-replies')])) return h.getStructuredRepliesNegotiated();
  if (any(what, spellings('extended-headers'))) return h.getExtendedHeadersNegotiated();
  if (any(what, ['readonly', 'read-only', 'read_only'])) return h.isReadOnly();
  if (any(what, ['write'])) return !h.isReadOnly();
  if (any(what, ['rotational'])) return h.isRotational();
  if (any(what, spellings('block-status-payload'))) return h.canBlockStatusPayload();
  if (any(what, ['cache'])) return h.canCache();
  if (any(what, ['df'])) return h.canDf();
  if (any(what, spellings('fast-zero'))) return h.canFastZero();
  if (any(what, ['flush'])) return h.canFlush();
  if (any(what, ['fua'])) return h.canFua();
  if (any(what, spellings('multi-conn'))) return h.canMultiConn();
  if (any(what, ['trim'])) return h.canTrim();
  if (any(what, ['zero'])) return h.canZero();
  throw new UsageError(`unknown --can or --is option: ${what}`);
}

/** Whether any one-question mode is asked for; more than one is refused as nbdinfo does. */
export function wantsQuery(q: Query): boolean {
  const n = [q.size, q.uri, q.can !== null, q.has !== null].filter(Boolean).length;
  if (n > 1) throw new UsageError('you cannot use --list, --map and --size together.');
  return n === 1;
}

/** Answer the question; resolves to the exit status. */
export async function runQuery(uri: string, q: Query, io: Io, limit: CommandOptions): Promise<number> {
  const h = await connect(uri, limit, (h) => {
    if (q.has) h.addMetaContext(q.has.context);
  });
  return session(h, limit, async () => {
    if (q.size) {
      await io.write(`${h.getSize()}\n`);
      return 0;
    }
    if (q.uri) {
      await io.write(`${h.getUri()}\n`);
      return 0;
    }
    const yes = q.can ? property(h, q.can.what) : h.canMetaContext(q.has!.context);
    return yes === (q.can ?? q.has)!.want ? 0 : 2;
  });
}
