// Standard output for the webnbd command: each write waits until the system has the bytes (so a
// 1 TiB dump is never buffered in memory), and a reader that goes away (`webnbd dump URI | head`)
// makes the command stop quietly (`closed`) instead of failing with EPIPE.

import type { Writable } from 'node:stream';

export class Output {
  readonly #stream: Writable;
  #closed = false;

  constructor(stream: Writable = process.stdout) {
    this.#stream = stream;
    stream.on('error', (e: NodeJS.ErrnoException) => this.#failed(e));
  }

  /** Whether the reader has gone away: writes are dropped, the command should stop. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Write bytes or text; resolves once they have been handed to the system, so the caller may
   * then reuse the memory and is held back while the reader is behind.
   */
  write(chunk: Uint8Array | string): Promise<void> {
    if (this.#closed || chunk.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#stream.write(chunk, (e) => {
        if (e) this.#failed(e as NodeJS.ErrnoException);
        resolve();
      });
    });
  }

  /** Resolves when everything written so far has been handed to the system. */
  flush(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#stream.write('', () => resolve()));
  }

  #failed(e: NodeJS.ErrnoException): void {
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') {
      this.#closed = true;
      return;
    }
    process.stderr.write(`webnbd: write: ${e.message}\n`);
    process.exit(1);
  }
}
