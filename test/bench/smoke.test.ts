// The benchmark harness still runs end to end (tiny sizes, a few seconds): every figure comes out
// as a number and the dumps agree. Speed is deliberately not asserted here.

import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runBench } from './harness.js';
import { TARGETS, report } from './report.js';

it('bench-harness-runs-every-measurement', async () => {
  // A copy of dist/ that stays put while other test runs rebuild dist/.
  const site = join(mkdtempSync(join(tmpdir(), 'webnbd-bench-site-')), 'dist');
  cpSync('dist', site, { recursive: true });
  const r = await runBench({
    exportBytes: 2 << 20, hexBytes: 256 << 10, copyBytes: 4 << 20, browserPasses: 1, ceilingBytes: 2 << 20,
    latencySamples: 20, downloadBytes: 4 << 20, downloadPasses: 1, firstSectorRuns: 1, runs: 1, site, profile: false, log: () => {},
  });
  for (const [k, v] of Object.entries(r)) {
    if (k.endsWith('_mibps') || k.endsWith('_us') || k.endsWith('_mib')) expect(Number.isFinite(v) || (v === null && /multiconn|sockets/.test(k)), k).toBe(true);
  }
  expect(r.first_sector_ms === null || Number.isFinite(r.first_sector_ms)).toBe(true);
  expect(r.dump_identical).toBe(true);
  expect(r.dump_C_identical).toBe(true);
  expect(r.copy_identical).toBe(true);
  expect(report(r).split('\n').filter((l) => / (met|missed) \|$/.test(l))).toHaveLength(TARGETS.length);
});
