// The nbdinfo formatters (web/core/format/nbdinfo.ts) against libnbd 1.14's nbdinfo. The data
// they format is taken from nbdinfo's own JSON (or, for maps, from extents nbdkit was told to
// report), so these tests prove the formatting alone, independently of the handle.
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  formatInfo, formatList, formatMap, formatMapTotals, humanSize, jsonString,
  type ConnectionInfo, type ExportInfo, type MapExtent,
} from '../../web/core/format/nbdinfo.js';
import { formatFixed, formatG } from '../../web/core/format/printf.js';

const MARK = '\n@@webnbd-test-mark@@ ';

/**
 * nbdinfo's stdout and exit status for each set of arguments, against one nbdkit server (whose
 * URI, with its socket path, is part of the output).
 */
function nbdinfo(nbdkit: string[], ...args: string[]): { out: string; status: number }[] {
  const script = args.map((a) => `nbdinfo ${a} "$uri"; printf '${MARK.replace('\n', '\\n')}%s\\n' $?`).join('; ');
  const r = spawnSync('nbdkit', ['-U', '-', ...nbdkit, '--run', script], { encoding: 'utf8' });
  return r.stdout.split(/\n@@webnbd-test-mark@@ (\d+)\n/).reduce<{ out: string; status: number }[]>((acc, part, i, all) => {
    if (i % 2 === 0 && i + 1 < all.length) acc.push({ out: part, status: Number(all[i + 1]) });
    return acc;
  }, []);
}

interface NbdinfoJson {
  protocol?: string;
  TLS?: boolean;
  structured?: boolean;
  exports: Record<string, unknown>[];
}

/** The data nbdinfo --json shows, as the formatters take it (sizes exactly, from the text). */
function fromJson(text: string): { conn: ConnectionInfo; exports: ExportInfo[] } {
  const j = JSON.parse(text) as NbdinfoJson;
  const sizes = [...text.matchAll(/"export-size": (\d+),/g)].map((m) => BigInt(m[1]!));
  const exports = j.exports.map((e, i): ExportInfo => {
    const x: ExportInfo = { exportName: e['export-name'] as string, size: sizes[i]! };
    const copy: [keyof ExportInfo, string][] = [
      ['description', 'description'], ['content', 'content'], ['uri', 'uri'], ['contexts', 'contexts'],
      ['isRotational', 'is_rotational'], ['isReadOnly', 'is_read_only'], ['canCache', 'can_cache'], ['canDf', 'can_df'],
      ['canFastZero', 'can_fast_zero'], ['canFlush', 'can_flush'], ['canFua', 'can_fua'], ['canMultiConn', 'can_multi_conn'],
      ['canTrim', 'can_trim'], ['canZero', 'can_zero'], ['blockSizeMinimum', 'block_size_minimum'],
      ['blockSizePreferred', 'block_size_preferred'], ['blockSizeMaximum', 'block_size_maximum'],
    ];
    for (const [k, name] of copy) if (name in e) (x as unknown as Record<string, unknown>)[k] = e[name];
    return x;
  });
  return { conn: { protocol: j.protocol, tlsNegotiated: j.TLS, structuredReplies: j.structured }, exports };
}

/** Every output form of one export, checked against nbdinfo's. */
function checkInfo(nbdkit: string[]): void {
  const [json, text, colour] = nbdinfo(nbdkit, '--no-content --json', '--no-content', '--no-content --colour');
  const { conn, exports } = fromJson(json!.out);
  expect(exports).toHaveLength(1);
  expect(formatInfo(conn, exports[0]!, { json: true })).toBe(json!.out);
  expect(formatInfo(conn, exports[0]!)).toBe(text!.out);
  expect(formatInfo(conn, exports[0]!, { colour: true })).toBe(colour!.out);
}

describe('nbdinfo-info-matches-libnbd', () => {
  it('a writable export with base:allocation', () => checkInfo(['memory', '1M']));
  it('a read-only export with block size constraints and the largest size', () => {
    checkInfo(['-r', '--filter=blocksize-policy', 'null', String(2n ** 63n - 1n),
      'blocksize-minimum=512', 'blocksize-preferred=4096', 'blocksize-maximum=33554432']);
  });
  it('no structured replies', () => checkInfo(['--no-sr', 'memory', '1M']));
  it('the oldstyle handshake', () => checkInfo(['-o', 'memory', '1G']));
  it('an export description', () => checkInfo(['--filter=exportname', 'memory', '1M', 'exportdesc=fixed:a "quoted" desc']));
  for (const size of ['0', '1023', '1024', '1025', '3221225472', '9007199254740993', '1152921504606846976']) {
    it(`size ${size}`, () => checkInfo(['null', size]));
  }
});

describe('nbdinfo-list-matches-libnbd', () => {
  const names = ['a', 'b c', 'q"uo\\te', 'tab\there', 'é/?#%&=+;@$,:[]'];
  const nbdkit = ['--filter=exportname', 'memory', '1M', 'exportname-list=explicit', 'exportdesc=fixed:desc',
    ...names.map((n) => `exportname=${n}`)];
  it('several exports, with descriptions and names that need escaping', () => {
    const [json, text, colour] = nbdinfo(nbdkit, '--list --json', '--list', '--list --colour');
    const { conn, exports } = fromJson(json!.out);
    expect(exports.map((e) => e.exportName)).toEqual(names);
    expect(formatList(conn, exports, { json: true })).toBe(json!.out);
    expect(formatList(conn, exports)).toBe(text!.out);
    expect(formatList(conn, exports, { colour: true })).toBe(colour!.out);
  });

  // eval: three exports, the last of which cannot be opened.
  const failing = ['eval', 'list_exports=printf "INTERLEAVED\\na\\n\\nb\\nb-desc\\nbad\\n\\n"', 'get_size=echo 1024',
    'open=if [ "$3" = bad ]; then echo EINVAL no >&2; exit 1; fi; echo $3', 'default_export=echo a', 'pread=exit 1'];
  it('an export that fails: the rest is shown, JSON is left as nbdinfo leaves it', () => {
    const [json, text] = nbdinfo(failing, '--list --json 2>/dev/null', '--list 2>/dev/null');
    expect(json!.status).toBe(1);
    const { conn, exports } = fromJson(json!.out.replace(/\t},\n}\n$/, '\t} ]\n}\n'));
    expect(formatList(conn, [...exports, null], { json: true })).toBe(json!.out);
    expect(formatList(conn, [...exports, null])).toBe(text!.out);
  });

  it('no exports at all', () => {
    const none = ['eval', 'list_exports=echo NAMES', 'get_size=echo 1', 'pread=exit 1'];
    const [json, text] = nbdinfo(none, '--list --json', '--list');
    const conn = fromJson(json!.out).conn;
    expect(formatList(conn, [], { json: true })).toBe(json!.out);
    expect(formatList(conn, [])).toBe(text!.out);
  });
});

describe('nbdinfo-map-matches-libnbd', () => {
  const K = 512;
  // Extents as nbdkit reports them: offset length type. Two "data" in a row are printed as one.
  const table: [number, number, string][] = [
    [0, K, ''], [K, K, ''], [2 * K, K, 'hole'], [3 * K, K, 'zero'], [4 * K, K, 'hole,zero'], [5 * K, 395 * K, ''],
  ];
  const size = 400 * K;
  const extents: MapExtent[] = table.map(([, len, t]) => ({ length: len, type: { '': 0, hole: 1, zero: 2, 'hole,zero': 3 }[t]! }));
  const script = table.map(([o, l, t]) => `echo ${o} ${l} ${t}`).join('; ');
  const nbdkit = ['eval', `get_size=echo ${size}`, 'pread=exit 1', 'can_extents=exit 0', `extents=${script}`];
  for (const args of ['', '--json', '--colour']) {
    const o = { json: args === '--json', colour: args === '--colour' };
    it(`--map ${args}`, () => expect(formatMap(extents, o)).toBe(nbdinfo(nbdkit, `--map ${args}`)[0]!.out));
    it(`--map --totals ${args} (0.25% and 0.75% round to even)`, () => {
      expect(formatMapTotals(extents, BigInt(size), o)).toBe(nbdinfo(nbdkit, `--map --totals ${args}`)[0]!.out);
    });
  }

  it('percentages too small for %g without an exponent', () => {
    const big = ['eval', 'get_size=echo 1099511627776', 'pread=exit 1', 'can_extents=exit 0',
      'extents=echo 0 1 ; echo 1 1099511627775 hole,zero'];
    const tiny: MapExtent[] = [{ length: 1, type: 0 }, { length: 2n ** 40n - 1n, type: 3 }];
    const [json, text] = nbdinfo(big, '--map --totals --json', '--map --totals');
    expect(formatMapTotals(tiny, 2n ** 40n, { json: true })).toBe(json!.out);
    expect(formatMapTotals(tiny, 2n ** 40n)).toBe(text!.out);
  });

  it('an empty export', () => {
    const [mj, mt, tj, tt] = nbdinfo(['null', '0'], '--map --json', '--map', '--map --totals --json', '--map --totals');
    expect(formatMap([], { json: true })).toBe(mj!.out);
    expect(formatMap([])).toBe(mt!.out);
    expect(formatMapTotals([], 0n, { json: true })).toBe(tj!.out);
    expect(formatMapTotals([], 0n)).toBe(tt!.out);
  });
});

describe('nbdinfo-strings', () => {
  it('human sizes', () => {
    const cases: [bigint, string, boolean][] = [
      [0n, '0', false], [1n, '1', false], [1024n, '1K', true], [1536n, '1536', false], [3n << 30n, '3G', true],
      [1n << 60n, '1E', true], [1n << 62n, '4E', true], [(1n << 63n) - 1n, '9223372036854775807', false],
    ];
    for (const [n, text, human] of cases) expect(humanSize(n)).toEqual({ text, human });
  });

  it('JSON strings escape quotes, backslashes and control characters only', () => {
    expect(jsonString('a"b\\c\td\u0001é\u007f/')).toBe('"a\\"b\\\\c\\u0009d\\u0001é\u007f/"');
  });
});

describe('printf-matches-c', () => {
  // Python formats floats from their exact binary value, rounding ties to even, as glibc does.
  const values = [
    0, 0.25, 0.75, 12.5, 99.95, 100, 0.390631, 99.609375, 1e-5, 9.09494701772928e-11, 123456.5, 1234567,
    0.0001, 0.00001234565, 99.99995, 5e-324, 1.7976931348623157e308, 2.5, 0.05, 0.15, 0.35,
    ...Array.from({ length: 300 }, (_, i) => (100 * ((i * 7919) % 1000 + 1)) / (i + 1) / 97),
  ];
  it('%g and %.1f', () => {
    const py = execFileSync('python3', ['-c',
      'import sys\nfor v in sys.stdin.read().split():\n  x = float(v)\n  print("%g %.1f" % (x, x))'],
    { input: values.map((v) => v.toPrecision(17)).join('\n'), encoding: 'utf8' }).trim().split('\n');
    values.forEach((v, i) => expect(`${formatG(v)} ${formatFixed(v, 1)}`).toBe(py[i]));
  });
});
