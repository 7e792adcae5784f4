// One client never takes the service from another: nbdkit 1.32 aborts when a client vanishes with
// many large reads in flight (the control, straight to nbdkit), but not behind `webnbd bridge`,
// which reads every reply owed and then sends NBD_CMD_DISC. Three readers check every byte
// meanwhile. A server the bridge runs that dies anyway is restarted, and the log says so.
import { afterAll, describe, expect, it } from 'vitest';
import { startBridge, type Bridge } from '../../bridge/bridge.js';
import { dropper, goodReader, tcpDropper } from '../soak/attackers.js';
import { isAlive, startNbdkit } from '../support/servers.js';

const bridges: Bridge[] = [];
afterAll(() => Promise.all(bridges.map((b) => b.close())));

const DROPPERS = 4;

describe('bridge isolation', () => {
  it('control-nbdkit-1.32-aborts-when-a-client-drops-with-reads-in-flight', async () => {
    const nbd = await startNbdkit(['pattern', '1G']);
    let died = false;
    void nbd.exited.then(() => (died = true));
    for (let i = 0; i < 10 && !died; i++) {
      await tcpDropper(nbd.port!).catch(() => {});
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(died).toBe(true);
    expect(nbd.log()).toMatch(/Assertion `sock >= 0' failed/);
  });

  it('three-readers-verify-every-byte-while-clients-drop-20-reads-of-32-mib-and-part-of-a-write', async () => {
    const log: string[] = [];
    const b = await startBridge({ target: { command: ['nbdkit', 'pattern', '1G'] }, log: (_f, t) => log.push(t) });
    bridges.push(b);
    const pid = b.serverPid()!;
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const readers = [0, 1, 2].map(() => goodReader(b.uris[0]!, stopped));
    for (let i = 0; i < DROPPERS; i++) await dropper(b.uris[0]!);
    // Some leave the server holding part of a write, too.
    for (let i = 0; i < 2; i++) await dropper(b.uris[0]!, 20, 32 << 20, true);
    // Every reply owed to the droppers is read and dropped by the bridge; give it time to.
    await new Promise((r) => setTimeout(r, 2000));
    stop();
    const results = await Promise.all(readers);
    expect(results.flatMap((r) => r.errors)).toEqual([]);
    for (const r of results) expect(r.reads).toBeGreaterThan(0);
    expect(b.serverPid()).toBe(pid); // the same nbdkit: never died, never restarted
    expect(isAlive(pid)).toBe(true);
    expect(log.join('')).not.toMatch(/Assertion|restarting/);
    // And still serving.
    const after = await goodReader(b.uris[0]!, new Promise((r) => setTimeout(r, 200)));
    expect(after.errors).toEqual([]);
  }, 50_000);

  it('a-server-that-dies-anyway-is-restarted-and-logged', async () => {
    const log: string[] = [];
    const b = await startBridge({ target: { command: ['nbdkit', 'pattern', '1G'] }, log: (_f, t) => log.push(t) });
    bridges.push(b);
    const pid = b.serverPid()!;
    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while (!(b.serverPid() && b.serverPid() !== pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(log.join('')).toMatch(/webnbd bridge: nbdkit stopped \(killed by SIGKILL\); restarting it in 0\.5 s\n/);
    expect(log.join('')).toMatch(/webnbd bridge: nbdkit restarted \(pid \d+\)\n/);
    const r = await goodReader(b.uris[0]!, new Promise((res) => setTimeout(res, 200)));
    expect(r.errors).toEqual([]);
    expect(r.reads).toBeGreaterThan(0);
  });

  it('a-server-that-keeps-dying-is-given-up-on', async () => {
    const b = await startBridge({ target: { command: ['sh', '-c', 'nbdkit -U "$0" -f pattern 1M & sleep 0.3; kill -9 $!', '{socket}'] }, restartMs: 50 });
    bridges.push(b);
    expect(await b.exited).toMatch(/^sh stopped \(exit status 0\), 6 times within a minute of starting; not restarting$/);
  });
});
