// Fast paths of the dump formatters: a whole 16-byte line composed as twenty little-endian 32-bit
// words and stored with twenty stores instead of eighty byte stores. Lines need not start at a
// multiple of 4: the words are then shifted into place (hexdump's 79-byte lines go through all
// four phases). The words stay in local constants: passed to a helper, numbers above 2^30 would
// be boxed, which costs more than the stores save.

/** ASCII codes of "0123456789abcdef". */
export const HEX_DIGITS = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

/** b → its two hex digits and a space, as the low three bytes of a word. */
const H3 = Int32Array.from({ length: 256 }, (_, b) => HEX_DIGITS[b >> 4]! | (HEX_DIGITS[b & 15]! << 8) | (0x20 << 16));
/** b → its two hex digits, as the low two bytes of a word. */
const H2 = Int32Array.from({ length: 256 }, (_, b) => HEX_DIGITS[b >> 4]! | (HEX_DIGITS[b & 15]! << 8));
/** b → itself if printable ASCII, else "." (hexdump's %_p, nbddump without colour). */
const P = Int32Array.from({ length: 256 }, (_, b) => (b >= 0x20 && b < 0x7f ? b : 0x2e));

/** Words are stored little-endian: true on every host webnbd targets, checked anyway. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Four text bytes as one word. */
const text4 = (src: Uint8Array, s: number): number =>
  P[src[s]!]! | (P[src[s + 1]!]! << 8) | (P[src[s + 2]!]! << 16) | (P[src[s + 3]!]! << 24);

/**
 * `hexdump -C` line for an offset below 2^32 (79 bytes):
 * "oooooooo  xx xx xx xx xx xx xx xx  xx xx xx xx xx xx xx xx  |tttttttttttttttt|\n"
 */
export function hexdumpLine(src: Uint8Array, s: number, o: Int32Array, p: number, lo: number): number {
  const h0 = H3[src[s]!]!, h1 = H3[src[s + 1]!]!, h2 = H3[src[s + 2]!]!, h3 = H3[src[s + 3]!]!;
  const h4 = H3[src[s + 4]!]!, h5 = H3[src[s + 5]!]!, h6 = H3[src[s + 6]!]!, h7 = H3[src[s + 7]!]!;
  const h8 = H3[src[s + 8]!]!, h9 = H3[src[s + 9]!]!, h10 = H3[src[s + 10]!]!, h11 = H3[src[s + 11]!]!;
  const h12 = H3[src[s + 12]!]!, h13 = H3[src[s + 13]!]!, h14 = H3[src[s + 14]!]!, h15 = H3[src[s + 15]!]!;
  const w0 = H2[lo >>> 24]! | (H2[(lo >>> 16) & 255]! << 16);
  const w1 = H2[(lo >>> 8) & 255]! | (H2[lo & 255]! << 16);
  const w2 = 0x2020 | (h0 << 16); // bytes 8-11: two spaces, then the first byte's digits
  const w3 = (h0 >>> 16) | (h1 << 8);
  const w4 = h2 | (h3 << 24);
  const w5 = (h3 >>> 8) | (h4 << 16);
  const w6 = (h4 >>> 16) | (h5 << 8);
  const w7 = h6 | (h7 << 24);
  const w8 = (h7 >>> 8) | (0x20 << 16) | (h8 << 24); // the space between the halves is byte 34
  const w9 = (h8 >>> 8) | (h9 << 16);
  const w10 = (h9 >>> 16) | (h10 << 8);
  const w11 = h11 | (h12 << 24);
  const w12 = (h12 >>> 8) | (h13 << 16);
  const w13 = (h13 >>> 16) | (h14 << 8);
  const w14 = h15 | (0x20 << 24);
  const w15 = 0x7c | (P[src[s]!]! << 8) | (P[src[s + 1]!]! << 16) | (P[src[s + 2]!]! << 24); // "|" is byte 60
  const w16 = text4(src, s + 3), w17 = text4(src, s + 7), w18 = text4(src, s + 11);
  const w19 = P[src[s + 15]!]! | (0x7c << 8) | (0x0a << 16);
  // Store w0..w19 at byte p: bytes before p in the first word are kept; up to 4 bytes past p+80 change.
  const q = p >> 2;
  const sh = (p & 3) << 3;
  if (sh === 0) {
    o[q + 0] = w0; o[q + 1] = w1; o[q + 2] = w2; o[q + 3] = w3; o[q + 4] = w4;
    o[q + 5] = w5; o[q + 6] = w6; o[q + 7] = w7; o[q + 8] = w8; o[q + 9] = w9;
    o[q + 10] = w10; o[q + 11] = w11; o[q + 12] = w12; o[q + 13] = w13; o[q + 14] = w14;
    o[q + 15] = w15; o[q + 16] = w16; o[q + 17] = w17; o[q + 18] = w18; o[q + 19] = w19;
  } else {
    const rs = 32 - sh;
    o[q] = (o[q]! & ((1 << sh) - 1)) | (w0 << sh);
    o[q + 1] = (w0 >>> rs) | (w1 << sh); o[q + 2] = (w1 >>> rs) | (w2 << sh);
    o[q + 3] = (w2 >>> rs) | (w3 << sh); o[q + 4] = (w3 >>> rs) | (w4 << sh);
    o[q + 5] = (w4 >>> rs) | (w5 << sh); o[q + 6] = (w5 >>> rs) | (w6 << sh);
    o[q + 7] = (w6 >>> rs) | (w7 << sh); o[q + 8] = (w7 >>> rs) | (w8 << sh);
    o[q + 9] = (w8 >>> rs) | (w9 << sh); o[q + 10] = (w9 >>> rs) | (w10 << sh);
    o[q + 11] = (w10 >>> rs) | (w11 << sh); o[q + 12] = (w11 >>> rs) | (w12 << sh);
    o[q + 13] = (w12 >>> rs) | (w13 << sh); o[q + 14] = (w13 >>> rs) | (w14 << sh);
    o[q + 15] = (w14 >>> rs) | (w15 << sh); o[q + 16] = (w15 >>> rs) | (w16 << sh);
    o[q + 17] = (w16 >>> rs) | (w17 << sh); o[q + 18] = (w17 >>> rs) | (w18 << sh);
    o[q + 19] = (w18 >>> rs) | (w19 << sh);
    o[q + 20] = w19 >>> rs;
  }
  return p + 79;
}

/**
 * nbddump line for an offset below 2^40 (80 bytes):
 * "oooooooooo: xx xx xx xx xx xx xx xx  xx xx xx xx xx xx xx xx |tttttttttttttttt|\n"
 */
export function nbddumpLine(src: Uint8Array, s: number, o: Int32Array, p: number, hi: number, lo: number): number {
  const h0 = H3[src[s]!]!, h1 = H3[src[s + 1]!]!, h2 = H3[src[s + 2]!]!, h3 = H3[src[s + 3]!]!;
  const h4 = H3[src[s + 4]!]!, h5 = H3[src[s + 5]!]!, h6 = H3[src[s + 6]!]!, h7 = H3[src[s + 7]!]!;
  const h8 = H3[src[s + 8]!]!, h9 = H3[src[s + 9]!]!, h10 = H3[src[s + 10]!]!, h11 = H3[src[s + 11]!]!;
  const h12 = H3[src[s + 12]!]!, h13 = H3[src[s + 13]!]!, h14 = H3[src[s + 14]!]!, h15 = H3[src[s + 15]!]!;
  const w0 = H2[hi & 255]! | (H2[lo >>> 24]! << 16);
  const w1 = H2[(lo >>> 16) & 255]! | (H2[(lo >>> 8) & 255]! << 16);
  const w2 = H2[lo & 255]! | (0x203a << 16); // ": "
  const w3 = h0 | (h1 << 24);
  const w4 = (h1 >>> 8) | (h2 << 16);
  const w5 = (h2 >>> 16) | (h3 << 8);
  const w6 = h4 | (h5 << 24);
  const w7 = (h5 >>> 8) | (h6 << 16);
  const w8 = (h6 >>> 16) | (h7 << 8);
  const w9 = 0x20 | (h8 << 8); // the space between the halves is byte 36
  const w10 = h9 | (h10 << 24);
  const w11 = (h10 >>> 8) | (h11 << 16);
  const w12 = (h11 >>> 16) | (h12 << 8);
  const w13 = h13 | (h14 << 24);
  const w14 = (h14 >>> 8) | (h15 << 16);
  const w15 = (h15 >>> 16) | (0x7c << 8) | (P[src[s]!]! << 16) | (P[src[s + 1]!]! << 24); // "|" is byte 61
  const w16 = text4(src, s + 2), w17 = text4(src, s + 6), w18 = text4(src, s + 10);
  const w19 = P[src[s + 14]!]! | (P[src[s + 15]!]! << 8) | (0x7c << 16) | (0x0a << 24);
  // Store w0..w19 at byte p: bytes before p in the first word are kept; up to 4 bytes past p+80 change.
  const q = p >> 2;
  const sh = (p & 3) << 3;
  if (sh === 0) {
    o[q + 0] = w0; o[q + 1] = w1; o[q + 2] = w2; o[q + 3] = w3; o[q + 4] = w4;
    o[q + 5] = w5; o[q + 6] = w6; o[q + 7] = w7; o[q + 8] = w8; o[q + 9] = w9;
    o[q + 10] = w10; o[q + 11] = w11; o[q + 12] = w12; o[q + 13] = w13; o[q + 14] = w14;
    o[q + 15] = w15; o[q + 16] = w16; o[q + 17] = w17; o[q + 18] = w18; o[q + 19] = w19;
  } else {
    const rs = 32 - sh;
    o[q] = (o[q]! & ((1 << sh) - 1)) | (w0 << sh);
    o[q + 1] = (w0 >>> rs) | (w1 << sh); o[q + 2] = (w1 >>> rs) | (w2 << sh);
    o[q + 3] = (w2 >>> rs) | (w3 << sh); o[q + 4] = (w3 >>> rs) | (w4 << sh);
    o[q + 5] = (w4 >>> rs) | (w5 << sh); o[q + 6] = (w5 >>> rs) | (w6 << sh);
    o[q + 7] = (w6 >>> rs) | (w7 << sh); o[q + 8] = (w7 >>> rs) | (w8 << sh);
    o[q + 9] = (w8 >>> rs) | (w9 << sh); o[q + 10] = (w9 >>> rs) | (w10 << sh);
    o[q + 11] = (w10 >>> rs) | (w11 << sh); o[q + 12] = (w11 >>> rs) | (w12 << sh);
    o[q + 13] = (w12 >>> rs) | (w13 << sh); o[q + 14] = (w13 >>> rs) | (w14 << sh);
    o[q + 15] = (w14 >>> rs) | (w15 << sh); o[q + 16] = (w15 >>> rs) | (w16 << sh);
    o[q + 17] = (w16 >>> rs) | (w17 << sh); o[q + 18] = (w17 >>> rs) | (w18 << sh);
    o[q + 19] = (w18 >>> rs) | (w19 << sh);
    o[q + 20] = w19 >>> rs;
  }
  return p + 80;
}
