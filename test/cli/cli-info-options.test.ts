// `webnbd info --size|--is|--can|--has|--uri|--content` against nbdinfo 1.14 where it has the
// option (same stdout, stderr and exit status), and against what newer nbdinfo documents where it
// does not (--has, --isnt, --cannot, --uri, --can block-status-payload|extended-headers).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startNbdkit, startQemuNbd } from '../support/servers.js';
import { cliFixture, run, webnbd, type Run } from '../support/cli.js';

const dir = cliFixture('cli-info-options');

const mine = (r: Run): Run => ({ ...r, stderr: r.stderr.replace(/^nbdinfo: /gm, 'webnbd: ') });

/** Same stdout, stderr (program name aside) and exit status as nbdinfo with the same options. */
async function same(args: string[]): Promise<Run> {
  const [a, b] = await Promise.all([webnbd('info', ...args), run('nbdinfo', args)]);
  expect({ args, ...a }).toEqual({ args, ...mine(b) });
  return a;
}

const CAN = ['connect', 'write', 'Structured_Replies', 'FastZero', 'multi-conn', 'zero'];

describe('cli-info-options-match-nbdinfo', () => {
  it('info-size-is-can-on-nbdkit', async () => {
    const servers = await Promise.all([
      startNbdkit(['memory', '3M']),
      startNbdkit(['-r', '--filter=nozero', 'null', String(2n ** 63n - 1n)], { unix: true }),
      startNbdkit(['--filter=multi-conn', '--filter=noextents', 'memory', '1M', 'multi-conn-mode=disable']),
    ]);
    for (const s of servers) {
      await same(['--size', s.uri]);
      await same(['--size', '--json', s.uri]);
      await Promise.all(CAN.map((c) => same(['--can', c, s.uri])));
      await Promise.all(['read-only', 'rotational'].map((c) => same(['--is', c, s.uri])));
    }
    // The answers differ between the servers, so the statuses are not all alike.
    const statuses = await Promise.all(servers.map(async (s) => (await webnbd('info', '--can', 'zero', s.uri)).status));
    expect(statuses).toEqual([0, 2, 0]);
    expect((await webnbd('info', '--can', 'multi-conn', servers[2]!.uri)).status).toBe(2);
  });

  it('info-option-errors-as-nbdinfo', async () => {
    const s = await startNbdkit(['memory', '1M']);
    const r = await same(['--can', 'teleport', s.uri]);
    expect(r.status).toBe(1);
    await same(['--size', '--can', 'zero', s.uri]);
    await same(['--content', '--no-content', s.uri]);
    await same(['--size', 'nbd://127.0.0.1:1/']);
  });

  it('info-content-as-file-says', async () => {
    const img = join(dir, 'mbr.img');
    const bytes = Buffer.alloc(1 << 20);
    bytes.writeUInt16LE(0xaa55, 510);
    bytes.writeUInt8(0x83, 446 + 4);
    bytes.writeUInt32LE(2048, 446 + 8);
    bytes.writeUInt32LE(4096, 446 + 12);
    writeFileSync(img, bytes);
    const q = await startQemuNbd(img, { format: 'raw', readOnly: true });
    const text = await run('nbdinfo', [q.uri]);
    expect(text.stdout).toMatch(/\tcontent: DOS\/MBR boot sector/);
    expect((await webnbd('info', '--content', q.uri)).stdout).toBe(text.stdout);
    expect((await webnbd('info', '--content', '--json', q.uri)).stdout).toBe((await run('nbdinfo', ['--json', q.uri])).stdout);
    const small = await startNbdkit(['data', '"hello world" @8', 'size=19']);
    expect((await webnbd('info', '--content', small.uri)).stdout).toBe((await run('nbdinfo', [small.uri])).stdout);
    await same(['--no-content', small.uri]);
    // --list --content: each export probed on a connection of its own.
    const two = await startNbdkit(['--filter=exportname', 'data', '"hi" @510 0x55 0xaa', 'size=1M', 'exportname-list=explicit',
      'exportname=a', 'exportname=b']);
    for (const extra of [[], ['--json']]) {
      const [a, b] = await Promise.all([webnbd('list', '--content', ...extra, two.uri), run('nbdinfo', ['--list', '--content', ...extra, two.uri])]);
      expect(a).toEqual(mine(b));
      expect(a.stdout.match(/DOS\/MBR boot sector/g)).toHaveLength(2);
    }
  });

  it('info-newer-options-has-isnt-cannot-uri', async () => {
    const s = await startNbdkit(['memory', '1M']);
    const ro = await startNbdkit(['-r', 'memory', '1M'], { unix: true });
    const status = async (...a: string[]) => (await webnbd('info', ...a)).status;
    expect(await status('--has', 'base:allocation', s.uri)).toBe(0);
    expect(await status('--has', 'qemu:allocation-depth', s.uri)).toBe(2);
    expect(await status('--hasnt', 'qemu:allocation-depth', s.uri)).toBe(0);
    expect(await status('--isnt', 'read-only', s.uri)).toBe(0);
    expect(await status('--isnt', 'read-only', ro.uri)).toBe(2);
    expect(await status('--cannot', 'write', ro.uri)).toBe(0);
    expect(await status('--can', 'block-status-payload', s.uri)).toBe(2);
    expect(await status('--can', 'extended-headers', s.uri)).toBe(2);
    expect((await webnbd('info', '--uri', s.uri)).stdout).toBe(`${s.uri}\n`);
    const u = await webnbd('info', '--uri', ro.uri);
    expect(u.stdout).toMatch(/^nbd\+unix:\/\/\/\?socket=.*\n$/);
    expect(u.stdout).toBe(`${(await webnbd('info', '--json', ro.uri)).stdout.match(/"uri": "([^"]*)"/)![1]}\n`);
  });
});
