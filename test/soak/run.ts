// `npm run soak [-- --minutes N] [--interval S]`: the soak at full length (30 minutes by default),
// printing each sample, then a table and a verdict; exits 1 if the worker's heap grew or a read failed.

import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runSoak, table, verdict } from './soak.js';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '30' }, interval: { type: 'string', default: '5' } } });
const minutes = Number(values.minutes);
const interval = Number(values.interval);
if (!(minutes > 0) || !(interval > 0)) {
  process.stderr.write('usage: npm run soak -- [--minutes N] [--interval SECONDS]\n');
  process.exit(2);
}
process.stderr.write(`soak: ${minutes} min, a worker heap sample every ${interval} s\n`);
const r = await runSoak({
  seconds: minutes * 60,
  interval,
  dist: resolve('build/soak-dist'),
  onSample: (s) => process.stderr.write(`soak: ${s.t.toFixed(0)}s heap ${(s.used / 1048576).toFixed(2)} MiB, ${s.reads} reads\n`),
});
const v = verdict(r.samples);
const end = r.samples.at(-1)?.t ?? 0;
process.stdout.write(`${table(r)}\n\n${r.reads} reads (${(r.bytes / 2 ** 30).toFixed(1)} GiB) in ${end.toFixed(0)} s, every byte verified; ${(r.reads / end).toFixed(0)} reads/s\n`);
for (const e of r.errors) process.stdout.write(`error: ${e}\n`);
process.stdout.write(`verdict: ${v.text}${r.errors.length ? `; ${r.errors.length} read error(s)` : ''}\n`);
process.exit(v.flat && r.errors.length === 0 ? 0 : 1);
