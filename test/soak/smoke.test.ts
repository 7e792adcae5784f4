// The soak's smoke test: 20 seconds of continuous reads in a browser worker through `webnbd bridge`,
// with the worker's heap sampled over CDP. It checks that the runner works and every read was
// right; whether the heap stays flat is for `npm run soak` (30 minutes) to say.

import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runSoak, table, verdict } from './soak.js';

it('soak-smoke-reads-verified-and-worker-heap-sampled', async () => {
  // A copy of the pages, which stays put however often dist/ is rebuilt meanwhile.
  const dist = join(mkdtempSync(join(tmpdir(), 'webnbd-soak-')), 'dist');
  cpSync('dist', dist, { recursive: true });
  const r = await runSoak({ seconds: 20, interval: 2, dist });
  console.log(`${table(r)}\n${verdict(r.samples).text}`);
  expect(r.errors).toEqual([]);
  expect(r.samples.length).toBeGreaterThanOrEqual(3);
  expect(r.samples.every((s) => s.used > 0 && s.total >= s.used)).toBe(true);
  // Reads went on while the heap was sampled.
  expect(r.samples.at(-1)!.reads).toBeGreaterThan(r.samples[0]!.reads);
  expect(r.reads).toBeGreaterThanOrEqual(r.samples.at(-1)!.reads);
});
