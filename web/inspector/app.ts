// The disk inspector (web/pages/index.html): connect by URI, pick an export, see nbdinfo's facts,
// the allocation map, the partitions and the filesystems at their starts, and browse the bytes.
// The URL (?src=&export=&offset=) always says what is shown, so it can be shared.

import { acquire, release, resolveUri } from '../browser/connections.js';
import type { Disk } from '../browser/disk.js';
import type { NbdHexdumpElement } from '../components/nbd-hexdump.js';
import { AllocationMap, PARTITION_COLOURS } from './allocation-map.js';
import { probe, type Signature } from '../fs/probe.js';
import { readPartitionTable, type Partition, type PartitionTable } from '../fs/partitions.js';
import { TransferForms, type Shown } from './transfer.js';
import { inspectServer, type ServerView } from './server.js';
import { humanSize, lostConnection, parseOffset, plainError, refuseUri, visible } from './human.js';
import { FileBrowser } from './files.js';
import { StructureView } from './structure.js';
import { connectHint, otherScheme } from './diagnose.js';
import { parseUri } from '../core/uri.js';
import { READABLE, type Place } from '../fs/layout.js';

const $ = <T extends Element>(sel: string): T => document.querySelector<T>(sel)!;
const text = (tag: string, s: string, cls?: string): HTMLElement => {
  const e = document.createElement(tag);
  // Never innerHTML: names, descriptions and labels come from the server or the disk, and
  // characters that would reorder or hide the text around them are shown for what they are.
  e.textContent = visible(s);
  if (cls) e.className = cls;
  return e;
};

export class Inspector {
  readonly dump = $<NbdHexdumpElement>('#dump');
  readonly map = new AllocationMap($('#map'));
  readonly files = new FileBrowser($('#files'), {
    map: this.map,
    goTo: (o, n) => this.goTo(o, n),
    located: (part, path) => this.#locate(part, path),
  });
  readonly structure = new StructureView($('#structure'), this.dump, (o, n) => this.goTo(o, n));
  readonly #form = $<HTMLFormElement>('#connect');
  readonly #error = $<HTMLParagraphElement>('#error');
  #src = '';
  #export: string | null = null;
  #uri: string | null = null;
  #disk: Disk | null = null;
  #table: PartitionTable | null = null;
  #gen = 0;
  #urlTimer = 0;
  readonly transfers = new TransferForms($('#save'), $('#upload'), () => this.#shown(), () => {
    // What was written is not what the views have cached: show it afresh.
    this.#disk?.invalidate();
    void this.open(this.#src, this.#export, this.dump.position, false);
  });
  /** Hears of the shared connection's losses and reconnections (Disk.watch), to say them at once. */
  #unwatch: (() => void) | null = null;
  #probe: Promise<string> | null = null;

  constructor() {
    this.#form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.open(this.#input.value, null, 0n, true);
    });
    this.map.onJump = (o) => this.goTo(o);
    this.dump.addEventListener('nbd-error', (e) => this.#report(e));
    this.dump.addEventListener('nbd-position', (e) => {
      this.map.mark(e.position);
      this.#scheduleUrl();
    });
    this.dump.addEventListener('nbd-select', (e) => {
      this.#selected(e.selection);
      this.structure.at(e.selection?.start ?? null);
    });
    $('#goto').addEventListener('submit', (e) => this.#goto(e));
    $('#copy').addEventListener('click', () => void this.#copy());
    addEventListener('popstate', () => void this.fromUrl());
  }

  get #input(): HTMLInputElement { return this.#form.elements.namedItem('src') as HTMLInputElement; }

  /** Open what the URL says. */
  async fromUrl(): Promise<void> {
    const q = new URLSearchParams(location.search);
    const src = q.get('src');
    if (!src) return;
    await this.open(src, q.get('export'), parseOffset(q.get('offset') ?? '0') ?? 0n, false, q.get('part'), q.get('path'));
  }

  /** The file browser's partition and path, kept in the URL. */
  #locate(part: string | null, path: string | null): void {
    const u = new URL(location.href);
    for (const [k, v] of [['part', part], ['path', path]] as const) {
      if (v === null) u.searchParams.delete(k);
      else u.searchParams.set(k, v);
    }
    if (u.href !== location.href) history.replaceState(null, '', u);
  }

  showError(message: string | null): void {
    this.#error.hidden = message === null;
    this.#error.textContent = visible(message ?? '');
  }

  /** Connect to `src` and show `exportName` (the URI's own when null) from `position`. */
  async open(src: string, exportName: string | null, position: bigint, push: boolean, part: string | null = null, path: string | null = null): Promise<void> {
    const gen = ++this.#gen;
    this.#input.value = src;
    const refused = refuseUri(src);
    if (refused) {
      this.showError(refused);
      return;
    }
    let uri: string;
    try {
      uri = resolveUri(src, exportName);
    } catch (e) {
      this.showError(plainError(e));
      return;
    }
    this.showError(null);
    this.#unwatch?.();
    this.#unwatch = null;
    this.#probe = null;
    this.#src = src.trim();
    this.#export = exportName;
    this.#setUrl(position, push);
    this.files.close();
    this.structure.clear();
    this.#locate(part, path);
    $<HTMLElement>('main').hidden = false;
    this.#clearPanels();
    this.dump.position = position;
    this.dump.src = this.#src;
    if (exportName === null) this.dump.removeAttribute('export');
    else this.dump.export = exportName;
    // The server's list and facts, and the shared connection for map and partitions, side by side.
    const server = inspectServer(this.#src, exportName).then((v) => gen === this.#gen && this.#showServer(v), (e: unknown) => {
      if (gen === this.#gen) this.#failed(e);
    });
    if (this.#uri) release(this.#uri);
    this.#uri = uri;
    this.#disk = null;
    try {
      const disk = await acquire(uri);
      if (gen !== this.#gen) return;
      this.#disk = disk;
      // A lost connection is made again by the Disk, and the reads it failed sent again.
      this.#unwatch = disk.watch((s) => {
        if (gen !== this.#gen) return;
        if (s.state === 'reconnecting') this.showError(`The connection to ${this.#src} was lost; reconnecting (attempt ${s.attempt} of ${s.of})…`);
        else if (s.state === 'connected') this.showError(null);
        else this.showError(`${lostConnection(` to ${this.#src}`)} (${s.error.message})`);
      });
      this.map.mark(this.dump.position);
      await Promise.all([this.#showPartitions(disk, gen, part, path), this.map.build(disk), server]);
    } catch (e) {
      if (gen === this.#gen) this.#failed(e);
    }
  }

  /**
   * Say why a connection failed. When no bridge answered, try the other scheme (ws:// or wss://)
   * once: a bridge that answers that way is the likely reason, and the page can say so.
   */
  #report(e: unknown): void {
    const where = `to ${this.#src}`;
    const message = (e as { code?: string }).code === 'ENOENT' ? this.#noExport(e as { message: string }) : plainError(e, where);
    this.showError(message);
    if ((e as { code?: string }).code !== 'ECONNREFUSED') return;
    const gen = this.#gen;
    const src = this.#src;
    this.#probe ??= otherScheme(src).then((other) => connectHint(src, other));
    void this.#probe.then((hint) => {
      if (gen === this.#gen) this.showError(message + hint);
    });
  }

  /** The export shown: the one picked, else the URI's. */
  #exportName(): string {
    return this.#export ?? parseUri(this.#src).exportName;
  }

  /** The server does not have the export (NBD_REP_ERR_UNKNOWN): name it, the default one as such. */
  #noExport(e: { message: string }): string {
    const name = this.#exportName();
    return `The server has no ${name === '' ? 'default export' : `export named “${name}”`}. (${e.message})`;
  }

  /** Say why, and leave no panel claiming to be busy. */
  #failed(e: unknown): void {
    this.#report(e);
    this.map.stop();
    $<HTMLProgressElement>('#map progress').hidden = true;
    for (const note of ['#exports .note', '#partitions .note']) {
      if (/…$/.test($(note).textContent ?? '')) $(note).textContent = 'Not connected.';
    }
  }

  /** Scroll the hexdump to byte `o` and mark it (and the `length` bytes from it). */
  goTo(o: bigint, length = 1n): void {
    this.dump.position = o;
    this.dump.selection = { start: o, end: o + (length > 0n ? length : 1n) };
    this.dump.focus();
  }

  #clearPanels(): void {
    this.map.stop();
    this.map.overlay([], []);
    $('#map .keys').querySelectorAll('.part').forEach((e) => e.remove());
    $('#exports ul').replaceChildren();
    $('#exports .note').textContent = 'Listing…';
    $('#info pre').textContent = '';
    $('#partitions .note').textContent = 'Reading…';
    $('#partitions table').toggleAttribute('hidden', true);
    $('#partitions tbody').replaceChildren();
  }

  #setUrl(position: bigint, push: boolean): void {
    const u = new URL(location.href);
    u.searchParams.set('src', this.#src);
    if (this.#export === null) u.searchParams.delete('export');
    else u.searchParams.set('export', this.#export);
    u.searchParams.set('offset', String(position));
    if (u.href === location.href) return;
    if (push) history.pushState(null, '', u);
    else history.replaceState(null, '', u);
  }

  /** The URL follows scrolling, a moment after it stops. */
  #scheduleUrl(): void {
    clearTimeout(this.#urlTimer);
    this.#urlTimer = window.setTimeout(() => this.#setUrl(this.dump.position, false), 250);
  }

  #showServer(v: ServerView): void {
    const note = $('#exports .note');
    const list = $('#exports ul');
    if (v.exports) {
      note.textContent = v.exports.length ? `${v.exports.length} export${v.exports.length === 1 ? '' : 's'}:` : 'The server lists no exports.';
      const current = this.#export ?? this.dump.disk?.handle.getExportName() ?? '';
      for (const e of v.exports) {
        const b = document.createElement('button');
        b.type = 'button';
        b.append(text('span', e.name === '' ? '(default export)' : e.name, 'name'));
        if (e.description) b.append(text('span', e.description, 'desc'));
        b.setAttribute('aria-current', String(e.name === current));
        b.addEventListener('click', () => void this.open(this.#src, e.name, 0n, true));
        const li = document.createElement('li');
        li.append(b);
        list.append(li);
      }
    } else {
      note.textContent = visible(`The server would not list its exports${v.listError ? `: ${v.listError.message}` : '.'}`);
    }
    $('#info pre').textContent = visible(v.info ?? (v.infoError ? plainError(v.infoError) : ''));
    if (v.infoError) {
      const name = this.#exportName();
      this.showError(v.infoError.code === 'ENOENT' ? this.#noExport(v.infoError) : plainError(v.infoError, `for ${name === '' ? 'the default export' : `export “${name}”`}`));
    }
  }

  async #showPartitions(disk: Disk, gen: number, part: string | null, path: string | null): Promise<void> {
    const read = (o: bigint, n: number) => disk.read(o, o + BigInt(n) > disk.size ? disk.size : o + BigInt(n));
    const table = await readPartitionTable(read, disk.size);
    if (gen !== this.#gen) return;
    void this.structure.show(read, disk.size).catch(() => {});
    this.#table = table;
    const note = $('#partitions .note');
    const body = $('#partitions tbody');
    if (table.scheme === 'none') {
      const fs = await probe(read, 0n, disk.size);
      if (gen !== this.#gen) return;
      note.textContent = visible(fs ? `No partition table; the whole disk is ${describe(fs)}.` : 'No partition table, and no filesystem recognised at the start of the disk.');
      const place: Place = { device: '/dev/sda', partition: null, start: 0n, size: disk.size, signature: fs };
      if (fs && READABLE.has(fs.type)) note.append(this.#browseButton(disk, place));
      if (part === 'disk') await this.files.open(disk, place, path ?? '/');
      return;
    }
    const ss = table.sectorSize;
    note.textContent = `${table.scheme === 'gpt' ? 'GPT' : 'MBR'} partition table${table.diskGuid ? `, disk ${table.diskGuid}` : ''}, ${ss}-byte sectors.${table.warnings.length ? ` Warning: ${table.warnings.join('; ')}.` : ''}`;
    $('#partitions table').toggleAttribute('hidden', false);
    for (const p of table.partitions) body.append(this.#partitionRow(p, ss));
    const drawn = table.partitions.filter((p) => !p.extended);
    this.map.overlay(drawn.map((p) => ({ start: p.start, end: p.start + p.size })), null);
    $('#map .keys').querySelectorAll('.part').forEach((e) => e.remove());
    drawn.forEach((p, k) => {
      const key = text('span', `partition ${p.number}`, 'part');
      key.style.setProperty('--part-colour', PARTITION_COLOURS[k % PARTITION_COLOURS.length]!);
      $('#map .keys').append(key);
    });
    await Promise.all(table.partitions.map(async (p, i) => {
      const cell = body.children[i]!.lastElementChild!;
      if (p.extended) {
        if (gen === this.#gen) cell.textContent = '(logical partitions)';
        return;
      }
      const fs = await probe(read, p.start, p.size).catch(() => null);
      const what = await this.#contents(read, p);
      if (gen !== this.#gen) return;
      cell.textContent = visible(what);
      const place: Place = { device: `/dev/sda${p.number}`, partition: p, start: p.start, size: p.size, signature: fs };
      if (fs && READABLE.has(fs.type) && p.start + p.size <= disk.size) {
        cell.append(this.#browseButton(disk, place));
        if (part === String(p.number)) await this.files.open(disk, place, path ?? '/');
      }
    }));
  }

  /** "Browse files" for a filesystem the file browser can read. */
  #browseButton(disk: Disk, place: Place): HTMLButtonElement {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'browse';
    // The label is drawn by CSS (.browse::after), so the cell's text stays what the disk says.
    b.setAttribute('aria-label', `Browse the files on ${place.device}`);
    b.addEventListener('click', (e) => {
      e.stopPropagation();
      void this.files.open(disk, place).then(() => this.#locate(place.partition ? String(place.partition.number) : 'disk', '/'));
    });
    return b;
  }

  /** What a partition holds: a filesystem, a partition table of its own, or nothing known. */
  async #contents(read: (o: bigint, n: number) => Promise<Uint8Array>, p: Partition): Promise<string> {
    try {
      const fs = await probe(read, p.start, p.size);
      if (fs) return describe(fs);
      const inner = await readPartitionTable((o, n) => read(p.start + o, n), p.size);
      return inner.scheme === 'none' ? '—' : `${inner.scheme === 'gpt' ? 'GPT' : 'MBR'} partition table (${inner.partitions.length} partitions)`;
    } catch (e) {
      return `could not read: ${plainError(e)}`;
    }
  }

  #partitionRow(p: Partition, ss: number): HTMLTableRowElement {
    const tr = document.createElement('tr');
    const jump = document.createElement('button');
    jump.type = 'button';
    jump.textContent = String(p.number);
    jump.title = `Go to the start of partition ${p.number}`;
    const cells = [
      text('td', p.typeName ? `${p.typeName} (${p.type})` : p.type, 'type'),
      text('td', `${p.start / BigInt(ss)}s (${p.start})`, 'num'),
      text('td', humanSize(p.size), 'num'),
      text('td', p.name),
      text('td', '…', 'fs'),
    ];
    cells[2]!.dataset['bytes'] = String(p.size);
    cells[2]!.title = `${p.size} bytes`;
    const first = document.createElement('td');
    first.append(jump);
    tr.append(first, ...cells);
    tr.addEventListener('click', () => {
      this.goTo(p.start);
      this.transfers.setRange(p.start, p.size);
    });
    return tr;
  }

  #goto(e: Event): void {
    e.preventDefault();
    const f = e.target as HTMLFormElement;
    const raw = (f.elements.namedItem('at') as HTMLInputElement).value;
    const sectors = (f.elements.namedItem('unit') as HTMLSelectElement).value === 'sectors';
    const ss = this.#table?.sectorSize ?? 512;
    let o = parseOffset(raw, ss);
    if (o !== null && sectors && !/s\s*$/i.test(raw)) o *= BigInt(ss);
    const size = this.dump.size;
    if (o === null) return this.showError(`“${raw}” is not an offset. Use a number (2048), hex (0x1be), sectors (2048s) or a size (1M).`);
    if (size !== null && o >= size) return this.showError(`Offset ${o} is past the end of the export (${size} bytes).`);
    this.showError(null);
    this.goTo(o);
  }

  #selected(s: { start: bigint; end: bigint } | null): void {
    ($('#copy') as HTMLButtonElement).disabled = s === null;
    $('#selection').textContent = s ? `Selected ${s.end - s.start} byte${s.end - s.start === 1n ? '' : 's'} at ${s.start} (0x${s.start.toString(16)})` : '';
    if (s && s.end - s.start > 1n) this.transfers.setRange(s.start, s.end - s.start);
  }

  async #copy(): Promise<void> {
    try {
      const hex = await this.dump.copySelection();
      $('#selection').textContent = `Copied ${hex.split(/\s+/).filter(Boolean).length} bytes as hex.`;
    } catch (e) {
      this.showError(`Could not copy: ${plainError(e)}`);
    }
  }

  /** What the transfer forms work on: the export shown, once connected. */
  #shown(): Shown | null {
    const disk = this.#disk;
    if (!disk || !this.#uri) return null;
    return { uri: this.#uri, size: disk.size, exportName: this.#export ?? disk.handle.getExportName(), sectorSize: this.#table?.sectorSize ?? 512 };
  }
}

function describe(fs: Signature): string {
  return [fs.type, fs.version && fs.version !== fs.type ? `(${fs.version})` : '', fs.label ? `“${fs.label}”` : '', fs.uuid ? `UUID ${fs.uuid}` : '']
    .filter(Boolean).join(' ');
}
