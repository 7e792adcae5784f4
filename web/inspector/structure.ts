// The inspector's "Structures" panel: the partition table and each filesystem's superblock as
// fields (web/fs/structures.ts). Hovering a field marks its bytes in the hexdump, clicking goes
// there; selecting bytes in the hexdump names the field they belong to.

import type { NbdHexdumpElement } from '../components/nbd-hexdump.js';
import type { Reader } from '../fs/device.js';
import { readLayout } from '../fs/layout.js';
import { fieldAt, readStructures, type Structure } from '../fs/structures.js';
import { visible } from './human.js';

export class StructureView {
  #structures: Structure[] = [];
  #rows = new Map<string, HTMLTableRowElement>();
  #gen = 0;

  constructor(readonly root: HTMLElement, readonly dump: NbdHexdumpElement, readonly goTo: (o: bigint, n: bigint) => void) {}

  clear(): void {
    this.#gen++;
    this.#structures = [];
    this.#rows.clear();
    this.root.querySelector('.groups')!.replaceChildren();
    this.root.querySelector('.where')!.textContent = '';
    this.root.hidden = true;
  }

  async show(read: Reader, size: bigint): Promise<void> {
    const gen = ++this.#gen;
    const layout = await readLayout(read, size);
    const places = layout.places.map((p) => ({ start: p.start, size: p.size, type: p.signature?.type ?? null }));
    const structures = await readStructures(read, size, layout.table, places);
    if (gen !== this.#gen) return;
    this.#structures = structures;
    const groups = structures.map((s, i) => this.#group(s, i === 0));
    this.root.querySelector('.groups')!.replaceChildren(...groups);
    this.root.hidden = structures.length === 0;
  }

  #group(s: Structure, open: boolean): HTMLDetailsElement {
    const d = document.createElement('details');
    d.open = open;
    const sum = document.createElement('summary');
    sum.textContent = `${s.title} at byte ${s.offset} (${s.length} bytes)`;
    const table = document.createElement('table');
    const body = document.createElement('tbody');
    for (const f of s.fields) {
      const tr = document.createElement('tr');
      for (const [text, cls] of [[`+${f.offset - s.offset}`, 'num'], [f.name, ''], [visible(f.value), 'value']] as const) {
        const td = document.createElement('td');
        td.textContent = text;
        if (cls) td.className = cls;
        tr.append(td);
      }
      tr.title = `bytes ${f.offset}–${f.offset + BigInt(f.length) - 1n}`;
      const range = { start: f.offset, end: f.offset + BigInt(f.length) };
      tr.addEventListener('mouseenter', () => { this.dump.mark = range; });
      tr.addEventListener('mouseleave', () => { this.dump.mark = null; });
      tr.addEventListener('click', () => this.goTo(f.offset, BigInt(f.length)));
      this.#rows.set(`${s.offset}:${f.offset}`, tr);
      body.append(tr);
    }
    table.append(body);
    d.append(sum, table);
    return d;
  }

  /** Name the field holding byte `o` (the start of the hexdump's selection). */
  at(o: bigint | null): void {
    for (const tr of this.#rows.values()) tr.removeAttribute('aria-current');
    const where = this.root.querySelector('.where')!;
    const hit = o === null ? null : fieldAt(this.#structures, o);
    if (!hit) {
      where.textContent = '';
      return;
    }
    const { structure, field } = hit;
    where.textContent = `Byte ${o} is ${structure.title} › ${field.name} = ${visible(field.value)}`;
    const tr = this.#rows.get(`${structure.offset}:${field.offset}`);
    if (tr) {
      tr.setAttribute('aria-current', 'true');
      (tr.closest('details') as HTMLDetailsElement).open = true;
      tr.scrollIntoView({ block: 'nearest' });
    }
  }
}
