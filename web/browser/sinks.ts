// Where a download goes in a page: a file the user picks (the File System Access API's save
// dialog, in Chromium), or a file in the origin-private file system (OPFS, in every current
// browser), which the page can then offer as an ordinary download straight from disk.

export interface FileSink {
  /** What download() writes into; closing it commits the file. */
  stream: FileSystemWritableFileStream;
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

/** A new (emptied) file `name` in the origin-private file system. */
export async function privateFile(name: string): Promise<FileSink> {
  const root = await navigator.storage.getDirectory();
  const file = await root.getFileHandle(name, { create: true });
  return { file, stream: await file.createWritable({ keepExistingData: false }), where: 'opfs' };
}

/** Delete `name` from the origin-private file system, if there. */
export async function removePrivateFile(name: string): Promise<void> {
  const root = await navigator.storage.getDirectory();
  await root.removeEntry(name).catch((e: unknown) => {
    if ((e as DOMException).name !== 'NotFoundError') throw e;
  });
}
