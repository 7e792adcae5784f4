// `npm run bench`: issue #7's benchmark at full size. Prints the table, writes
// test/bench/results.json and replaces the latest run's section of docs/performance.md (never the
// README). BENCH_ONLY=browser,first-sector (of node, dumps, copy, browser, download, first-sector) runs those
// phases and prints them, writing nothing. Run by Vitest (see vitest.config.ts here), which gives
// it the servers' clean-up and the browser helpers; it asserts nothing about speed.

import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { it } from 'vitest';
import { runBench } from './harness.js';
import { replaceSection, report } from './report.js';

const MiB = 1 << 20;
const DOC = resolve(import.meta.dirname, '../../docs/performance.md');

it('bench', async () => {
  const log = (line: string) => process.stdout.write(`${line}\n`);
  replaceSection(readFileSync(DOC, 'utf8'), ''); // a document without its markers fails now, not after the run
  const results = await runBench({
    exportBytes: 256 * MiB,
    hexBytes: 64 * MiB,
    copyBytes: 1024 * MiB,
    browserPasses: 4, // 1 GiB through the worker, for the heap figure
    ceilingBytes: 256 * MiB, // floods before each pass
    latencySamples: 1000,
    downloadBytes: 1024 * MiB,
    downloadPasses: 3,
    firstSectorRuns: 9,
    runs: 5,
    site: resolve(import.meta.dirname, '../../build/bench-dist'),
    profile: process.env.BENCH_PROFILE === '1',
    ...(process.env.BENCH_ONLY ? { only: process.env.BENCH_ONLY.split(',') } : {}),
    log,
  });
  if (process.env.BENCH_ONLY) {
    // Some phases only: printed, never written over a whole run's results.
    log(`\n${report(results)}\n\nBENCH_ONLY=${process.env.BENCH_ONLY}: nothing written.`);
    return;
  }
  writeFileSync(resolve(import.meta.dirname, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  const table = report(results);
  const day = new Date().toISOString().slice(0, 10);
  writeFileSync(DOC, replaceSection(readFileSync(DOC, 'utf8'), `Run of ${day}.\n\n${table}`));
  log(`\n${table}\n\nWritten to test/bench/results.json and docs/performance.md.`);
});
