// `webnbd inspect` on each kind of disk it takes (raw image, qcow2 through qemu-nbd, a block
// device, nbd:// and nbd+unix:// servers), read through the bridge it starts from a page of the
// origin it serves, as the inspector reads: read-only unless --rw; SIGTERM and SIGHUP stop
// everything it started; mistakes are one line and exit status 1.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { launch } from '../support/browser.js';
import { ROOT, cliFixture, webnbd } from '../support/cli.js';
import { random } from '../support/data.js';
import { readThrough, startInspect } from '../support/inspect.js';
import { startNbdkit } from '../support/servers.js';

const dir = cliFixture('inspect');
const SIZE = 4 << 20;
const bytes = random(SIZE, 33);
const raw = join(dir, 'raw.img');
writeFileSync(raw, bytes);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const inspect = (...args: string[]) => startInspect('node', [join(ROOT, 'bin/webnbd.js'), 'inspect', ...args], dir);
const pgrep = (pattern: string): string => {
  try {
    return execFileSync('pgrep', ['-f', '--', pattern]).toString();
  } catch {
    return '';
  }
};

afterAll(async () => { await (await launch()).close(); });

async function page() {
  return (await launch()).newPage();
}

describe('what it serves', () => {
  it('a raw image: read-only, through nbdkit, its bytes on an isolated page of its origin; SIGTERM stops it', async () => {
    const i = await inspect('raw.img');
    expect(i.output()).toMatch(/^webnbd: raw\.img \(nbdkit file, read-only\) at nbd\+ws:\/\/127\.0\.0\.1:\d+\/\S*\nwebnbd: inspector at http:\/\/127\.0\.0\.1:\d+\/\?src=\S+\n/);
    const p = await page();
    expect(await readThrough(p, i.url, i.uri)).toEqual({ hex: hex(bytes.subarray(0, 512)), readOnly: true, isolated: true });
    // A write is refused before it is sent (the export is read-only), and the file is unchanged.
    const refused = await p.evaluate(async (u) => {
      const h = window.webnbd.create();
      await h.connectUri(u);
      try {
        await h.pwrite(new Uint8Array(512).fill(1), 0);
        return 'written';
      } catch (e) {
        return (e as { code: string }).code;
      } finally {
        await h.shutdown();
      }
    }, i.uri);
    expect(refused).toBe('EPERM');
    await p.close();
    expect(pgrep(`file ${raw}`)).not.toBe('');
    expect(await i.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(pgrep(`file ${raw}`)).toBe('');
  });

  it('a raw image with --rw: a write from the page lands in the file; SIGHUP stops it', async () => {
    const file = join(dir, 'rw.img');
    writeFileSync(file, bytes.subarray(0, 1 << 20));
    const i = await inspect('--rw', 'rw.img');
    expect(i.output()).toContain('(nbdkit file, read-write)');
    const p = await page();
    await p.goto(new URL('/lab.html', i.url).href);
    await p.waitForFunction(() => 'webnbd' in window);
    const wrote = await p.evaluate(async (u) => {
      const h = window.webnbd.create();
      await h.connectUri(u);
      const readOnly = h.isReadOnly();
      await h.pwrite(new Uint8Array(512).fill(0xab), 4096);
      await h.flush();
      await h.shutdown();
      return readOnly;
    }, i.uri);
    await p.close();
    expect(wrote).toBe(false);
    expect(hex(readFileSync(file).subarray(4096, 4608))).toBe('ab'.repeat(512));
    expect(await i.stop('SIGHUP')).toEqual({ code: 0, signal: null });
    expect(pgrep(`file ${file}`)).toBe('');
  });

  it('a qcow2 image, recognised by its magic: qemu-nbd serves its guest data, read-only', async () => {
    const qcow2 = join(dir, 'disk.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
    const i = await inspect('disk.qcow2');
    expect(i.output()).toContain('disk.qcow2 (qemu-nbd, qcow2, read-only)');
    const p = await page();
    expect(await readThrough(p, i.url, i.uri, 4096)).toEqual({ hex: hex(bytes.subarray(0, 4096)), readOnly: true, isolated: true });
    await p.close();
    expect(pgrep(`qemu-nbd --read-only -t -f qcow2 --socket=\\S+ ${qcow2}`)).not.toBe('');
    expect(await i.stop()).toEqual({ code: 0, signal: null });
    expect(pgrep(qcow2)).toBe('');
  });

  it('a block device (a loop device on the raw image), read-only', async () => {
    const loop = execFileSync('losetup', ['--find', '--show', '--read-only', raw]).toString().trim();
    try {
      const i = await inspect(loop);
      expect(i.output()).toContain(`${loop} (nbdkit file, read-only)`);
      const p = await page();
      expect(await readThrough(p, i.url, i.uri)).toEqual({ hex: hex(bytes.subarray(0, 512)), readOnly: true, isolated: true });
      await p.close();
      expect(await i.stop()).toEqual({ code: 0, signal: null });
      expect(pgrep(`file ${loop}`)).toBe('');
    } finally {
      execFileSync('losetup', ['--detach', loop]);
    }
  });

  it.each([false, true])('an NBD server (Unix socket: %s), through nbdkit\'s nbd plugin, read-only even if the server is not', async (unix) => {
    const server = await startNbdkit(['memory', '1M'], { unix });
    const i = await inspect(server.uri);
    expect(i.output()).toContain(`${server.uri} (through nbdkit's nbd plugin, read-only)`);
    const p = await page();
    expect(await readThrough(p, i.url, i.uri)).toEqual({ hex: '00'.repeat(512), readOnly: true, isolated: true });
    await p.close();
    expect(await i.stop()).toEqual({ code: 0, signal: null });
    expect(pgrep(`uri=${server.uri}`)).toBe('');
  });
});

describe('mistakes', () => {
  it.each([
    [['nope.img'], 'webnbd: inspect: nope.img: no such file\n'],
    [['/dev/null'], 'webnbd: inspect: /dev/null: not a file or a block device\n'],
    [['http://example.org/disk.img'], 'webnbd: inspect: http://example.org/disk.img: give a file, a block device, or an nbd:// or nbd+unix:// URI\n'],
    [['nbd://127.0.0.1:1/'], 'webnbd: nbd_connect_uri: connect: 127.0.0.1:1: could not connect to remote host: Connection refused\n'],
    [['--port', 'x', 'raw.img'], 'webnbd: inspect: --port x: not a port number\n'],
    [['--format', 'qcow2', 'nbd://127.0.0.1/'], 'webnbd: inspect: --format is for image files, not NBD URIs\n'],
    [[], "webnbd: inspect: missing DISK or NBD URI (see 'webnbd inspect --help')\n"],
  ])('webnbd inspect %j: one line, exit status 1', async (args, line) => {
    const r = await webnbd('inspect', ...args.map((a) => (a === 'raw.img' ? raw : a)));
    expect(r).toEqual({ stdout: '', stderr: line, status: 1 });
  });

  it('a server that fails (qemu-nbd told a raw image is vmdk): its reason, exit status 1, nothing left behind', async () => {
    // qemu-nbd fails as it starts or just after: either way one line says so.
    const r = await webnbd('inspect', '--no-open', '--format', 'vmdk', raw);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/invalid VMDK image descriptor\n(.*\n)?webnbd: inspect: qemu-nbd (stopped|did not start) \(exit status 1\).*\n$/);
    expect(pgrep(`qemu-nbd .*${raw}`)).toBe('');
  });
});
