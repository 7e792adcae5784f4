// Receiving, as libnbd's rbuf/rlen (generator/states.c recv_into_rbuf): each state asks for the
// next n bytes, either in a small scratch buffer (headers) or straight into the caller's buffer
// (read payloads: copied once, from the transport's message into their destination). When a read
// is complete, the state's step runs (handle/steps.ts).

/** Payload rests smaller than this are read with the transport's own buffer (with what follows). */
const INTO_MIN = 64 * 1024;

export class Receiver {
  scratch = new Uint8Array(64);
  have = 0;
  want = 0;
  /** The destination of a payload read (null: read and drop), where it is at, and what is left. */
  sinkBuf: Uint8Array | null = null;
  sinkPos = 0;
  sinkLeft = 0;
  readonly #step: () => void;

  constructor(step: () => void) {
    this.#step = step;
  }

  /** What the current scratch read has gathered. */
  get bytes(): Uint8Array {
    return this.scratch.subarray(0, this.have);
  }

  /** Ask for `n` more bytes in the scratch buffer, from its start. */
  need(n: number): void {
    if (n > this.scratch.length) this.scratch = new Uint8Array(Math.max(n, this.scratch.length * 2));
    else if (this.scratch.length > 65536 && n <= 64) this.scratch = new Uint8Array(64);
    this.have = 0;
    this.want = n;
    if (n === 0) this.#step();
  }

  /** Grow the current scratch read to `total` bytes, keeping what is there. */
  needMore(total: number): void {
    if (total > this.scratch.length) {
      const s = new Uint8Array(Math.max(total, this.scratch.length * 2));
      s.set(this.scratch.subarray(0, this.have));
      this.scratch = s;
    }
    this.want = total;
    if (this.have === total) this.#step();
  }

  /** Read the next `n` bytes straight into `buf` at `pos` (or drop them when buf is null). */
  sink(buf: Uint8Array | null, pos: number, n: number): void {
    this.sinkBuf = buf;
    this.sinkPos = pos;
    this.sinkLeft = n;
    this.want = 0;
    this.have = 0;
    if (n === 0) this.#step();
  }

  /**
   * The rest of the payload destination, for a transport that can read into it (the caller's
   * buffer then receives the bytes without a copy); null when small, dropped or not a payload.
   */
  into(): Uint8Array | null {
    const b = this.sinkBuf;
    return b && this.sinkLeft >= INTO_MIN ? b.subarray(this.sinkPos, this.sinkPos + this.sinkLeft) : null;
  }

  /**
   * Take what the current read wants from `chunk` at `pos`, run the step if the read is complete,
   * and return where the rest begins (`pos` itself when nothing was wanted).
   */
  take(chunk: Uint8Array, pos: number): number {
    if (this.sinkLeft > 0) {
      const n = Math.min(this.sinkLeft, chunk.length - pos);
      const b = this.sinkBuf;
      // Bytes a transport read in place (into()) are there already.
      if (b && !(chunk.buffer === b.buffer && chunk.byteOffset + pos === b.byteOffset + this.sinkPos)) {
        b.set(chunk.subarray(pos, pos + n), this.sinkPos);
      }
      this.sinkPos += n;
      this.sinkLeft -= n;
      if (this.sinkLeft === 0) this.#step();
      return pos + n;
    }
    const n = Math.min(this.want - this.have, chunk.length - pos);
    if (n <= 0) return pos;
    this.scratch.set(chunk.subarray(pos, pos + n), this.have);
    this.have += n;
    if (this.have === this.want) this.#step();
    return pos + n;
  }
}
