// Every core call has its C function in the port's table (wasm/runtime/capi.ts), and the calls
// newer than libnbd 1.14 are declared under the version their API row gives. That the port's
// libnbd.h matches Debian's is test/tools/wasm-header.test.ts's; that the generated C files are
// current is test/unit/generated.test.ts's.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { API } from '../../web/core/api.js';
import { C_API } from '../../wasm/runtime/capi.js';

describe('C functions', () => {
  it('every-core-call-has-a-c-function', () => {
    const backed = new Set(C_API.flatMap((f) => ('core' in f.impl ? [f.impl.core] : [])));
    // nbd_close is shim.c's (it frees the C handle), and reaches the core's close() by itself.
    expect(Object.keys(API).filter((k) => !backed.has(k as keyof typeof API))).toEqual(['close']);
    for (const f of C_API) if ('core' in f.impl) expect(API[f.impl.core].c).toBe(f.c);
  });

  it('newer-calls-are-declared-under-the-version-their-api-row-gives', () => {
    const header = readFileSync('wasm/include/libnbd.h', 'utf8');
    const newer = C_API.filter((f) => f.since);
    expect(newer.map((f) => f.c)).toContain('nbd_can_block_status_payload');
    for (const f of newer) {
      if ('core' in f.impl) expect(f.since, f.c).toBe(API[f.impl.core].since);
      expect(header, f.c).toMatch(new RegExp(`/\\* Added in libnbd ${f.since!.replace('.', '\\.')}\\. \\*/\\nextern [^;]*\\b${f.c} \\(`));
    }
  });
});
