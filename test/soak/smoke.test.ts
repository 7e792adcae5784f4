// The soak's smoke test: 20 seconds of continuous reads in a browser worker through websockify,
// with the worker's heap sampled over CDP. It checks that the runner works and every read was
// right; whether the heap stays flat is for `npm run soak` (30 minutes) to say.

import { expect, it } from 'vitest';
import { runSoak, table, verdict } from './soak.js';

it('soak-smoke-reads-verified-and-worker-heap-sampled', async () => {
  const r = await runSoak({ seconds: 20, interval: 2, dist: 'dist' });
  console.log(`${table(r)}\n${verdict(r.samples).text}`);
  expect(r.errors).toEqual([]);
  expect(r.samples.length).toBeGreaterThanOrEqual(10);
  expect(r.samples.every((s) => s.used > 0 && s.total >= s.used)).toBe(true);
  expect(r.reads).toBeGreaterThan(0);
  // Reads went on all along: every sample after the first saw more of them.
  r.samples.slice(1).forEach((s, i) => expect(s.reads).toBeGreaterThan(r.samples[i]!.reads));
});
