// The bridge's NBD follower (bridge/nbd-stream.ts): from the bytes of both directions, delivered
// whole or a byte at a time, it knows the phase, the requests awaiting replies, whether the server
// holds part of a request, and it never passes on a malformed request header.
import { describe, expect, it } from 'vitest';
import { NbdStream } from '../../bridge/nbd-stream.js';

const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const u64 = (n: bigint | number) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; };
const cat = (...b: Buffer[]) => Buffer.concat(b);
const IHAVEOPT = Buffer.from('IHAVEOPT');
const greeting = cat(Buffer.from('NBDMAGIC'), IHAVEOPT, u16(3));
const option = (opt: number, data = Buffer.alloc(0)) => cat(IHAVEOPT, u32(opt), u32(data.length), data);
const optReply = (opt: number, type: number, data = Buffer.alloc(0)) => cat(u64(0x3e889045565a9n), u32(opt), u32(type), u32(data.length), data);
const request = (type: number, cookie: number, length: number, magic = 0x25609513) => cat(u32(magic), u16(0), u16(type), u64(cookie), u64(0), u32(length));
const simple = (cookie: number, error = 0) => cat(u32(0x67446698), u32(error), u64(cookie));
const chunk = (cookie: number, flags: number, payload: Buffer) => cat(u32(0x668e33ef), u16(flags), u16(1), u64(cookie), u32(payload.length), payload);

/** Feeds the server's and the client's bytes in order, each cut into pieces of `step`; returns what went to the server. */
function run(s: NbdStream, script: ['c' | 's', Buffer][], step: number): Buffer {
  const out: Buffer[] = [];
  for (const [who, bytes] of script) {
    for (let i = 0; i < bytes.length; i += step) {
      const piece = bytes.subarray(i, i + step);
      out.push(...(who === 'c' ? s.fromClient(piece) : s.fromServer(piece)));
    }
  }
  return Buffer.concat(out);
}

const handshake: ['c' | 's', Buffer][] = [
  ['s', greeting],
  ['c', u32(1)],
  ['c', option(8)], // NBD_OPT_STRUCTURED_REPLY
  ['s', optReply(8, 1)],
  ['c', option(7, cat(u32(0), u16(0)))], // NBD_OPT_GO ""
  ['s', optReply(7, 3, cat(u16(0), u64(1 << 20), u16(1)))], // NBD_REP_INFO export
  ['s', optReply(7, 1)], // NBD_REP_ACK
];

describe('bridge NBD follower', () => {
  it.each([1, 3, 7, 1000])('counts-requests-and-replies-in-pieces-of-%i-bytes', (step) => {
    const s = new NbdStream();
    const sent = run(s, handshake, step);
    expect(s.phase).toBe('transmission');
    const reqs = cat(request(0, 1, 16), request(0, 2, 16), request(1, 3, 4), Buffer.alloc(4, 9), request(3, 4, 0));
    expect(run(s, [['c', reqs]], step)).toEqual(reqs); // everything valid goes through
    expect(s.inFlight).toBe(4);
    expect(s.partial).toBe(false);
    run(s, [['s', cat(chunk(1, 0, cat(u64(0), Buffer.alloc(8))), chunk(1, 1, Buffer.alloc(0)))]], step);
    expect(s.inFlight).toBe(3);
    run(s, [['s', cat(simple(3), simple(4), simple(2, 5))]], step); // an error reply to a read carries no data
    expect(s.inFlight).toBe(0);
    expect(sent.length).toBe(4 + 16 + 16 + 6);
  });

  it('a-simple-read-reply-carries-the-request-length', () => {
    const s = new NbdStream();
    run(s, [['s', cat(Buffer.from('NBDMAGIC'), IHAVEOPT, u16(3))], ['c', u32(3)], ['c', option(1)], ['s', cat(u64(1 << 20), u16(1))]], 5);
    expect(s.phase).toBe('transmission'); // NBD_OPT_EXPORT_NAME with NO_ZEROES
    s.fromClient(cat(request(0, 7, 100), request(0, 8, 4)));
    s.fromServer(cat(simple(7), Buffer.alloc(100)));
    expect(s.inFlight).toBe(1);
    s.fromServer(cat(simple(8), Buffer.alloc(3)));
    expect(s.inFlight).toBe(1); // a byte of its data still to come
    s.fromServer(Buffer.alloc(1));
    expect(s.inFlight).toBe(0);
  });

  it('holds-a-partial-header-and-refuses-a-bad-magic', () => {
    const s = new NbdStream();
    run(s, handshake, 1000);
    const good = request(0, 1, 512);
    expect(Buffer.concat(s.fromClient(good.subarray(0, 20)))).toHaveLength(0); // held until whole
    expect(s.partial).toBe(false);
    expect(Buffer.concat(s.fromClient(good.subarray(20)))).toEqual(good);
    expect(Buffer.concat(s.fromClient(request(0, 2, 512, 0xdeadbeef)))).toHaveLength(0);
    expect(s.refused).toBe('bad request magic 0xdeadbeef');
    expect(s.inFlight).toBe(1); // the good one is still owed its reply
  });

  it('knows-when-the-server-holds-part-of-a-write', () => {
    const s = new NbdStream();
    run(s, handshake, 1000);
    s.fromClient(cat(request(1, 1, 1000), Buffer.alloc(10)));
    expect(s.partial).toBe(true);
    expect(s.inFlight).toBe(0); // not whole: the server will not answer it if the client goes now
    s.stop();
    expect(s.fromClient(Buffer.alloc(990))).toEqual([]);
    expect(s.partial).toBe(true);
  });

  it('nothing-after-disc-and-disc-itself', () => {
    const s = new NbdStream();
    run(s, handshake, 1000);
    const out = Buffer.concat(s.fromClient(cat(request(2, 0, 0), request(0, 1, 8))));
    expect(out).toEqual(request(2, 0, 0));
    expect(s.discSent).toBe(true);
    expect(new NbdStream().disc()).toEqual(request(2, 0, 0));
  });

  it('a-failed-go-goes-back-to-options-and-starttls-goes-opaque', () => {
    const s = new NbdStream();
    run(s, [['s', greeting], ['c', u32(1)], ['c', option(7, cat(u32(1), Buffer.from('x'), u16(0)))], ['c', option(5)]], 2);
    expect(s.held).toBeGreaterThan(0); // STARTTLS waits until the server has answered GO
    run(s, [['s', optReply(7, 0x80000006)]], 2); // NBD_REP_ERR_UNKNOWN
    expect(s.phase).toBe('handshake');
    run(s, [['s', optReply(5, 1)]], 2);
    expect(s.phase).toBe('opaque');
    expect(s.fromClient(Buffer.from([0x16, 3, 1]))).toEqual([Buffer.from([0x16, 3, 1])]);
  });
});
