// Property-based fuzzing of the handle against hostile server byte streams (support/hostile-cases.ts
// makes them, support/hostile-fuzz.ts runs one and checks the invariants). A bounded run here;
// `npm run fuzz` runs a million cases or more (test/fuzz/run.ts). FUZZ_SEED replays a seed.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runCase } from '../support/hostile-fuzz.js';
import { caseArb, fuzzProperty, greetingCaseArb, optCaseArb, randomCaseArb, structuredCaseArb } from '../support/hostile-cases.js';

const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;

describe('fuzz: hostile server streams never break the handle\'s invariants', () => {
  const runs: [string, typeof caseArb, number][] = [
    ['purely random bytes', randomCaseArb, 500],
    ['a valid greeting, then random bytes', greetingCaseArb, 500],
    ['valid handshakes and replies, mutated', structuredCaseArb, 1500],
    ['opt mode: options, GO, then replies, mutated', optCaseArb, 700],
  ];
  // A few seconds each on an idle machine; on a loaded one, stop (passing) after 20 s.
  it.each(runs)('%s', async (_name, arb, numRuns) => {
    await fc.assert(fuzzProperty(arb), { numRuns, interruptAfterTimeLimit: 20_000, ...(seed === undefined ? {} : { seed }) });
  }, 60_000);

  it('the structure-aware generator gets deep: most cases connect, many commands succeed', async () => {
    // Without this, a generator that never got past the magic would pass every property.
    let connected = 0;
    let succeeded = 0;
    for (const c of [...fc.sample(structuredCaseArb, { numRuns: 200, seed: 42 }), ...fc.sample(optCaseArb, { numRuns: 100, seed: 42 })]) {
      const o = await runCase(c);
      expect(o.problems).toEqual([]);
      connected += o.connected ? 1 : 0;
      succeeded += o.succeeded;
    }
    expect(connected).toBeGreaterThan(200);
    expect(succeeded).toBeGreaterThan(200);
  });
});
