// Every core call has its C function in the port's table (wasm/runtime/capi.ts). That the port's
// libnbd.h matches Debian's is test/tools/wasm-header.test.ts's; that the generated C files are
// current is test/unit/generated.test.ts's.

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
});
