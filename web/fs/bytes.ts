// Little-endian fields, fixed-size text and UUIDs, as on-disk structures store them.

export const le16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
export const le32 = (b: Uint8Array, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
export const le64 = (b: Uint8Array, o: number): bigint => BigInt(le32(b, o)) | (BigInt(le32(b, o + 4)) << 32n);
export const be16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
export const be32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

export const ascii = (b: Uint8Array, o: number, n: number): string => String.fromCharCode(...b.subarray(o, o + n));
export const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

const utf8 = new TextDecoder();
export const decodeUtf8 = (b: Uint8Array): string => utf8.decode(b);
export const encodeUtf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A fixed-size text field: up to the first NUL, trailing spaces dropped. */
export function field(b: Uint8Array, o: number, n: number): string {
  const s = utf8.decode(b.subarray(o, o + n));
  const z = s.indexOf('\0');
  return (z >= 0 ? s.slice(0, z) : s).trimEnd();
}

/** A UUID stored as 16 bytes in order (ext*, xfs, btrfs, swap). */
export function uuid(b: Uint8Array, o: number): string {
  const h = hex(b.subarray(o, o + 16));
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** UTF-16 code units (little- or big-endian) up to a NUL or 0xFFFF padding. */
export function utf16(b: Uint8Array, o: number, n: number, bigEndian = false): string {
  let s = '';
  for (let k = o; k + 1 < o + n; k += 2) {
    const c = bigEndian ? be16(b, k) : le16(b, k);
    if (c === 0 || c === 0xffff) break;
    s += String.fromCharCode(c);
  }
  return s;
}
