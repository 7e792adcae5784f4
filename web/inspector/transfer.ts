// The inspector's transfers: "download" any range of the export, or all of it, straight to a file
// (a file the user picks, where the browser has a save dialog for pages; otherwise through the
// origin-private file system, then offered as an ordinary download from disk), and "upload" an
// image (file picker or drag and drop) into a writable export, read back to verify. Both go
// through webnbd/browser's download() and upload(): progress, speed and cancel here; no path
// holds more than their bounded window in memory.

import { NbdError } from '../core/errors.js';
import { canPickSaveFile, pickSaveFile, privateFile, type FileSink } from '../browser/sinks.js';
import { download, upload, type TransferProgress } from '../browser/transfer.js';
import { humanSize, parseOffset, plainError } from './human.js';

/** What the page is showing, for the forms. */
export interface Shown {
  uri: string;
  size: bigint;
  exportName: string;
  sectorSize: number;
}

/** Names of the files downloads pass through in the origin-private file system. */
const STAGED = 'webnbd-download-';

const exportWords = (name: string) => (name === '' ? 'the default export' : `export “${name}”`);
const speed = (p: TransferProgress) => `${humanSize(p.bytes)} of ${humanSize(p.total)}${p.mibps > 0 ? `, ${p.mibps.toFixed(p.mibps < 10 ? 1 : 0)} MiB/s` : ''}`;

/** A form's progress bar, cancel button and status line, and the transfer it runs. */
class Job {
  readonly bar: HTMLProgressElement;
  readonly status: HTMLElement;
  readonly cancel: HTMLButtonElement;
  ctl: AbortController | null = null;

  constructor(readonly form: HTMLFormElement) {
    this.bar = form.querySelector('progress')!;
    this.status = form.querySelector('.status')!;
    this.cancel = form.elements.namedItem('cancel') as HTMLButtonElement;
    this.cancel.addEventListener('click', () => this.ctl?.abort());
  }

  field(name: string): HTMLInputElement { return this.form.elements.namedItem(name) as HTMLInputElement; }

  /** Run `work` with a fresh signal, the bar and cancel shown meanwhile. */
  async run(work: (signal: AbortSignal, progress: (p: TransferProgress, what: string) => void) => Promise<string>, failed: (e: unknown) => string): Promise<void> {
    this.ctl?.abort();
    const ctl = (this.ctl = new AbortController());
    this.bar.hidden = false;
    this.bar.value = 0;
    this.cancel.hidden = false;
    let shown = 0;
    const progress = (p: TransferProgress, what: string) => {
      // A few updates a second are enough for people; every request would be thousands.
      const now = performance.now();
      if (now - shown < 100 && p.bytes < p.total) return;
      shown = now;
      this.bar.value = p.total > 0n ? Number(p.bytes) / Number(p.total) : 1;
      this.status.textContent = `${what} ${speed(p)}`;
    };
    try {
      this.status.textContent = await work(ctl.signal, progress);
    } catch (e) {
      this.status.textContent = ctl.signal.aborted ? 'Cancelled.' : failed(e);
    } finally {
      if (this.ctl === ctl) {
        this.bar.hidden = true;
        this.cancel.hidden = true;
        this.ctl = null;
      }
    }
  }
}

export class TransferForms {
  readonly #save: Job;
  readonly #upload: Job;
  #image: File | null = null;

  /** `shown()` is what the page shows now (null before a connection); `changed()` runs after an upload wrote to it. */
  constructor(save: HTMLFormElement, up: HTMLFormElement, readonly shown: () => Shown | null, readonly changed: () => void) {
    this.#save = new Job(save);
    this.#upload = new Job(up);
    const to = save.elements.namedItem('to') as HTMLSelectElement;
    // The save dialog only where the browser has one for pages (Chromium); else the option goes.
    if (!canPickSaveFile()) to.querySelector('option[value=picker]')?.remove();
    save.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.#download();
    });
    (save.elements.namedItem('whole') as HTMLButtonElement).addEventListener('click', () => {
      const s = this.shown();
      if (!s) return;
      this.#save.field('start').value = '0';
      this.#save.field('length').value = String(s.size);
    });
    up.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.#send();
    });
    const input = this.#upload.field('image');
    input.addEventListener('change', () => this.#choose(input.files?.[0] ?? null));
    // Drag and drop: anywhere on the form.
    up.addEventListener('dragover', (e) => {
      if (!e.dataTransfer?.types.includes('Files')) return;
      e.preventDefault();
      up.classList.add('dropping');
    });
    up.addEventListener('dragleave', () => up.classList.remove('dropping'));
    up.addEventListener('drop', (e) => {
      e.preventDefault();
      up.classList.remove('dropping');
      this.#choose(e.dataTransfer?.files[0] ?? null);
    });
  }

  /** The range fields (the partition table and the selection fill them). */
  setRange(start: bigint, length: bigint): void {
    this.#save.field('start').value = String(start);
    this.#save.field('length').value = String(length);
  }

  #choose(f: File | null): void {
    this.#image = f;
    this.#upload.status.textContent = f ? `${f.name}: ${humanSize(BigInt(f.size))}.` : '';
  }

  async #download(): Promise<void> {
    const job = this.#save;
    const s = this.shown();
    const start = parseOffset(job.field('start').value, s?.sectorSize);
    const length = parseOffset(job.field('length').value, s?.sectorSize);
    if (!s || start === null || length === null || length === 0n) {
      job.status.textContent = s ? 'Give a start and a length, e.g. 0 and 1M.' : 'Connect first.';
      return;
    }
    if (start >= s.size) {
      job.status.textContent = `Start ${start} is past the end of the export (${s.size} bytes).`;
      return;
    }
    const end = start + length > s.size ? s.size : start + length;
    const name = `${s.exportName || 'disk'}-${start}-${end - start}.bin`.replace(/[^\w.-]+/g, '_');
    const toPicker = (job.form.elements.namedItem('to') as HTMLSelectElement).value === 'picker';
    // The save dialog needs the click that is handling now: ask before anything is awaited.
    const picked = toPicker ? pickSaveFile(name) : null;
    await job.run(async (signal, progress) => {
      let sink: FileSink;
      if (picked) {
        sink = await picked;
      } else {
        sink = await stagedFile(name);
      }
      job.status.textContent = `Reading ${humanSize(end - start)}…`;
      await download(s.uri, sink.stream, { offset: start, count: end - start, signal, onProgress: (p) => progress(p, 'Downloaded') });
      if (sink.where === 'picker') return `Saved ${humanSize(end - start)} to ${sink.file.name}.`;
      await offerFile(sink, name);
      return `Saved ${humanSize(end - start)} as ${name}.`;
    }, (e) => ((e as { name?: string }).name === 'AbortError' ? 'No file chosen.' : `Could not save: ${plainError(e)}`));
  }

  async #send(): Promise<void> {
    const job = this.#upload;
    const s = this.shown();
    const image = this.#image;
    const at = parseOffset(job.field('at').value, s?.sectorSize);
    if (!s || !image || at === null) {
      job.status.textContent = !s ? 'Connect first.' : !image ? 'Choose an image, or drop one here.' : `“${job.field('at').value}” is not an offset.`;
      return;
    }
    const verify = job.field('verify').checked;
    await job.run(async (signal, progress) => {
      await upload(image, s.uri, {
        offset: at, verify, signal,
        onProgress: (p) => progress(p, p.phase === 'verify' ? 'Verified' : 'Written'),
      });
      this.changed();
      return `Wrote ${image.name} (${humanSize(BigInt(image.size))}) to ${exportWords(s.exportName)} at ${at}${verify ? ', verified' : ''}.`;
    // upload()'s own errors are plain already ("export “x” is read-only", a byte that did not
    // verify); the connection's are explained.
    }, (e) => `Could not upload: ${e instanceof NbdError && e.context === 'upload' ? `${e.detail}.` : plainError(e)}`);
  }
}

/** A new file of the origin-private file system for a download called `name` (those of earlier downloads are removed). */
export async function stagedFile(name: string): Promise<FileSink> {
  await removeStaged();
  return privateFile(`${STAGED}${name}`);
}

/** From the private file system to the user's downloads: a File backed by the disk, not memory. */
export async function offerFile(sink: FileSink, name: string): Promise<void> {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(await sink.file.getFile());
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

/** Remove the files earlier downloads left in the origin-private file system. */
async function removeStaged(): Promise<void> {
  const root = await navigator.storage.getDirectory();
  const names: string[] = [];
  for await (const name of (root as unknown as { keys(): AsyncIterable<string> }).keys()) if (name.startsWith(STAGED)) names.push(name);
  await Promise.all(names.map((n) => root.removeEntry(n).catch(() => {})));
}
