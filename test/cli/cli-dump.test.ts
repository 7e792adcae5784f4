// `webnbd dump` against nbddump, and `webnbd dump -C [-s] [-n]` against hexdump -C of the same
// bytes, on real nbdkit exports: data, zero runs block status reports, sparse exports past 4 GiB,
// big exports formatted in worker threads; and stdout that closes early or reads slowly.
import { spawn } from 'node:child_process';
import { closeSync, ftruncateSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startNbdkit } from '../support/servers.js';
import { random } from '../support/data.js';
import { ROOT, cliFixture, runRaw as run, webnbdRaw as webnbd, type RawRun as Run } from '../support/cli.js';

const dir = cliFixture('cli-dump');


async function same(a: Promise<Run>, b: Promise<Run>): Promise<void> {
  const [x, y] = await Promise.all([a, b]);
  expect(x.stderr).toBe('');
  expect(x.status).toBe(y.status);
  // Compare as text, for readable failures.
  expect(x.stdout.toString('latin1')).toBe(y.stdout.toString('latin1'));
}


/** A file of random data with zero runs (whole 4 KiB blocks, so block status sees some). */
function sample(name: string, size: number): string {
  const b = random(size, size);
  for (const [from, len] of [[100, 50], [4096, 3 * 4096], [20000, 8192 + 33], [size - 5000, 4096]]) b.fill(0, from, from + len);
  const path = join(dir, name);
  writeFileSync(path, b);
  return path;
}

describe('cli-dump-matches-nbddump', () => {
  it('data with zero runs, in all forms', async () => {
    const path = sample('a', 100_001);
    const s = await startNbdkit(['file', path], { unix: true });
    await Promise.all([
      same(webnbd('dump', s.uri), run('nbddump', [s.uri])),
      same(webnbd('dump', '--colour', s.uri), run('nbddump', ['--colour', s.uri])),
      ...['0', '1', '17', '4096', '99999', '-1', '10junk'].map((n) =>
        same(webnbd('dump', '-n', n, s.uri), run('nbddump', ['-n', n, s.uri]))),
    ]);
  });

  it('a sparse export past 4 GiB, whose zeroes are not read', async () => {
    const s = await startNbdkit(['data', '1 @0x100000000 2 3 @0x10000000f 4'], { verbose: true });
    const ours = await webnbd('dump', s.uri);
    // Hardly anything read: the 4 GiB of zeroes came from block status.
    const reads = [...s.log().matchAll(/pread count=(\d+)/g)].map((m) => Number(m[1]));
    expect(reads.reduce((a, b) => a + b, 0)).toBeLessThan(1 << 20);
    await same(Promise.resolve(ours), run('nbddump', [s.uri]));
  });

  it('an empty export', async () => {
    const s = await startNbdkit(['null', '0']);
    await same(webnbd('dump', s.uri), run('nbddump', [s.uri]));
  });

  it('a big export, formatted in worker threads and not', async () => {
    const path = join(dir, 'big');
    writeFileSync(path, random(40 << 20, 5));
    const s = await startNbdkit(['file', path], { unix: true });
    const expected = run('nbddump', [s.uri]);
    await same(webnbd('dump', '--threads=2', s.uri), expected);
    await same(webnbd('dump', '--threads=0', s.uri), expected);
  });
});

describe('cli-dump-C-matches-hexdump', () => {
  const path = sample('c', 70_003);
  const options = [[], ['-s', '5'], ['-s', '5', '-n', '40'], ['-s', '0x10', '-n', '1K'], ['-n', '0'], ['-s', '10', '-n', '0'],
    ['-s', '1000000'], ['-n', '17'], ['-s', '1KiB', '-n', '1KB'], ['-s', '70003'], ['-s', '4097', '-n', '20000']];
  it('-s and -n as hexdump reads them', async () => {
    const s = await startNbdkit(['file', path], { unix: true });
    await Promise.all(options.map((o) => same(webnbd('dump', '-C', ...o, s.uri), run('hexdump', ['-C', ...o, path]))));
  });

  it('offsets past 2^32', async () => {
    const big = join(dir, 'sparse');
    const fd = openSync(big, 'w');
    ftruncateSync(fd, 2 ** 32 + 100);
    writeSync(fd, random(64, 3), 0, 64, 2 ** 32 - 20);
    closeSync(fd);
    const s = await startNbdkit(['file', big], { unix: true });
    for (const o of [['-s', String(2 ** 32 - 40)], ['-s', String(2 ** 32 - 3), '-n', '50']]) {
      await same(webnbd('dump', '-C', ...o, s.uri), run('hexdump', ['-C', ...o, big]));
    }
  });

  it('a big export, formatted in worker threads', async () => {
    const bigPath = join(dir, 'big-c');
    writeFileSync(bigPath, random(36 << 20, 8));
    const s = await startNbdkit(['file', bigPath], { unix: true });
    await same(webnbd('dump', '-C', '-s', '3', s.uri), run('hexdump', ['-C', '-s', '3', bigPath]));
  });
});

describe('cli-dump-stdout', () => {
  it('stops quietly when the reader goes away (| head)', async () => {
    const s = await startNbdkit(['pattern', '1G']);
    const child = spawn('node', ['bin/webnbd.js', 'dump', s.uri], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const first = await new Promise<Buffer>((resolve) => child.stdout.once('data', resolve));
    child.stdout.destroy();
    const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(first.toString('latin1')).toMatch(/^0000000000: 00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 08 /);
    expect({ status, stderr }).toEqual({ status: 0, stderr: '' });
  });

  it('keeps memory bounded while the reader is slow', async () => {
    const s = await startNbdkit(['pattern', '1G']);
    const child = spawn('node', ['bin/webnbd.js', 'dump', '-C', s.uri], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.pause();
    // Read nothing for a while: a command that buffered would grow towards the 5 GB of output.
    await new Promise((r) => setTimeout(r, 3000));
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const rss = Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
    child.kill();
    expect(rss).toBeLessThan(400 << 20);
  });
});
