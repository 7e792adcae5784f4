// The listings of `webnbd ls`, as virt-ls prints them: names (guestfs_ls), `ls -la` (guestfs_ll),
// relative paths (guestfs_find) and virt-ls -lR's lines (cat/ls.c: type, %04o mode, %10d size,
// path, "-> target"). Names are written as their bytes on disk; order is strcmp's.

import { S_IFMT, S_IFREG, isDir, isLink, modeString, type Dirent, type Node, type Stat, type Time } from '../fs/types.js';
import type { Volume } from '../fs/volume.js';
import type { Io } from './io.js';

export type TimeStyle = 'times' | 'time-t' | null;

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Lines collected as bytes and written a batch at a time. */
class Lines {
  #parts: Uint8Array[] = [];
  #size = 0;
  constructor(readonly io: Io) {}
  async add(...parts: (string | Uint8Array)[]): Promise<void> {
    for (const p of parts) {
      const b = typeof p === 'string' ? enc.encode(p) : p;
      this.#parts.push(b);
      this.#size += b.length;
    }
    if (this.#size >= 1 << 16) await this.flush();
  }
  async flush(): Promise<void> {
    const out = new Uint8Array(this.#size);
    let at = 0;
    for (const p of this.#parts) {
      out.set(p, at);
      at += p.length;
    }
    this.#parts = [];
    this.#size = 0;
    await this.io.write(out);
  }
}

/** strcmp on the names' bytes, as the C library sorts them. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

const sorted = (entries: readonly Dirent[]): Dirent[] => [...entries].sort((x, y) => compareBytes(x.bytes, y.bytes));

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number) => String(n).padStart(2, '0');

/** ls's date in the C locale: "%b %e %H:%M" within six months before now, else "%b %e  %Y". */
export function lsDate(t: Time, now: number): string {
  const d = new Date(t.sec * 1000);
  const sixMonths = 31556952 / 2;
  const recent = t.sec > now - sixMonths && t.sec <= now;
  const day = String(d.getDate()).padStart(2, ' ');
  return `${MONTHS[d.getMonth()]} ${day} ${recent ? `${pad2(d.getHours())}:${pad2(d.getMinutes())}` : ` ${d.getFullYear()}`}`;
}

/** strftime's "%F %T" in local time. */
export function isoLocal(t: Time): string {
  const d = new Date(t.sec * 1000);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** guestfs_ls: the names in the directory, sorted. */
export async function listNames(vol: Volume, dir: Node, io: Io): Promise<void> {
  const out = new Lines(io);
  for (const e of sorted(await vol.readdir(dir))) await out.add(e.bytes, '\n');
  await out.flush();
}

/** guestfs_find: every path below the directory, relative to it, sorted. */
export async function listRecursive(vol: Volume, dir: Node, io: Io): Promise<void> {
  const all: Uint8Array[] = [];
  const walk = async (node: Node, prefix: Uint8Array, above: bigint[]) => {
    for (const e of await vol.readdirBelow(node, above, dec.decode(prefix))) {
      const path = prefix.length ? concat(prefix, SLASH, e.bytes) : e.bytes;
      all.push(path);
      if (isDir(e.node.stat.mode)) await walk(e.node, path, [...above, node.stat.ino]);
    }
  };
  await walk(dir, new Uint8Array(0), []);
  const out = new Lines(io);
  for (const p of all.sort(compareBytes)) await out.add(p, '\n');
  await out.flush();
}

const SLASH = enc.encode('/');
function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** guestfs_ll: `ls -la` of the directory (numeric owners: the guest's user names are not known). */
export async function listLong(vol: Volume, path: string, node: Node, io: Io): Promise<void> {
  const now = Date.now() / 1000;
  let rows: { name: Uint8Array; stat: Stat; link?: string }[];
  if (isDir(node.stat.mode)) {
    const parent = await vol.lookup(`${path}/..`, true, 'ls');
    rows = [{ name: enc.encode('.'), stat: node.stat }, { name: enc.encode('..'), stat: parent.stat }];
    for (const e of await vol.readdir(node)) rows.push({ name: e.bytes, stat: e.node.stat, ...(isLink(e.node.stat.mode) ? { link: await vol.readlink(e.node) } : {}) });
    rows.sort((a, b) => compareBytes(a.name, b.name));
  } else {
    rows = [{ name: enc.encode(path), stat: node.stat }];
  }
  const size = (s: Stat) => (s.rdev && (s.mode & S_IFMT) !== S_IFREG ? `${s.rdev.major}, ${s.rdev.minor}` : String(s.size));
  const w = (f: (s: Stat) => string) => Math.max(...rows.map((r) => f(r.stat).length));
  const [wn, wu, wg, ws] = [w((s) => String(s.nlink)), w((s) => String(s.uid)), w((s) => String(s.gid)), w(size)];
  const out = new Lines(io);
  if (isDir(node.stat.mode)) {
    const blocks = rows.reduce((n, r) => n + r.stat.blocks, 0n);
    await out.add(`total ${(blocks + 1n) / 2n}\n`);
  }
  for (const r of rows) {
    const s = r.stat;
    await out.add(`${modeString(s.mode)} ${String(s.nlink).padStart(wn)} ${String(s.uid).padStart(wu)} ${String(s.gid).padStart(wg)} ${size(s).padStart(ws)} ${lsDate(s.mtime, now)} `, r.name, r.link === undefined ? '\n' : ` -> ${r.link}\n`);
  }
  await out.flush();
}

/** virt-ls -lR: from the directory down, each line type, mode, size[, uids][, times], path[, -> target]. */
export async function listLongRecursive(vol: Volume, top: string, io: Io, opts: { uids: boolean; times: TimeStyle }): Promise<void> {
  const out = new Lines(io);
  const line = async (path: Uint8Array, node: Node) => {
    const s = node.stat;
    const type = modeString(s.mode)[0] === '?' ? 'u' : modeString(s.mode)[0]!;
    let text = `${type} ${(s.mode & 0o7777).toString(8).padStart(4, '0')} ${String(s.size).padStart(10)}`;
    if (opts.uids) text += ` ${String(s.uid).padStart(4)} ${String(s.gid).padStart(4)}`;
    if (opts.times) for (const t of [s.atime, s.mtime, s.ctime]) text += ` ${opts.times === 'time-t' ? String(t.sec).padStart(10) : isoLocal(t)}`;
    await out.add(`${text} `, path, isLink(s.mode) ? ` -> ${await vol.readlink(node)}\n` : '\n');
  };
  const visit = async (dir: Uint8Array, node: Node, above: bigint[]) => {
    for (const e of sorted(await vol.readdirBelow(node, above, dec.decode(dir)))) {
      const path = dir.length === 1 && dir[0] === 0x2f ? concat(SLASH, e.bytes) : concat(dir, SLASH, e.bytes);
      await line(path, e.node);
      if (isDir(e.node.stat.mode)) await visit(path, e.node, [...above, node.stat.ino]);
    }
  };
  const node = await vol.lookup(top, false, 'ls');
  await line(enc.encode(top), node);
  if (isDir(node.stat.mode)) await visit(enc.encode(top), node, []);
  await out.flush();
}
