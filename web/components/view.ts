// The scrolling part of <nbd-hexdump>: only the rows on screen exist in the DOM. The position is a
// row (hence a byte offset), not a pixel: the scroll bar maps to it proportionally (its height is
// capped, so a 1 TiB range scrolls like a small one), wheel and keys move it by whole rows.

import type { Row, RowSource } from './rows.js';

/** Tallest scrollable area (browsers fail somewhere past 16 million pixels). */
const MAX_PX = 8_000_000;
/** A new source's rows are drawn as still loading when their bytes take longer than this. */
const LOADING_MS = 100;

export interface ViewHost {
  /** After each render: the rows on screen, and whether every one of them has its text. */
  shown(rows: readonly Row[], complete: boolean): void;
  /** The first row on screen changed. */
  moved(position: bigint): void;
  /** The selection changed. */
  selected(sel: { start: bigint; end: bigint } | null): void;
}

const el = <K extends keyof HTMLElementTagNameMap>(tag: K, cls: string, part?: string): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (part) e.setAttribute('part', part);
  return e;
};

/** A dump line's offset column (it ends at the first space or colon) as a span, and its width. */
function offsetSpan(text: string): [HTMLElement, number] {
  const w = text.search(/[ :]/);
  const off = el('span', '', 'offset');
  off.textContent = text.slice(0, w);
  return [off, w];
}

/** A row's element, its text, and its byte spans (or what makes them, for a row drawn as text). */
interface Drawn {
  el: HTMLElement;
  text: string;
  loaded: boolean;
  spans: [bigint, HTMLElement[]][];
  bytes?: { at: bigint; n: number };
}

export class DumpView {
  readonly scroller = el('div', '', 'scroller');
  readonly dump = el('div', '', 'dump');
  readonly #filler = el('div', 'filler');
  #source: RowSource | null = null;
  #top: Row | null = null;
  #rows: Row[] = [];
  #lines: string[] = [];
  /** Byte offset → its hex and character spans, for the rows on screen. */
  #spans = new Map<bigint, HTMLElement[]>();
  /** The rows drawn last time, by kind and offset: rows still on screen are moved, not redrawn. */
  #drawn = new Map<string, Drawn>();
  #rh = 0;
  #ch = 0;
  #height = -1;
  #expected = -1;
  #wheel = 0;
  #frame = 0;
  #notified: bigint | null = null;
  #anchor: bigint | null = null;
  #focus: bigint | null = null;
  #hover: bigint | null = null;
  /** Bytes marked by the page (a structure's field), besides the selection. */
  #mark: { start: bigint; end: bigint } | null = null;
  #dragging = false;
  /** Whether some span on screen may carry a selection, highlight or mark class. */
  #painted = false;
  /**
   * A new source's first screen is drawn as text, each byte's spans added after the frame that
   * paints it whole (or as soon as the pointer, a selection or a mark needs them): a thousand
   * spans more than doubled the style, layout and paint of the first frame.
   */
  #textFirst = true;
  #spanTimer = 0;
  #loadingTimer: ReturnType<typeof setTimeout> | null = null;
  /** Keep the last page full when scrolling, not when block status reshapes rows or on "go to". */
  #clamp = true;
  /** Showing the end (End, or scrolled to the bottom): the page stays full as rows reshape. */
  #atEnd = false;

  constructor(readonly host: ViewHost) {
    this.dump.setAttribute('role', 'presentation');
    this.scroller.append(this.dump, this.#filler);
    this.scroller.addEventListener('scroll', () => this.#onScroll());
    this.scroller.addEventListener('wheel', (e) => this.#onWheel(e), { passive: false });
    this.dump.addEventListener('pointerdown', (e) => this.#onPointerDown(e));
    this.dump.addEventListener('pointermove', (e) => this.#onPointerMove(e));
    this.dump.addEventListener('pointerup', () => { this.#dragging = false; });
    this.dump.addEventListener('pointerleave', () => this.#setHover(null));
    new ResizeObserver(() => { this.#height = -1; this.invalidate(); }).observe(this.scroller);
  }

  get source(): RowSource | null { return this.#source; }

  /**
   * Show a source, with the row holding `at` first: now, or with `soon` once its bytes are there
   * (through render()), its rows drawn as still loading only if that takes longer than
   * LOADING_MS: a screen of placeholders drawn just before the same screen with its bytes only
   * holds the bytes back.
   */
  setSource(source: RowSource | null, at: bigint, soon = false): void {
    this.#source = source;
    source?.anchor?.(at);
    this.#height = -1;
    this.#top = source ? source.rowAt(at) : null;
    this.#clamp = this.#atEnd = at === source?.end;
    this.#textFirst = true;
    this.#anchor = this.#focus = this.#hover = null;
    this.#notified = null;
    if (this.#loadingTimer !== null) clearTimeout(this.#loadingTimer);
    this.#loadingTimer = null;
    this.#rows = [];
    if (soon && source) this.#loadingTimer = setTimeout(() => { this.#loadingTimer = null; if (!this.#rows.length) this.render(); }, LOADING_MS);
    else this.render();
  }

  /** Whether every row a render would draw now has its text (it would be complete). */
  get ready(): boolean {
    const source = this.#source;
    if (!source || !this.#top) return false;
    this.#measure(source);
    let r: Row | null = source.rowAt(this.#top.pos);
    for (let i = 0; r && i <= this.pageRows; i++, r = source.after(r)) if (source.text(r) === null) return false;
    return true;
  }

  /** Offset of the first row on screen. */
  get position(): bigint { return this.#top?.pos ?? 0n; }
  set position(p: bigint) {
    if (!this.#source) return;
    this.#source.anchor?.(p);
    this.#top = this.#source.rowAt(p);
    // Going to an offset puts it at the top, even near the end; the end itself fills the page.
    this.#clamp = this.#atEnd = p >= this.#source.end;
    this.render();
  }

  /** The rows on screen, as text (each line ends with a newline). */
  get text(): string { return this.#lines.length ? this.#lines.join('\n') + '\n' : ''; }
  get rows(): readonly Row[] { return this.#rows; }
  /** Rows that fit on screen. */
  get pageRows(): number { return Math.max(1, Math.floor(this.#ch / (this.#rh || 16))); }

  get selection(): { start: bigint; end: bigint } | null {
    if (this.#anchor === null || this.#focus === null) return null;
    const [a, b] = this.#anchor <= this.#focus ? [this.#anchor, this.#focus] : [this.#focus, this.#anchor];
    return { start: a, end: b + 1n };
  }

  set selection(s: { start: bigint; end: bigint } | null) {
    if (s && s.end > s.start) [this.#anchor, this.#focus] = [s.start, s.end - 1n];
    else this.#anchor = this.#focus = null;
    this.#paintMarks();
    this.host.selected(this.selection);
  }

  get mark(): { start: bigint; end: bigint } | null { return this.#mark; }
  set mark(m: { start: bigint; end: bigint } | null) {
    this.#mark = m && m.end > m.start ? m : null;
    this.#paintMarks();
  }

  /** Render at the next frame (bytes arrived, block status arrived, resize). */
  invalidate(): void {
    if (!this.#frame) this.#frame = requestAnimationFrame(() => { this.#frame = 0; this.render(); });
  }

  /**
   * Lay out the empty view and measure a row now (styles, the font): done while a connection
   * opens, the first screen's render does not wait for it.
   */
  prepare(): void {
    this.#probe();
    this.#ch = this.scroller.clientHeight;
  }

  #probe(): void {
    if (!this.#rh) {
      const probe = el('div', 'row');
      probe.textContent = '0';
      this.dump.append(probe);
      this.#rh = probe.getBoundingClientRect().height || 16;
      probe.remove();
    }
  }

  #measure(source: RowSource): void {
    this.#probe();
    const rows = 'count' in source ? (source as { count: number }).count : Number((source.end - source.start) / 16n) + 2;
    const height = Math.min(rows * this.#rh, MAX_PX);
    if (height === this.#height) return;
    this.#height = height;
    this.dump.style.height = '0px';
    this.#filler.style.height = `${height}px`;
    this.#ch = this.scroller.clientHeight;
    this.dump.style.height = `${this.#ch}px`;
    this.#filler.style.height = `${Math.max(0, height - this.#ch)}px`;
  }

  /** The top row that shows the last row at the bottom of the screen. */
  #lastTop(source: RowSource): Row {
    let r = source.rowAt(source.end);
    for (let i = 1; i < this.pageRows; i++) {
      const b = source.before(r);
      // A "*" cannot open the page, and its line would not fit: the page starts after it.
      if (!b || (b.kind === 'star' && i === this.pageRows - 1)) break;
      r = b;
    }
    return r;
  }

  /** Draw the rows from the top one; `fromScroll` leaves the scroll bar where the user put it. */
  render(fromScroll = false): void {
    if (this.#frame) { cancelAnimationFrame(this.#frame); this.#frame = 0; }
    const source = this.#source;
    if (!source || !this.#top) {
      this.dump.replaceChildren();
      this.#drawn.clear();
      this.#rows = [];
      this.#lines = [];
      this.#filler.style.height = '0px';
      return;
    }
    this.#measure(source);
    const last = this.#lastTop(source);
    // Layouts change as block status arrives: re-find the top row by its offset.
    let top = source.rowAt(this.#top.pos);
    // A "*" never opens the page: the line it repeats goes first, as hexdump -C would print it.
    if (top.kind === 'star') top = source.before(top) ?? top;
    if ((this.#clamp && top.pos > last.pos) || this.#atEnd) top = last;
    this.#clamp = false;
    this.#top = top;
    const rows: Row[] = [];
    for (let r: Row | null = top; r && rows.length < this.pageRows + 1; r = source.after(r)) rows.push(r);
    this.#rows = rows;
    this.#spans.clear();
    let complete = true;
    const drawn = new Map<string, Drawn>();
    const els = rows.map((r) => {
      const key = `${r.kind}:${r.pos}:${r.next}`;
      let d = this.#drawn.get(key);
      // A row drawn with its bytes stays as it is; one still loading is looked at again.
      if (!d?.loaded) {
        const t = source.text(r);
        d = d && d.text === (t ?? source.label(r)) ? d : this.#rowElement(source, r, t ?? source.label(r), t !== null);
      }
      if (!d.loaded) complete = false;
      drawn.set(key, d);
      for (const [o, spans] of d.spans) this.#spans.set(o, spans);
      return d;
    });
    this.#drawn = drawn;
    // Once the whole screen has its bytes: a screen completed in pieces stays text until then.
    if (complete && els.some((d) => d.bytes) && !this.#spanTimer) {
      this.#spanTimer = requestAnimationFrame(() => setTimeout(() => this.#addSpans()));
    }
    this.#lines = els.map((d) => d.text);
    this.dump.replaceChildren(...els.map((d) => d.el));
    this.#paintMarks();
    if (!fromScroll) this.#syncScrollBar(source, top, last);
    if (this.#notified !== top.pos) {
      this.#notified = top.pos;
      this.host.moved(top.pos);
    }
    this.host.shown(rows, complete);
  }

  #syncScrollBar(source: RowSource, top: Row, last: Row): void {
    // From the sizes #measure set, so that nothing asks for a layout; unchanged bars are left alone.
    const max = Math.max(0, this.#height - this.#ch);
    const span = source.fraction(last);
    const target = Math.round((span > 0 ? Math.min(1, source.fraction(top) / span) : 0) * max);
    if (target === this.#expected) return;
    this.scroller.scrollTop = target;
    this.#expected = this.scroller.scrollTop;
  }

  #rowElement(source: RowSource, r: Row, text: string, loaded: boolean): Drawn {
    const row = el('div', 'row', 'row');
    const drawn: Drawn = { el: row, text, loaded, spans: [] };
    const bytes = loaded ? source.bytes(r) : null;
    if (!bytes) {
      if (!loaded) row.classList.add('loading');
      if (r.kind === 'star') row.setAttribute('part', 'row star');
      row.textContent = text;
      return drawn;
    }
    if (r.kind === 'zero') row.classList.add('zero');
    if (this.#textFirst) {
      const [off, w] = offsetSpan(text);
      row.append(off, text.slice(w));
      drawn.bytes = { at: r.pos, n: bytes.length };
      return drawn;
    }
    this.#spansOf(row, drawn, r.pos, bytes.length);
    return drawn;
  }

  /** Lay out a row's text with a span for each byte's hex and character. */
  #spansOf(row: HTMLElement, drawn: Drawn, pos: bigint, n: number): void {
    const text = drawn.text;
    // Columns: byte i's hex is 2 + 3i (+1 past the eighth) after the offset; the characters
    // follow the first "|".
    const [off, w] = offsetSpan(text);
    const bar = text.indexOf('|');
    row.replaceChildren(off);
    let at = w;
    const hex: HTMLElement[] = [];
    for (let i = 0; i < n; i++) {
      const h = w + 2 + 3 * i + (i >= 8 ? 1 : 0);
      const s = el('span', 'b', 'byte hex');
      s.textContent = text.slice(h, h + 2);
      row.append(text.slice(at, h), s);
      hex.push(s);
      at = h + 2;
    }
    row.append(text.slice(at, bar + 1));
    for (let i = 0; i < n; i++) {
      const c = el('span', 'c', 'byte char');
      c.textContent = text[bar + 1 + i]!;
      row.append(c);
      const o = pos + BigInt(i);
      hex[i]!.dataset['o'] = c.dataset['o'] = String(o);
      drawn.spans.push([o, [hex[i]!, c]]);
    }
    row.append(text.slice(bar + 1 + n));
  }

  /** Give the rows drawn as text their byte spans; from now on rows are drawn with them. */
  #addSpans(): void {
    if (this.#spanTimer) cancelAnimationFrame(this.#spanTimer);
    this.#spanTimer = 0;
    this.#textFirst = false;
    for (const d of this.#drawn.values()) {
      if (!d.bytes) continue;
      this.#spansOf(d.el, d, d.bytes.at, d.bytes.n);
      delete d.bytes;
      for (const [o, spans] of d.spans) this.#spans.set(o, spans);
    }
    this.#paintMarks();
  }

  /** Hover and selection classes on the byte spans on screen. */
  #paintMarks(): void {
    const sel = this.selection;
    const mark = this.#mark;
    // Nothing to show and nothing shown (fresh rows have no marks): no need to visit every span.
    const any = sel !== null || this.#hover !== null || mark !== null;
    if (!any && !this.#painted) return;
    if (any && this.#textFirst) {
      this.#addSpans();
      return;
    }
    this.#painted = any;
    for (const [o, spans] of this.#spans) {
      const s = sel !== null && o >= sel.start && o < sel.end;
      const h = o === this.#hover;
      const m = mark !== null && o >= mark.start && o < mark.end;
      for (const span of spans) {
        if (span.classList.contains('sel') === s && span.classList.contains('hl') === h && span.classList.contains('mk') === m) continue;
        span.classList.toggle('sel', s);
        span.classList.toggle('hl', h);
        span.classList.toggle('mk', m);
        span.setAttribute('part', `byte ${span.classList.contains('b') ? 'hex' : 'char'}${s ? ' selected' : ''}${h ? ' highlight' : ''}${m ? ' marked' : ''}`);
      }
    }
  }

  #setHover(o: bigint | null): void {
    if (o === this.#hover) return;
    this.#hover = o;
    this.#paintMarks();
  }

  /** Move the top by n rows (negative: up). Returns whether it moved. */
  scrollRows(n: number): boolean {
    const source = this.#source;
    if (!source || !this.#top) return false;
    const last = this.#lastTop(source);
    let r = this.#top;
    for (; n > 0 && r.pos < last.pos; n--) {
      r = source.after(r) ?? r;
      // A "*" is never the first row on screen (render shows its line instead): step over it.
      if (r.kind === 'star' && r.pos < last.pos) r = source.after(r) ?? r;
    }
    for (; n < 0; n++) r = source.before(r) ?? r;
    if (r.pos === this.#top.pos) return false;
    this.#atEnd = r.pos >= last.pos;
    this.#top = r;
    this.#clamp = true;
    this.render();
    return true;
  }

  home(): void { if (this.#source) this.position = this.#source.start; }
  end(): void { if (this.#source) this.position = this.#source.end; }

  /** Bring byte o on screen (as the top row when above, the bottom row when below). */
  reveal(o: bigint): void {
    const source = this.#source;
    const last = this.#rows[this.pageRows - 1] ?? this.#rows[this.#rows.length - 1];
    if (!source || !this.#top || !last) return;
    if (o < this.#top.pos) this.position = o;
    else if (o >= last.next) {
      let r = source.rowAt(o);
      for (let i = 1; i < this.pageRows; i++) r = source.before(r) ?? r;
      this.position = r.pos;
    }
  }

  /** Keyboard navigation; returns whether the key was used. */
  key(e: KeyboardEvent): boolean {
    const page = Math.max(1, this.pageRows - 1);
    switch (e.key) {
      case 'ArrowDown': this.scrollRows(1); return true;
      case 'ArrowUp': this.scrollRows(-1); return true;
      case 'PageDown': this.scrollRows(page); return true;
      case 'PageUp': this.scrollRows(-page); return true;
      case 'Home': this.home(); return true;
      case 'End': this.end(); return true;
      case 'ArrowLeft':
      case 'ArrowRight': {
        const source = this.#source;
        if (!source) return false;
        const from = this.#focus ?? this.#top?.pos ?? source.start;
        let o = from + (e.key === 'ArrowRight' ? 1n : -1n);
        if (o < source.start) o = source.start;
        if (o >= source.end) o = source.end - 1n;
        this.#focus = o;
        if (!e.shiftKey || this.#anchor === null) this.#anchor = o;
        this.reveal(o);
        this.#paintMarks();
        this.host.selected(this.selection);
        return true;
      }
    }
    return false;
  }

  #onScroll(): void {
    const source = this.#source;
    if (!source || !this.#top || Math.abs(this.scroller.scrollTop - this.#expected) <= 1) return;
    const max = this.scroller.scrollHeight - this.scroller.clientHeight;
    const f = max > 0 ? this.scroller.scrollTop / max : 0;
    this.#expected = this.scroller.scrollTop;
    // Layout changes move the bar without the user (the browser clamps it): if it still stands for
    // the rows on screen, nothing moved.
    const span = source.fraction(this.#lastTop(source));
    const now = span > 0 ? Math.min(1, source.fraction(this.#top) / span) : 0;
    if (Math.abs(f - now) * max <= 1.5) return;
    this.#top = source.at(f * span);
    this.#clamp = true;
    this.#atEnd = f >= 1;
    this.render(true);
  }

  #onWheel(e: WheelEvent): void {
    const source = this.#source;
    if (!source || !this.#top || Math.abs(e.deltaY) <= Math.abs(e.deltaX)) return;
    const down = e.deltaY > 0;
    // At either end, let the page scroll instead.
    if (down ? this.#top.pos >= this.#lastTop(source).pos : this.#top.pos <= source.start) return;
    e.preventDefault();
    const rh = this.#rh || 16;
    this.#wheel += e.deltaY * (e.deltaMode === 1 ? rh : e.deltaMode === 2 ? this.#ch : 1);
    const n = Math.trunc(this.#wheel / rh);
    if (n !== 0) {
      this.#wheel -= n * rh;
      this.scrollRows(n);
    }
  }

  #byteAt(e: PointerEvent): bigint | null {
    let target = e.target as HTMLElement;
    if (this.#textFirst && target.closest?.('.row')) {
      // A row still drawn as text: give it its spans, then find the one under the pointer.
      this.#addSpans();
      target = ((this.dump.getRootNode() as Document | ShadowRoot).elementFromPoint(e.clientX, e.clientY) ?? target) as HTMLElement;
    }
    const t = target.closest?.('.b, .c') as HTMLElement | null;
    return t?.dataset['o'] !== undefined ? BigInt(t.dataset['o']) : null;
  }

  #onPointerDown(e: PointerEvent): void {
    const o = this.#byteAt(e);
    if (o === null || e.button !== 0) return;
    if (!e.shiftKey || this.#anchor === null) this.#anchor = o;
    this.#focus = o;
    this.#dragging = true;
    this.#paintMarks();
    this.host.selected(this.selection);
  }

  #onPointerMove(e: PointerEvent): void {
    const o = this.#byteAt(e);
    this.#setHover(o);
    if (this.#dragging && (e.buttons & 1) && o !== null && o !== this.#focus) {
      this.#focus = o;
      this.#paintMarks();
      this.host.selected(this.selection);
    }
  }
}
