// The short version of `npm run bridge-attack`: many good clients at once, and attackers (slow
// headers, silent WebSockets, an oversized frame) held off while good clients read every byte.
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { attackersVsReaders, manyAtOnce, runBridge, type RunningBridge } from '../soak/bridge-attack.js';

const root = resolve(import.meta.dirname, '../..');
const running: RunningBridge[] = [];
afterAll(() => Promise.all(running.map((b) => b.stop())));
const bridge = async (args: string[] = []) => {
  const b = await runBridge(root, args);
  running.push(b);
  return b;
};

describe('bridge under attack', () => {
  it('serves-40-clients-at-once-every-byte-verified', async () => {
    const r = await manyAtOnce(await bridge(), 40);
    expect(r.errors).toEqual([]);
    expect(r.reads).toBe(40);
  });

  it('slow-headers-silent-websockets-and-an-oversized-frame-are-held-off-while-good-clients-read', async () => {
    const b = await bridge(['--upgrade-timeout', '1', '--handshake-timeout', '1.5', '--max-per-address', '40', '--max-frame', '1M']);
    const r = await attackersVsReaders(b, { slow: 60, idle: 30, good: 4, seconds: 3 });
    expect(r.errors).toEqual([]);
    expect(r.reads).toBeGreaterThan(0);
    expect(r.slowStillOpen).toBe(0); // 40 admitted then timed out, 20 refused
    expect(r.idleStillOpen).toBe(0);
    expect(r.frame).toBe('closed 1009');
    expect(r.refusedLines).toBe(20);
    expect(r.upgradeTimeouts).toBe(40);
    expect(b.log()).toMatch(/127\.0\.0\.3: NBD handshake not finished within 1\.5 s; closed/);
  }, 30_000);
});
