// Command-line parsing for the webnbd subcommands: node:util parseArgs with errors that read like
// the rest of webnbd's ("webnbd: dump: unknown option '--foo'"), and number parsers that accept
// what nbddump's -n and hexdump's -s/-n accept.

import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake on the command line: printed as one line, exit status 1. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true; tokens: true }>>;

/**
 * An option that takes a value takes the next argument whatever it looks like, as getopt does
 * (`-n -1`); parseArgs would see an option there.
 */
function glueValues(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return out.concat(argv.slice(i));
    const name = a.startsWith('--') ? a.slice(2)
      : /^-[^-]$/.test(a) ? Object.keys(options).find((k) => options[k]!.short === a[1]) : undefined;
    if (name && options[name]?.type === 'string' && i + 1 < argv.length) out.push(`--${name}=${argv[++i]}`);
    else out.push(a);
  }
  return out;
}

/** parseArgs, strict, with positionals and tokens, and its errors turned into UsageErrors. */
export function parse<O extends Options>(cmd: string, argv: string[], options: O): Parsed<O> {
  try {
    return parseArgs({ args: glueValues(argv, options), options, allowPositionals: true, strict: true, tokens: true });
  } catch (e) {
    const err = e as { code?: string; message?: string };
    const opt = /'(-[^']*)'/.exec(err.message ?? '')?.[1]?.replace(/ <value>$/, '');
    const hint = `(see 'webnbd ${cmd} --help')`;
    switch (err.code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
        throw new UsageError(`${cmd}: unknown option '${opt ?? '?'}' ${hint}`);
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
        throw new UsageError(`${cmd}: option ${opt ? `'${opt}' ` : ''}${/does not take an argument/.test(err.message ?? '') ? 'takes no value' : 'needs a value'} ${hint}`);
      default:
        throw new UsageError(`${cmd}: ${err.message ?? String(e)}`);
    }
  }
}

/** nbdinfo's and nbddump's colour options, in all their spellings. */
export const COLOUR_OPTIONS = Object.fromEntries(
  ['colour', 'colours', 'color', 'colors', 'no-colour', 'no-colours', 'no-color', 'no-colors'].map((k) => [k, { type: 'boolean' }]),
) as Record<'colour' | 'colours' | 'color' | 'colors' | 'no-colour' | 'no-colours' | 'no-color' | 'no-colors', { type: 'boolean' }>;

/** The last colour option given wins; without one, colour when stdout is a terminal. */
export function wantColour(tokens: readonly { kind: string; name?: string }[], isTTY: boolean): boolean {
  let colour = isTTY;
  for (const t of tokens) {
    if (t.kind === 'option' && t.name && t.name in COLOUR_OPTIONS) colour = !t.name.startsWith('no-');
  }
  return colour;
}

/** The single NBD URI a command takes. */
export function oneUri(cmd: string, positionals: string[]): string {
  if (positionals.length !== 1) {
    throw new UsageError(`${cmd}: ${positionals.length ? 'too many arguments' : 'missing NBD URI'} (see 'webnbd ${cmd} --help')`);
  }
  return positionals[0]!;
}

/** nbddump's -n: sscanf("%" SCNu64), so "-1" wraps to 2^64-1 and trailing junk is ignored. */
export function parseScnu64(s: string): bigint | null {
  const m = /^[\t\n\v\f\r ]*([+-]?)(\d+)/.exec(s);
  if (!m) return null;
  const v = BigInt(m[2]!) % (1n << 64n);
  return m[1] === '-' ? ((1n << 64n) - v) % (1n << 64n) : v;
}

const SUFFIXES = 'KMGTPEZY';

/**
 * hexdump's -s and -n (util-linux strtosize): an integer in C notation (0x hex, leading-0 octal),
 * optionally with a fraction and a suffix: K, KiB = 1024; KB = 1000; up to Y.
 */
export function parseSize(s: string): bigint | null {
  const m = /^\s*(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)(?:\.(\d+))?(?:([KMGTPEZYkmgtpezy])(iB|B|b)?)?$/.exec(s);
  if (!m) return null;
  const [, int, frac, suffix, unit] = m;
  let value = int!.length > 1 && int!.startsWith('0') && !/^0[xX]/.test(int!) ? BigInt(`0o${int!.slice(1)}`) : BigInt(int!);
  if (!suffix) return frac ? null : value;
  const base = unit === 'B' || unit === 'b' ? 1000n : 1024n;
  const mult = base ** BigInt(SUFFIXES.indexOf(suffix.toUpperCase()) + 1);
  value *= mult;
  if (frac) value += (BigInt(frac) * mult) / 10n ** BigInt(frac.length);
  return value;
}
