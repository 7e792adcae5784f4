// `npm run bridge-attack`: the long run of test/soak/bridge-attack.ts, printing each scene's figures
// (docs/reliability.md shows them). Exits 1 if a good client saw an error or the server died.
import { resolve } from 'node:path';
import { attackersVsReaders, manyAtOnce, neverReader, readersVsDroppers, runBridge } from './bridge-attack.js';

const root = resolve(import.meta.dirname, '../../..');
const say = (s: string) => process.stdout.write(`${s}\n`);
const MiB = 1 << 20;
let failed = false;
const check = (ok: boolean, what: string) => {
  if (!ok) failed = true;
  say(`  ${ok ? 'ok' : 'FAILED'}: ${what}`);
};

{
  const b = await runBridge(root);
  const r = await readersVsDroppers(b, 3, 50, 5);
  say(`3 readers vs 50 droppers: ${r.reads} reads of 1 MiB verified (${(r.bytes / MiB).toFixed(0)} MiB) in ${r.seconds.toFixed(1)} s; ${r.droppers} droppers; errors ${r.errors.length}`);
  check(r.errors.length === 0 && r.sameServer && !/Assertion|restarting/.test(b.log()), 'no error, the same nbdkit throughout');
  await b.stop();
}
{
  const b = await runBridge(root, ['--max-connections', '400', '--max-per-address', '400']);
  const r = await manyAtOnce(b, 300);
  say(`300 clients at once: ${r.reads} reads verified in ${r.seconds.toFixed(1)} s; errors ${r.errors.length}`);
  check(r.errors.length === 0 && r.reads === 300, 'all 300 served');
  await b.stop();
}
{
  const b = await runBridge(root);
  const r = await attackersVsReaders(b, { slow: 500, idle: 200, good: 20, seconds: 20 });
  say(`500 slow-header + 200 idle + 1 oversized frame vs 20 readers for 20 s: ${r.reads} reads verified, errors ${r.errors.length}; ` +
    `slow still open ${r.slowStillOpen}, idle still open ${r.idleStillOpen}, oversized frame ${r.frame}; refused ${r.refusedLines}, upgrade timeouts ${r.upgradeTimeouts}`);
  check(r.errors.length === 0 && r.reads > 0, 'the 20 readers served throughout');
  await b.stop();
}
{
  const b = await runBridge(root);
  const r = await neverReader(b, 40, 15);
  say(`a client asking for 40 reads of 32 MiB (${r.asked / MiB} MiB) and never reading, 15 s: bridge RSS ${(r.before / MiB).toFixed(1)} -> peak ${(r.peak / MiB).toFixed(1)} MiB; a reader meanwhile: ${r.reads} reads, errors ${r.errors.length}`);
  check(r.errors.length === 0 && r.peak - r.before < 64 * MiB, 'memory bounded, the reader served');
  await b.stop();
}
process.exit(failed ? 1 : 0);
