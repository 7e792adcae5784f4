// `webnbd filesystems`, `ls` and `cat` against the truth from Debian's tools, on images those tools
// build from one directory tree (UTF-8 and long names, a deep tree, thousands of entries in one
// directory, symlinks, sparse files, modes and times), served read-only by nbdkit.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { startNbdkit } from '../support/servers.js';
import { cliFixture, run, webnbd, webnbdRaw } from '../support/cli.js';
import { crowdName, extractFat, extractIso, findTree, makeExt4, makeFat, makeIso, makeSourceTree, mountExt, type Entry } from '../support/fs-fixtures.js';

cliFixture('cli-fs');
process.env['TZ'] = 'UTC';

/** Paths in the order virt-ls -lR visits them: depth first, siblings by strcmp of their bytes. */
function visitOrder(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = Buffer.compare(Buffer.from(x[i]!), Buffer.from(y[i]!));
    if (c) return c;
  }
  return x.length - y.length;
}
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** virt-ls -lR --uids --time-t's line for a file (guestfs-tools cat/ls.c). */
const lrLine = (e: Entry) => `${e.type} ${(e.mode & 0o7777).toString(8).padStart(4, '0')} ${String(e.size).padStart(10)} ${String(e.uid).padStart(4)} ${String(e.gid).padStart(4)}`
  + ` ${String(e.atime).padStart(10)} ${String(e.mtime).padStart(10)} ${String(e.ctime).padStart(10)} ${e.path}${e.type === 'l' ? ` -> ${e.link}` : ''}`;

/** Fields of a -lR --uids --time-t line. */
function parseLr(line: string) {
  const m = /^(\S) (\d{4}) +(\d+) +(\d+) +(\d+) +(-?\d+) +(-?\d+) +(-?\d+) (.*?)(?: -> (.*))?$/.exec(line)!;
  return { type: m[1]!, mode: parseInt(m[2]!, 8), size: BigInt(m[3]!), uid: Number(m[4]), gid: Number(m[5]), mtime: Number(m[7]), path: m[9]!, link: m[10] ?? '' };
}

async function ok(...args: string[]): Promise<string> {
  const r = await webnbd(...args);
  expect({ args, stderr: r.stderr, status: r.status }).toEqual({ args, stderr: '', status: 0 });
  return r.stdout;
}

/** One tree with everything Unix filesystems keep, for ext4 and both ISO builders. */
let unix: string | undefined;
const unixTree = () => (unix ??= makeSourceTree('unix-tree', { unix: true, many: 3000, longName: 255 }));

/** Regular files of a tree, outside the crowded directory (whose files are checked by sample). */
const regular = (truth: Entry[]) => truth.filter((e) => e.type === '-' && !e.path.startsWith('/crowd/')).sort((a, b) => visitOrder(a.path, b.path));

describe('ext4 (mke2fs -d): ls and cat print what the kernel shows through a loop mount', () => {
  let uri: string;
  let mnt: string;
  let truth: Entry[];
  beforeAll(async () => {
    const img = makeExt4(unixTree());
    mnt = mountExt(img);
    truth = findTree(mnt);
    uri = (await startNbdkit(['-r', 'file', img])).uri;
  }, 120_000);

  it('ls -lR --uids --time-t: every file with type, mode, size, owners, times, path and link target', async () => {
    const want = [...truth].sort((a, b) => visitOrder(a.path, b.path)).map(lrLine);
    expect(want.length).toBeGreaterThan(3030);
    expect((await ok('ls', '-lR', '--uids', '--time-t', uri, '/')).split('\n').slice(0, -1)).toEqual(want);
  });

  it('ls -lR of a subdirectory, and through a symlinked directory name', async () => {
    const sub = truth.filter((e) => e.path === '/level0' || e.path.startsWith('/level0/')).sort((a, b) => visitOrder(a.path, b.path));
    const out = (await ok('ls', '-lR', '--uids', '--time-t', uri, '/level0')).split('\n').slice(0, -1);
    expect(out).toEqual(sub.map(lrLine));
  });

  it('ls -R: paths below the directory, relative and sorted, as find | sort', async () => {
    const want = execFileSync('find', [mnt, '-mindepth', '1', '-printf', '%P\\n']).toString().split('\n').slice(0, -1).sort(byBytes);
    expect((await ok('ls', '-R', uri, '/')).split('\n').slice(0, -1)).toEqual(want);
  });

  it('ls -l: what ls -lan prints (the root\'s ".." aside, which lies outside the mount)', async () => {
    for (const dir of ['/', '/crowd', '/ünïcödé ディレクトリ', '/sticky', '/level0/level1', '/dir-link']) {
      const want = execFileSync('ls', ['-lan', join(mnt, dir) + '/'], { env: { ...process.env, LC_ALL: 'C', TZ: 'UTC' } }).toString().split('\n');
      const got = (await ok('ls', '-l', uri, dir)).split('\n');
      if (dir === '/') {
        // The kernel's root ".." is the mount point's parent, whose blocks count in "total".
        expect(got.filter((l) => !/ \.\.$/.test(l)).slice(1)).toEqual(want.filter((l) => !/ \.\.$/.test(l)).slice(1));
      } else {
        expect(got).toEqual(want);
      }
    }
  });

  it('ls: the names, sorted by bytes', async () => {
    const want = execFileSync('ls', ['-A', join(mnt, 'crowd')], { env: { ...process.env, LC_ALL: 'C' } }).toString();
    expect(await ok('ls', uri, '/crowd')).toBe(want);
  });

  it('cat: the bytes of every file (3 MiB, sparse, UTF-8 and long names, 12 levels down) and of crowd samples', async () => {
    const files = [...regular(truth).map((e) => e.path), '/crowd/entry-00000.dat', '/crowd/entry-02999.dat', '/crowd/entry-01500.dat'];
    const want = Buffer.concat(files.map((p) => readFileSync(join(mnt, p))));
    const r = await webnbdRaw('cat', uri, ...files);
    expect(r.stderr).toBe('');
    expect(r.stdout.equals(want)).toBe(true);
  });

  it('cat follows symbolic links (relative, absolute, chained, through a directory link)', async () => {
    const cases = [
      ['/link-to-link', '/hello.txt'],
      ['/dir-link/level2/level3/../../level2/level3/level4/level5/level6/level7/level8/level9/level10/level11/bottom.txt',
        '/level0/level1/level2/level3/level4/level5/level6/level7/level8/level9/level10/level11/bottom.txt'],
      ['/absolute-link/файл-🙂.txt', '/ünïcödé ディレクトリ/файл-🙂.txt'],
    ];
    for (const [p, real] of cases) {
      // The kernel resolves the absolute link on the host, outside the mount: read where it leads.
      const r = await webnbdRaw('cat', uri, p!);
      expect(r.stdout.equals(readFileSync(join(mnt, real!)))).toBe(true);
    }
  });

  it('failures are one line naming the path, exit status 1', async () => {
    const cases: [string[], string][] = [
      [['cat', uri, '/dangling'], 'webnbd: cat: /dangling: No such file or directory\n'],
      [['cat', uri, '/crowd'], 'webnbd: cat: /crowd: Is a directory\n'],
      [['ls', uri, '/hello.txt'], 'webnbd: ls: /hello.txt: Not a directory\n'],
      [['cat', uri, '/hello.txt/x'], 'webnbd: cat: /hello.txt/x: Not a directory\n'],
      [['ls', uri, '/no-such-dir'], 'webnbd: ls: /no-such-dir: No such file or directory\n'],
      [['ls', uri, '2', '/'], 'webnbd: ls: no partition 2 on this disk (it has: /dev/sda (ext4)): No such file or directory\n'],
      [['ls', uri, 'relative'], "webnbd: ls: missing PATH (see 'webnbd ls --help')\n"],
    ];
    for (const [args, stderr] of cases) expect({ args, ...(await webnbd(...args)) }).toMatchObject({ args, stderr, stdout: '', status: 1 });
  });
});

/** What the -lR lines of a FAT or ISO image must agree on with an extracted tree. */
function comparable(lines: string[], truth: Entry[], fields: ('mode' | 'uid' | 'mtime' | 'link')[]) {
  // Directories' sizes are the host's after extraction, and extraction cannot set symlinks' times.
  const pick = (e: { type: string; path: string; size: bigint; mode: number; uid: number; gid: number; mtime: number; link: string }) => ({
    path: e.path, type: e.type, ...(e.type === 'd' ? {} : { size: e.size }),
    ...Object.fromEntries(fields.filter((f) => !(f === 'mtime' && e.type === 'l')).map((f) => [f, f === 'mode' ? e.mode & 0o7777 : e[f]])),
  });
  return { got: lines.map(parseLr).filter((e) => e.path !== '/').map(pick), want: truth.filter((e) => e.path !== '/').sort((a, b) => visitOrder(a.path, b.path)).map(pick) };
}

describe.each([
  [32, 64 << 20, 2000],
  [16, 32 << 20, 500],
  [12, 8 << 20, 100],
] as const)('FAT%i (mkfs.vfat, mcopy): ls and cat agree with mtools', (bits, size, many) => {
  let uri: string;
  let img: string;
  let truth: Entry[];
  let ex: string;
  beforeAll(async () => {
    img = makeFat(makeSourceTree(`fat${bits}-tree`, { unix: false, many, longName: 200, short: true }), bits, size);
    execFileSync('mattrib', ['-i', img, '+r', '::/hello.txt']);
    ex = extractFat(img);
    truth = findTree(ex);
    uri = (await startNbdkit(['-r', 'file', img])).uri;
  }, 120_000);

  it('ls -lR: long names, sizes and modification times as mcopy extracts them; modes as Linux shows them', async () => {
    const lines = (await ok('ls', '-lR', '--uids', '--time-t', uri, '/')).split('\n').slice(0, -1);
    const { got, want } = comparable(lines, truth, ['mtime']);
    expect(got).toEqual(want);
    expect(want.length).toBe(many + 23);
    // Linux's vfat driver with default options: 0755, and 0555 for the read-only attribute (mattrib +r).
    const modes = lines.map(parseLr).map((e) => `${e.path} ${e.mode.toString(8)}`);
    expect(modes.filter((m) => !m.endsWith(' 755'))).toEqual(['/hello.txt 555']);
    expect(lines[0]).toMatch(/^d 0755 +\d+ +0 +0 /);
  });

  it('ls -R and cat: names and every byte', async () => {
    const want = truth.filter((e) => e.path !== '/').map((e) => e.path.slice(1)).sort(byBytes);
    expect((await ok('ls', '-R', uri, '/')).split('\n').slice(0, -1)).toEqual(want);
    const files = regular(truth).map((e) => e.path).concat(`/crowd/${crowdName(0, true)}`, `/crowd/${crowdName(many - 1, true)}`);
    const r = await webnbdRaw('cat', uri, ...files);
    expect(r.stdout.equals(Buffer.concat(files.map((p) => readFileSync(join(ex, p)))))).toBe(true);
  });

  it(`filesystems -l names it vfat with its label, as blkid does`, async () => {
    const blkid = execFileSync('blkid', ['-p', '-o', 'export', img]).toString();
    expect(blkid).toContain(`LABEL=FAT${bits}\n`);
    expect(blkid).toContain(`VERSION=FAT${bits}\n`);
    expect(await ok('filesystems', '-l', uri)).toBe(`Name     Type       VFS  Label Size\n/dev/sda filesystem vfat FAT${bits} ${String(size).padEnd(4)}\n`);
  });
});

describe.each(['genisoimage', 'xorriso'] as const)('ISO 9660 with Rock Ridge (%s): ls and cat agree with osirrox', (tool) => {
  let uri: string;
  let truth: Entry[];
  let ex: string;
  beforeAll(async () => {
    const img = makeIso(unixTree(), tool);
    ex = extractIso(img);
    truth = findTree(ex);
    uri = (await startNbdkit(['-r', 'file', img])).uri;
  }, 120_000);

  it('ls -lR: types, modes, sizes, owners, modification times, symlink targets; deep directories in place', async () => {
    const lines = (await ok('ls', '-lR', '--uids', '--time-t', uri, '/')).split('\n').slice(0, -1);
    const { got, want } = comparable(lines, truth, ['mode', 'uid', 'mtime', 'link']);
    expect(got).toEqual(want);
    expect(got.some((e) => e.path.endsWith('/level11/bottom.txt'))).toBe(true);
  });

  it('cat: every file, through links too', async () => {
    const files = regular(truth).map((e) => e.path).concat('/crowd/entry-02999.dat', '/link-to-link');
    const r = await webnbdRaw('cat', uri, ...files, '/absolute-link/файл-🙂.txt');
    const want = Buffer.concat([...files, '/ünïcödé ディレクトリ/файл-🙂.txt'].map((p) => readFileSync(join(ex, p))));
    expect(r.stdout.equals(want)).toBe(true);
  });
});

it('ISO 9660 with Joliet only (genisoimage -J): the names xorriso reads from the Joliet tree', async () => {
  const tree = makeSourceTree('joliet-tree', { unix: false, many: 20, longName: 60 });
  const img = join(tree, '..', 'joliet.iso');
  execFileSync('genisoimage', ['-quiet', '-J', '-o', img, tree]);
  const found = execFileSync('xorriso', ['-read_fs', 'norock', '-indev', img, '-find', '/'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const want = found.split('\n').slice(1, -1).map((p) => p.slice(2, -1)).sort(byBytes);
  const { uri } = await startNbdkit(['-r', 'file', img]);
  expect((await ok('ls', '-R', uri, '/')).split('\n').slice(0, -1)).toEqual(want);
  expect(await ok('cat', uri, '/hello.txt')).toBe('hello, world\n');
});

it('filesystems: partitions of a GPT disk and an MBR disk with logical partitions, as partx and blkid see them', async () => {
  const tree = makeSourceTree('parts-tree', { unix: true, many: 5, longName: 40 });
  const ext = makeExt4(tree);
  const fat = makeFat(makeSourceTree('parts-fat', { unix: false, many: 5, longName: 40 }), 16, 32 << 20);
  const blank = join(tree, '..', 'blank.img');
  writeFileSync(blank, Buffer.alloc(1 << 20));
  for (const type of ['gpt', 'mbr']) {
    const files = type === 'gpt' ? [ext, fat] : [blank, fat, blank, blank, ext];
    const s = await startNbdkit(['-r', 'partitioning', ...files, `partition-type=${type}`]);
    const image = join(tree, '..', `${type}.img`);
    execFileSync('nbdcopy', [s.uri, image]);
    const parts = (await run('partx', ['-b', '-g', '-o', 'NR,START,SECTORS', image])).stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
    const want: string[] = [];
    for (const [nr, start, sectors] of parts) {
      const part = join(tree, '..', `part${nr}`);
      execFileSync('dd', [`if=${image}`, `of=${part}`, 'bs=512', `skip=${start}`, `count=${sectors}`, 'status=none']);
      // blkid exits 2 when it finds nothing (the blank partitions).
      const b = Object.fromEntries((await run('blkid', ['-p', '-o', 'export', part])).stdout.trim().split('\n').map((l) => l.split('=')));
      if (b['TYPE'] === 'ext4' || b['TYPE'] === 'vfat') want.push(`/dev/sda${nr} ${b['TYPE']} ${b['LABEL']}`);
    }
    const got = (await ok('filesystems', '-l', s.uri)).split('\n').slice(1, -1).map((l) => l.split(/\s+/)).map((c) => `${c[0]} ${c[2]} ${c[3]}`);
    expect(got).toEqual(want);
    expect(await ok('filesystems', s.uri)).toBe(want.map((w) => w.split(' ')[0] + '\n').join(''));
    const extNr = type === 'gpt' ? '1' : '6'; // MBR: 1-3 primary, 4 extended, 5 and 6 logical
    expect(await ok('cat', s.uri, extNr, '/hello.txt')).toBe('hello, world\n');
    expect(await ok('cat', s.uri, `/dev/sda${extNr}`, '/link-to-hello')).toBe('hello, world\n');
    expect((await webnbd('ls', s.uri, '/')).stderr).toMatch(/^webnbd: ls: the disk has several filesystems; name one \(\/dev\/sda\d, \/dev\/sda\d\): Invalid argument\n$/);
  }
});
