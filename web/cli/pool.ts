// Formatting dump output on several cores: whole lines are independent once the formatter's state
// before them is known (LineState), so chunks go to worker threads with that state and come back
// formatted, in order. Memory moves both ways by transfer, never by copy, and is recycled: read
// buffers come back with the output, output buffers go back with the next job.

import { Worker } from 'node:worker_threads';
import type { LineState } from '../core/format/lines.js';
import type { Buffers } from './buffers.js';

/** Which formatter the workers build (see format-worker.ts). */
export type FormatterSpec =
  | { kind: 'hexdump' }
  | { kind: 'nbddump'; size: bigint; colour: boolean };

export interface Job {
  id: number;
  spec: FormatterSpec;
  state: LineState;
  input: ArrayBuffer;
  byteOffset: number;
  length: number;
  /** A used output buffer the worker may fill instead of allocating one. */
  spare: ArrayBuffer | null;
}

export interface Reply {
  id: number;
  out?: Uint8Array;
  error?: string;
  /** The job's input and unused spare, back for reuse. */
  input?: ArrayBuffer;
  spare?: ArrayBuffer | null;
}

interface Pending {
  resolve(out: Uint8Array): void;
  reject(e: Error): void;
  worker: number;
}

export class FormatPool {
  readonly #workers: Worker[] = [];
  readonly #load: number[] = [];
  readonly #pending = new Map<number, Pending>();
  readonly #spec: FormatterSpec;
  readonly #inputs: Buffers;
  readonly #outputs: Buffers;
  #next = 0;
  #failure: Error | null = null;

  /** Read buffers come back to `inputs`; output buffers put back in `outputs` are reused. */
  constructor(spec: FormatterSpec, threads: number, inputs: Buffers, outputs: Buffers) {
    this.#spec = spec;
    this.#inputs = inputs;
    this.#outputs = outputs;
    for (let i = 0; i < threads; i++) {
      const w = new Worker(new URL('./format-worker.js', import.meta.url));
      w.on('message', (r: Reply) => this.#reply(r));
      w.on('error', (e) => this.#fail(e));
      w.unref();
      this.#workers.push(w);
      this.#load.push(0);
    }
  }

  /**
   * Format whole lines `data` as a formatter in `state` would. `data` must be the only view of
   * its memory that is still needed: that memory moves to the worker (and back to the inputs).
   */
  format(state: LineState, data: Uint8Array): Promise<Uint8Array> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#next++;
    let worker = 0;
    for (let i = 1; i < this.#load.length; i++) if (this.#load[i]! < this.#load[worker]!) worker = i;
    this.#load[worker]!++;
    const spare = this.#outputs.take();
    const input = data.buffer as ArrayBuffer;
    const job: Job = { id, spec: this.#spec, state, input, byteOffset: data.byteOffset, length: data.length, spare };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, worker });
      this.#workers[worker]!.postMessage(job, spare ? [input, spare] : [input]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }

  #reply(r: Reply): void {
    if (r.input) this.#inputs.put(r.input);
    if (r.spare) this.#outputs.put(r.spare);
    const p = this.#pending.get(r.id);
    if (!p) return;
    this.#pending.delete(r.id);
    this.#load[p.worker]!--;
    if (r.out) p.resolve(r.out);
    else p.reject(new Error(`formatting thread: ${r.error ?? 'no output'}`));
  }

  #fail(e: Error): void {
    this.#failure = new Error(`formatting thread: ${e.message}`);
    for (const p of this.#pending.values()) p.reject(this.#failure);
    this.#pending.clear();
  }
}
