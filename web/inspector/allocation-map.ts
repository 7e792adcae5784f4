// The allocation map: the whole disk as a grid of cells coloured from block status (data, zero,
// hole), drawn while it builds with a progress bar, a marker where the hexdump is, and a click on a
// cell jumps there. Block status goes through the shared Disk, so the hexdump profits from it too.
// Partitions are drawn as bands under their cells, and a chosen file's extents as outlined cells.

import type { Disk } from '../browser/disk.js';
import { STATE_HOLE, STATE_ZERO } from '../browser/extents.js';
import { humanSize } from './human.js';

const COLS = 256;
const ROWS = 24;
/** Requests in flight while building: the disk is cut into this many stretches at a time. */
const PARALLEL = 4;
/** One stretch: 64 GiB (block status requests are at most 4 GiB each). */
const STRETCH = 64n << 30n;

type Kind = 'data' | 'zero' | 'hole';

/** Colours of partition boundaries on the map (and of their keys), in table order. */
export const PARTITION_COLOURS = ['#e5534b', '#57ab5a', '#c69026', '#986ee2', '#39c5cf'];

/** A stretch of the disk drawn over the cells: a partition (band) or a file's extent (outline). */
export interface Overlay {
  start: bigint;
  end: bigint;
}
const kindOf = (flags: number): Kind => (flags & STATE_HOLE ? 'hole' : flags & STATE_ZERO ? 'zero' : 'data');

export class AllocationMap {
  readonly canvas: HTMLCanvasElement;
  readonly #progress: HTMLProgressElement;
  readonly #legend: HTMLElement;
  readonly #marker: HTMLElement;
  #disk: Disk | null = null;
  #abort: { aborted: boolean } = { aborted: false };
  #frame = 0;
  #partitions: Overlay[] = [];
  #file: Overlay[] = [];
  /** Called with the byte offset of a clicked cell. */
  onJump: (offset: bigint) => void = () => {};

  constructor(readonly root: HTMLElement) {
    this.canvas = root.querySelector('canvas')!;
    this.#progress = root.querySelector('progress')!;
    this.#legend = root.querySelector('.legend')!;
    this.#marker = root.querySelector('.marker')!;
    this.canvas.addEventListener('click', (e) => {
      const offset = this.offsetAt(e.offsetX, e.offsetY);
      if (offset !== null) this.onJump(offset);
    });
    new ResizeObserver(() => this.draw()).observe(this.canvas);
  }

  /** Bytes per cell. */
  get #cell(): bigint {
    const size = this.#disk?.size ?? 0n;
    const cells = BigInt(COLS * ROWS);
    return size === 0n ? 1n : (size + cells - 1n) / cells;
  }

  /** The disk offset under a point of the canvas (CSS pixels), aligned to 512. */
  offsetAt(x: number, y: number): bigint | null {
    if (!this.#disk) return null;
    const col = Math.min(COLS - 1, Math.max(0, Math.floor((x / this.canvas.clientWidth) * COLS)));
    const row = Math.min(ROWS - 1, Math.max(0, Math.floor((y / this.canvas.clientHeight) * ROWS)));
    // Cells past the end (the grid is not full) stand for the last sector.
    const at = BigInt(row * COLS + col) * this.#cell;
    return (at < this.#disk.size ? at : this.#disk.size > 0n ? this.#disk.size - 1n : 0n) / 512n * 512n;
  }

  /** Map a disk: ask block status for all of it, drawing as answers come. */
  async build(disk: Disk): Promise<void> {
    this.#abort.aborted = true;
    const abort = (this.#abort = { aborted: false });
    this.#disk = disk;
    this.#progress.hidden = false;
    this.#legend.textContent = disk.hasAllocation ? 'Mapping…' : 'The server does not report allocation: everything is shown as data.';
    const tick = () => {
      this.draw();
      if (!abort.aborted && disk.extents.known < disk.size) this.#frame = requestAnimationFrame(tick);
    };
    tick();
    let next = 0n;
    const worker = async () => {
      while (!abort.aborted && next < disk.size) {
        const at = next;
        next += STRETCH;
        await disk.status(at, at + STRETCH, abort, true);
      }
    };
    try {
      await Promise.all(Array.from({ length: PARALLEL }, worker));
    } finally {
      cancelAnimationFrame(this.#frame);
      if (!abort.aborted) {
        this.#progress.hidden = true;
        this.draw();
        this.#legend.textContent = this.#summary(disk);
      }
    }
  }

  /** Draw partitions as bands under their cells (colours cycle), and a file's extents outlined. */
  overlay(partitions: Overlay[] | null, file: Overlay[] | null): void {
    if (partitions) this.#partitions = partitions;
    if (file) this.#file = file;
    this.draw();
  }

  stop(): void {
    this.#abort.aborted = true;
    cancelAnimationFrame(this.#frame);
  }

  /** Show where the hexdump is. */
  mark(offset: bigint): void {
    if (!this.#disk) return;
    const i = Number(offset / this.#cell);
    this.#marker.hidden = false;
    this.#marker.style.left = `${((i % COLS) / COLS) * 100}%`;
    this.#marker.style.top = `${(Math.floor(i / COLS) / ROWS) * 100}%`;
    this.#marker.style.width = `${100 / COLS}%`;
    this.#marker.style.height = `${100 / ROWS}%`;
  }

  #summary(disk: Disk): string {
    const totals: Record<Kind, bigint> = { data: 0n, zero: 0n, hole: 0n };
    for (const r of disk.extents.runs) totals[kindOf(r.flags)] += r.end - r.start;
    const pc = (n: bigint) => (disk.size > 0n ? ((Number(n) / Number(disk.size)) * 100).toFixed(1) : '0.0');
    return (['data', 'zero', 'hole'] as const).map((k) => `${k} ${humanSize(totals[k])} (${pc(totals[k])}%)`).join(' · ');
  }

  draw(): void {
    const disk = this.#disk;
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const w = (this.canvas.width = Math.max(COLS, Math.round(this.canvas.clientWidth * devicePixelRatio)));
    const h = (this.canvas.height = Math.max(ROWS, Math.round(this.canvas.clientHeight * devicePixelRatio)));
    const style = getComputedStyle(this.root);
    const colour = (name: string, dflt: string) => style.getPropertyValue(name).trim() || dflt;
    const paint = { data: colour('--map-data', '#1f6feb'), zero: colour('--map-zero', '#9ecbff'), hole: colour('--map-hole', '#e6e6e6'), unknown: colour('--map-unknown', '#bbb') };
    ctx.clearRect(0, 0, w, h);
    if (!disk) return;
    this.#progress.value = disk.size > 0n ? Number(disk.extents.known) / Number(disk.size) : 1;
    const cells = COLS * ROWS;
    const cell = this.#cell;
    const bytes = { data: new Float64Array(cells), zero: new Float64Array(cells), hole: new Float64Array(cells) };
    for (const r of disk.extents.runs) {
      const k = kindOf(r.flags);
      for (let i = Number(r.start / cell); i < cells && BigInt(i) * cell < r.end; i++) {
        const lo = BigInt(i) * cell > r.start ? BigInt(i) * cell : r.start;
        const hi = BigInt(i + 1) * cell < r.end ? BigInt(i + 1) * cell : r.end;
        bytes[k][i]! += Number(hi - lo);
      }
    }
    // Whole-pixel cell edges that never overlap: overlapping translucent cells drew stripes.
    const xs = Array.from({ length: COLS + 1 }, (_, c) => Math.round((c * w) / COLS));
    const ys = Array.from({ length: ROWS + 1 }, (_, r) => Math.round((r * h) / ROWS));
    // Gaps between cells only where cells are large: thin gaps read as stripes (in dark mode most).
    const gapX = w / COLS >= 8 ? 1 : 0;
    const gapY = h / ROWS >= 8 && gapX ? 1 : 0;
    const box = (i: number) => {
      const c = i % COLS;
      const r = Math.floor(i / COLS);
      return { x: xs[c]!, y: ys[r]!, w: xs[c + 1]! - xs[c]! - gapX, h: ys[r + 1]! - ys[r]! - gapY };
    };
    for (let i = 0; i < cells; i++) {
      if (BigInt(i) * cell >= disk.size) break;
      const { data, zero, hole } = { data: bytes.data[i]!, zero: bytes.zero[i]!, hole: bytes.hole[i]! };
      // Any data at all shows: a cell of 1 GiB with 4 KiB of data is not empty. Lighter cells hold
      // less data: mixed with the hole colour, not drawn translucent over the page.
      const fill = data > 0 ? paint.data : zero + hole === 0 ? paint.unknown : zero >= hole ? paint.zero : paint.hole;
      const share = data > 0 ? Math.round((0.45 + 0.55 * Math.min(1, data / Number(cell))) * 100) : 100;
      ctx.fillStyle = share < 100 ? mix(fill, paint.hole, share) : fill;
      const b = box(i);
      ctx.fillRect(b.x, b.y, b.w, b.h);
    }
    const cellsOf = (o: Overlay) => {
      const first = Number(o.start / cell);
      const last = Math.min(cells - 1, Number((o.end > o.start ? o.end - 1n : o.start) / cell));
      return { first, last };
    };
    // Where each partition starts and ends: a bar down the left of its first cell and the right of its last.
    const bar = Math.max(2, Math.round(devicePixelRatio * 2));
    this.#partitions.forEach((p, k) => {
      ctx.fillStyle = PARTITION_COLOURS[k % PARTITION_COLOURS.length]!;
      const { first, last } = cellsOf(p);
      const a = box(first);
      const z = box(last);
      ctx.fillRect(a.x, a.y, bar, ys[Math.floor(first / COLS) + 1]! - a.y);
      ctx.fillRect(z.x + z.w - bar, z.y, bar, ys[Math.floor(last / COLS) + 1]! - z.y);
    });
    ctx.strokeStyle = colour('--map-file', '#f0883e');
    ctx.lineWidth = Math.max(1, Math.round(devicePixelRatio));
    for (const e of this.#file) {
      const { first, last } = cellsOf(e);
      for (let i = first; i <= last; i++) {
        const b = box(i);
        ctx.strokeRect(b.x + 0.5, b.y + 0.5, b.w - 1, b.h - 1);
      }
    }
  }
}

/** `a` mixed with `b`, `percent` of `a`, as one opaque colour (drawn once on a 1×1 canvas). */
function mix(a: string, b: string, percent: number): string {
  const key = `${a}|${b}|${percent}`;
  let v = MIXED.get(key);
  if (v === undefined) {
    const ctx = (scratch ??= new OffscreenCanvas(1, 1).getContext('2d', { willReadFrequently: true })!);
    ctx.globalAlpha = 1;
    ctx.fillStyle = b;
    ctx.fillRect(0, 0, 1, 1);
    ctx.globalAlpha = percent / 100;
    ctx.fillStyle = a;
    ctx.fillRect(0, 0, 1, 1);
    const [r, g, bl] = ctx.getImageData(0, 0, 1, 1).data;
    v = `rgb(${r}, ${g}, ${bl})`;
    MIXED.set(key, v);
  }
  return v;
}
const MIXED = new Map<string, string>();
let scratch: OffscreenCanvasRenderingContext2D | null = null;
