// The port's libnbd.h declares what Debian's libnbd 1.14 header (libnbd-dev) declares, with the
// same types: every function, callback struct, constant and LIBNBD_HAVE_* macro.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BY_NAME } from '../../wasm/runtime/capi.js';

const DEBIAN = '/usr/include/libnbd.h';
const OURS = 'wasm/include/libnbd.h';

/** Function prototypes by name, whitespace and attribute macros removed. */
function prototypes(header: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of header.matchAll(/^extern ([^;]*);/gms)) {
    const decl = m[1]!.replace(/LIBNBD_ATTRIBUTE_\w+\([^)]*\)/g, '').replace(/\/\*.*?\*\//g, '').replace(/\s+/g, ' ').replace(/\s*([(),*])\s*/g, '$1').trim();
    const name = /(nbd_\w+)\(/.exec(decl)?.[1];
    if (name) out.set(name, decl);
  }
  return out;
}

const defines = (header: string) => new Map([...header.matchAll(/^#define (LIBNBD_[A-Z0-9_]+)\s+(\S.*)$/gm)].map((m) => [m[1]!, m[2]!.trim()]));
const typedefs = (header: string) => new Map([...header.matchAll(/^typedef struct \{(.*?)\} (nbd_\w+);/gms)].map((m) => [m[2]!, m[1]!.replace(/\s+/g, ' ').trim()]));

describe("Debian's libnbd 1.14 header", () => {
  const debian = readFileSync(DEBIAN, 'utf8');
  const ours = readFileSync(OURS, 'utf8');

  it('declares-every-function-with-the-same-prototype', () => {
    const want = prototypes(debian);
    const got = prototypes(ours);
    expect(want.size).toBeGreaterThan(100);
    for (const [name, decl] of want) expect(got.get(name), name).toBe(decl);
  });

  it('has-the-same-callback-structs', () => {
    const got = typedefs(ours);
    for (const [name, body] of typedefs(debian)) expect(got.get(name), name).toBe(body);
  });

  it('has-every-constant-and-have-macro', () => {
    const got = defines(ours);
    for (const [name, value] of defines(debian)) {
      if (name === 'LIBNBD_GCC_VERSION') continue;
      // Masks may have grown: libnbd 1.18 added LIBNBD_STRICT_PAYLOAD, which the core has.
      if (name.endsWith('_MASK')) expect(BigInt(got.get(name)!.replace(/U$/, '')) & BigInt(value.replace(/U$/, '')), name).toBe(BigInt(value.replace(/U$/, '')));
      else expect(got.get(name), name).toBe(value);
    }
  });

  it('declares-nothing-from-libnbd-that-libnbd-lacks', () => {
    const debianNames = prototypes(debian);
    const extra = [...prototypes(ours).keys()].filter((n) => !debianNames.has(n));
    // Only the newer calls the table marks with a version, and webnbd's own.
    expect(extra.every((n) => BY_NAME.get(n)?.since || BY_NAME.get(n)?.webnbd), extra.join(' ')).toBe(true);
  });
});
