// What nbdinfo (libnbd 1.14) prints for `--no-content`, `--list`, `--map` and `--map --totals`,
// in text (optionally with its ANSI colours) and JSON, from plain data the handle's getters give.
// Pure functions: the caller gathers the data (web/cli/info.ts, map.ts) and prints the string.

import { formatFixed, formatG } from './printf.js';

/** Per-connection facts: the first lines of nbdinfo's output. Absent fields are not printed. */
export interface ConnectionInfo {
  /** nbd_get_protocol: "oldstyle", "newstyle" or "newstyle-fixed". */
  protocol?: string;
  /** nbd_get_tls_negotiated. */
  tlsNegotiated?: boolean;
  /** nbd_get_structured_replies_negotiated. */
  structuredReplies?: boolean;
}

/** What nbdinfo shows about one export. Absent fields (a getter failed) are not printed. */
export interface ExportInfo {
  /** nbd_get_canonical_export_name, else nbd_get_export_name. */
  exportName: string;
  /** From NBD_OPT_LIST, else nbd_get_export_description; "" is not printed. */
  description?: string;
  size: bigint;
  /** What file(1) says of the first sectors (nbdinfo --content). */
  content?: string;
  /** nbd_get_uri. */
  uri?: string;
  /** nbd_opt_list_meta_context's answers; absent when the listing failed. */
  contexts?: string[];
  isRotational?: boolean;
  isReadOnly?: boolean;
  canCache?: boolean;
  canDf?: boolean;
  canFastZero?: boolean;
  canFlush?: boolean;
  canFua?: boolean;
  canMultiConn?: boolean;
  canTrim?: boolean;
  canZero?: boolean;
  /** nbd_get_block_size; 0 or absent when the server did not say. */
  blockSizeMinimum?: number;
  blockSizePreferred?: number;
  blockSizeMaximum?: number;
}

export interface FormatOptions {
  json?: boolean;
  /** ANSI colours (nbdinfo's default when stdout is a terminal); never in JSON. */
  colour?: boolean;
}

// ANSI colours as libnbd's common/utils/ansi-colours.h names them.
const FG_BOLD_BLACK = '1;30';
const FG_GREY = '22;90';
const FG_GREEN = '22;32';
const FG_RED = '22;31';
const FG_BRIGHT_WHITE = '1;37';
const BG_BLACK = '40';
const BG_LIGHT_GREY = '47';

const esc = (on: boolean | undefined, code: string): string => (on ? `\x1b[${code}m` : '');

/** nbdinfo's print_json_string: only `"`, `\` and control characters are escaped. */
export function jsonString(s: string): string {
  let out = '"';
  for (const c of s) {
    const code = c.charCodeAt(0);
    if (c === '"' || c === '\\') out += '\\' + c;
    else if (code < 0x20) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += c;
  }
  return out + '"';
}

/** libnbd's human_size: "1M" for 1048576; the flag says whether a suffix was added. */
export function humanSize(bytes: bigint): { text: string; human: boolean } {
  const ext = ['E', 'P', 'T', 'G', 'M', 'K', ''];
  let i = 6;
  if (bytes !== 0n) {
    while ((bytes & 1023n) === 0n) {
      bytes >>= 10n;
      i--;
    }
  }
  return { text: `${bytes}${ext[i]}`, human: ext[i] !== '' };
}

const BOOLEANS = [
  ['canCache', 'can_cache'], ['canDf', 'can_df'], ['canFastZero', 'can_fast_zero'], ['canFlush', 'can_flush'],
  ['canFua', 'can_fua'], ['canMultiConn', 'can_multi_conn'], ['canTrim', 'can_trim'], ['canZero', 'can_zero'],
] as const;
const BLOCK_SIZES = [
  ['blockSizeMinimum', 'block_size_minimum'], ['blockSizePreferred', 'block_size_preferred'],
  ['blockSizeMaximum', 'block_size_maximum'],
] as const;

function header(c: ConnectionInfo, o: FormatOptions): string {
  if (o.json) {
    let s = '{\n';
    if (c.protocol !== undefined) s += `"protocol": ${jsonString(c.protocol)},\n`;
    if (c.tlsNegotiated !== undefined) s += `"TLS": ${c.tlsNegotiated},\n`;
    if (c.structuredReplies !== undefined) s += `"structured": ${c.structuredReplies},\n`;
    return s;
  }
  if (c.protocol === undefined) return '';
  let s = `${esc(o.colour, FG_GREY)}protocol: ${c.protocol}`;
  if (c.tlsNegotiated !== undefined) s += ` ${c.tlsNegotiated ? 'with' : 'without'} TLS`;
  if (c.structuredReplies !== undefined) s += `, using ${c.structuredReplies ? 'structured' : 'simple'} packets`;
  return `${s}\n${esc(o.colour, '0')}`;
}

/** show_one_export: one export's block of text or JSON. */
function exportBlock(e: ExportInfo, o: FormatOptions, first: boolean, last: boolean): string {
  const size = humanSize(e.size);
  const desc = e.description ? e.description : undefined;
  if (!o.json) {
    const c = o.colour;
    let s = `${esc(c, FG_BOLD_BLACK)}export=${jsonString(e.exportName)}:\n`;
    if (desc !== undefined) s += `\tdescription: ${desc}\n`;
    s += size.human ? `\texport-size: ${e.size} (${size.text})\n` : `\texport-size: ${e.size}\n`;
    if (e.content !== undefined) s += `\tcontent: ${e.content}\n`;
    if (e.uri !== undefined) s += `\turi: ${e.uri}\n`;
    s += esc(c, '0') + esc(c, FG_GREY);
    if (e.contexts) s += '\tcontexts:\n' + e.contexts.map((x) => `\t\t${x}\n`).join('');
    if (e.isRotational !== undefined) s += `\tis_rotational: ${e.isRotational}\n`;
    s += esc(c, '0');
    if (e.isReadOnly !== undefined) s += `\tis_read_only: ${e.isReadOnly}\n`;
    for (const [k, name] of BOOLEANS) {
      const v = e[k];
      if (v !== undefined) s += `${esc(c, v ? FG_GREEN : FG_RED)}\t${name}: ${v}\n${esc(c, '0')}`;
    }
    for (const [k, name] of BLOCK_SIZES) if (e[k]) s += `\t${name}: ${e[k]}\n`;
    return s;
  }
  let s = first ? '"exports": [\n' : '';
  s += `\t{\n\t"export-name": ${jsonString(e.exportName)},\n`;
  if (desc !== undefined) s += `\t"description": ${jsonString(desc)},\n`;
  if (e.content !== undefined) s += `\t"content": ${jsonString(e.content)},\n`;
  if (e.uri !== undefined) s += `\t"uri": ${jsonString(e.uri)},\n`;
  if (e.contexts) {
    s += '\t"contexts": [\n';
    s += e.contexts.map((x, i) => `\t\t${jsonString(x)}${i + 1 < e.contexts!.length ? ',' : ''}\n`).join('');
    s += '\t],\n';
  }
  if (e.isRotational !== undefined) s += `\t"is_rotational": ${e.isRotational},\n`;
  if (e.isReadOnly !== undefined) s += `\t"is_read_only": ${e.isReadOnly},\n`;
  for (const [k, name] of BOOLEANS) if (e[k] !== undefined) s += `\t"${name}": ${e[k]},\n`;
  for (const [k, name] of BLOCK_SIZES) if (e[k]) s += `\t"${name}": ${e[k]},\n`;
  s += `\t"export-size": ${e.size},\n\t"export-size-str": "${size.text}"\n`;
  return s + (last ? '\t} ]\n' : '\t},\n');
}

/**
 * `nbdinfo --no-content [--json]`: the connection, then the export. `null` stands for an export
 * nbdinfo could not query (it reports that on stderr and prints the rest).
 */
export function formatInfo(conn: ConnectionInfo, exp: ExportInfo | null, o: FormatOptions = {}): string {
  return header(conn, o) + (exp ? exportBlock(exp, o, true, true) : '') + (o.json ? '}\n' : '');
}

/**
 * `nbdinfo --list [--json]`: the connection, then every export the server listed, in its order;
 * `null` for those that could not be queried. (Like nbdinfo, JSON stays unterminated when the
 * first or last one failed.)
 */
export function formatList(conn: ConnectionInfo, exports: (ExportInfo | null)[], o: FormatOptions = {}): string {
  let s = header(conn, o);
  if (exports.length === 0 && o.json) s += '"exports": []\n';
  exports.forEach((e, i) => {
    if (e) s += exportBlock(e, o, i === 0, i + 1 === exports.length);
  });
  return s + (o.json ? '}\n' : '');
}

/** One block status descriptor, in order from offset 0: length, and the flags nbdinfo calls type. */
export interface MapExtent {
  length: bigint | number;
  type: number | bigint;
}

export interface MapOptions extends FormatOptions {
  /** The metadata context mapped ("base:allocation" by default). */
  context?: string;
}

interface Described {
  description?: string;
  fg?: string;
  bg?: string;
}

/** nbdinfo's description (and colours) of an extent type in a known metadata context. */
export function extentDescription(context: string, type: bigint | number): Described {
  const t = BigInt(type);
  if (context === 'base:allocation') {
    const names = ['data', 'hole', 'zero', 'hole,zero'];
    if (t < 4n) return t === 0n ? { description: 'data', fg: FG_BOLD_BLACK } : { description: names[Number(t)]! };
  } else if (context.startsWith('qemu:dirty-bitmap:')) {
    if (t === 0n) return { description: 'clean', fg: FG_GREEN };
    if (t === 1n) return { description: 'dirty', fg: FG_RED };
  } else if (context === 'qemu:allocation-depth') {
    if (t === 0n) return { description: 'absent' };
    if (t === 1n) return { description: 'local', fg: FG_BRIGHT_WHITE, bg: BG_BLACK };
    return { description: `backing depth ${t}`, bg: BG_LIGHT_GREY };
  }
  return {};
}

/** A text line with the type's colours around it (restored before the newline). */
function coloured(d: Described, o: FormatOptions, text: string): string {
  if (!o.colour || (!d.fg && !d.bg)) return `${text}\n`;
  return `${d.fg ? esc(true, d.fg) : ''}${d.bg ? esc(true, d.bg) : ''}${text}\x1b[0m\n`;
}

const pad = (v: bigint | number, w: number): string => String(v).padStart(w);

/** `nbdinfo --map [--json]`: extents of one type next to each other are printed as one. */
export function formatMap(extents: readonly MapExtent[], o: MapOptions = {}): string {
  const context = o.context ?? 'base:allocation';
  const runs: { offset: bigint; length: bigint; type: bigint }[] = [];
  let offset = 0n;
  for (const e of extents) {
    const len = BigInt(e.length);
    const type = BigInt(e.type);
    const last = runs[runs.length - 1];
    if (last && last.type === type) last.length += len;
    else runs.push({ offset, length: len, type });
    offset += len;
  }
  if (o.json) {
    const items = runs.map((r) => {
      const d = extentDescription(context, r.type);
      const descr = d.description !== undefined ? `, "description": ${jsonString(d.description)}` : '';
      return `{ "offset": ${r.offset}, "length": ${r.length}, "type": ${r.type}${descr}}`;
    });
    return `[\n${items.join(',\n')}\n]\n`;
  }
  return runs.map((r) => {
    const d = extentDescription(context, r.type);
    const text = `${pad(r.offset, 10)}  ${pad(r.length, 10)}  ${pad(r.type, 3)}${d.description !== undefined ? `  ${d.description}` : ''}`;
    return coloured(d, o, text);
  }).join('');
}

/** `nbdinfo --map --totals [--json]`: bytes and percentage of the export per type, by type. */
export function formatMapTotals(extents: readonly MapExtent[], size: bigint, o: MapOptions = {}): string {
  const context = o.context ?? 'base:allocation';
  if (size === 0n) return o.json ? '[]\n' : '';
  const totals = new Map<bigint, bigint>();
  for (const e of extents) totals.set(BigInt(e.type), (totals.get(BigInt(e.type)) ?? 0n) + BigInt(e.length));
  const types = [...totals.keys()].filter((t) => totals.get(t)! > 0n).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const lines = types.map((t) => {
    const c = totals.get(t)!;
    // "100.0 * c / size" in C doubles.
    const percent = (100.0 * Number(c)) / Number(size);
    const d = extentDescription(context, t);
    if (o.json) {
      const descr = d.description !== undefined ? `, "description": ${jsonString(d.description)}` : '';
      return `{ "size": ${c}, "percent": ${formatG(percent)}, "type": ${t}${descr} }`;
    }
    const text = `${pad(c, 10)} ${formatFixed(percent, 1).padStart(5)}% ${pad(t, 3)}${d.description !== undefined ? ` ${d.description}` : ''}`;
    return coloured(d, o, text);
  });
  return o.json ? `[\n${lines.join(',\n')}\n]\n` : lines.join('');
}
