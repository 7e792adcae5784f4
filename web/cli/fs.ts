// `webnbd filesystems`, `webnbd ls` and `webnbd cat`: what libguestfs's virt-filesystems,
// virt-ls and virt-cat do for a disk image, on an NBD export, reading only the blocks needed.

import type { NbdHandle } from '../node/index.js';
import { SIZE_MINIMUM, type CommandOptions } from '../core/types.js';
import { NbdError, errno } from '../core/errors.js';
import { Device } from '../fs/device.js';
import { choose, readLayout, READABLE, type Layout, type Place } from '../fs/layout.js';
import { isDir } from '../fs/types.js';
import { Volume } from '../fs/volume.js';
import { UsageError, parse } from './args.js';
import { TIMEOUT_OPTION, connect, parseTimeout, session, timeoutHelp } from './connect.js';
import type { Command, Io } from './io.js';
import { listLong, listLongRecursive, listNames, listRecursive, type TimeStyle } from './ls.js';

/** The export as a Device, for partition tables and filesystems. */
export function exportDevice(h: NbdHandle, limit?: CommandOptions): Device {
  const read = async (offset: bigint, length: number) => {
    const b = new Uint8Array(length);
    await h.pread(b, offset, 0, limit);
    return b;
  };
  return new Device(read, 0n, h.getSize(), h.getBlockSize(SIZE_MINIMUM) || 1);
}

/** Connect read-only, run `body` with the disk's layout, always disconnect. */
async function withDisk<T>(uri: string, limit: CommandOptions, body: (disk: Device, layout: Layout) => Promise<T>): Promise<T> {
  const h = await connect(uri, limit);
  return session(h, limit, async () => {
    const disk = exportDevice(h, limit);
    return body(disk, await readLayout((o, n) => disk.read(o, n), disk.size));
  });
}

/** URI [PARTITION] PATH…: paths start with "/"; a partition does not, or is /dev/sdaN before a path. */
function split(cmd: string, positionals: string[]): { uri: string; partition: string | undefined; paths: string[] } {
  const [uri, ...rest] = positionals;
  if (uri === undefined) throw new UsageError(`${cmd}: missing NBD URI (see 'webnbd ${cmd} --help')`);
  const first = rest[0];
  const partition = first !== undefined && (!first.startsWith('/') || (rest.length > 1 && /^\/dev\/sda\d*$/.test(first))) ? rest.shift() : undefined;
  if (rest.length === 0) throw new UsageError(`${cmd}: missing PATH (see 'webnbd ${cmd} --help')`);
  const bad = rest.find((p) => !p.startsWith('/'));
  if (bad !== undefined) throw new UsageError(`${cmd}: paths start with '/': ${bad}`);
  return { uri, partition, paths: rest };
}

async function openVolume(disk: Device, layout: Layout, partition: string | undefined, cmd: string): Promise<Volume> {
  const place = choose(layout, partition, cmd);
  return Volume.open(disk.slice(place.start, place.size), place.device);
}

// ---- filesystems ----

const FS_OPTIONS = {
  long: { type: 'boolean', short: 'l' },
  'human-readable': { type: 'boolean', short: 'h' },
  extra: { type: 'boolean' },
  partitions: { type: 'boolean' },
  all: { type: 'boolean' },
  help: { type: 'boolean' },
  ...TIMEOUT_OPTION,
} as const;

/** virt-filesystems -h: sizes rounded to one decimal with K, M, G… (powers of 1024). */
function human(n: bigint): string {
  const units = ['', 'K', 'M', 'G', 'T', 'P', 'E'];
  let v = Number(n);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? String(n) : `${v >= 10 ? Math.round(v) : v.toFixed(1).replace(/\.0$/, '')}${units[u]}`;
}

async function filesystemsRun(argv: string[], io: Io): Promise<number> {
  const { values: v, positionals } = parse('filesystems', argv, FS_OPTIONS);
  if (v.help) return io.write(FS_HELP).then(() => 0);
  if (positionals.length !== 1) throw new UsageError(`filesystems: ${positionals.length ? 'too many arguments' : 'missing NBD URI'} (see 'webnbd filesystems --help')`);
  const rows = await withDisk(positionals[0]!, parseTimeout('filesystems', v.timeout), async (disk, layout) => {
    const out: string[][] = [];
    const size = (n: bigint) => (v['human-readable'] ? human(n) : String(n));
    const fsRows = async (p: Place) => {
      const known = p.signature !== null && READABLE.has(p.signature.type);
      if (!p.signature || (!known && !v.extra && !v.all)) return;
      // The filesystem's own size where it can be read, else the partition's.
      let bytes = p.size;
      if (known) bytes = (await Volume.open(disk.slice(p.start, p.size), p.device).catch(() => null))?.fs.size ?? p.size;
      out.push([p.device, 'filesystem', p.signature.type, p.signature.label || '-', size(bytes), '-']);
    };
    const partRows = (p: Place) => {
      if (p.partition) out.push([p.device, 'partition', '-', '-', size(p.size), '/dev/sda']);
    };
    if (!v.partitions || v.all) for (const p of layout.places) await fsRows(p);
    if (v.partitions || v.all) layout.places.forEach(partRows);
    if (v.all) out.push(['/dev/sda', 'device', '-', '-', size(disk.size), '-']);
    return out;
  });
  if (!v.long) return io.write(rows.map((r) => `${r[0]}\n`).join('')).then(() => 0);
  const head = ['Name', 'Type', 'VFS', 'Label', 'Size', 'Parent'];
  const table = [head, ...rows].map((r) => (v.all || v.partitions ? r : r.slice(0, 5)));
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  await io.write(table.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join(' ') + '\n').join(''));
  return 0;
}

const FS_HELP = `Usage: webnbd filesystems [-l] [-h] [--extra] [--partitions] [--all] [--timeout=SECONDS] NBD-URI

List the filesystems on the export's partitions (MBR, with logical partitions, or GPT) or on the
whole disk, as virt-filesystems does: one device name per line (/dev/sda1 …).

  -l, --long             columns: Name Type VFS Label Size (and Parent with --partitions, --all)
  -h, --human-readable   sizes as 1.5G instead of bytes
  --extra                also filesystems that cannot be listed (swap, LUKS, NTFS …)
  --partitions           the partitions instead of the filesystems
  --all                  filesystems, partitions and the disk
${timeoutHelp(25)}  --help                 show this help
`;

// ---- ls ----

const LS_OPTIONS = {
  long: { type: 'boolean', short: 'l' },
  recursive: { type: 'boolean', short: 'R' },
  uids: { type: 'boolean' },
  times: { type: 'boolean' },
  'time-t': { type: 'boolean' },
  help: { type: 'boolean' },
  ...TIMEOUT_OPTION,
} as const;

async function lsRun(argv: string[], io: Io): Promise<number> {
  const { values: v, positionals } = parse('ls', argv, LS_OPTIONS);
  if (v.help) return io.write(LS_HELP).then(() => 0);
  const { uri, partition, paths } = split('ls', positionals);
  if ((v.uids || v.times || v['time-t']) && !(v.long && v.recursive)) throw new UsageError('ls: --uids and --times go with -lR only');
  const times: TimeStyle = v['time-t'] ? 'time-t' : v.times ? 'times' : null;
  return withDisk(uri, parseTimeout('ls', v.timeout), async (disk, layout) => {
    const vol = await openVolume(disk, layout, partition, 'ls');
    for (const path of paths) {
      if (io.closed) break;
      const node = await vol.lookup(path, true, 'ls');
      if (!isDir(node.stat.mode) && !v.long) throw new NbdError(errno.ENOTDIR, 'ls', path);
      if (v.long && v.recursive) await listLongRecursive(vol, path, io, { uids: v.uids ?? false, times });
      else if (v.long) await listLong(vol, path, node, io);
      else if (v.recursive) await listRecursive(vol, node, io);
      else await listNames(vol, node, io);
    }
    return 0;
  });
}

const LS_HELP = `Usage: webnbd ls [-l] [-R] [--uids] [--times|--time-t] [--timeout=SECONDS] NBD-URI [PARTITION] PATH…

List a directory of a filesystem on the export, as virt-ls does. PARTITION is a number, sda1 or
/dev/sda1 (see 'webnbd filesystems'); without it, the only filesystem on the disk.
Reads ext2/3/4, FAT12/16/32 (with long names) and ISO 9660 (with Rock Ridge and Joliet).

  (no option)   the names in the directory, sorted
  -l            like ls -la with numeric owners ("total", ".", "..", dates as ls prints them)
  -R            every file and directory below PATH, relative to it, sorted (find)
  -lR           one line per file from PATH down: type, mode in octal, size, path, -> target
  --uids        with -lR: the owner and group numbers too
  --times       with -lR: access, modification and change times (local time)
  --time-t      with -lR: the times as seconds since the epoch
${timeoutHelp(16)}  --help        show this help
`;

// ---- cat ----

async function catRun(argv: string[], io: Io): Promise<number> {
  const { values: v, positionals } = parse('cat', argv, { help: { type: 'boolean' }, ...TIMEOUT_OPTION } as const);
  if (v.help) return io.write(CAT_HELP).then(() => 0);
  const { uri, partition, paths } = split('cat', positionals);
  return withDisk(uri, parseTimeout('cat', v.timeout), async (disk, layout) => {
    const vol = await openVolume(disk, layout, partition, 'cat');
    for (const path of paths) {
      const node = await vol.lookup(path, true, 'cat');
      if (isDir(node.stat.mode)) throw new NbdError(errno.EISDIR, 'cat', path);
      for await (const chunk of vol.read(node, { get aborted() { return io.closed; } })) {
        if (io.closed) return 0;
        await io.write(chunk);
      }
    }
    return 0;
  });
}

const CAT_HELP = `Usage: webnbd cat [--timeout=SECONDS] NBD-URI [PARTITION] PATH…

Write files of a filesystem on the export to standard output, as virt-cat does (symbolic links
are followed). PARTITION is a number, sda1 or /dev/sda1; without it, the only filesystem there.

${timeoutHelp(16)}  --help        show this help
`;

export const filesystems: Command = { summary: 'list the filesystems on an export (virt-filesystems)', run: filesystemsRun };
export const ls: Command = { summary: 'list files in a filesystem on an export (virt-ls)', run: lsRun };
export const cat: Command = { summary: 'print files from a filesystem on an export (virt-cat)', run: catRun };
