// The processes a test started, as /proc sees them: for checking that a command stops all it ran.
import { readFileSync, readdirSync } from 'node:fs';

/** Every process below `pid`, with its command line ('' once gone). */
export function descendants(pid: number): { pid: number; cmd: string }[] {
  const parent = new Map<number, number>();
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      parent.set(Number(p), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const below = (p: number): number[] => [...parent].filter(([, pp]) => pp === p).flatMap(([c]) => [c, ...below(c)]);
  return below(pid).map((p) => {
    try {
      return { pid: p, cmd: readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ') };
    } catch {
      return { pid: p, cmd: '' };
    }
  });
}
