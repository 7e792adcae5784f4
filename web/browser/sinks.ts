// Where a download goes in a page: a file the user picks (the File System Access API's save
// dialog, in Chromium), or a file in the origin-private file system (OPFS, in every current
// browser), which the page can then offer as an ordinary download straight from disk. OPFS files
// are written by a worker of their own through a synchronous access handle (opfs-writer.ts).

import type { FromWriter, ToWriter } from './opfs-writer.js';

/** A request to the writer, without its id. */
type Request = ToWriter extends infer T ? (T extends unknown ? Omit<T, 'id'> : never) : never;

/** On a stream: it is done with a chunk once its write resolves (download() may use the buffer again). */
export const COPIES_CHUNKS = Symbol.for('webnbd.copiesChunks');
/** On a stream: it takes chunks in shared memory (download() then hands over what the worker read, uncopied). */
export const ACCEPTS_SHARED = Symbol.for('webnbd.acceptsShared');

export interface FileSink {
  /**
   * What download() writes into; closing it completes the file. A FileSystemWritableFileStream,
   * or a stream that takes the same chunks ({ type: 'write', position, data } and 'truncate').
   */
  stream: WritableStream;
  file: FileSystemFileHandle;
  where: 'picker' | 'opfs';
}

type SavePicker = (o: { suggestedName?: string }) => Promise<FileSystemFileHandle>;

/** True where the browser offers showSaveFilePicker() (Chromium, on a secure origin). */
export const canPickSaveFile = (): boolean => typeof (globalThis as { showSaveFilePicker?: SavePicker }).showSaveFilePicker === 'function';

/** A file the user chooses in the save dialog (needs a click or key press just before). Rejects with AbortError when the dialog is dismissed. */
export async function pickSaveFile(suggestedName: string): Promise<FileSink> {
  const pick = (globalThis as { showSaveFilePicker?: SavePicker }).showSaveFilePicker;
  if (!pick) throw new DOMException('this browser has no save dialog for pages (showSaveFilePicker)', 'NotSupportedError');
  const file = await pick({ suggestedName });
  return { file, stream: await file.createWritable(), where: 'picker' };
}

/**
 * A new (emptied) file `name` in the origin-private file system: written by a worker through a
 * synchronous access handle where the browser has them, else through createWritable(). An
 * aborted stream leaves the file empty.
 */
export async function privateFile(name: string): Promise<FileSink> {
  const root = await navigator.storage.getDirectory();
  const file = await root.getFileHandle(name, { create: true });
  const stream = await workerStream(name).catch(() => null);
  return { file, stream: stream ?? await file.createWritable({ keepExistingData: false }), where: 'opfs' };
}

/** A WritableStream over opfs-writer.ts; null where the worker cannot open the file. */
async function workerStream(name: string): Promise<WritableStream> {
  const worker = new Worker(new URL('./opfs-writer.js', import.meta.url), { type: 'module' });
  const waiting = new Map<number, { resolve(d: ArrayBuffer | undefined): void; reject(e: Error): void }>();
  let next = 1;
  const fail = (e: Error) => {
    for (const w of waiting.values()) w.reject(e);
    waiting.clear();
  };
  worker.addEventListener('message', (e: MessageEvent<FromWriter>) => {
    const w = waiting.get(e.data.id);
    waiting.delete(e.data.id);
    if (e.data.error) w?.reject(new DOMException(e.data.error.message, e.data.error.name));
    else w?.resolve(e.data.data);
  });
  worker.addEventListener('error', (e) => fail(new Error(`the file writer failed: ${e.message || 'could not load it'}`)));
  const ask = (m: Request, transfer: Transferable[] = []) => new Promise<ArrayBuffer | undefined>((resolve, reject) => {
    const id = next++;
    waiting.set(id, { resolve, reject });
    worker.postMessage({ ...m, id } as ToWriter, transfer);
  });
  try {
    await ask({ t: 'open', name });
  } catch (e) {
    worker.terminate();
    throw e;
  }
  // Chunks are copied into buffers that travel to the worker and back, so the caller's may be used again.
  const spare: ArrayBuffer[] = [];
  let position = 0;
  const write = async (data: Uint8Array, at: number) => {
    // Shared memory goes as it is (the writer copies it, off this thread); the rest travels.
    if (typeof SharedArrayBuffer !== 'undefined' && data.buffer instanceof SharedArrayBuffer) {
      await ask({ t: 'write', position: at, length: data.length, data: data.buffer, offset: data.byteOffset });
      return;
    }
    const i = spare.findIndex((b) => b.byteLength >= data.length);
    const buf = i >= 0 ? spare.splice(i, 1)[0]! : new ArrayBuffer(Math.max(data.length, 1 << 20));
    new Uint8Array(buf, 0, data.length).set(data);
    const back = await ask({ t: 'write', position: at, length: data.length, data: buf, offset: 0 }, [buf]);
    if (back && spare.length < 4) spare.push(back);
  };
  type Chunk = Uint8Array | { type: 'write'; position?: number; data: Uint8Array } | { type: 'truncate'; size: number } | { type: 'seek'; position: number };
  const stream = new WritableStream<Chunk>({
    async write(c) {
      if (c instanceof Uint8Array) {
        await write(c, position);
        position += c.length;
      } else if (c.type === 'write') {
        if (c.position !== undefined) position = c.position;
        await write(c.data, position);
        position += c.data.length;
      } else if (c.type === 'truncate') {
        await ask({ t: 'truncate', size: c.size });
      } else {
        position = c.position;
      }
    },
    async close() {
      try { await ask({ t: 'close' }); } finally { worker.terminate(); }
    },
    async abort() {
      try { await ask({ t: 'abort' }); } finally { worker.terminate(); }
    },
  });
  // As a FileSystemWritableFileStream: written at positions (download() skips zero runs).
  return Object.assign(stream, {
    [COPIES_CHUNKS]: true,
    [ACCEPTS_SHARED]: true,
    seek: (p: number) => stream.getWriter().write({ type: 'seek', position: p }),
    truncate: (size: number) => stream.getWriter().write({ type: 'truncate', size }),
  });
}

/** Delete `name` from the origin-private file system, if there. */
export async function removePrivateFile(name: string): Promise<void> {
  const root = await navigator.storage.getDirectory();
  await root.removeEntry(name).catch((e: unknown) => {
    if ((e as DOMException).name !== 'NotFoundError') throw e;
  });
}
