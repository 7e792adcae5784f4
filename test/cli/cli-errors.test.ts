// The `webnbd` command's contract for failures (one line "webnbd: ...", exit status 1, never a
// stack trace), its --help and --version, and the bin/webnbd.js shim.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startNbdkit } from '../support/servers.js';
import { ROOT, cliFixture, run, webnbd, type Run } from '../support/cli.js';

const dir = cliFixture('cli-errors');


/** Failed with exit status 1 and exactly one line on stderr, matching `message`. */
function oneLine(r: Run, message: RegExp): void {
  expect(r.status).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^webnbd: [^\n]*\n$/);
  expect(r.stderr).toMatch(message);
}

describe('cli-errors-are-one-line', () => {
  it('connection refused, in libnbd words', async () => {
    const [ours, theirs] = await Promise.all([webnbd('info', 'nbd://127.0.0.1:1'), run('nbdinfo', ['nbd://127.0.0.1:1'])]);
    oneLine(ours, /^webnbd: nbd_connect_uri: connect: 127\.0\.0\.1:1: could not connect to remote host: Connection refused\n$/);
    expect(ours.stderr.replace(/^webnbd:/, 'nbdinfo:')).toBe(theirs.stderr);
    oneLine(await webnbd('dump', 'nbd://127.0.0.1:1'), /Connection refused/);
    oneLine(await webnbd('map', '--totals', 'nbd://127.0.0.1:1'), /Connection refused/);
  });

  it('bad URIs', async () => {
    oneLine(await webnbd('info', 'foo://bar'), /^webnbd: nbd_connect_uri: /);
    oneLine(await webnbd('list', 'not a uri'), /^webnbd: nbd_connect_uri: /);
    oneLine(await webnbd('dump', 'nbd+unix:///x'), /^webnbd: nbd_connect_uri: .*socket/);
    oneLine(await webnbd('dump', 'nbd+unix:///?socket=/nonexistent/sock'), /^webnbd: nbd_connect_uri: .*No such file or directory/);
  });

  it('command-line mistakes', async () => {
    oneLine(await webnbd('info', '--bogus', 'nbd://x'), /unknown option '--bogus'/);
    oneLine(await webnbd('dump', '-Z', 'nbd://x'), /unknown option '-Z'/);
    oneLine(await webnbd('info'), /missing NBD URI/);
    oneLine(await webnbd('map', 'nbd://a', 'nbd://b'), /too many arguments/);
    oneLine(await webnbd('frobnicate'), /unknown command 'frobnicate'/);
    oneLine(await webnbd('--frobnicate'), /unknown option '--frobnicate'/);
    oneLine(await webnbd('dump', '-n', 'lots', 'nbd://x'), /could not parse --length option: lots/);
    oneLine(await webnbd('dump', '-C', '-s', '1X', 'nbd://x'), /failed to parse offset: '1X'/);
    oneLine(await webnbd('dump', '-s', '5', 'nbd://x'), /-s\/--skip goes with -C/);
    oneLine(await webnbd('dump', '--threads=-1', 'nbd://x'), /--threads/);
    oneLine(await webnbd('info', '--json=yes', 'nbd://x'), /'--json' takes no value/);
    oneLine(await webnbd('dump', '-n'), /needs a value/);
  });

  it('server errors, in the words of nbddump and nbdinfo', async () => {
    const pread = await startNbdkit(['--filter=error', 'pattern', '1M', 'error-pread=EIO', 'error-pread-rate=100%']);
    const [ours, theirs] = await Promise.all([webnbd('dump', pread.uri), run('nbddump', [pread.uri])]);
    oneLine(ours, /^webnbd: nbd_pread: read: command failed: Input\/output error\n$/);
    expect(ours.stderr.replace(/^webnbd:/, 'nbddump:')).toBe(theirs.stderr);
    oneLine(await webnbd('dump', '-C', pread.uri), /nbd_pread/);

    const extents = await startNbdkit(['--filter=error', 'memory', '1M', 'error-extents=EIO', 'error-extents-rate=100%']);
    const [map, nbdinfo] = await Promise.all([webnbd('map', extents.uri), run('nbdinfo', ['--map', extents.uri])]);
    oneLine(map, /^webnbd: nbd_block_status: /);
    expect(map.stderr.replace(/^webnbd:/, 'nbdinfo:')).toBe(nbdinfo.stderr);
  });

  it('a server that dies in the middle of a dump', async () => {
    const s = await startNbdkit(['pattern', '10G']);
    const child = execFile('node', ['bin/webnbd.js', 'dump', s.uri], { cwd: ROOT, maxBuffer: 1 << 30 });
    let stderr = '';
    child.stderr!.on('data', (d: string) => { stderr += d; });
    await new Promise((resolve) => child.stdout!.once('data', resolve));
    s.kill('SIGKILL');
    const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(status).toBe(1);
    expect(stderr).toMatch(/^webnbd: nbd_pread: [^\n]*\n$/);
  });
});

describe('cli-help-and-version', () => {
  it('--version, also through npx from the repository', async () => {
    const v = await webnbd('--version');
    expect(v).toEqual({ stdout: expect.stringMatching(/^webnbd \d+\.\d+\.\d+\n$/), stderr: '', status: 0 });
    const npx = await run('npx', ['--offline', 'webnbd', '--version']);
    expect(npx.stdout).toBe(v.stdout);
    expect(npx.status).toBe(0);
  });

  it('--help for the command and each subcommand', async () => {
    const top = await webnbd('--help');
    expect(top.status).toBe(0);
    for (const cmd of ['info', 'list', 'map', 'dump']) {
      expect(top.stdout).toContain(`  ${cmd} `);
      const r = await webnbd(cmd, '--help');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: webnbd ${cmd} `));
      expect((await webnbd('help', cmd)).stdout).toBe(r.stdout);
    }
    const bare = await webnbd();
    expect(bare.status).toBe(1);
    expect(bare.stdout).toBe(top.stdout);
  });

  it('the shim says how to build when build/ is missing', async () => {
    mkdirSync(join(dir, 'bin'));
    copyFileSync(join(ROOT, 'bin/webnbd.js'), join(dir, 'bin/webnbd.js'));
    const r = await run('node', [join(dir, 'bin/webnbd.js'), '--version'], dir);
    expect(r).toEqual({ stdout: '', stderr: expect.stringMatching(/^webnbd: .*npm install.*\n$/), status: 1 });
  });
});
