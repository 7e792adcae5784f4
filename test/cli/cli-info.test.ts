// `webnbd info`, `list` and `map` against nbdinfo --no-content, --list and --map, byte for byte,
// on the same real servers (nbdkit in many configurations, qemu-nbd for qemu's contexts).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startNbdkit, startQemuNbd, type NbdServer } from '../support/servers.js';
import { cliFixture, run, webnbd, type Run } from '../support/cli.js';

const dir = cliFixture('cli-info');

const nbdinfo = (...args: string[]): Promise<Run> => run('nbdinfo', args);

/** Same stdout and exit status as nbdinfo with the corresponding options. */
async function same(ours: string[], theirs: string[]): Promise<void> {
  const [a, b] = await Promise.all([webnbd(...ours), nbdinfo(...theirs)]);
  expect({ args: ours, stdout: a.stdout, status: a.status }).toEqual({ args: ours, stdout: b.stdout, status: b.status });
}

/** Every form of info, list and map for one URI. */
async function everyForm(uri: string): Promise<void> {
  await Promise.all([[], ['--json'], ['--colour']].flatMap((extra) => [
    same(['info', ...extra, uri], ['--no-content', ...extra, uri]),
    same(['list', ...extra, uri], ['--list', ...extra, uri]),
    same(['map', ...extra, uri], ['--map', ...extra, uri]),
    same(['map', '--totals', ...extra, uri], ['--map', '--totals', ...extra, uri]),
  ]));
}

describe('cli-info-matches-nbdinfo', () => {
  const servers: [string, () => Promise<NbdServer>][] = [
    ['a writable memory export over TCP', () => startNbdkit(['memory', '1M'])],
    ['data and holes over a Unix socket', () => startNbdkit(['data', '1 @4096 2 @1048576 3 @16777216 4'], { unix: true })],
    ['a read-only export with block sizes and size 2^63-1', () => startNbdkit(['-r', '--filter=blocksize-policy', 'null',
      String(2n ** 63n - 1n), 'blocksize-minimum=512', 'blocksize-preferred=4096', 'blocksize-maximum=33554432'])],
    ['the oldstyle handshake', () => startNbdkit(['memory', '1G'], { oldstyle: true })],
    ['an empty export', () => startNbdkit(['null', '0'], { unix: true })],
    ['an export with a description', () => startNbdkit(['--filter=exportname', 'memory', '3G', 'exportdesc=fixed:the "disk"'])],
    ['extents of every base:allocation type, some next to each other', () => startNbdkit(['eval', 'get_size=echo 409600',
      'pread=exit 1', 'can_extents=exit 0',
      'extents=echo 0 512; echo 512 512; echo 1024 512 hole; echo 1536 512 zero; echo 2048 512 hole,zero; echo 2560 407040'])],
  ];
  for (const [name, start] of servers) {
    it(name, async () => everyForm((await start()).uri));
  }

  it('several exports with names that need escaping', async () => {
    const names = ['a', 'b c', 'q"uo\\te', 'é-x'];
    const s = await startNbdkit(['--filter=exportname', 'memory', '1M', 'exportname-list=explicit',
      'exportdesc=fixed:shared', ...names.map((n) => `exportname=${n}`)], { unix: true });
    await everyForm(s.uri);
    await everyForm(s.uri.replace('///?', `///${encodeURIComponent('b c')}?`));
  });

  it('an export that cannot be opened: the rest is printed, exit status 1', async () => {
    const s = await startNbdkit(['eval', 'list_exports=printf "INTERLEAVED\\na\\n\\nb\\nb-desc\\nbad\\n\\n"',
      'get_size=echo 1024', 'open=if [ "$3" = bad ]; then echo EINVAL no >&2; exit 1; fi; echo $3',
      'default_export=echo a', 'pread=exit 1']);
    for (const extra of [[], ['--json']]) await same(['list', ...extra, s.uri], ['--list', ...extra, s.uri]);
    const bad = s.uri.replace(/\/$/, '/bad');
    await same(['info', bad], ['--no-content', bad]);
    const r = await webnbd('info', bad);
    expect(r.stderr).toMatch(/^webnbd: nbd_opt_go: .* for export: bad\n/);
  });

  it("qemu-nbd's dirty bitmaps and allocation depth", async () => {
    const base = join(dir, 'base.qcow2');
    const top = join(dir, 'top.qcow2');
    const q = (...a: string[]) => execFileSync(a[0]!, a.slice(1), { stdio: 'ignore' });
    q('qemu-img', 'create', '-q', '-f', 'qcow2', base, '4M');
    q('qemu-io', '-c', 'write -P 1 0 64k', base);
    q('qemu-img', 'create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', top);
    q('qemu-img', 'bitmap', '--add', top, 'b0');
    q('qemu-io', '-c', 'write -P 2 1M 64k', '-c', 'write -z 2M 64k', top);
    const s = await startQemuNbd(top, { format: 'qcow2', readOnly: true, extraArgs: ['-A', '-B', 'b0'] });
    await everyForm(s.uri);
    await Promise.all(['qemu:allocation-depth', 'qemu:dirty-bitmap:b0'].flatMap((ctx) =>
      [[], ['--json'], ['--colour'], ['--totals'], ['--totals', '--json'], ['--totals', '--colour']].map((extra) =>
        same(['map', `--context=${ctx}`, ...extra, s.uri], [`--map=${ctx}`, ...extra, s.uri]))));
  });

  it('a context the server does not have', async () => {
    const s = await startNbdkit(['memory', '1M']);
    const r = await webnbd('map', '--map=qemu:nope', s.uri);
    expect(r).toEqual({ stdout: '', stderr: 'webnbd: --map: server does not support metadata context "qemu:nope"\n', status: 1 });
  });
});

describe('cli-info-handle-corners', () => {
  // libnbd's nbd_opt_list_meta_context fails without structured replies, so nbdinfo prints no
  // "contexts"; nbd_get_uri keeps "&", "=", "+", ";", "@", "$" and "," of an export name
  // (libxml2's xmlSaveUri) and always prints the port.
  it('export names with reserved characters in the uri', async () => {
    const s = await startNbdkit(['--filter=exportname', 'memory', '1M', 'exportname-list=explicit', 'exportname=a&b=c:d']);
    await same(['list', s.uri], ['--list', s.uri]);
  });

  it('no structured replies: no contexts', async () => {
    const s = await startNbdkit(['--no-sr', 'memory', '1M']);
    await same(['info', s.uri], ['--no-content', s.uri]);
  });
});
