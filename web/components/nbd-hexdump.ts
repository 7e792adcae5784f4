// <nbd-hexdump>: a range of an NBD export, shown as `hexdump -C -s OFFSET -n LENGTH` (or nbddump)
// prints it. It reads through the page's shared worker and shares one connection per export with
// every other element. Ranges up to TEXT_LIMIT are read whole and `.text` is the whole dump; larger
// ones (up to a whole disk) are laid out from block status and read 64 KiB at a time as they scroll
// into view. Registration is separate: import './nbd-hexdump-define.js'.

import { NbdError, errno } from '../core/errors.js';
import { defaultWorker } from '../browser/client.js';
import { acquire, release, resolveUri } from '../browser/connections.js';
import { BLOCK, type Disk, type LinkState } from '../browser/disk.js';
import { NbdErrorEvent, NbdLoadEvent, NbdPositionEvent, NbdSelectEvent } from './events.js';
import { ExactRows, LazyRows, type HexdumpFormat, type Row } from './rows.js';
import { STYLE } from './style.js';
import { DumpView } from './view.js';

export { NbdErrorEvent, NbdLoadEvent, NbdPositionEvent, NbdSelectEvent, type HexdumpFormat };

/** Ranges up to this many bytes are read whole, and `.text` is their whole dump. */
export const TEXT_LIMIT = 1024 * 1024;
/** Largest selection copied or returned by selectedBytes(). */
export const SELECTION_LIMIT = 16 * 1024 * 1024;
/** Block status is asked this far around the screen. */
const STATUS_WINDOW = 256n << 20n;
/** Reads in flight per element. */
const MAX_READS = 8;
/** Pages of rows read ahead below the screen (and one above). */
const AHEAD_PAGES = 2;

/** Bytes as hex pairs, 16 to a line: what copying a selection puts on the clipboard. */
export function hexPairs(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += bytes[i]!.toString(16).padStart(2, '0') + (i % 16 === 15 || i === bytes.length - 1 ? '\n' : ' ');
  return s;
}

function parseBig(v: string | null, dflt: bigint): bigint {
  if (v === null || !/^\s*(0x[0-9a-f]+|\d+)\s*$/i.test(v)) return dflt;
  return BigInt(v.trim());
}

/**
 * A range of an NBD export, shown as `hexdump -C -s OFFSET -n LENGTH` (or nbddump) prints it, read
 * through the page's shared worker and a `webnbd bridge`. Ranges up to 1 MiB are read whole; larger
 * ones (up to a whole disk) are laid out from block status and read as they scroll into view.
 *
 * @attr src - nbd+ws://HOST:PORT/EXPORT or nbds+wss://… URI of the export, through a `webnbd bridge`
 * @attr export - export name, replacing the one in src
 * @attr [offset=0] - first byte shown, decimal or 0x hex
 * @attr [length=512] - bytes shown, or `all` for everything from offset to the end of the export
 * @attr {'hexdump-C' | 'nbddump'} [format=hexdump-C] - hexdump -C lines or nbddump's
 * @fires nbd-load - the range was read and its first screen shown (offset, length, size)
 * @fires nbd-error - connecting or reading failed (errno, code, message)
 * @fires nbd-position - the first row on screen changed (position)
 * @fires nbd-select - the byte selection changed (selection)
 * @csspart status - connection and error messages
 * @csspart scroller - the scrolling box
 * @csspart dump - the rows on screen
 * @csspart row - one row; `row star` for "*"
 * @csspart offset - a row's offset column
 * @csspart byte - a byte, also `hex` or `char`, and `highlight` (under the pointer), `selected` or `marked` (the mark property)
 * @cssprop --nbd-hexdump-color - text colour
 * @cssprop --nbd-hexdump-background - background colour
 * @cssprop --nbd-hexdump-font - font family
 * @cssprop --nbd-hexdump-font-size - font size
 * @cssprop --nbd-hexdump-line-height - height of a row
 * @cssprop --nbd-hexdump-max-height - height before it scrolls (33 rows); `none` to fill a sized host
 * @cssprop --nbd-hexdump-offset-color - colour of the offset column
 * @cssprop --nbd-hexdump-star-color - colour of the `*` rows
 * @cssprop --nbd-hexdump-zero-color - colour of zero bytes
 * @cssprop --nbd-hexdump-loading-color - colour of rows still being read
 * @cssprop --nbd-hexdump-highlight-background - background of the byte under the pointer
 * @cssprop --nbd-hexdump-selection-background - background of the selected bytes
 * @cssprop --nbd-hexdump-selection-color - colour of the selected bytes
 * @cssprop --nbd-hexdump-mark-background - background of the bytes the mark property marks
 * @cssprop --nbd-hexdump-status-color - colour of status messages
 * @cssprop --nbd-hexdump-error-color - colour of error messages
 * @cssprop --nbd-hexdump-focus-color - colour of the focus outline
 */
export class NbdHexdumpElement extends HTMLElement {
  static observedAttributes = ['src', 'export', 'offset', 'length', 'format'];

  /** Register the element (by default as <nbd-hexdump>). */
  static define(tag = 'nbd-hexdump', registry: CustomElementRegistry = customElements): typeof NbdHexdumpElement {
    if (!registry.get(tag)) registry.define(tag, this);
    return this;
  }

  readonly #status: HTMLDivElement;
  readonly #view: DumpView;
  #gen = 0;
  #scheduled = false;
  #uri: string | null = null;
  #disk: Disk | null = null;
  /** The whole dump, for ranges up to TEXT_LIMIT. */
  #text: string | null = '';
  #loaded = false;
  #position: bigint | null = null;
  #queue: number[] = [];
  /** Blocks this element is waiting for (reads by others are waited for too, through Disk.block). */
  #waiting = new Set<number>();
  #failed = new Set<number>();
  #asking = false;
  #unwatch: (() => void) | null = null;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    const style = document.createElement('style');
    style.textContent = STYLE;
    this.#status = document.createElement('div');
    this.#status.setAttribute('part', 'status');
    this.#status.setAttribute('role', 'status');
    this.#view = new DumpView({
      shown: (rows, complete) => this.#shown(rows, complete),
      moved: (p) => this.dispatchEvent(new NbdPositionEvent(p)),
      selected: (s) => this.dispatchEvent(new NbdSelectEvent(s)),
    });
    root.append(style, this.#status, this.#view.scroller);
    this.addEventListener('keydown', (e) => this.#onKey(e));
  }

  /**
   * Exactly the text shown: for ranges up to TEXT_LIMIT bytes, the whole dump (what
   * `hexdump -C -s OFFSET -n LENGTH` prints, however much of it is scrolled into view); for larger
   * ranges, the rows on screen now. Empty until loaded, and after an error.
   */
  get text(): string { return this.#text ?? this.#view.text; }

  get src(): string { return this.getAttribute('src') ?? ''; }
  set src(v: string) { this.setAttribute('src', v); }
  get export(): string | null { return this.getAttribute('export'); }
  set export(v: string | null) { if (v === null) this.removeAttribute('export'); else this.setAttribute('export', v); }
  get offset(): bigint { return parseBig(this.getAttribute('offset'), 0n); }
  set offset(v: bigint | number) { this.setAttribute('offset', String(v)); }
  /** Bytes to show: default 512; 'all' for the rest of the export from offset. */
  get length(): bigint | 'all' {
    const v = this.getAttribute('length');
    return v?.trim() === 'all' ? 'all' : parseBig(v, 512n);
  }
  set length(v: bigint | number | 'all') { this.setAttribute('length', String(v)); }
  get format(): HexdumpFormat { return this.getAttribute('format') === 'nbddump' ? 'nbddump' : 'hexdump-C'; }
  set format(v: HexdumpFormat) { this.setAttribute('format', v); }

  /** The export's size once connected, else null. */
  get size(): bigint | null { return this.#disk?.size ?? null; }
  /** The open export (shared with other elements), once connected. */
  get disk(): Disk | null { return this.#disk; }

  /** Offset of the first row on screen; setting it scrolls there (kept until loaded). */
  get position(): bigint { return this.#view.source ? this.#view.position : (this.#position ?? this.offset); }
  set position(p: bigint | number) {
    if (this.#view.source) this.#view.position = BigInt(p);
    else this.#position = BigInt(p);
  }

  /** Selected bytes [start, end), or null. */
  get selection(): { start: bigint; end: bigint } | null { return this.#view.selection; }
  set selection(s: { start: bigint | number; end: bigint | number } | null) {
    this.#view.selection = s ? { start: BigInt(s.start), end: BigInt(s.end) } : null;
  }

  /** Bytes [start, end) shown marked (the `marked` part), apart from the selection; null for none. */
  get mark(): { start: bigint; end: bigint } | null { return this.#view.mark; }
  set mark(m: { start: bigint | number; end: bigint | number } | null) {
    this.#view.mark = m ? { start: BigInt(m.start), end: BigInt(m.end) } : null;
  }

  /** Scroll by whole rows (negative: up), as the wheel and arrow keys do. */
  scrollRows(n: number): void { this.#view.scrollRows(n); }

  /** The selected bytes (read if not in memory); empty without a selection. */
  async selectedBytes(): Promise<Uint8Array> {
    const s = this.selection;
    if (!s || !this.#disk) return new Uint8Array(0);
    if (s.end - s.start > BigInt(SELECTION_LIMIT)) {
      throw new NbdError(errno.ERANGE, 'nbd-hexdump', `the selection is larger than ${SELECTION_LIMIT} bytes`);
    }
    return this.#disk.read(s.start, s.end);
  }

  /** Copy the selection to the clipboard as hex pairs (what Ctrl+C does); returns the text. */
  async copySelection(): Promise<string> {
    const text = hexPairs(await this.selectedBytes());
    if (text) await navigator.clipboard.writeText(text);
    return text;
  }

  connectedCallback(): void {
    if (!this.hasAttribute('tabindex')) this.tabIndex = 0;
    // Start the worker now: it loads while the page goes on.
    if (this.src) defaultWorker();
    this.#schedule();
  }

  attributeChangedCallback(): void { if (this.isConnected) this.#schedule(); }

  disconnectedCallback(): void {
    this.#gen++;
    this.#unwatch?.();
    this.#unwatch = null;
    if (this.#uri) release(this.#uri);
    this.#uri = null;
    this.#disk = null;
  }

  /** Several attribute changes in one task make one load. */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      if (this.isConnected) void this.#load();
    });
  }

  async #load(): Promise<void> {
    const gen = ++this.#gen;
    this.#loaded = false;
    this.#queue = [];
    this.#waiting.clear();
    this.#failed.clear();
    this.#text = '';
    // The old rows go at once: nothing of them may count as the new range's first screen.
    this.#view.setSource(null, 0n);
    const src = this.src;
    if (!src) {
      this.#status.textContent = '';
      delete this.dataset['state'];
      return;
    }
    this.dataset['state'] = 'loading';
    this.#status.textContent = 'Connecting…';
    try {
      const uri = resolveUri(src, this.export);
      // A new export, or the old connection gave up reconnecting: connect through the shared registry.
      if (uri !== this.#uri || !this.#disk || this.#disk.failed) {
        this.#unwatch?.();
        this.#unwatch = null;
        if (this.#uri) release(this.#uri);
        this.#uri = uri;
        this.#disk = null;
        const disk = acquire(uri);
        // The connection is on its way (acquire posted it): meanwhile lay out. (Rows are formatted
        // a line at a time, in JavaScript: the kernel is compiled only for a whole small range.)
        this.#view.prepare();
        this.#disk = await disk.catch((e: unknown) => {
          if (this.#uri === uri) this.#uri = null;
          throw e;
        });
      }
      const disk = this.#disk;
      if (gen !== this.#gen) return;
      this.#unwatch?.();
      this.#unwatch = disk.watch((s) => this.#link(s, gen));
      const offset = this.offset;
      if (offset > disk.size) throw new NbdError(errno.EINVAL, 'nbd-hexdump', `offset ${offset} is beyond the end of the export (${disk.size} bytes)`);
      const want = this.length === 'all' ? disk.size - offset : (this.length as bigint);
      const end = offset + want > disk.size ? disk.size : offset + want;
      const at = this.#position ?? offset;
      this.#position = null;
      if (end - offset <= BigInt(TEXT_LIMIT)) {
        this.#status.textContent = 'Reading…';
        const data = await disk.read(offset, end);
        if (gen !== this.#gen) return;
        const rows = new ExactRows(this.format, data, offset, disk.size);
        this.#text = rows.text0;
        this.#view.setSource(rows, at);
      } else {
        this.#text = null;
        // Block status for the first screen and the block at its top go out together, now: the
        // first render (which waits for a layout) must not hold the read back.
        void disk.status(at, at + STATUS_WINDOW).then(() => {
          // Block status says where the first screen's lines are (after a hole, far from the
          // top): ask for their blocks now, not after a first render finds them missing.
          this.#fetchScreen(gen, at);
          this.#refresh(gen);
        }, () => {});
        if (at < end) void disk.block(Number(at / BigInt(BLOCK))).catch(() => {});
        this.#view.setSource(new LazyRows(this.format, disk, offset, end), at, true);
      }
    } catch (e) {
      if (gen === this.#gen) this.#fail(e);
    }
  }

  /** The shared connection was lost, made again, or given up: say so; once back, fill the screen again. */
  #link(s: LinkState, gen: number): void {
    if (gen !== this.#gen) return;
    if (s.state === 'reconnecting') {
      this.#status.textContent = `Connection lost; reconnecting (attempt ${s.attempt} of ${s.of})…`;
      this.dataset['state'] = 'reconnecting';
    } else if (s.state === 'connected') {
      this.#status.textContent = this.#loaded ? '' : 'Reading…';
      this.dataset['state'] = this.#loaded ? 'loaded' : 'loading';
      this.#failed.clear();
      this.#refresh(gen);
    } else {
      this.#fail(s.error);
    }
  }

  #fail(e: unknown): void {
    const err = e instanceof NbdError ? e : new NbdError(errno.EIO, 'nbd-hexdump', e instanceof Error ? e.message : String(e));
    if (this.#text !== null) {
      this.#text = '';
      this.#view.setSource(null, 0n);
    }
    // textContent: messages may quote what a server sent, and must never become markup.
    this.#status.textContent = err.message;
    this.dataset['state'] = 'error';
    this.dispatchEvent(new NbdErrorEvent(err.errno, err.code, err.message));
  }

  /** Before the first render: fetch the blocks of the screen that starts at `at`. */
  #fetchScreen(gen: number, at: bigint): void {
    const source = this.#view.source;
    if (gen !== this.#gen || this.#loaded || !(source instanceof LazyRows)) return;
    const rows: Row[] = [];
    for (let r: Row | null = source.rowAt(at); r && rows.length <= this.#view.pageRows; r = source.after(r)) rows.push(r);
    this.#shown(rows, false);
  }

  /** After each render: fetch what the screen lacks, then read ahead; fire nbd-load once. */
  #shown(rows: readonly Row[], complete: boolean): void {
    const source = this.#view.source;
    if (complete && !this.#loaded && rows.length > 0 && source) {
      this.#loaded = true;
      this.#status.textContent = '';
      this.dataset['state'] = 'loaded';
      this.dispatchEvent(new NbdLoadEvent(source.start, source.end - source.start, this.#disk?.size ?? 0n));
      // Read ahead once the first screen is painted: its completions would hold the frame back.
      const gen = this.#gen;
      requestAnimationFrame(() => setTimeout(() => { if (gen === this.#gen) this.#shown(this.#view.rows, true); }));
      return;
    }
    if (!(source instanceof LazyRows) || rows.length === 0) return;
    const disk = source.disk;
    const gen = this.#gen;
    const first = rows[0]!.pos;
    const last = rows[rows.length - 1]!.next;
    const lo = first - STATUS_WINDOW > source.start ? first - STATUS_WINDOW : source.start;
    const gap = disk.extents.firstUnknown(first, last + STATUS_WINDOW) ?? disk.extents.firstUnknown(lo, first);
    if (gap !== null && !this.#asking) {
      this.#asking = true;
      disk.status(gap, gap < first ? first : last + STATUS_WINDOW).then(() => {
        this.#asking = false;
        this.#refresh(gen);
      }, (e: unknown) => {
        this.#asking = false;
        if (gen === this.#gen) this.#fail(e);
      });
    }
    // What the screen shows first, then the pages below, then the page above.
    const want: number[] = [];
    const add = (r: Row) => {
      if (r.kind !== 'line' && r.kind !== 'short') return;
      for (let b = Number(r.pos / BigInt(BLOCK)); b <= Number((r.next - 1n) / BigInt(BLOCK)); b++) {
        if (!want.includes(b) && !this.#failed.has(b) && !this.#waiting.has(b) && !disk.peek(b)) want.push(b);
      }
    };
    const known = (r: Row) => disk.extents.find(r.pos) !== null;
    rows.forEach((r) => { if (!this.#loaded || known(r)) add(r); });
    let r: Row | null = rows[rows.length - 1]!;
    for (let i = 0; i < AHEAD_PAGES * rows.length && (r = source.after(r)); i++) if (known(r)) add(r);
    r = rows[0]!;
    for (let i = 0; i < rows.length && (r = source.before(r)); i++) if (known(r)) add(r);
    this.#queue = want;
    this.#pump(disk, gen);
  }

  /**
   * Show what arrived: at once when it completes the first screen, else at the next frame (before
   * the first screen, only once its rows are drawn as still loading: see DumpView.setSource).
   */
  #refresh(gen: number): void {
    if (gen !== this.#gen) return;
    if (!this.#loaded && this.#view.ready) this.#view.render();
    else if (this.#loaded || this.#view.rows.length > 0) this.#view.invalidate();
  }

  #pump(disk: Disk, gen: number): void {
    while (this.#waiting.size < MAX_READS && this.#queue.length > 0) {
      const b = this.#queue.shift()!;
      this.#waiting.add(b);
      disk.block(b).then(() => {
        this.#refresh(gen);
      }, (e: unknown) => {
        if (gen !== this.#gen) return;
        this.#failed.add(b);
        this.#fail(e);
      }).finally(() => {
        this.#waiting.delete(b);
        if (gen === this.#gen) this.#pump(disk, gen);
      });
    }
  }

  #onKey(e: KeyboardEvent): void {
    if ((e.ctrlKey || e.metaKey) && e.key === 'c' && this.selection) {
      e.preventDefault();
      this.copySelection().catch((err: unknown) => this.#fail(err));
      return;
    }
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    if (this.#view.key(e)) e.preventDefault();
    // The last page depends on what lies before the end: learn that, then fill the page again.
    const source = this.#view.source;
    if (e.key === 'End' && source instanceof LazyRows) {
      const from = source.end - STATUS_WINDOW > source.start ? source.end - STATUS_WINDOW : source.start;
      void source.disk.status(from, source.end).then(() => this.#view.end(), () => {});
    }
  }
}

// Also declared by the define module; here too so that importing the class types the tag.
declare global {
  interface HTMLElementTagNameMap {
    'nbd-hexdump': NbdHexdumpElement;
  }
}
