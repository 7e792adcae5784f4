// Property-based fuzzing of the handle against hostile server byte streams (support/hostile-stream.ts
// makes them, support/hostile-fuzz.ts runs one and checks the invariants). A bounded run here;
// `npm run fuzz` runs a million cases or more (test/fuzz/run.ts). FUZZ_SEED replays a seed.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runCase } from './support/hostile-fuzz.js';
import { caseArb, fuzzProperty, greetingCaseArb, randomCaseArb, structuredCaseArb } from './support/hostile-stream.js';

const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;

describe('fuzz: hostile server streams never break the handle\'s invariants', () => {
  const runs: [string, typeof caseArb, number][] = [
    ['purely random bytes', randomCaseArb, 1000],
    ['a valid greeting, then random bytes', greetingCaseArb, 1000],
    ['valid handshakes and replies, mutated', structuredCaseArb, 4000],
  ];
  it.each(runs)('%s', async (_name, arb, numRuns) => {
    await fc.assert(fuzzProperty(arb), { numRuns, ...(seed === undefined ? {} : { seed }) });
  }, 60_000);

  it('the structure-aware generator gets deep: most cases connect, many commands succeed', async () => {
    // Without this, a generator that never got past the magic would pass every property.
    let connected = 0;
    let succeeded = 0;
    for (const c of fc.sample(structuredCaseArb, { numRuns: 300, seed: 42 })) {
      const o = await runCase(c);
      expect(o.problems).toEqual([]);
      connected += o.connected ? 1 : 0;
      succeeded += o.succeeded;
    }
    expect(connected).toBeGreaterThan(200);
    expect(succeeded).toBeGreaterThan(200);
  });
});
