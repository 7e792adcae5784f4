// The first-sector benchmark on its own (see first-sector.config.ts): prints each run and the median.
import { resolve } from 'node:path';
import { it } from 'vitest';
import { firstSector } from './first-sector.js';

it('first sector of a 1 TiB sparse export', async () => {
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const ms = await firstSector({ site: resolve(import.meta.dirname, '../../build/bench-dist'), runs: Number(process.env.RUNS ?? 9), log });
  log(`first sector on screen (median): ${ms.toFixed(1)} ms (target: 100 ms or less)`);
});
