// Just enough NBD to know, at every byte, where each direction of one connection stands: in the
// handshake, at a request boundary, how many requests still await their replies. The relay needs
// that to end a server connection only when nothing is owed either way (nbdkit 1.32 aborts when a
// client vanishes with replies in flight), and to refuse a malformed request before the server
// sees it. Pure: bytes in, facts out. Sections refer to the NBD protocol (doc/proto.md).

const NBDMAGIC = 0x4e42444d41474943n;
const IHAVEOPT = 0x49484156454f5054n; // "Newstyle negotiation"
const OLDSTYLE = 0x00420281861253n; // "Oldstyle negotiation"
const OPT_REPLY_MAGIC = 0x3e889045565a9n;
const NBD_REQUEST_MAGIC = 0x25609513;
const NBD_EXTENDED_REQUEST_MAGIC = 0x21e41c71;
const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;
const NBD_EXTENDED_REPLY_MAGIC = 0x6e8a278c;
const NBD_OPT_EXPORT_NAME = 1;
const NBD_OPT_ABORT = 2;
const NBD_OPT_STARTTLS = 5;
const NBD_OPT_GO = 7;
const NBD_OPT_EXTENDED_HEADERS = 11;
const NBD_REP_ACK = 1;
const NBD_FLAG_C_NO_ZEROES = 2;
const NBD_CMD_READ = 0;
const NBD_CMD_WRITE = 1;
const NBD_CMD_DISC = 2;
const NBD_CMD_FLAG_PAYLOAD_LEN = 1 << 5;
const NBD_REPLY_FLAG_DONE = 1;

/** Where the connection stands. */
export type Phase =
  | 'handshake' // greeting and options (proto.md "Handshake")
  | 'transmission' // requests and replies (proto.md "Transmission")
  | 'opaque' // STARTTLS, or bytes this reader does not follow: only passed through
  | 'ended'; // after NBD_OPT_ABORT, NBD_CMD_DISC, or a refused export

/** One direction's bytes, buffered until a whole field is there. */
class Bytes {
  private buf: Buffer = Buffer.alloc(0);
  /** Bytes still to pass over (a payload); they go to `out` as they come. */
  skip = 0n;

  push(b: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, b]) : b;
  }
  /** Passes over what is left of a payload; true when none is left. */
  skipped(out?: Buffer[]): boolean {
    const n = Number(this.skip < BigInt(this.buf.length) ? this.skip : BigInt(this.buf.length));
    if (n && out) out.push(this.buf.subarray(0, n));
    this.buf = this.buf.subarray(n);
    this.skip -= BigInt(n);
    return this.skip === 0n;
  }
  take(n: number, out?: Buffer[]): Buffer | null {
    if (this.buf.length < n) return null;
    const got = this.buf.subarray(0, n);
    if (out) out.push(got);
    this.buf = this.buf.subarray(n);
    return got;
  }
  peek(n: number): Buffer | null {
    return this.buf.length < n ? null : this.buf.subarray(0, n);
  }
  get length(): number {
    return this.buf.length;
  }
  rest(): Buffer[] {
    const all = this.buf;
    this.buf = Buffer.alloc(0);
    return all.length ? [all] : [];
  }
}

interface InFlight {
  type: number;
  length: bigint;
}

export class NbdStream {
  phase: Phase = 'handshake';
  /** Why the phase became 'opaque' or 'ended'. */
  why = '';
  /** Whole requests sent that still await (the end of) their reply. */
  inFlight = 0;
  /** Client bytes accepted past the last whole request: the server holds part of one. */
  partial = false;
  /** The client sent NBD_CMD_DISC: nothing more goes to the server. */
  discSent = false;
  extended = false;
  /** Why the client's bytes stopped being passed on (a malformed request). */
  refused: string | null = null;
  private stopped = false;
  private c = new Bytes();
  private s = new Bytes();
  private greeted: 'newstyle' | 'oldstyle' | null = null;
  private clientFlags: number | null = null;
  private awaiting: number | null = null; // the option whose final reply decides what comes next
  private cookies = new Map<bigint, InFlight[]>();

  /**
   * Client bytes in, the bytes that may go to the server out. A request header goes only once it
   * is whole and valid, so the server never holds part of a bad one; a payload streams through.
   * Bytes after NBD_OPT_GO wait for the server's answer, which says how to read them.
   */
  fromClient(b: Buffer): Buffer[] {
    if (this.phase === 'opaque') return [b];
    if (this.phase === 'ended' || this.discSent || this.stopped) return [];
    this.c.push(b);
    const out: Buffer[] = [];
    this.parseClient(out);
    return out;
  }

  /** Server bytes, all passed to the client: this only keeps count. Returns client bytes now free to go. */
  fromServer(b: Buffer): Buffer[] {
    if (this.phase === 'opaque') return [];
    if (this.phase === 'ended') return [];
    this.s.push(b);
    this.parseServer();
    const out: Buffer[] = [];
    if (this.stopped) return out;
    if (this.c.length) this.parseClient(out);
    return out;
  }

  /** The client is gone: nothing more of its bytes goes anywhere; replies are still counted. */
  stop(): void {
    this.stopped = true;
    this.c.rest();
  }

  /** Client bytes held back, waiting for the server's answer or for the rest of a header. */
  get held(): number {
    return this.c.length;
  }

  /** The request that ends a connection cleanly (proto.md "NBD_CMD_DISC"). */
  disc(): Buffer {
    const out = Buffer.alloc(this.extended ? 32 : 28);
    out.writeUInt32BE(this.extended ? NBD_EXTENDED_REQUEST_MAGIC : NBD_REQUEST_MAGIC, 0);
    out.writeUInt16BE(NBD_CMD_DISC, 6);
    return out;
  }

  private opaque(why: string): void {
    this.phase = 'opaque';
    this.why = why;
  }

  private parseClient(out: Buffer[]): void {
    for (;;) {
      if (this.phase === 'opaque') return void out.push(...this.c.rest());
      if (this.phase !== 'handshake' && this.phase !== 'transmission') return;
      if (this.c.skip > 0n) {
        if (!this.c.skipped(out)) return void (this.partial = this.phase === 'transmission');
        if (this.phase === 'transmission') this.requestDone(this.pendingWrite!);
        continue;
      }
      if (this.phase === 'handshake') {
        if (this.greeted === null || this.awaiting !== null) return; // the server decides first
        if (this.greeted === 'newstyle' && this.clientFlags === null) {
          const f = this.c.take(4, out);
          if (!f) return;
          this.clientFlags = f.readUInt32BE(0);
          continue;
        }
        const h = this.c.take(16, out);
        if (!h) return;
        if (h.readBigUInt64BE(0) !== IHAVEOPT) return this.opaque('the client sent something other than an option');
        const opt = h.readUInt32BE(8);
        this.c.skip = BigInt(h.readUInt32BE(12));
        if (opt === NBD_OPT_GO || opt === NBD_OPT_EXPORT_NAME || opt === NBD_OPT_STARTTLS || opt === NBD_OPT_ABORT) this.awaiting = opt;
        continue;
      }
      // Transmission: one request header at a time (proto.md "Request message").
      const size = this.extended ? 32 : 28;
      const h = this.c.peek(size);
      if (!h) return void (this.partial = false); // the server has none of this header yet
      const magic = h.readUInt32BE(0);
      if (magic !== (this.extended ? NBD_EXTENDED_REQUEST_MAGIC : NBD_REQUEST_MAGIC)) {
        this.refused = `bad request magic 0x${magic.toString(16)}`;
        this.stop();
        return;
      }
      const flags = h.readUInt16BE(4);
      const type = h.readUInt16BE(6);
      const cookie = h.readBigUInt64BE(8);
      const length = this.extended ? h.readBigUInt64BE(24) : BigInt(h.readUInt32BE(24));
      this.c.take(size, out);
      if (type === NBD_CMD_DISC) {
        this.discSent = true;
        return; // nothing after DISC reaches the server
      }
      const payload = type === NBD_CMD_WRITE || (this.extended && flags & NBD_CMD_FLAG_PAYLOAD_LEN) ? length : 0n;
      this.pendingWrite = { cookie, type, length };
      if (payload > 0n) {
        this.c.skip = payload;
        this.partial = true;
        continue;
      }
      this.requestDone(this.pendingWrite);
    }
  }
  private pendingWrite: { cookie: bigint; type: number; length: bigint } | null = null;
  private replyDone: bigint | null = null;

  private requestDone(r: { cookie: bigint; type: number; length: bigint }): void {
    this.partial = false;
    this.pendingWrite = null;
    const list = this.cookies.get(r.cookie) ?? [];
    list.push({ type: r.type, length: r.length });
    this.cookies.set(r.cookie, list);
    this.inFlight++;
  }

  private parseServer(): void {
    for (;;) {
      if (this.phase !== 'handshake' && this.phase !== 'transmission') return;
      if (this.s.skip > 0n && !this.s.skipped()) return;
      if (this.replyDone !== null) {
        // A reply counts as complete only once its last byte is in.
        const list = this.cookies.get(this.replyDone)!;
        list.shift();
        if (!list.length) this.cookies.delete(this.replyDone);
        this.inFlight--;
        this.replyDone = null;
      }
      if (this.phase === 'handshake') {
        if (this.greeted === null) {
          const g = this.s.peek(16);
          if (!g) return;
          if (g.readBigUInt64BE(0) !== NBDMAGIC) return this.opaque('no NBD greeting from the server');
          if (g.readBigUInt64BE(8) === IHAVEOPT) {
            if (!this.s.take(18)) return;
            this.greeted = 'newstyle';
          } else if (g.readBigUInt64BE(8) === OLDSTYLE) {
            if (!this.s.take(152)) return;
            this.greeted = 'oldstyle';
            this.phase = 'transmission';
          } else return this.opaque('unknown NBD greeting');
          continue;
        }
        if (this.awaiting === NBD_OPT_EXPORT_NAME) {
          // proto.md "NBD_OPT_EXPORT_NAME": no option reply, just the export (or a hang-up).
          const zeroes = (this.clientFlags ?? 0) & NBD_FLAG_C_NO_ZEROES ? 0 : 124;
          if (!this.s.take(10 + zeroes)) return;
          this.awaiting = null;
          this.phase = 'transmission';
          continue;
        }
        const h = this.s.take(20);
        if (!h) return;
        if (h.readBigUInt64BE(0) !== OPT_REPLY_MAGIC) return this.opaque('bad option reply magic');
        const opt = h.readUInt32BE(8);
        const type = h.readUInt32BE(12);
        this.s.skip = BigInt(h.readUInt32BE(16));
        const final = type === NBD_REP_ACK || (type & 0x80000000) !== 0;
        if (!final) continue;
        if (type === NBD_REP_ACK && opt === NBD_OPT_EXTENDED_HEADERS) this.extended = true;
        if (opt !== this.awaiting) continue;
        this.awaiting = null;
        if (type !== NBD_REP_ACK) continue; // the option failed: more options follow
        if (opt === NBD_OPT_GO) this.phase = 'transmission';
        else if (opt === NBD_OPT_STARTTLS) return this.opaque('TLS between client and server');
        else if (opt === NBD_OPT_ABORT) this.phase = 'ended';
        continue;
      }
      // Transmission: replies (proto.md "Simple reply message", "Structured reply chunk message").
      const m = this.s.peek(4);
      if (!m) return;
      const magic = m.readUInt32BE(0);
      let cookie: bigint;
      let length: bigint;
      let done: boolean;
      if (magic === NBD_SIMPLE_REPLY_MAGIC) {
        const h = this.s.take(16);
        if (!h) return;
        cookie = h.readBigUInt64BE(8);
        const r = this.cookies.get(cookie)?.[0];
        if (!r) return this.opaque(`a reply to unknown cookie ${cookie}`);
        length = r.type === NBD_CMD_READ && h.readUInt32BE(4) === 0 ? r.length : 0n;
        done = true;
      } else if (magic === NBD_STRUCTURED_REPLY_MAGIC || magic === NBD_EXTENDED_REPLY_MAGIC) {
        const ext = magic === NBD_EXTENDED_REPLY_MAGIC;
        const h = this.s.take(ext ? 32 : 20);
        if (!h) return;
        cookie = h.readBigUInt64BE(8);
        length = ext ? h.readBigUInt64BE(24) : BigInt(h.readUInt32BE(16));
        done = (h.readUInt16BE(4) & NBD_REPLY_FLAG_DONE) !== 0;
        if (!this.cookies.has(cookie)) return this.opaque(`a reply to unknown cookie ${cookie}`);
      } else return this.opaque(`bad reply magic 0x${magic.toString(16)}`);
      this.s.skip = length;
      if (done) this.replyDone = cookie;
    }
  }
}
