// `npm run bench`: issue #7's benchmark at full size. Prints the table and writes
// test/bench/results.json. Run by Vitest (see vitest.config.ts here), which gives it the
// servers' clean-up and the browser helpers; it asserts nothing about speed.

import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { it } from 'vitest';
import { runBench } from './harness.js';
import { report } from './report.js';

const MiB = 1 << 20;

it('bench', async () => {
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const results = await runBench({
    exportBytes: 256 * MiB,
    hexBytes: 64 * MiB,
    browserPasses: 4, // 1 GiB through the worker, for the heap figure
    ceilingBytes: 256 * MiB, // floods before each pass
    latencySamples: 1000,
    firstSectorRuns: 9,
    runs: 5,
    site: resolve(import.meta.dirname, '../../build/bench-dist'),
    profile: process.env.BENCH_PROFILE === '1',
    log,
  });
  writeFileSync(resolve(import.meta.dirname, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  log(`\n${report(results)}\n`);
});
