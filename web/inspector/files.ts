// The inspector's file browser: one filesystem (a partition, or the whole disk) listed a folder at
// a time with sizes, times and modes; a file's extents on the allocation map and in the hexdump
// (disk offsets), or its bytes in file offsets; "download file" and "download folder as .tar" with
// progress and cancel. The partition and path are in the URL (?part=&path=).

import { allocBuffer } from '../browser/client.js';
import { BLOCK, type Disk } from '../browser/disk.js';
import { formatDump } from '../components/rows.js';
import { Device } from '../fs/device.js';
import type { Place } from '../fs/layout.js';
import { isDir, isLink, isReg, modeString, type Extent, type Node, type Time } from '../fs/types.js';
import { Volume } from '../fs/volume.js';
import type { AllocationMap } from './allocation-map.js';
import { downloadFile, downloadFolder } from './downloads.js';
import { offerFile, stagedFile } from './transfer.js';
import { humanSize, plainError, visible } from './human.js';

/** Bytes of a file shown in file offsets. */
const FILE_VIEW = 64 * 1024;
/** Extents listed (the map shows them all). */
const EXTENTS_SHOWN = 32;

export interface FilesHost {
  map: AllocationMap;
  /** Scroll the hexdump to `offset` and select `length` bytes there. */
  goTo(offset: bigint, length?: bigint): void;
  /** The URL's part and path changed. */
  located(part: string | null, path: string | null): void;
}

const el = <K extends keyof HTMLElementTagNameMap>(tag: K, text = '', cls = ''): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  e.textContent = text; // never innerHTML: names come from the disk
  if (cls) e.className = cls;
  return e;
};

const pad = (n: number) => String(n).padStart(2, '0');
function when(t: Time): string {
  const d = new Date(t.sec * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The Device of a place on the shared Disk: metadata through its block cache, contents read directly. */
function deviceFor(disk: Disk, place: Place): Device {
  const read = async (o: bigint, n: number): Promise<Uint8Array> => {
    if (n <= BLOCK) return disk.read(o, o + BigInt(n));
    const b = allocBuffer(n);
    await disk.handle.pread(b, o);
    return b;
  };
  return new Device(read, place.start, place.size, disk.handle.getBlockSize(0) || 1);
}

const join = (dir: string, name: string) => (dir === '/' ? `/${name}` : `${dir}/${name}`);
const parent = (path: string) => path.slice(0, path.lastIndexOf('/')) || '/';

export class FileBrowser {
  readonly #root: HTMLElement;
  readonly #host: FilesHost;
  #vol: Volume | null = null;
  #place: Place | null = null;
  #cwd = '/';
  #file: { path: string; node: Node } | null = null;
  #job: AbortController | null = null;
  #gen = 0;

  constructor(root: HTMLElement, host: FilesHost) {
    this.#root = root;
    this.#host = host;
    this.#q<HTMLButtonElement>('[name=download]').addEventListener('click', () => void this.#download());
    this.#q<HTMLButtonElement>('[name=tar]').addEventListener('click', () => void this.#downloadFolder());
    this.#q<HTMLButtonElement>('[name=cancel]').addEventListener('click', () => this.#job?.abort());
    this.#q<HTMLInputElement>('[name=follow]').addEventListener('change', () => void this.#fileView());
  }

  #q<T extends Element>(sel: string): T { return this.#root.querySelector<T>(sel)!; }

  /** The partition (or whole disk) shown, and the path. */
  get place(): Place | null { return this.#place; }
  get path(): string | null { return this.#file?.path ?? (this.#vol ? this.#cwd : null); }

  close(): void {
    this.#gen++;
    this.#job?.abort();
    this.#vol = null;
    this.#place = null;
    this.#file = null;
    this.#root.hidden = true;
    this.#host.map.overlay(null, []);
  }

  /** Open the filesystem at `place` and show `path` (a folder, or a file in its folder). */
  async open(disk: Disk, place: Place, path = '/'): Promise<void> {
    const gen = ++this.#gen;
    this.#job?.abort();
    this.#root.hidden = false;
    this.#q('h2').textContent = `Files on ${place.device}`;
    this.#note('Opening the filesystem…');
    this.#q('tbody').replaceChildren();
    this.#q<HTMLElement>('.file').hidden = true;
    this.#root.scrollIntoView({ block: 'nearest' });
    try {
      const vol = await Volume.open(deviceFor(disk, place), place.device);
      if (gen !== this.#gen) return;
      this.#vol = vol;
      this.#place = place;
      await this.show(path);
    } catch (e) {
      if (gen === this.#gen) this.#note(`Could not open the filesystem on ${place.device}: ${plainError(e)}`);
    }
  }

  #note(text: string): void { this.#q('.note').textContent = text; }

  /** Show `path`: a folder's listing, or a file selected in its folder. */
  async show(path: string): Promise<void> {
    const vol = this.#vol;
    if (!vol) return;
    const gen = this.#gen;
    try {
      const node = await vol.lookup(path, true, 'open');
      if (gen !== this.#gen) return;
      if (isDir(node.stat.mode)) {
        await this.#list(path, node);
        this.#select(null);
      } else {
        await this.#list(parent(path), await vol.lookup(parent(path), true, 'open'));
        await this.#select({ path, node });
      }
    } catch (e) {
      if (gen === this.#gen) this.#note(plainError(e));
    }
  }

  async #list(path: string, dir: Node): Promise<void> {
    const vol = this.#vol!;
    this.#cwd = path;
    const entries = [...(await vol.readdir(dir))].sort((a, b) => Number(isDir(b.node.stat.mode)) - Number(isDir(a.node.stat.mode)) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const rows: HTMLTableRowElement[] = [];
    if (path !== '/') rows.push(this.#row('..', null, parent(path)));
    const targets = await Promise.all(entries.map((e) => (isLink(e.node.stat.mode) ? vol.readlink(e.node).catch(() => '?') : null)));
    entries.forEach((e, i) => rows.push(this.#row(e.name, e.node, join(path, e.name), targets[i]!)));
    // Rows, path and note change together: the note never describes a listing not yet shown.
    this.#q('tbody').replaceChildren(...rows);
    this.#crumbs(path);
    this.#note(`${vol.fs.type}${vol.fs.label ? ` “${visible(vol.fs.label)}”` : ''}: ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} in ${visible(path)}`);
    this.#q<HTMLButtonElement>('[name=tar]').textContent = `Download ${path === '/' ? 'everything' : 'this folder'} as .tar`;
  }

  #row(name: string, node: Node | null, path: string, target: string | null = null): HTMLTableRowElement {
    const tr = document.createElement('tr');
    const s = node?.stat;
    const button = el('button', visible(name) + (s && isDir(s.mode) ? '/' : ''), 'name');
    button.type = 'button';
    const cell = el('td');
    cell.append(button);
    if (target !== null) cell.append(el('span', ` → ${visible(target)}`, 'target'));
    const size = el('td', s && !isDir(s.mode) ? humanSize(s.size) : '', 'num');
    if (s) size.title = `${s.size} bytes`;
    tr.append(cell, size, el('td', s ? when(s.mtime) : '', 'time'), el('td', s ? modeString(s.mode) : '', 'mode'));
    tr.dataset['path'] = path;
    button.addEventListener('click', () => {
      void this.show(path).then(() => this.#host.located(this.#part(), this.path));
    });
    return tr;
  }

  #part(): string | null {
    const p = this.#place;
    return p ? (p.partition ? String(p.partition.number) : 'disk') : null;
  }

  #crumbs(path: string): void {
    const nav = this.#q('.crumbs');
    nav.replaceChildren();
    const parts = path.split('/').filter(Boolean);
    const go = (to: string, label: string) => {
      const b = el('button', visible(label));
      b.type = 'button';
      b.addEventListener('click', () => void this.show(to).then(() => this.#host.located(this.#part(), this.path)));
      nav.append(b);
    };
    go('/', '/');
    parts.forEach((p, i) => {
      if (i > 0) nav.append(el('span', '/', 'sep'));
      go(`/${parts.slice(0, i + 1).join('/')}`, p);
    });
  }

  /** Select a file: its facts, its extents on the map and in the hexdump, its bytes. */
  async #select(file: { path: string; node: Node } | null): Promise<void> {
    this.#file = file;
    for (const tr of this.#root.querySelectorAll<HTMLElement>('tbody tr')) tr.toggleAttribute('aria-selected', tr.dataset['path'] === file?.path);
    const box = this.#q<HTMLElement>('.file');
    box.hidden = file === null;
    if (!file) {
      this.#host.map.overlay(null, []);
      return;
    }
    const { node, path } = file;
    const s = node.stat;
    const vol = this.#vol!;
    const start = this.#place!.start;
    this.#q('.facts').textContent = `${visible(path)}: ${s.size} bytes (${humanSize(s.size)}), ${modeString(s.mode)}, owner ${s.uid}:${s.gid}, modified ${when(s.mtime)}`;
    let extents: Extent[] = [];
    const list = this.#q('.extents');
    try {
      extents = await vol.fs.extents(node);
    } catch (e) {
      list.textContent = `Its extents could not be read: ${plainError(e)}`;
    }
    if (this.#file !== file) return;
    const inline = extents.length === 0 && s.size > 0n;
    list.replaceChildren(el('span', inline ? 'Its bytes are stored inside its inode (inline data).' : `${extents.length} extent${extents.length === 1 ? '' : 's'}${extents.length > EXTENTS_SHOWN ? ` (the first ${EXTENTS_SHOWN})` : ''}: `));
    for (const e of extents.slice(0, EXTENTS_SHOWN)) {
      const at = start + e.physical;
      const b = el('button', `${e.logical}+${e.length} @ ${at}${e.unwritten ? ' (unwritten)' : ''}`);
      b.type = 'button';
      b.title = `File bytes ${e.logical}–${e.logical + e.length} are at disk byte ${at} (0x${at.toString(16)})`;
      b.addEventListener('click', () => this.#host.goTo(at, e.length));
      list.append(b, ' ');
    }
    this.#host.map.overlay(null, extents.map((e) => ({ start: start + e.physical, end: start + e.physical + e.length })));
    const first = extents[0];
    if (first) this.#host.goTo(start + first.physical, first.length);
    this.#q<HTMLButtonElement>('[name=download]').disabled = !isReg(s.mode);
    await this.#fileView();
  }

  /** The file's first bytes in file offsets (hexdump -C of the file), when asked for. */
  async #fileView(): Promise<void> {
    const pre = this.#q<HTMLPreElement>('.filedump');
    const file = this.#file;
    pre.hidden = !this.#q<HTMLInputElement>('[name=follow]').checked || !file || !isReg(file.node.stat.mode);
    if (pre.hidden || !file || !this.#vol) return;
    pre.textContent = 'Reading…';
    const out: Uint8Array[] = [];
    let n = 0;
    for await (const b of this.#vol.read(file.node)) {
      out.push(b);
      n += b.length;
      if (n >= FILE_VIEW) break;
    }
    const bytes = new Uint8Array(Math.min(n, FILE_VIEW));
    let at = 0;
    for (const b of out) {
      bytes.set(b.subarray(0, bytes.length - at), at);
      at += Math.min(b.length, bytes.length - at);
    }
    if (this.#file !== file) return;
    pre.textContent = formatDump('hexdump-C', bytes, 0n, file.node.stat.size) + (file.node.stat.size > BigInt(FILE_VIEW) ? `(the first ${FILE_VIEW} bytes of ${file.node.stat.size})\n` : '');
  }

  async #download(): Promise<void> {
    const file = this.#file;
    if (!file || !this.#vol) return;
    const name = file.path.slice(file.path.lastIndexOf('/') + 1);
    await this.#transfer(name, (stream, opts) => downloadFile(this.#vol!, file.node, stream, opts));
  }

  async #downloadFolder(): Promise<void> {
    const vol = this.#vol;
    if (!vol) return;
    const dir = await vol.lookup(this.#cwd, true, 'open');
    const base = this.#cwd === '/' ? (vol.fs.label || this.#place!.device.replace('/dev/', '')) : this.#cwd.slice(this.#cwd.lastIndexOf('/') + 1);
    const name = base.replace(/[/\\\0]/g, '_') || 'folder';
    await this.#transfer(`${name}.tar`, (stream, opts) => downloadFolder(vol, dir, name, stream, opts));
  }

  /** Run a download into a staged file with the progress bar and the cancel button; offer the file when done. */
  async #transfer(name: string, make: (stream: WritableStream, opts: { signal: AbortSignal; onProgress: (d: bigint, t: bigint) => void }) => Promise<bigint>): Promise<void> {
    this.#job?.abort();
    const ctl = (this.#job = new AbortController());
    const bar = this.#q<HTMLProgressElement>('.transfer progress');
    const status = this.#q('.transfer .status');
    const cancel = this.#q<HTMLButtonElement>('[name=cancel]');
    bar.hidden = cancel.hidden = false;
    bar.value = 0;
    status.textContent = `Reading ${visible(name)}…`;
    try {
      const sink = await stagedFile(name);
      const bytes = await make(sink.stream, {
        signal: ctl.signal,
        onProgress: (done, total) => {
          bar.value = total > 0n ? Number(done) / Number(total) : 1;
          status.textContent = `${humanSize(done)} of ${humanSize(total)}`;
        },
      });
      await offerFile(sink, name);
      status.textContent = `Saved ${visible(name)} (${humanSize(bytes)}).`;
    } catch (e) {
      status.textContent = ctl.signal.aborted ? 'Cancelled.' : `Could not download: ${plainError(e)}`;
    } finally {
      bar.hidden = cancel.hidden = true;
      if (this.#job === ctl) this.#job = null;
    }
  }
}
