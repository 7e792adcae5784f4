// The long fuzz run (`npm run fuzz`): the property of test/fuzz.test.ts over a million cases or
// more, in batches of fresh seeds, with progress, the seeds, the rate and a final count. A
// failure is shrunk and printed with the command that replays it.
//   npm run fuzz -- --cases 2000000 --seed 1234 --batch 20000
//   npm run fuzz -- --seed <batch seed> --path <path>     (replay one counterexample)

import fc from 'fast-check';
import { fuzzProperty } from '../support/hostile-cases.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const cases = Number(arg('cases') ?? 1_000_000);
const batch = Number(arg('batch') ?? 10_000);
const seed = Number(arg('seed') ?? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0);
const path = arg('path');
const params = {};

async function main(): Promise<number> {
  if (path !== undefined) {
    const r = await fc.check(fuzzProperty(), { ...params, seed, path });
    console.log(r.failed ? `${fc.defaultReportMessage(r)}\n\n${r.errorInstance instanceof Error ? r.errorInstance.message : String(r.errorInstance)}` : `replayed seed ${seed} path ${path}: passes now`);
    return r.failed ? 1 : 0;
  }
  console.log(`fuzz: ${cases} cases, base seed ${seed}, batches of ${batch}`);
  const t0 = Date.now();
  let done = 0;
  for (let b = 0; done < cases; b++) {
    const batchSeed = (seed + b) | 0;
    const r = await fc.check(fuzzProperty(), { ...params, seed: batchSeed, numRuns: Math.min(batch, cases - done) });
    done += r.numRuns;
    const s = (Date.now() - t0) / 1000;
    if (r.failed) {
      console.log(fc.defaultReportMessage(r));
      console.log(`\n${r.errorInstance instanceof Error ? r.errorInstance.message : String(r.errorInstance)}`);
      console.log(`\nFAILED after ${done} cases (${s.toFixed(0)} s). Replay: npm run fuzz -- --seed ${r.seed} --path ${r.counterexamplePath}`);
      return 1;
    }
    console.log(`fuzz: ${done}/${cases} cases, ${(done / s).toFixed(0)} cases/s, ${s.toFixed(0)} s, batch seed ${batchSeed}`);
  }
  const s = (Date.now() - t0) / 1000;
  console.log(`fuzz: done, ${done} cases in ${s.toFixed(0)} s (${(done / s).toFixed(0)} cases/s), 0 failures, base seed ${seed}`);
  return 0;
}

process.exitCode = await main();
