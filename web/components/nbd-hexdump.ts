// <nbd-hexdump>: a range of an NBD export, shown as `hexdump -C` (or nbddump) prints it.
// The element reads through the page's shared worker; `.text` is exactly the text it shows.

import { NbdError, errno } from '../core/errors.js';
import { hexdumpC } from '../core/format/hexdump.js';
import { nbddump } from '../core/format/nbddump.js';
import { allocBuffer } from '../browser/client.js';
import { acquire, release, resolveUri } from './connections.js';

/** Fired when the range has been read and shown. Bubbles and crosses shadow roots. */
export class NbdLoadEvent extends Event {
  constructor(readonly offset: bigint, readonly length: bigint, readonly size: bigint) {
    super('nbd-load', { bubbles: true, composed: true });
  }
}

/** Fired when connecting or reading fails: `errno` and a plain-words `message`. */
export class NbdErrorEvent extends Event {
  constructor(readonly errno: number, readonly code: string, readonly message: string) {
    super('nbd-error', { bubbles: true, composed: true });
  }
}

export type HexdumpFormat = 'hexdump-C' | 'nbddump';

const STYLE = `
:host { display: block; color: var(--nbd-hexdump-color, CanvasText); background: var(--nbd-hexdump-background, Canvas);
  font-family: var(--nbd-hexdump-font, ui-monospace, monospace); font-size: var(--nbd-hexdump-font-size, 13px); }
pre { margin: 0; white-space: pre; overflow: auto; }
[part=status] { font-family: system-ui, sans-serif; color: var(--nbd-hexdump-status-color, GrayText); }
[part=status]:empty { display: none; }
:host([data-state=error]) [part=status] { color: var(--nbd-hexdump-error-color, #c00); }
`;

/**
 * @fires nbd-load - the range was read and shown
 * @fires nbd-error - connecting or reading failed
 * @csspart dump - the <pre> with the dump
 * @csspart status - connection and error messages
 * @cssprop --nbd-hexdump-color, --nbd-hexdump-background, --nbd-hexdump-font, --nbd-hexdump-font-size
 */
export class NbdHexdumpElement extends HTMLElement {
  static observedAttributes = ['src', 'export', 'offset', 'length', 'format'];

  /** Register the element (by default as <nbd-hexdump>). */
  static define(tag = 'nbd-hexdump', registry: CustomElementRegistry = customElements): typeof NbdHexdumpElement {
    if (!registry.get(tag)) registry.define(tag, this);
    return this;
  }

  #text = '';
  #generation = 0;
  #uri: string | null = null;
  #scheduled = false;
  readonly #pre: HTMLPreElement;
  readonly #status: HTMLDivElement;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    const style = document.createElement('style');
    style.textContent = STYLE;
    this.#status = document.createElement('div');
    this.#status.setAttribute('part', 'status');
    this.#pre = document.createElement('pre');
    this.#pre.setAttribute('part', 'dump');
    root.append(style, this.#status, this.#pre);
  }

  /** Exactly the text shown. */
  get text(): string { return this.#text; }

  get src(): string { return this.getAttribute('src') ?? ''; }
  set src(v: string) { this.setAttribute('src', v); }
  get export(): string | null { return this.getAttribute('export'); }
  set export(v: string | null) { v === null ? this.removeAttribute('export') : this.setAttribute('export', v); }
  get offset(): bigint { return parseBig(this.getAttribute('offset'), 0n); }
  set offset(v: bigint | number) { this.setAttribute('offset', String(v)); }
  /** Bytes to show: default 512; 'all' for the whole export. */
  get length(): bigint | 'all' {
    const v = this.getAttribute('length');
    return v === 'all' ? 'all' : parseBig(v, 512n);
  }
  set length(v: bigint | number | 'all') { this.setAttribute('length', String(v)); }
  get format(): HexdumpFormat { return this.getAttribute('format') === 'nbddump' ? 'nbddump' : 'hexdump-C'; }
  set format(v: HexdumpFormat) { this.setAttribute('format', v); }

  connectedCallback(): void { this.#schedule(); }
  attributeChangedCallback(): void { if (this.isConnected) this.#schedule(); }
  disconnectedCallback(): void {
    this.#generation++;
    if (this.#uri) release(this.#uri);
    this.#uri = null;
  }

  /** Several attribute changes in one task make one load. */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      void this.#load();
    });
  }

  async #load(): Promise<void> {
    const gen = ++this.#generation;
    const src = this.src;
    if (!src) return;
    this.dataset['state'] = 'loading';
    this.#status.textContent = 'Connecting…';
    try {
      const uri = resolveUri(src, this.export);
      if (uri !== this.#uri) {
        if (this.#uri) release(this.#uri);
        this.#uri = uri;
        acquire(uri).catch(() => {});
      }
      const h = await acquire(uri);
      release(uri);
      if (gen !== this.#generation) return;
      const size = h.getSize();
      const offset = this.offset;
      if (offset > size) throw new NbdError(errno.EINVAL, 'nbd-hexdump', `offset ${offset} is beyond the end of the export (${size} bytes)`);
      const want = this.length === 'all' ? size - offset : (this.length as bigint);
      const length = offset + want > size ? size - offset : want;
      if (length > 64n * 1024n * 1024n) throw new NbdError(errno.ERANGE, 'nbd-hexdump', `length ${length} is too large to show at once`);
      const buf = allocBuffer(Number(length));
      if (length > 0n) await h.pread(buf, offset);
      if (gen !== this.#generation) return;
      const text = this.format === 'nbddump' ? nbddump(buf) : hexdumpC(buf, offset);
      this.#text = text;
      this.#pre.textContent = text;
      this.#status.textContent = '';
      this.dataset['state'] = 'loaded';
      this.dispatchEvent(new NbdLoadEvent(offset, length, size));
    } catch (e) {
      if (gen !== this.#generation) return;
      const err = e instanceof NbdError ? e : new NbdError(errno.EINVAL, 'nbd-hexdump', e instanceof Error ? e.message : String(e));
      this.#text = '';
      this.#pre.textContent = '';
      // textContent: messages may quote what a server sent, and must never become markup.
      this.#status.textContent = err.message;
      this.dataset['state'] = 'error';
      this.dispatchEvent(new NbdErrorEvent(err.errno, err.code, err.message));
    }
  }
}

function parseBig(v: string | null, dflt: bigint): bigint {
  if (v === null || !/^\s*(0x[0-9a-f]+|\d+)\s*$/i.test(v)) return dflt;
  return BigInt(v.trim());
}

declare global {
  interface HTMLElementTagNameMap {
    'nbd-hexdump': NbdHexdumpElement;
  }
}
